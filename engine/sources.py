"""A policy pack as bytes: read from a directory (or a verdict log) and identified by digest."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from tamis.engine.errors import PolicyProblem, PolicySetError, SourceLocation

#: Changes whenever the same sources would compile to different behaviour.
BUNDLE_FORMAT = b"tamis-bundle-v1"

#: No policy file comes near this; a larger one is refused before it is read.
MAX_FILE_BYTES = 1_000_000

SourceTree = dict[str, bytes]


def read_tree(root: Path) -> SourceTree:
    """Every YAML file under `root`, keyed by its POSIX path relative to `root`.

    A symbolic link inside the pack (to a file or a folder) is refused rather than followed:
    what is served must be what was reviewed in the pack, not whatever a link points to
    today. So is a file over MAX_FILE_BYTES, and anything named `*.yaml` that is not a regular
    file (a folder, a FIFO, a device): skipping it would serve a pack other than the one written,
    and opening a FIFO would block. Hidden files and folders are skipped.
    """
    if not root.is_dir():
        raise FileNotFoundError(f"policy directory not found: {root}")
    tree: SourceTree = {}
    problems: list[PolicyProblem] = []
    for folder, folders, files in os.walk(root):
        base = Path(folder)
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in [*folders, *sorted(files)]:
            path = base / name
            relative = path.relative_to(root).as_posix()
            if name.startswith(".") or not (name.endswith(".yaml") or path.is_symlink()):
                continue
            if path.is_symlink():
                message = "a symbolic link; a pack holds its files itself (links are not followed)"
                problems.append(PolicyProblem(SourceLocation(relative), "", message))
                continue
            text, message = _read_regular(path)
            if text is None:
                problems.append(PolicyProblem(SourceLocation(relative), "", message))
            else:
                tree[relative] = text.replace(b"\r\n", b"\n")
    if problems:
        raise PolicySetError(problems)
    return dict(sorted(tree.items(), key=lambda item: item[0].split("/")))  # as paths sort


def _read_regular(path: Path) -> tuple[bytes | None, str]:
    """The bytes of a regular file, or why not. Opened without blocking and without following
    a link, then checked on the open descriptor, so a FIFO or a file swapped after listing
    cannot stall or redirect the read."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError as error:
        return None, f"cannot be read: {error.strerror}"
    status = os.fstat(descriptor)
    if not stat.S_ISREG(status.st_mode):
        os.close(descriptor)
        kind = "a folder" if stat.S_ISDIR(status.st_mode) else "a FIFO, device or socket"
        return None, f"{kind}, not a regular file; a pack's *.yaml entries must be files"
    with os.fdopen(descriptor, "rb") as file:
        if status.st_size > MAX_FILE_BYTES:
            return None, f"the file is {status.st_size:,} bytes; the limit is {MAX_FILE_BYTES:,}"
        return file.read(MAX_FILE_BYTES + 1), ""


def bundle_digest(tree: SourceTree) -> str:
    """`sha256:` over the canonical sources: equal sources give equal digests."""
    hasher = hashlib.sha256(BUNDLE_FORMAT)
    for name in sorted(tree):
        encoded = name.encode()
        hasher.update(len(encoded).to_bytes(4, "big") + encoded)
        hasher.update(len(tree[name]).to_bytes(8, "big") + tree[name])
    return "sha256:" + hasher.hexdigest()

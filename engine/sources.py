"""A policy pack as bytes: read from a directory (or a verdict log) and identified by digest."""

from __future__ import annotations

import hashlib
from pathlib import Path

#: Changes whenever the same sources would compile to different behaviour.
BUNDLE_FORMAT = b"tamis-bundle-v1"

SourceTree = dict[str, bytes]


def read_tree(root: Path) -> SourceTree:
    """Every YAML file under `root`, keyed by its POSIX path relative to `root`."""
    if not root.is_dir():
        raise FileNotFoundError(f"policy directory not found: {root}")
    return {
        path.relative_to(root).as_posix(): path.read_bytes().replace(b"\r\n", b"\n")
        for path in sorted(root.rglob("*.yaml"))
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts)
    }


def digest(tree: SourceTree) -> str:
    """`sha256:` over the canonical sources: equal sources give equal digests."""
    hasher = hashlib.sha256(BUNDLE_FORMAT)
    for name in sorted(tree):
        encoded = name.encode()
        hasher.update(len(encoded).to_bytes(4, "big") + encoded)
        hasher.update(len(tree[name]).to_bytes(8, "big") + tree[name])
    return "sha256:" + hasher.hexdigest()

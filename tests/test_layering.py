"""The dependency graph the architecture promises: the engine is a library that knows nothing of
the service, and the verdict log is storage that knows nothing of the gRPC server."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

#: (folder, the packages its modules must never import)
RULES = [
    ("engine", ("tamis.service", "tamis.v1", "grpc")),
    ("service/verdictlog", ("tamis.service.server", "tamis.service.commands", "grpc")),
]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize(("folder", "forbidden"), RULES)
def test_layer_does_not_import_upwards(folder: str, forbidden: tuple[str, ...]) -> None:
    offences = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        for name in sorted(imported_modules(path))
        if any(name == banned or name.startswith(banned + ".") for banned in forbidden)
    ]
    assert not offences, "\n".join(offences)


def test_service_uses_only_the_engine_public_names() -> None:
    """The service imports `tamis.engine` itself, never its modules: what the engine offers is
    the package's `__all__`, so its modules can be split or merged without touching the service."""
    offences = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "service").rglob("*.py"))
        for name in sorted(imported_modules(path))
        if name.startswith("tamis.engine.")
    ]
    assert not offences, "\n".join(offences)


def test_no_module_imports_the_old_top_level_names() -> None:
    """Everything installs under `tamis`; a bare `engine` or `service` would collide with other
    installed packages (and, run from the checkout, load a second copy of a module)."""
    for path in [*ROOT.glob("engine/**/*.py"), *ROOT.glob("service/**/*.py"), *ROOT.glob("tests/*.py")]:
        for name in imported_modules(path):
            assert name.split(".")[0] not in {"engine", "service"}, f"{path.relative_to(ROOT)}: {name}"

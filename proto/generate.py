"""Generate the Python code of the tamis.v1 API beside its protos: `make proto`.

Messages (`*_pb2.py`), gRPC stubs (`*_pb2_grpc.py`) and their mypy stubs (`.pyi`, mypy-protobuf),
from the pinned grpcio-tools and mypy-protobuf of pyproject.toml, so the output is reproducible;
tests/test_grpc_proto.py regenerates into a temporary directory and compares.

    python proto/generate.py [--out DIR]
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent
PACKAGE = PROTO_ROOT / "tamis" / "v1"
_SERVICE = re.compile(r"^service ", re.MULTILINE)


def generate(out: Path) -> None:
    """Write the generated modules for every proto of tamis/v1 under `out` (as tamis/v1/...)."""
    plugins = Path(sys.executable).parent
    protos = sorted(PACKAGE.glob("*.proto"))
    services = [path for path in protos if _SERVICE.search(path.read_text(encoding="utf-8"))]
    out.mkdir(parents=True, exist_ok=True)
    common = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{resources.files('grpc_tools') / '_proto'}",
        f"--plugin=protoc-gen-mypy={plugins / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={plugins / 'protoc-gen-mypy_grpc'}",
    ]
    for outputs, files in (
        (("python_out", "mypy_out"), protos),
        (("grpc_python_out", "mypy_grpc_out"), services),  # only files that define a service
    ):
        names = [path.relative_to(PROTO_ROOT).as_posix() for path in files]
        if names and protoc.main([*common, *(f"--{flag}={out}" for flag in outputs), *names]) != 0:
            raise SystemExit("protoc failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROTO_ROOT, help="root of the generated tree")
    generate(parser.parse_args().out)


if __name__ == "__main__":
    main()

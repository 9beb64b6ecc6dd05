"""Where benchmark results go: JSON under bench/results/, with the machine they ran on."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PACKAGES = ("durable-rules", "grpcio", "protobuf", "psycopg", "structlog", "ahocorasick-rs")


def machine() -> dict[str, Any]:
    """Core count, processor, Python and package versions, and the commit measured."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return {
        "cores": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {name: metadata.version(name) for name in PACKAGES},
        "commit": commit.stdout.strip(),
    }


def write(name: str, results: Any, out: Path | None = None) -> Path:
    """Write `{"machine": …, "results": …}` to `out`, else bench/results/NAME-<time>.json."""
    path = out or RESULTS / f"{name}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine(), "results": results}, indent=2), encoding="utf-8")
    return path

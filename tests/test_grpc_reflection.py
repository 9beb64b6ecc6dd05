"""Server reflection: `buf curl` discovers and calls the API with no .proto files at hand."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.test_server_harness import PATIENCE, Served, sample, serving

BUF = Path(sys.executable).parent / "buf"


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serving() as running:
        yield running


def buf_curl(served: Served, *arguments: str) -> str:
    result = subprocess.run(
        [str(BUF), "curl", "--protocol", "grpc", "--http2-prior-knowledge", *arguments],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def call(served: Served, method: str, body: dict[str, Any]) -> Any:
    return json.loads(buf_curl(served, "-d", json.dumps(body), f"http://{served.target}/{method}"))


def test_reflection_lists_the_services(served: Served) -> None:
    """PolicyService, health and reflection are listed."""
    listed = buf_curl(served, "--list-services", f"http://{served.target}").split()
    assert {"tamis.v1.PolicyService", "grpc.health.v1.Health"} <= set(listed)


def test_buf_curl_calls_evaluate(served: Served) -> None:
    """Evaluate through reflection: the contract's JSON in, a verdict in snake_case JSON out."""
    output = call(
        served, "tamis.v1.PolicyService/Evaluate", {"listing": sample("s-003"), "as_of": "2025-11-20"}
    )
    verdict = output["verdict"]
    assert verdict["listing_id"] == "s-003"
    assert verdict["decision"] == "DECISION_BLOCK"
    assert verdict["policy_version"].startswith("sha256:")
    assert "fr.csi.r311-2.a1-14.brass-knuckles" in {match["policy"] for match in verdict["matches"]}


def test_buf_curl_checks_health(served: Served) -> None:
    """The standard health check answers SERVING."""
    assert call(served, "grpc.health.v1.Health/Check", {}) == {"status": "SERVING"}


def test_the_readme_first_call_works(served: Served) -> None:
    """The README's `buf curl` call returns the blocking verdict it describes."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    body = re.search(r"-d '(\{.*?\})' \\\n\s+http://127.0.0.1:50051/(\S+)", readme)
    assert body is not None
    verdict = call(served, body.group(2), json.loads(body.group(1)))["verdict"]
    assert verdict["decision"] == "DECISION_BLOCK"
    assert "fr.csi.r311-2.a1-14.brass-knuckles" in {match["policy"] for match in verdict["matches"]}

"""Hot reload: a changed policy directory is served without failing a call; a broken one is refused."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2

from tamis.engine import Bundle, Evaluator, load_bundle
from tamis.engine.durable import EngineError
from tamis.service.server.live import LiveEvaluator
from tamis.v1 import policy_service_pb2, verdict_pb2
from tests.conftest import POLICIES
from tests.test_server_harness import PATIENCE, Served, proto_listing, sample, serving, wait_until

LEXICON = "lexicons/brass_knuckles.yaml"
AS_OF = "2025-11-20"


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    """A private copy of the bundled pack, free to change."""
    copy = tmp_path / "pack"
    shutil.copytree(POLICIES, copy)
    return copy


def set_new_word(pack: Path, present: bool) -> None:
    """Add (or remove) "zorglub" as a French word for brass knuckles."""
    path = pack / LEXICON
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    terms = [term for term in data["terms"]["fr"] if term != "zorglub"]
    data["terms"]["fr"] = [*terms, "zorglub"] if present else terms
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def zorglub(number: int) -> dict[str, Any]:
    """A listing that only the changed pack blocks (its seller gives complete trader details)."""
    return {"id": f"z-{number}", "title": f"Zorglub en acier n°{number}", "ship_to": ["FR"], **_trader()}


def _trader() -> dict[str, Any]:
    return {"seller": sample("s-002")["seller"]}


def digest_of(served: Served) -> str:
    return str(served.stub.GetBundle(policy_service_pb2.GetBundleRequest(), timeout=PATIENCE).bundle.digest)


def judge(served: Served, listing: dict[str, Any]) -> verdict_pb2.Verdict:
    request = policy_service_pb2.EvaluateRequest(listing=proto_listing(listing), as_of=AS_OF)
    return served.stub.Evaluate(request, timeout=PATIENCE).verdict


def loads(served: Served) -> int:
    return len(served.log.events("bundle loaded"))


def test_a_changed_pack_is_served(pack: Path) -> None:
    """After a policy file changes, the new bundle judges, and names it in policy_version."""
    with serving(pack, reload_interval=0.05) as served:
        before = judge(served, zorglub(1))
        set_new_word(pack, present=True)
        wait_until(lambda: loads(served) == 2, "the reload")
        after = judge(served, zorglub(1))
    assert before.decision == verdict_pb2.DECISION_ALLOW
    assert after.decision == verdict_pb2.DECISION_BLOCK
    assert after.policy_version == load_bundle(pack).digest != before.policy_version


def test_a_broken_pack_is_refused_and_the_last_good_bundle_serves(pack: Path) -> None:
    """A reload of a pack with an error logs file:line, keeps the old bundle, and stays SERVING."""
    with serving(pack) as served:
        good = digest_of(served)
        (pack / "weapons" / "fr-a1-brass-knuckles.yaml").write_text(
            "id: x\ndecision: maybe\n", encoding="utf-8"
        )
        served.server.reload()
        wait_until(lambda: bool(served.log.events("reload rejected")), "the rejection")
        assert digest_of(served) == good
        assert served.health() == health_pb2.HealthCheckResponse.SERVING
        assert judge(served, sample("s-003")).decision == verdict_pb2.DECISION_BLOCK
        errors = served.log.events("policy error")
    assert any(error["location"].endswith("weapons/fr-a1-brass-knuckles.yaml:2:1") for error in errors), (
        errors
    )


def test_an_unchanged_pack_is_not_reloaded(pack: Path) -> None:
    """A reload request with the same sources keeps the same evaluator."""
    with serving(pack) as served:
        served.server.reload()
        wait_until(lambda: bool(served.log.events("policies unchanged")), "the reload check")
        assert loads(served) == 1


class Hammer:
    """Client threads calling Evaluate and EvaluateStream until stopped; every outcome kept."""

    def __init__(self, served: Served, threads: int = 4) -> None:
        self.served = served
        self.stop = threading.Event()
        self.verdicts: list[tuple[str, int]] = []
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(self._unary if i % 2 else self._stream,))
            for i in range(threads)
        ]

    def __enter__(self) -> Hammer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join()

    def count(self) -> int:
        with self._lock:
            return len(self.verdicts)

    def _run(self, call: Callable[[int], list[verdict_pb2.Verdict]]) -> None:
        number = 0
        while not self.stop.is_set():
            number += 1
            try:
                got = [(v.policy_version, v.decision) for v in call(number)]
            except grpc.RpcError as error:
                with self._lock:
                    self.failures.append(repr(error))
                continue
            with self._lock:
                self.verdicts += got

    def _unary(self, number: int) -> list[verdict_pb2.Verdict]:
        return [judge(self.served, zorglub(number))]

    def _stream(self, number: int) -> list[verdict_pb2.Verdict]:
        messages = [
            policy_service_pb2.EvaluateStreamRequest(
                listings=[proto_listing(zorglub(number * 100 + i)) for i in range(20)], as_of=AS_OF
            )
            for _ in range(3)
        ]
        responses = self.served.stub.EvaluateStream(iter(messages), timeout=PATIENCE)
        return [result.verdict for response in responses for result in response.results]


def test_reloads_under_load_fail_no_call(pack: Path) -> None:
    """Clients hammering the server while the pack changes four times: no call fails, and every
    verdict is the one its own bundle gives."""
    set_new_word(pack, present=True)
    with_word = load_bundle(pack).digest
    set_new_word(pack, present=False)
    without = load_bundle(pack).digest
    with serving(pack, reload_interval=0.02) as served, Hammer(served) as hammer:
        for flip in range(4):
            seen = hammer.count()
            wait_until(lambda: hammer.count() > seen + 50, "calls between reloads")  # noqa: B023
            set_new_word(pack, present=flip % 2 == 0)
            wait_until(lambda: loads(served) == flip + 2, f"reload {flip + 1}")  # noqa: B023
        seen = hammer.count()
        wait_until(lambda: hammer.count() > seen + 50, "calls after the last reload")
    assert hammer.failures == []
    expected = {without: verdict_pb2.DECISION_ALLOW, with_word: verdict_pb2.DECISION_BLOCK}
    assert {digest for digest, _ in hammer.verdicts} == set(expected)
    assert all(decision == expected[digest] for digest, decision in hammer.verdicts)


# --- the evaluator swap ------------------------------------------------------------------------


def test_a_replaced_evaluator_stays_open_until_its_last_lease_ends(shipped_bundle: Bundle) -> None:
    """A request keeps the evaluator it started with across a swap; it is closed after release."""
    live = LiveEvaluator()
    old, new = Evaluator(shipped_bundle), Evaluator(shipped_bundle)
    live.swap(old, "policies")
    listing = sample("s-003")
    with live.lease() as leased:
        live.swap(new, "policies")
        assert leased is old
        assert leased.evaluate(listing).listing_id == "s-003"  # still open
    with pytest.raises(EngineError):
        old.evaluate(listing)
    with live.lease() as current:
        assert current is new
    live.close()
    with pytest.raises(EngineError):
        new.evaluate(listing)

"""Replay: a logged verdict judged again from nothing but the log gives the same decision and grounds."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from tamis.engine import Evaluator, load_bundle
from tamis.service.verdictforms import verdict_to_json
from tamis.service.verdictlog import AuditLog, LogError, VerdictLog
from tests.conftest import INSTRUMENT, PackFiles, base_pack, policy
from tests.test_verdictlog_support import records, tamper

pytest_plugins = ["tests.test_verdictlog_support"]

VERSIONED = [{"instrument": INSTRUMENT["instrument"], "article": "2"}]


def test_a_logged_verdict_replays_identically(log: VerdictLog, audit: AuditLog, shipped: Evaluator) -> None:
    """Each sample's verdict comes out of the replay with the same decision, grounds and evidence."""
    ids = log.append(records(shipped))
    for verdict_id in ids:
        replay = audit.replay(verdict_id)
        assert replay.identical, replay.differences
        assert replay.differences == []
        assert replay.replayed is not None
        assert verdict_to_json(replay.replayed)["matches"] == json.loads(replay.verdict.record.matches)


def test_replay_needs_only_the_log(
    log: VerdictLog, audit: AuditLog, write_pack: Callable[[PackFiles], Path]
) -> None:
    """With the policy directory gone, the bundle is rebuilt from the sources the log stored."""
    directory = write_pack(base_pack(policy()))
    bundle = load_bundle(directory)
    evaluator = Evaluator(bundle)
    log.store_bundle(bundle)
    [verdict_id] = log.append(records(evaluator, [{"id": "w-1", "title": "a widget", "ship_to": ["FR"]}]))
    evaluator.close()
    shutil.rmtree(directory)
    replay = audit.replay(verdict_id)
    assert replay.identical, replay.differences
    assert replay.replayed is not None
    assert replay.replayed.decision.value == "block"


def test_replay_judges_as_of_the_stored_date(
    log: VerdictLog, audit: AuditLog, write_pack: Callable[[PackFiles], Path]
) -> None:
    """A verdict of 2024 replays with the article version in force in 2024, not today's."""
    bundle = load_bundle(write_pack(base_pack(policy(grounds=VERSIONED))))
    evaluator = Evaluator(bundle)
    log.store_bundle(bundle)
    widget = {"id": "w-1", "title": "a widget", "ship_to": ["FR"]}
    [verdict_id] = log.append(records(evaluator, [widget], as_of=date(2024, 6, 1)))
    today = evaluator.evaluate(widget, date(2026, 1, 1))
    evaluator.close()
    replay = audit.replay(verdict_id)
    assert replay.identical, replay.differences
    assert replay.replayed is not None
    assert replay.replayed.matches[0].grounds[0].version == "V-OLD"
    assert today.matches[0].grounds[0].version == "V-NEW"


def test_a_tampered_decision_does_not_replay(
    log: VerdictLog, audit: AuditLog, log_location: str, shipped: Evaluator
) -> None:
    """A block rewritten as allow in the log: the replay's decision differs, its grounds do not."""
    [verdict_id] = log.append(records(shipped)[:1])
    tamper(log_location, ("UPDATE verdicts SET decision = 'allow' WHERE id = ?", (verdict_id,)))
    replay = audit.replay(verdict_id)
    assert not replay.identical
    assert not replay.decision_identical
    assert replay.grounds_identical
    assert replay.differences == ["decision: allow then, block on replay"]


def test_tampered_grounds_do_not_replay(
    log: VerdictLog, audit: AuditLog, log_location: str, shipped: Evaluator
) -> None:
    """A stored match rewritten to cite another article: the replay names the policy and both citations."""
    [verdict_id] = log.append(records(shipped)[8:9])  # s-009: snus, TPD article 17
    logged = audit.get(verdict_id)
    assert logged is not None
    forged = logged.record.matches.replace('"article":"17"', '"article":"18"')
    tamper(log_location, ("UPDATE verdicts SET matches = ? WHERE id = ?", (forged, verdict_id)))
    replay = audit.replay(verdict_id)
    assert replay.decision_identical
    assert not replay.grounds_identical
    assert replay.differences == [
        "policy eu.tpd.17.snus: grounds celex:32014L0040 art. 18 (no version) then, "
        "celex:32014L0040 art. 17 (no version) now"
    ]


def test_changed_bundle_sources_cannot_replay(
    log: VerdictLog, audit: AuditLog, log_location: str, shipped: Evaluator
) -> None:
    """Sources that no longer hash to the verdict's bundle digest are refused, not trusted."""
    [verdict_id] = log.append(records(shipped)[:1])
    tamper(log_location, ("DELETE FROM bundle_sources WHERE path LIKE ?", ("lexicons/%",)))
    replay = audit.replay(verdict_id)
    assert not replay.identical
    assert replay.replayed is None
    assert replay.verdict.record.bundle_digest in replay.differences[0]


def test_replaying_an_unknown_verdict_is_an_error(audit: AuditLog) -> None:
    """An id that was never logged cannot be replayed."""
    with pytest.raises(LogError, match="no verdict"):
        audit.replay("01890000-0000-7000-8000-000000000000")

"""A verdict converts to JSON and proto and back without loss, both forms in one module
(tamis.service.verdictforms), checked on the shipped pack's real verdicts."""

from __future__ import annotations

import json
from datetime import date

import pytest

from tamis.engine import Evaluator, Verdict
from tamis.service.verdictforms import (
    verdict_from_json,
    verdict_from_proto,
    verdict_to_json,
    verdict_to_proto,
)
from tamis.v1 import verdict_pb2
from tests.conftest import samples

AS_OF = date(2025, 11, 20)


@pytest.fixture(scope="module")
def verdicts(shipped: Evaluator) -> list[Verdict]:
    return [shipped.evaluate(listing, AS_OF) for listing in samples()]


def test_the_samples_exercise_every_optional_part(verdicts: list[Verdict]) -> None:
    """Otherwise the round trips below would not cover offsets, lexicons and article versions."""
    matches = [match for verdict in verdicts for match in verdict.matches]
    evidence = [item for match in matches for item in match.evidence]
    assert any(item.start is not None for item in evidence)
    assert any(item.start is None for item in evidence)
    assert any(item.lexicon for item in evidence)
    assert any(ground.version for match in matches for ground in match.grounds)
    assert {verdict.decision.value for verdict in verdicts} == {"allow", "flag", "block"}


def test_json_round_trip(verdicts: list[Verdict]) -> None:
    for verdict in verdicts:
        text = json.dumps(verdict_to_json(verdict))
        back = verdict_from_json(json.loads(text))
        assert back == verdict
        assert json.dumps(verdict_to_json(back)) == text


def test_proto_round_trip(verdicts: list[Verdict]) -> None:
    for verdict in verdicts:
        wire = verdict_to_proto(verdict).SerializeToString()
        back = verdict_from_proto(verdict_pb2.Verdict.FromString(wire))
        assert back == verdict
        assert verdict_to_json(back) == verdict_to_json(verdict)
        assert verdict_to_proto(back).SerializeToString(deterministic=True) == verdict_to_proto(
            verdict
        ).SerializeToString(deterministic=True)

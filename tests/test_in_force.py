"""One reading of "in force on a date" for policies, instruments and article versions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from tamis.engine import load_bundle
from tamis.engine.evaluator import cite
from tamis.engine.lint import lint
from tests.conftest import INSTRUMENT, PackFiles, base_pack, policy

Write = Callable[[PackFiles], Path]


def test_policies_instruments_and_versions_read_dates_alike(write_pack: Write) -> None:
    """Both ends are inclusive: a ground is cited with the version in force on the day judged,
    and lint warns of a policy in force that cites an instrument no longer in force."""
    repealed = {**INSTRUMENT, "in_force": {"from": "2000-01-01", "to": "2024-12-31"}}
    bundle = load_bundle(write_pack(base_pack(policy(), **{"legal/code.yaml": repealed})))
    [item] = bundle.policy_set.policies
    instrument = bundle.policy_set.instruments[INSTRUMENT["instrument"]]
    assert instrument.in_force_on(date(2024, 12, 31)) and not instrument.in_force_on(date(2025, 1, 1))
    assert item.in_force_on(date(2025, 1, 1))
    assert cite(bundle, instrument.instrument, "2", date(2024, 12, 31)).version == "V-OLD"
    assert cite(bundle, instrument.instrument, "2", date(2025, 1, 1)).version == "V-NEW"
    messages = [warning.message for warning in lint(bundle.policy_set, date(2025, 6, 1))]
    assert f"t.policy is in force but cites {INSTRUMENT['instrument']}, which is not" in messages
    assert not any(
        "which is not" in m for m in lint(bundle.policy_set, date(2024, 6, 1)) for m in [m.message]
    )

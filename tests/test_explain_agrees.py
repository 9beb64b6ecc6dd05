"""`tamis explain` and the engine agree: over the labelled corpus, the shared samples and the
benchmark's generated listings, the policies explain calls a match are exactly the verdict's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

from bench.corpus import generate
from tamis.engine import Bundle, Evaluator, ListingError
from tamis.engine.explain import Explainer
from tamis.engine.listing import validate_listing
from tests.conftest import ROOT, samples

DAY = date(2025, 11, 20)
GENERATED = 400


def corpus() -> Iterator[tuple[dict[str, Any], date]]:
    for path in sorted((ROOT / "tests" / "corpus").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                case = json.loads(line)
                yield case["listing"], date.fromisoformat(case.get("as_of", DAY.isoformat()))
    for listing in samples():
        yield listing, DAY
    for listing in generate(GENERATED):
        yield listing, DAY


def test_explain_agrees_with_the_engine_on_every_policy(shipped: Evaluator, shipped_bundle: Bundle) -> None:
    explainer = Explainer(shipped_bundle)
    judged = disagreements = 0
    details = []
    for listing, day in corpus():
        try:
            verdict = shipped.evaluate(listing, day)
        except ListingError:
            continue
        engine = {match.policy for match in verdict.matches}
        traces = explainer.trace(validate_listing(listing, fields=shipped_bundle.policy_set.fields), day)
        explained = {trace.policy.id for trace in traces if trace.matched}
        judged += 1
        if engine != explained:
            disagreements += 1
            details.append(f"{verdict.listing_id}: engine {sorted(engine)}, explain {sorted(explained)}")
    assert judged > 600
    assert disagreements == 0, "\n".join(details[:10])


def test_explain_names_the_condition_that_failed(shipped_bundle: Bundle) -> None:
    """Each condition is shown with its value and the listing's own value."""
    listing = validate_listing(
        {"id": "e1", "title": "Pistolet billes", "ship_to": ["FR"], "attributes": {"energy_j": 3}},
        fields=shipped_bundle.policy_set.fields,
    )
    [trace] = Explainer(shipped_bundle).trace(listing, DAY, {"fr.decret-99-240.replica-airsoft"})
    assert not trace.matched
    shown = {line.text: line.value for line in trace.lines}
    assert shown["attributes.energy_j > 0.08 (value: 3)"] is True
    assert shown["attributes.energy_j <= 2 (value: 3)"] is False

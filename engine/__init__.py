"""Tamis's policy engine: load, validate, compile and evaluate prohibited-product policies.

A library with no network code; `service` wraps it (ARCHITECTURE.md draws the flow). The
listing's core contract is the engine's (engine.fields.LISTING); its attributes are the pack's
(policies/attributes.yaml). Typical use:

    bundle = load_bundle(Path("policies"))
    evaluator = Evaluator(bundle)
    verdict = evaluator.evaluate(listing_dict)

`service` imports only the names below (tests/test_layering.py checks it), so that what the
engine offers its wrapper is listed in one place.
"""

from tamis.engine.backtest import GATES, OUTCOMES, Backtest, Change, Outcome
from tamis.engine.bundle import Bundle, load_bundle
from tamis.engine.catalogue import render_catalogue
from tamis.engine.diff import diff_bundles
from tamis.engine.dsa import statements_of_reasons
from tamis.engine.errors import FieldViolation, ListingError, PolicyProblem, PolicySetError
from tamis.engine.evaluator import DeadlineExceeded, Evaluator, StageTimes, cite, parse_day, today
from tamis.engine.explain import Explainer
from tamis.engine.fields import LISTING, CoreField, Kind
from tamis.engine.jsonschema import write_schemas
from tamis.engine.lint import lint
from tamis.engine.listing import DEFAULT_LIMITS, Limits, validate_listing
from tamis.engine.model import Confidence, Decision
from tamis.engine.quote import clip, escape, escape_json, quote
from tamis.engine.regexcost import slow_patterns
from tamis.engine.sources import SourceTree, bundle_digest
from tamis.engine.testing import run_examples
from tamis.engine.verdict import Evidence, Ground, Match, Verdict

__all__ = [
    "DEFAULT_LIMITS",
    "GATES",
    "LISTING",
    "OUTCOMES",
    "Backtest",
    "Bundle",
    "Change",
    "Confidence",
    "CoreField",
    "DeadlineExceeded",
    "Decision",
    "Evaluator",
    "Evidence",
    "Explainer",
    "FieldViolation",
    "Ground",
    "Kind",
    "Limits",
    "ListingError",
    "Match",
    "Outcome",
    "PolicyProblem",
    "PolicySetError",
    "SourceTree",
    "StageTimes",
    "Verdict",
    "bundle_digest",
    "cite",
    "clip",
    "diff_bundles",
    "escape",
    "escape_json",
    "lint",
    "load_bundle",
    "parse_day",
    "quote",
    "render_catalogue",
    "run_examples",
    "slow_patterns",
    "statements_of_reasons",
    "today",
    "validate_listing",
    "write_schemas",
]

"""Tamis's policy engine: load, validate, compile and evaluate prohibited-product policies.

A library with no network code; `service` wraps it (ARCHITECTURE.md draws the flow). The
listing's core contract is the engine's (engine.fields.LISTING); its attributes are the pack's
(policies/attributes.yaml). Typical use:

    bundle = load_bundle(Path("policies"))
    evaluator = Evaluator(bundle)
    verdict = evaluator.evaluate(listing_dict)
"""

from tamis.engine.bundle import Bundle, load_bundle
from tamis.engine.errors import FieldViolation, ListingError, PolicyProblem, PolicySetError
from tamis.engine.evaluator import Evaluator
from tamis.engine.listing import Limits
from tamis.engine.model import Decision
from tamis.engine.verdict import Evidence, Ground, Match, Verdict

__all__ = [
    "Bundle",
    "Decision",
    "Evaluator",
    "Evidence",
    "FieldViolation",
    "Ground",
    "Limits",
    "ListingError",
    "Match",
    "PolicyProblem",
    "PolicySetError",
    "Verdict",
    "load_bundle",
]

"""The literal prefilter never keeps a shipped pattern from a text it matches.

engine.regexfilter reads from each pattern the literals its matches cannot do without (a run of
literals or alternatives, and rare characters such as "%" beside them); a text lacking one of
every requirement is not searched. Every pattern of the shipped pack (conditions and numbers
read from text) is run here on generated texts of digits, units, percent signs and the
pattern's own words, with and without the prefilter: the matches must be the same.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tamis.engine import load_bundle
from tamis.engine.textscan import FieldText, _Pattern
from tests.conftest import POLICIES

SCANNER = load_bundle(POLICIES).scanner
PATTERNS: list[_Pattern] = [pattern for pattern, _ in SCANNER._patterns.values()] + [
    spec[0] for specs in SCANNER._extractions.values() for spec in specs
]
PIECES = st.one_of(
    st.sampled_from(
        ["ni", "nicotine", "nikotin", "nic salt", "mg", "ml", "cm", "%", " % ", "o", "0", "12", "4,5", "3.5"]
    ),
    st.sampled_from(sorted(SCANNER._literals._ids)),
    st.text("0123456789 .,%\"'-/mglnicot", max_size=8),
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PIECES, max_size=12).map(" ".join))
def test_the_prefilter_keeps_every_text_a_pattern_matches(folded: str) -> None:
    literals = SCANNER._literals
    for pattern in PATTERNS:
        text = FieldText(folded, folded)
        plain = [m.span() for m in pattern.regex.finditer(folded)]
        filtered = (
            [m.span() for m in pattern.regex.finditer(folded)] if literals.may_match(pattern, text) else []
        )
        assert filtered == plain, (pattern.regex.pattern, folded)


def test_percent_is_required_beside_the_nicotine_words() -> None:
    """The nicotine-in-percent patterns need "%" as well as "ni": most listings lack "%"."""
    literals = SCANNER._literals
    percent, ni = literals._ids["%"], literals._ids["ni"]
    both = [p for p in PATTERNS if p.needs is not None and {percent} in p.needs and {ni} in p.needs]
    assert both, "no pattern requires '%' beside a longer literal"
    for pattern in both:
        assert not literals.may_match(pattern, FieldText("x", "nicotine free mini tin"))
        assert literals.may_match(pattern, FieldText("x", "nicotine 2 % ni 2 % nicotine"))

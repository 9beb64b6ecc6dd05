"""Validation that helps: each error names file, line, column and key path, and says what was
expected; a pack with any error is rejected whole."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tamis.engine import PolicySetError, load_bundle
from tests.conftest import INSTRUMENT, PackFiles, base_pack, lexicon, policy

Write = Callable[[PackFiles], Path]


def problems_of(write_pack: Write, files: PackFiles) -> list[str]:
    with pytest.raises(PolicySetError) as raised:
        load_bundle(write_pack(files))
    return [str(problem) for problem in raised.value.problems]


def test_a_valid_pack_loads(write_pack: Write) -> None:
    """The minimal pack used by these tests is itself valid."""
    bundle = load_bundle(write_pack(base_pack(policy())))
    assert [p.id for p in bundle.policy_set.policies] == ["t.policy"]


def test_unknown_key_is_located_with_a_suggestion(write_pack: Write) -> None:
    """A misspelt key points at its line and suggests the right one."""
    files = base_pack()
    files["rules/p.yaml"] = """\
        id: t.a
        title: T
        decision: block
        applies_in: [FR]
        grounds: [{instrument: "legitext:LEGITEXT000000000001", article: "1"}]
        when:
          all:
            - lexicn: widget
        """
    found = problems_of(write_pack, files)
    assert len(found) == 1
    assert found[0].startswith("rules/p.yaml:8:")
    assert "exactly one of the keys all, any, not, lexicon, regex, obfuscated, field" in found[0]


def test_unknown_key_in_a_known_shape(write_pack: Write) -> None:
    """An extra key next to a valid one is named, with the keys that are allowed."""
    files = base_pack(policy(when={"lexicon": "widget", "feilds": ["title"]}))
    [found] = problems_of(write_pack, files)
    assert "unknown key 'feilds'; did you mean 'fields'?" in found
    assert "at when.feilds" in found


def test_wrong_type(write_pack: Write) -> None:
    """A number where a threshold is expected says so."""
    files = base_pack(policy(when={"field": "attributes.height_cm", "lt": "tall"}))
    [found] = problems_of(write_pack, files)
    assert "valid number" in found and "when.lt" in found


def test_operator_that_does_not_fit_the_field(write_pack: Write) -> None:
    """`lt` on a text field is refused with the operators that do apply."""
    files = base_pack(policy(when={"field": "brand", "lt": 3}))
    [found] = problems_of(write_pack, files)
    assert "'lt' does not apply to brand (string); use equals, in, in_list, present" in found


def test_undeclared_instrument(write_pack: Write) -> None:
    """A ground must cite an instrument declared in legal/."""
    files = base_pack(policy(grounds=[{"instrument": "celex:32099R9999", "article": "1"}]))
    [found] = problems_of(write_pack, files)
    assert "instrument 'celex:32099R9999' is not declared" in found
    assert "grounds[0].instrument" in found


def test_undeclared_article(write_pack: Write) -> None:
    """A ground must cite an article declared for its instrument."""
    files = base_pack(policy(grounds=[{"instrument": INSTRUMENT["instrument"], "article": "99"}]))
    [found] = problems_of(write_pack, files)
    assert "article '99' is not declared" in found and "(declared: 1, 2)" in found


def test_unknown_lexicon(write_pack: Write) -> None:
    """A lexicon condition must name a lexicon of the pack."""
    files = base_pack(policy(when={"any": [{"lexicon": "widget"}, {"lexicon": "gadget"}]}))
    [found] = problems_of(write_pack, files)
    assert "unknown lexicon 'gadget' (known: widget)" in found and "when.any[1].lexicon" in found


def test_bad_regex(write_pack: Write) -> None:
    """An invalid regular expression is refused with the compiler's reason."""
    files = base_pack(policy(when={"regex": "(unclosed"}))
    [found] = problems_of(write_pack, files)
    assert "invalid regular expression" in found


def test_regex_matching_the_empty_string(write_pack: Write) -> None:
    """A pattern that matches everywhere would match every listing."""
    files = base_pack(policy(when={"regex": "x*"}))
    [found] = problems_of(write_pack, files)
    assert "matches the empty string" in found


def test_duplicate_policy_ids(write_pack: Write) -> None:
    """Two policies with one id: the second is reported, naming the first file."""
    files = base_pack(policy("t.same"), policy("t.same"))
    [found] = problems_of(write_pack, files)
    assert found.startswith("rules/p1.yaml") and "first declared in rules/p0.yaml" in found


def test_empty_condition(write_pack: Write) -> None:
    """`all: []` is an error, not a condition that always holds."""
    files = base_pack(policy(when={"all": []}))
    [found] = problems_of(write_pack, files)
    assert "at least 1 item" in found


def test_invalid_example_listing(write_pack: Write) -> None:
    """An example must be a valid listing; the bad field is located."""
    files = base_pack(policy(examples={"match": [{"title": "widget", "attributes": {"height_cm": "tall"}}]}))
    [found] = problems_of(write_pack, files)
    assert "example is not a valid listing: attributes.height_cm: expected a number" in found


def test_source_text_needs_an_extraction(write_pack: Write) -> None:
    """Reading a number from text needs the pack to say how (attributes.yaml from_text)."""
    files = base_pack(policy(when={"field": "attributes.height_cm", "lt": 1, "source": "text"}))
    [found] = problems_of(write_pack, files)
    assert "attributes.height_cm is never read from text" in found and "when.source" in found
    files = base_pack(policy(when={"field": "brand", "present": True, "source": "text"}))
    [found] = problems_of(write_pack, files)
    assert "'source' applies to numeric attributes only" in found


def test_unknown_country(write_pack: Write) -> None:
    """Country codes are checked against ISO 3166-1."""
    files = base_pack(policy(applies_in=["XX"]))
    [found] = problems_of(write_pack, files)
    assert "unknown country code(s) XX" in found


def test_bad_term_in_lexicon(write_pack: Write) -> None:
    """A term with nothing to match, or a misplaced `*`, is refused."""
    files = base_pack(policy(), **{"lexicons/widget.yaml": lexicon(en=["widget", "!!!", "wid*get"])})
    found = problems_of(write_pack, files)
    assert any("term '!!!': the term has no letters or digits" in p for p in found)
    assert any("term 'wid*get': '*' may only end a term" in p for p in found)


def test_every_problem_is_reported_and_nothing_loads(write_pack: Write) -> None:
    """Several broken files: all problems come back in one error; no bundle is built."""
    files = base_pack(policy("t.a", decision="allow"), policy("t.b", when={"lexicon": "nope"}))
    files["lexicons/broken.yaml"] = "lexicon: broken\nterms: [unclosed\n"
    found = problems_of(write_pack, files)
    assert len(found) == 3
    assert {f.split(":")[0] for f in found} == {"rules/p0.yaml", "rules/p1.yaml", "lexicons/broken.yaml"}


def test_too_complex_condition(write_pack: Write) -> None:
    """A condition that expands to too many alternatives is refused at its location."""
    alternatives = [
        {"any": [{"field": "price.amount", "gt": n}, {"field": "attributes.height_cm", "lt": n}]}
        for n in range(1, 11)
    ]
    files = base_pack(policy(when={"all": alternatives}))
    [found] = problems_of(write_pack, files)
    assert found.startswith("rules/p0.yaml") and "alternatives" in found

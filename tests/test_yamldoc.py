"""YAML parsing keeps positions, follows YAML 1.2 booleans and refuses duplicate keys."""

from __future__ import annotations

from tamis.engine.yamldoc import format_path, parse_yaml


def test_positions_of_keys_and_items() -> None:
    """Every key path maps to the line and column where it is written."""
    document, problems = parse_yaml("p.yaml", "id: x\nwhen:\n  all:\n    - lexicon: a\n    - lexicon: b\n")
    assert not problems and document is not None
    assert document.positions[("when", "all", 1)] == (5, 7)
    assert str(document.locate(("when", "all", 1, "lexicon"))) == "p.yaml:5:7"


def test_locate_walks_up_to_a_known_parent() -> None:
    """An unknown deeper path is located at its closest known parent."""
    document, _ = parse_yaml("p.yaml", "a:\n  b: 1\n")
    assert document is not None
    assert str(document.locate(("a", "b", "c", 3))) == "p.yaml:2:3"


def test_norway_stays_a_country() -> None:
    """YAML 1.1 read NO as false; policies need the country code."""
    document, _ = parse_yaml("p.yaml", "applies_in: [NO, FR]\nflag: yes\nreal: true\n")
    assert document is not None
    assert document.value == {"applies_in": ["NO", "FR"], "flag": "yes", "real": True}


def test_duplicate_keys_are_errors() -> None:
    """A repeated key is reported at the repetition, not silently overwritten."""
    _, problems = parse_yaml("p.yaml", "id: a\ntitle: t\nid: b\n")
    assert [(p.location.line, p.message) for p in problems] == [(3, "duplicate key 'id'")]


def test_syntax_error_is_located() -> None:
    """Malformed YAML names the line and column of the problem."""
    document, problems = parse_yaml("p.yaml", "id: a\nwhen: [unclosed\n")
    assert document is None
    assert problems[0].location.file == "p.yaml" and problems[0].location.line == 3
    assert problems[0].message.startswith("YAML syntax")


def test_empty_file_is_an_error() -> None:
    """An empty file is reported rather than read as nothing."""
    _, problems = parse_yaml("p.yaml", "# only a comment\n")
    assert problems[0].message == "the file is empty"


def test_format_path() -> None:
    """Paths read the way authors write them."""
    assert format_path(("when", "all", 1, "lexicon")) == "when.all[1].lexicon"

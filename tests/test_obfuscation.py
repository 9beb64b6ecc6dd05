"""`obfuscated: true`: a policy can tell that a listing's text was disguised (issue 10, point 2),
through the real engine, `tamis test` and `tamis explain`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tamis.engine import Evaluator, load_bundle, textnorm
from tamis.service.cli import main
from tests.conftest import PackFiles, base_pack, policy

Write = Callable[[PackFiles], Path]
DAY = date(2025, 6, 1)

#: A disguised widget flags; a plain one only matches the lexicon policy.
DISGUISED = policy(
    "t.disguised-widget",
    decision="flag",
    when={"all": [{"lexicon": "widget"}, {"obfuscated": True, "fields": ["title"]}]},
    examples={
        "match": [
            {"title": "Wi\u200bdget en acier"},  # zero-width space
            {"title": "W\u0456dget en acier"},  # Cyrillic і
            {"title": "w.i.d.g.e.t en acier"},  # split letters
            {"title": "Wid\x00get"},  # control character
            {"title": "Ｗｉｄｇｅｔ w\u2800idget"},  # braille blank
        ],
        "no_match": [
            {"title": "Widget en acier"},
            {"title": "Widget 👍🏻 ❤️ top"},  # emoji with a skin tone and a variation selector
            {"title": "Widget", "description": "wi\u200bdget"},  # not in the fields tested
            {"title": "Bidule de collection, 3 x 4 cm"},
        ],
    },
)


@pytest.fixture
def pack(write_pack: Write) -> Path:
    return write_pack(base_pack(DISGUISED))


def test_tamis_test_runs_the_examples(pack: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(pack), "--min-coverage", "100"]) == 0
    assert "1/1 policies pass" in capsys.readouterr().out


def listing(title: str, **fields: Any) -> dict[str, Any]:
    return {"id": "o1", "title": title, "ship_to": ["FR"], **fields}


def test_evidence_is_the_disguised_word_and_how(pack: Path) -> None:
    evaluator = Evaluator(load_bundle(pack))
    verdict = evaluator.evaluate(listing("Superbe  Wi\u200bdget"), DAY)
    evaluator.close()
    assert verdict.decision.value == "flag"
    (match,) = verdict.matches
    obfuscated = [item for item in match.evidence if (item.condition or "").startswith("obfuscated")]
    assert [(item.field, item.text, item.start, item.end) for item in obfuscated] == [
        ("title", "Wi\u200bdget", 9, 16)
    ]
    assert obfuscated[0].condition == "obfuscated: invisible characters inside a word"


def test_explain_names_the_disguise(pack: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "listing.json"
    source.write_text(json.dumps(listing("Cοup de W\u0456dget")), encoding="utf-8")
    assert main(["explain", str(source), "--policies", str(pack), "--as-of", DAY.isoformat()]) == 0
    assert "obfuscated text in title — title: scripts mixed in a word" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "how"),
    [
        ("Coup de po\u034fing", "invisible characters inside a word"),
        ("Coup de p\u0585ing", "scripts mixed in a word"),
        ("c.o.u.p d.e p.o.i.n.g", "letters split by separators"),
        ("S-E-X doll", "letters split by separators"),
        ("poing\U000e0061\U000e0062ame", "invisible characters inside a word"),
        ("\u202eniacirémA gniop ed puoC", "text direction overridden"),
    ],
)
def test_each_kind_of_disguise_is_told(text: str, how: str) -> None:
    found = textnorm.obfuscation(text)
    assert found is not None and found[2] == how


@pytest.mark.parametrize(
    "text",
    [
        "Coup de poing américain",
        "Кукла для детей",  # one script per word
        "東京タワーのお土産",  # Han and kana written together
        "Taille 3 x 4 cm, il y a deux",
        "I ❤️ you 👍🏻 👨\u200d👩\u200d👧",
        "ligne\nsuivante\ttabulée",
    ],
)
def test_plain_text_is_not_obfuscated(text: str) -> None:
    assert textnorm.obfuscation(text) is None

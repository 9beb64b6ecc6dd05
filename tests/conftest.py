"""Shared fixtures: the bundled pack, and small packs written on the fly for focused tests."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tamis.engine import Bundle, Evaluator, load_bundle

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
#: Copies of the shared samples and legal references, so that a clone tests on its own.
SAMPLES = ROOT / "tests" / "data" / "samples.jsonl"
REFERENCES = ROOT / "policies" / "legal" / "REFERENCES.md"
CORRECTIONS = ROOT / "policies" / "legal" / "CORRECTIONS.md"
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shipped_bundle() -> Bundle:
    return load_bundle(POLICIES)


@pytest.fixture(scope="session")
def shipped(shipped_bundle: Bundle) -> Iterator[Evaluator]:
    evaluator = Evaluator(shipped_bundle)
    yield evaluator
    evaluator.close()


INSTRUMENT = {
    "instrument": "legitext:LEGITEXT000000000001",
    "title": "Code de test",
    "jurisdiction": "FR",
    "url": "https://example.org/code",
    "articles": {
        "1": {"title": "Article one"},
        "2": {
            "versions": [
                {"id": "V-OLD", "from": "2020-01-01", "to": "2024-12-31"},
                {"id": "V-NEW", "from": "2025-01-01", "url": "https://example.org/v-new"},
            ]
        },
    },
}


def policy(policy_id: str = "t.policy", **overrides: Any) -> dict[str, Any]:
    """A minimal valid policy, as YAML data."""
    data: dict[str, Any] = {
        "id": policy_id,
        "title": f"Policy {policy_id}",
        "decision": "block",
        "applies_in": ["FR"],
        "grounds": [{"instrument": INSTRUMENT["instrument"], "article": "1"}],
        "when": {"lexicon": "widget"},
    }
    data.update(overrides)
    return data


def lexicon(name: str = "widget", **terms: list[str]) -> dict[str, Any]:
    return {"lexicon": name, "terms": terms or {"en": ["widget"], "fr": ["bidule"]}}


PackFiles = dict[str, Any]


def _bare_attributes() -> dict[str, dict[str, Any]]:
    declared = yaml.safe_load((POLICIES / "attributes.yaml").read_text(encoding="utf-8"))["attributes"]
    return {
        name: {key: value for key, value in declaration.items() if key not in ("aliases", "from_text")}
        for name, declaration in declared.items()
    }


#: The shipped pack's attributes, bare (types and allowed values; no aliases, nothing read from
#: text): what a test pack declares unless it writes its own attributes.yaml.
BARE_ATTRIBUTES = _bare_attributes()

#: What a lexicon or regex test naming no fields searches in a pack declaring the shipped
#: attributes, as explain and diff print it: the title, the description, then the searched ones.
_SEARCHED = (f"attributes.{name}" for name, a in BARE_ATTRIBUTES.items() if a.get("searched"))
SHIPPED_DEFAULT_FIELDS = ", ".join(("title", "description", *_SEARCHED))


def attributes(**extra: dict[str, Any]) -> dict[str, Any]:
    """An attributes.yaml: the bare shipped declarations, each of `extra` merged into its own
    (e.g. `height_cm={"from_text": [...]}`) or declaring a new attribute."""
    merged = {name: {**BARE_ATTRIBUTES.get(name, {}), **more} for name, more in extra.items()}
    return {"attributes": {**BARE_ATTRIBUTES, **merged}}


@pytest.fixture
def write_pack(tmp_path: Path) -> Callable[[PackFiles], Path]:
    """Write files (YAML data, or raw text) into a fresh pack directory; without an
    attributes.yaml of its own, the pack declares the shipped attributes, bare (`attributes()`)."""

    def write(files: PackFiles) -> Path:
        root = tmp_path / "pack"
        for name, content in {"attributes.yaml": attributes(), **files}.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            text = (
                textwrap.dedent(content)
                if isinstance(content, str)
                else yaml.safe_dump(content, allow_unicode=True, sort_keys=False)
            )
            path.write_text(text, encoding="utf-8")
        return root

    return write


def base_pack(*policies: dict[str, Any], **extra: Any) -> PackFiles:
    files: PackFiles = {"legal/code.yaml": INSTRUMENT, "lexicons/widget.yaml": lexicon()}
    for index, data in enumerate(policies):
        files[f"rules/p{index}.yaml"] = data
    files.update(extra)
    return files


def samples() -> list[dict[str, Any]]:
    return [json.loads(line) for line in SAMPLES.read_text(encoding="utf-8").splitlines() if line.strip()]

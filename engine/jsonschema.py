"""JSON Schemas of the policy formats, generated from the models, for editors to validate and
complete policy files as authors type (see policies/README.md). The fields a condition may name
come from the pack's declared attributes, so a pack's schemas follow its attributes.yaml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tamis.engine.fields import CORE_ONLY, Fields
from tamis.engine.model import (
    DEFAULT_FIELDS_NAME,
    Attributes,
    Instrument,
    Lexicon,
    NamedConditions,
    Policy,
    ValueList,
)

SCHEMAS: dict[str, type[BaseModel]] = {
    "policy": Policy,
    "instrument": Instrument,
    "lexicon": Lexicon,
    "list": ValueList,
    "attributes": Attributes,
    "conditions": NamedConditions,
}

#: Definitions whose `fields` property lists searchable text fields.
_TEXT_TESTS = ("LexiconTest", "RegexTest", "ObfuscationTest", "TextExtraction")
#: Definitions whose `fields` default to the pack's (attributes marked `searched`).
_SEARCH_TESTS = ("LexiconTest", "RegexTest")


def render(name: str, fields: Fields = CORE_ONLY) -> str:
    model = SCHEMAS[name]
    schema = model.model_json_schema(by_alias=True)
    _name_the_fields(schema.get("$defs", {}), fields)
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def _name_the_fields(definitions: dict[str, Any], fields: Fields) -> None:
    """Turn the field names' patterns into the pack's own lists, for completion, and give the
    pack's own default of lexicon and regex tests."""
    if "FieldTest" in definitions:
        definitions["FieldTest"]["properties"]["field"]["enum"] = list(fields.kinds)
    for test in _TEXT_TESTS:
        if test in definitions:
            definitions[test]["properties"]["fields"]["items"] = {"enum": list(fields.text), "type": "string"}
    for test in _SEARCH_TESTS:
        if test in definitions:
            definitions[test]["properties"]["fields"]["default"] = list(fields.searched)
            definitions[test]["properties"]["fields"]["items"]["enum"].append(DEFAULT_FIELDS_NAME)


def write_schemas(folder: Path, fields: Fields = CORE_ONLY) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SCHEMAS:
        path = folder / f"{name}.schema.json"
        path.write_text(render(name, fields), encoding="utf-8")
        written.append(path)
    return written

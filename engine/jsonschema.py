"""JSON Schemas of the policy formats, generated from the models, for editors to validate and
complete policy files as authors type (see policies/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from engine.model import Attributes, Instrument, Lexicon, Policy, ValueList

SCHEMAS: dict[str, type[BaseModel]] = {
    "policy": Policy,
    "instrument": Instrument,
    "lexicon": Lexicon,
    "list": ValueList,
    "attributes": Attributes,
}


def render(name: str) -> str:
    model = SCHEMAS[name]
    schema = model.model_json_schema(by_alias=True)
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write_all(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SCHEMAS:
        path = folder / f"{name}.schema.json"
        path.write_text(render(name), encoding="utf-8")
        written.append(path)
    return written

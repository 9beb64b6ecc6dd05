"""The policy language: what authors write in `policies/`, as typed, validated models.

These models are the single source of truth for the format: the loader validates YAML against
them and `tamis schema` turns them into the JSON Schema that editors use for completion.
Semantic checks that span files (a ground citing an undeclared article, an unknown lexicon)
live in `engine.policyset`; here each file is checked on its own.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tamis.engine import countries
from tamis.engine.fields import (
    CORE_FIELDS,
    CORE_TEXT_FIELDS,
    COUNTRY_FIELDS,
    DECLARED_KINDS,
    DEFAULT_TEXT_FIELDS,
    MAX_NUMBER,
    Kind,
    searched_by_default,
)

_IDENTIFIER = r"^[a-z0-9][a-z0-9._-]*$"
_NAME = r"^[a-z0-9][a-z0-9_]*$"
_LANGUAGE = r"^[a-z]{2}$"


class _Strict(BaseModel):
    """Unknown keys are errors: a typo must never silently disable a rule."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Decision(StrEnum):
    """What a verdict tells the marketplace to do, weakest first."""

    ALLOW = "allow"
    FLAG = "flag"
    BLOCK = "block"

    @property
    def strength(self) -> int:
        return _STRENGTH[self]


_STRENGTH = {Decision.ALLOW: 0, Decision.FLAG: 1, Decision.BLOCK: 2}


class Confidence(StrEnum):
    """How sure the research behind a rule is (see shared/legal/REFERENCES.md)."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


# --- conditions -----------------------------------------------------------------------------

#: A core text field or a declared text attribute (checked against the pack in engine.policyset).
_CORE_TEXT = "|".join(re.escape(name) for name in CORE_TEXT_FIELDS)
TextField = Annotated[str, Field(pattern=rf"^(?:{_CORE_TEXT}|attributes\.[a-z0-9][a-z0-9_]*)$")]


class _TextTest(_Strict):
    fields: tuple[TextField, ...] = Field(
        default=DEFAULT_TEXT_FIELDS,
        min_length=1,
        description="Listing fields searched; default: title and description.",
    )


#: The validation context key under which a pack passes the fields its lexicon and regex tests
#: search when they name none (engine.fields.searched_by_default of its `searched` attributes).
SEARCHED_BY_DEFAULT = "searched_by_default"
#: In a lexicon or regex test's `fields`, the fields it searches when it names none: a test that also
#: reads the category writes `[default, category]`, and reads every attribute the pack marks searched.
DEFAULT_FIELDS_NAME = "default"


class _SearchTest(_TextTest):
    """A lexicon or regex test: what it searches by default is the pack's to say (attributes
    marked `searched` in attributes.yaml), because a pack declares its own attributes."""

    fields: tuple[TextField, ...] = Field(
        default=DEFAULT_TEXT_FIELDS,
        min_length=1,
        description="Listing fields searched; default: title, description, then every attribute "
        "attributes.yaml marks `searched: true`, in the order declared there. The name `default` in "
        "a list stands for those fields, so that `[default, category]` also reads the category.",
    )

    @model_validator(mode="before")
    @classmethod
    def _pack_default(cls, data: Any, info: ValidationInfo) -> Any:
        default = (info.context or {}).get(SEARCHED_BY_DEFAULT)
        if not isinstance(data, dict):
            return data
        if "fields" not in data:
            return data if default is None else {**data, "fields": default}
        written = data["fields"]
        if isinstance(written, list | tuple) and DEFAULT_FIELDS_NAME in written:
            pack = default or DEFAULT_TEXT_FIELDS
            expanded = (f for item in written for f in (pack if item == DEFAULT_FIELDS_NAME else [item]))
            return {**data, "fields": tuple(dict.fromkeys(expanded))}
        return data


class LexiconTest(_SearchTest):
    """True when a term of the lexicon occurs as whole words in one of the fields."""

    lexicon: str = Field(pattern=_NAME, description="Name of a lexicon in policies/lexicons/.")


class RegexTest(_SearchTest):
    """True when the regular expression matches the folded text of one of the fields.

    Text is folded before matching (lower case, no accents, homoglyphs and zero-width
    characters removed), so patterns are written in lower case without accents.
    """

    regex: str = Field(min_length=1, description="Python regular expression over folded text.")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            compiled = re.compile(pattern)
        except re.error as error:
            raise ValueError(f"invalid regular expression: {error}") from error
        if compiled.match(""):
            raise ValueError("the regular expression matches the empty string")
        return pattern


class ObfuscationTest(_TextTest):
    """True when the text of one of the fields looks written to dodge filters: a word mixes
    scripts (`Cοup` with a Greek omicron), hides invisible characters or controls between its
    letters, or is split into single letters (`c.o.u.p`, three letters or more). Folding
    already reads such text as plain words for lexicons and patterns; this tells that someone
    bothered to disguise it."""

    obfuscated: Literal[True] = Field(description="Always `true`.")


class NamedTest(_Strict):
    """True when the condition declared under this name in conditions.yaml is true: a test
    several policies share is written, reviewed and changed in one place."""

    condition: str = Field(pattern=_NAME, description="A name declared in conditions.yaml.")


_OPERATORS = ("equals", "in", "in_list", "lt", "lte", "gt", "gte", "present", "contains")
_OPERATORS_BY_KIND = {
    Kind.STRING: {"equals", "in", "in_list", "present"},
    Kind.NUMBER: {"equals", "lt", "lte", "gt", "gte", "present"},
    Kind.BOOL: {"equals", "present"},
    Kind.OBJECT: {"present"},
    Kind.STRINGS: {"contains", "in", "in_list", "present"},
}

Scalar = str | bool | int | float


class FieldTest(_Strict):
    """A test on one listing field; exactly one operator is given.

    String comparisons ignore case and accents. A test on an absent field is false, except
    `present: false`.
    """

    field: str = Field(
        description="A listing field, e.g. `seller.country`, or an attribute declared in "
        "attributes.yaml, e.g. `attributes.height_cm`.",
    )
    equals: Scalar | None = None
    in_: tuple[str, ...] | None = Field(default=None, alias="in", min_length=1)
    in_list: str | None = Field(default=None, pattern=_NAME, description="Name of a list in policies/lists/.")
    lt: float | None = None
    lte: float | None = None
    gt: float | None = None
    gte: float | None = None
    present: bool | None = None
    contains: str | tuple[str, ...] | None = Field(
        default=None, description="For list fields: the list holds this value (or any of these)."
    )
    source: Literal["any", "stated", "text"] = Field(
        default="any",
        description="For numeric attributes read from text (attributes.yaml): `stated` tests only "
        "the listing's own attribute, `text` only the number read from its text, `any` (default) "
        "the attribute if stated, else the text.",
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_operator_that_fits(self) -> FieldTest:
        given = [name for name in _OPERATORS if getattr(self, _attr(name)) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a field test takes exactly one operator of {', '.join(_OPERATORS)}; got "
                + (", ".join(given) if given else "none")
            )
        if self.field.startswith("attributes."):
            return self  # declared by the pack: engine.policyset checks it with check_field_test
        kind = CORE_FIELDS.get(self.field)
        if kind is None:
            raise ValueError(
                f"unknown field '{self.field}'; expected one of: {', '.join(CORE_FIELDS)}, "
                "or attributes.<name> declared in attributes.yaml"
            )
        check_field_test(self, kind)
        return self

    @property
    def operator(self) -> str:
        return next(name for name in _OPERATORS if getattr(self, _attr(name)) is not None)

    @property
    def operand(self) -> Any:
        return getattr(self, _attr(self.operator))


def _attr(operator: str) -> str:
    return "in_" if operator == "in" else operator


def check_field_test(test: FieldTest, kind: Kind) -> None:
    """Raise ValueError when the test's operator or operand does not fit a field of `kind`."""
    operator = test.operator
    if test.source != "any" and not (test.field.startswith("attributes.") and kind is Kind.NUMBER):
        raise ValueError("'source' applies to numeric attributes only")
    if operator not in _OPERATORS_BY_KIND[kind]:
        allowed = ", ".join(sorted(_OPERATORS_BY_KIND[kind]))
        raise ValueError(f"'{operator}' does not apply to {test.field} ({kind.value}); use {allowed}")
    if operator == "equals":
        _check_equals_type(kind, test.field, test.equals)
    if kind is Kind.NUMBER and operator != "present":
        operand = float(test.operand)
        if not -MAX_NUMBER <= operand <= MAX_NUMBER:  # also false for NaN
            raise ValueError(
                f"'{operator}' needs a finite number within ±10^15 (the listing contract's range)"
            )
    if test.field in COUNTRY_FIELDS and operator in ("equals", "in"):
        values = (test.equals,) if operator == "equals" else test.in_ or ()
        _country_codes(tuple(str(value) for value in values))


def _check_equals_type(kind: Kind, field: str, value: Scalar | None) -> None:
    expected = {Kind.STRING: str, Kind.BOOL: bool}.get(kind)
    if kind is Kind.NUMBER and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValueError(f"{field} is a number; 'equals' needs a number")
    if expected is not None and not isinstance(value, expected):
        raise ValueError(f"{field} is a {kind.value}; 'equals' needs a {kind.value}")


class AllOf(_Strict):
    """True when every condition is true."""

    all: tuple[Condition, ...] = Field(min_length=1)


class AnyOf(_Strict):
    """True when at least one condition is true."""

    any: tuple[Condition, ...] = Field(min_length=1)


class NotOf(_Strict):
    """True when the condition is false."""

    not_: Condition = Field(alias="not")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# The key that tells a condition's kind. Tags are written <like-this> so that error locations
# can tell them apart from real keys (see engine.policyset).
_CONDITION_TAGS = {
    "all": "<all>",
    "any": "<any>",
    "not": "<not>",
    "lexicon": "<lexicon>",
    "regex": "<regex>",
    "obfuscated": "<obfuscated>",
    "field": "<field>",
    "condition": "<condition>",
}


def _condition_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {
            AllOf: "<all>",
            AnyOf: "<any>",
            NotOf: "<not>",
            LexiconTest: "<lexicon>",
            RegexTest: "<regex>",
            ObfuscationTest: "<obfuscated>",
            FieldTest: "<field>",
            NamedTest: "<condition>",
        }.get(type(value))
    if isinstance(value, dict):
        kinds = [tag for key, tag in _CONDITION_TAGS.items() if key in value]
        return kinds[0] if len(kinds) == 1 else None
    return None


Condition = Annotated[
    Annotated[AllOf, Tag("<all>")]
    | Annotated[AnyOf, Tag("<any>")]
    | Annotated[NotOf, Tag("<not>")]
    | Annotated[LexiconTest, Tag("<lexicon>")]
    | Annotated[RegexTest, Tag("<regex>")]
    | Annotated[ObfuscationTest, Tag("<obfuscated>")]
    | Annotated[FieldTest, Tag("<field>")]
    | Annotated[NamedTest, Tag("<condition>")],
    Discriminator(
        _condition_kind,
        custom_error_type="condition",
        custom_error_message=(
            "a condition needs exactly one of the keys all, any, not, lexicon, regex, obfuscated, field, "
            "condition"
        ),
    ),
]

AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()


class NamedCondition(_Strict):
    """A condition declared once, for the policies that test it by name."""

    description: str = Field(min_length=1, description="What it tells about a listing, for the reader.")
    when: Condition


class NamedConditions(_Strict):
    """The conditions policies share (conditions.yaml)."""

    conditions: dict[Annotated[str, Field(pattern=_NAME)], NamedCondition] = {}


# --- policies -------------------------------------------------------------------------------


class GroundRef(_Strict):
    """A legal ground: an article of an instrument declared in policies/legal/."""

    instrument: str = Field(description="Instrument identifier, e.g. `legitext:LEGITEXT000006070719`.")
    article: str = Field(min_length=1, description="Article as declared in the instrument file.")


def in_force(start: date | None, end: date | None, day: date) -> bool:
    """The one reading of "in force on a date" for policies, instruments and article versions:
    both ends inclusive, an open end omitted."""
    return (start is None or start <= day) and (end is None or day <= end)


class InForce(_Strict):
    """Dates in force, both inclusive; an open end is omitted."""

    from_: date | None = Field(default=None, alias="from")
    to: date | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _ordered(self) -> InForce:
        if self.from_ and self.to and self.to < self.from_:
            raise ValueError("'to' is before 'from'")
        return self

    def in_force_on(self, day: date) -> bool:
        return in_force(self.from_, self.to, day)


class Example(BaseModel):
    """A listing (partial: id and ship_to are filled in) and, optionally, the date to judge it."""

    model_config = ConfigDict(extra="allow", frozen=True)

    as_of: date | None = None


class Examples(_Strict):
    """Listings this policy must match, and lookalikes it must not."""

    match: tuple[Example, ...] = ()
    no_match: tuple[Example, ...] = ()


def _country_codes(codes: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [code for code in codes if not countries.is_known(code)]
    if unknown:
        raise ValueError(f"unknown country code(s) {', '.join(unknown)}; use ISO 3166-1 alpha-2 or EU")
    return codes


class Policy(_Strict):
    """One rule of law as code: where and when it applies, what it catches, and why."""

    id: str = Field(
        pattern=_IDENTIFIER, description="Stable identifier, e.g. `fr.csi.r311-2.a1-14.brass-knuckles`."
    )
    title: str = Field(min_length=1)
    description: str | None = None
    decision: Literal["block", "flag"] = Field(
        description="block: offering it is illegal; flag: a person must look. Allow is the default."
    )
    applies_in: tuple[str, ...] = Field(min_length=1, description="ISO country codes, or EU.")
    except_in: tuple[str, ...] = ()
    #: Written `effective:` before December 2026: still read, so bundles kept in a verdict log replay.
    in_force: InForce = Field(default=InForce(), validation_alias=AliasChoices("in_force", "effective"))
    grounds: tuple[GroundRef, ...] = Field(min_length=1)
    confidence: Confidence = Confidence.HIGH
    note: str | None = Field(default=None, description="Doubts, sources, why flag rather than block.")
    tags: tuple[str, ...] = ()
    when: Condition
    unless: tuple[Condition, ...] = Field(default=(), description="Any of these exempts the listing.")
    examples: Examples = Examples()

    @field_validator("applies_in", "except_in")
    @classmethod
    def _known_countries(cls, codes: tuple[str, ...]) -> tuple[str, ...]:
        return _country_codes(codes)

    @property
    def verdict(self) -> Decision:
        return Decision(self.decision)

    def in_force_on(self, day: date) -> bool:
        return self.in_force.in_force_on(day)

    @model_validator(mode="after")
    def _somewhere(self) -> Policy:
        if not countries.expand(list(self.applies_in), list(self.except_in)):
            raise ValueError("applies_in minus except_in leaves no country")
        return self


# --- supporting files -----------------------------------------------------------------------


class ArticleVersion(_Strict):
    """One version of an article: its dates in force and, where known, its identifier
    (a Légifrance LEGIARTI, an EUR-Lex consolidation such as 02019R1148-20190711)."""

    id: str | None = Field(default=None, min_length=1)
    from_: date | None = Field(default=None, alias="from")
    to: date | None = None
    url: str | None = None
    note: str | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def in_force_on(self, day: date) -> bool:
        return in_force(self.from_, self.to, day)

    @property
    def label(self) -> str:
        """How a verdict names this version."""
        if self.id:
            return self.id
        return f"in force from {self.from_.isoformat()}" if self.from_ else "version not identified"


class Article(_Strict):
    url: str | None = None
    title: str | None = None
    confidence: Confidence = Confidence.HIGH
    versions: tuple[ArticleVersion, ...] = ()
    note: str | None = None


class Instrument(_Strict):
    """A legal text, declared once and cited by many policies."""

    instrument: str = Field(
        pattern=r"^(celex|legitext|jorftext|eli|other):[A-Za-z0-9._/-]+$",
        description="Stable identifier: celex:…, legitext:…, jorftext:…",
    )
    title: str = Field(min_length=1)
    short: str | None = None
    jurisdiction: str
    url: str
    in_force: InForce = InForce()
    articles: dict[str, Article] = Field(min_length=1)
    note: str | None = None

    def in_force_on(self, day: date) -> bool:
        return self.in_force.in_force_on(day)

    @field_validator("jurisdiction")
    @classmethod
    def _known_jurisdiction(cls, code: str) -> str:
        return _country_codes((code,))[0]


Terms = dict[Annotated[str, Field(pattern=_LANGUAGE)], tuple[Annotated[str, Field(min_length=1)], ...]]


class Lexicon(_Strict):
    """Multilingual terms; a term ending in `*` also matches longer words starting with it."""

    lexicon: str = Field(pattern=_NAME)
    description: str | None = None
    terms: Terms = Field(min_length=1)
    exclude: Terms = Field(
        default_factory=dict,
        description="Lookalike phrases: a term found inside one of these does not count.",
    )


class ValueList(_Strict):
    """A named list of values for `in_list` (e.g. recalled GTINs)."""

    list: str = Field(pattern=_NAME)
    description: str | None = None
    source: str | None = None
    values: tuple[str, ...] = Field(min_length=1)


class TextExtraction(_Strict):
    """Where sellers write a number only in text: patterns whose first group is the value."""

    fields: tuple[TextField, ...] = DEFAULT_TEXT_FIELDS
    patterns: tuple[str, ...] = Field(min_length=1)
    scale: float = Field(
        default=1.0,
        gt=0,
        le=1e6,
        allow_inf_nan=False,
        description="Multiply the number found (e.g. 1000 for W → mW).",
    )
    minor_scale: float = Field(
        default=0.0,
        ge=0,
        le=1e6,
        allow_inf_nan=False,
        description="Multiply a second group, when it matched, and add it "
        "(e.g. 1 for the 20 of '1m20' in cm, 2.54 for the inches of 4'11\").",
    )

    @field_validator("patterns")
    @classmethod
    def _one_group(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                compiled = re.compile(pattern)
            except re.error as error:
                raise ValueError(f"invalid regular expression {pattern!r}: {error}") from error
            if compiled.groups < 1:
                raise ValueError(f"pattern {pattern!r} needs a group capturing the number")
        return patterns


class AttributeDeclaration(_Strict):
    """One attribute listings may carry and policies may test (see policies/README.md)."""

    type: Literal["number", "text", "boolean", "list of text"]
    unit: str | None = Field(default=None, min_length=1, description="For numbers: the unit, e.g. J, cm, mW.")
    description: str = Field(min_length=1)
    aliases: tuple[Annotated[str, Field(min_length=1)], ...] = Field(
        default=(), description="Marketplace names read as this attribute."
    )
    values: tuple[Annotated[str, Field(min_length=1)], ...] = Field(
        default=(), description="For text: the only values allowed (matched ignoring case)."
    )
    from_text: tuple[TextExtraction, ...] = Field(
        default=(),
        description="For numbers: how to read the number from text when the listing does not state it.",
    )
    searched: bool = Field(
        default=False,
        description="For text and list of text: lexicon and regex tests that name no `fields` search "
        "it too, after the title and description (attributes decide as the same words in text do).",
    )

    @model_validator(mode="after")
    def _fits_the_type(self) -> AttributeDeclaration:
        if self.from_text and self.type != "number":
            raise ValueError("from_text applies to numbers only")
        if self.values and self.type != "text":
            raise ValueError("values applies to text only")
        if self.searched and self.type not in ("text", "list of text"):
            raise ValueError("searched applies to text and list of text only")
        return self

    @property
    def kind(self) -> Kind:
        return DECLARED_KINDS[self.type]


class Attributes(_Strict):
    """The attributes of listings a pack's policies may test: declared once, here."""

    attributes: dict[Annotated[str, Field(pattern=_NAME)], AttributeDeclaration] = {}

    @property
    def from_text(self) -> dict[str, tuple[TextExtraction, ...]]:
        """Declared name → how to read it from text."""
        return {name: a.from_text for name, a in self.attributes.items() if a.from_text}

    @property
    def searched_by_default(self) -> tuple[str, ...]:
        """What a lexicon or regex test of this pack searches when it names no fields."""
        return searched_by_default(name for name, a in self.attributes.items() if a.searched)

"""Compile a policy set into durable-rules ruleset definitions plus the plan of engine facts.

The engine sees one small fact per listing: named signals (a lexicon found in a field, a
pattern matched, a value in a list), the numbers and presence of the fields that rules read,
the listing's jurisdictions and the date judged. Text analysis happens before the engine
(DESIGN.md); the engine decides which policies apply.

Each policy becomes one durable-rules rule per alternative of its condition in disjunctive
normal form, so every rule is a plain conjunction of tests and a fact fires every policy that
matches it. Each rule starts with its most selective test (a signal), because durable-rules
indexes a node's children by the property they test: a fact only visits the rules whose first
property it carries, which keeps the cost per listing flat as policies grow. A node holds at
most 512 children, so when a pack has many distinct first tests, rules are grouped behind
bucket flags.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

import orjson

from tamis.engine import countries
from tamis.engine.conditions import Leaf, leaves, walk
from tamis.engine.fields import COUNTRY_FIELDS, Kind
from tamis.engine.model import Condition, FieldTest, LexiconTest, ObfuscationTest, Policy, RegexTest
from tamis.engine.policyset import PolicySet
from tamis.engine.textnorm import fold
from tamis.engine.textscan import OBFUSCATED
from tamis.engine.yamldoc import Path

#: Alternatives one policy may expand to before it is refused as too complex.
MAX_TERMS = 256
#: Distinct first tests tolerated at the root before rules are grouped behind buckets.
ANCHOR_LIMIT = 200
BUCKET_SIZE = 48


class Literal(NamedTuple):
    """One engine test: `prop` compared with `value` by `op`; `leaf` is where it came from."""

    prop: str
    op: str  # eq neq lt lte gt gte ex nex
    value: float | int | None
    leaf: Leaf | None
    positive: bool

    @property
    def key(self) -> tuple[str, str, float | int | None]:
        return (self.prop, self.op, self.value)

    def holds(self, fact: dict[str, Any]) -> bool:
        """Whether `fact` passes this test, as durable-rules reads it."""
        value = fact.get(self.prop)
        if self.op in ("ex", "nex"):
            return (value is None) == (self.op == "nex")
        if value is None:
            return False
        if isinstance(value, orjson.Fragment):  # a number written for the C core (engine_number)
            value = orjson.loads(orjson.dumps(value))
        return bool(_COMPARE[self.op](value, self.value))

    def test(self) -> dict[str, Any]:
        """The durable-rules JSON for this test."""
        if self.op == "eq":
            return {self.prop: self.value}
        if self.op in ("ex", "nex"):
            return {f"${self.op}": {self.prop: 1}}
        return {f"${self.op}": {self.prop: self.value}}


Term = tuple[Literal, ...]

#: When a costly signal may matter: one of these sets of flags is wholly in the fact (each set,
#: the flags a rule using the signal needs before it).
Triggers = frozenset[frozenset[str]]


def _implied(need: frozenset[str], needs: set[frozenset[str]]) -> bool:
    """Whether a smaller set of `needs` already triggers whenever `need` does."""
    return any(other < need for other in needs)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    policy: int
    literals: Term


@dataclass
class FactPlan:
    """How to turn a listing's findings into the engine fact the rules expect."""

    lexicon_flags: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    pattern_flags: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    patterns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    lexicon_fields: set[str] = field(default_factory=set)
    #: fields whose obfuscation a rule tests (found by the scanner as the pseudo-lexicon OBFUSCATED)
    obfuscation_fields: set[str] = field(default_factory=set)
    #: field path → {folded value → flags} for equality and membership tests on strings
    memberships: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    #: (field path, source) → fact property holding its number, boolean (1/0) or presence (1);
    #: the source says whether a numeric attribute may be read from text (see FieldTest.source)
    values: dict[tuple[str, str], tuple[str, Kind]] = field(default_factory=dict)
    #: country → jurisdiction flags it raises
    scopes: dict[str, list[str]] = field(default_factory=dict)
    #: anchor property → bucket flag (only for large packs)
    buckets: dict[str, str] = field(default_factory=dict)
    #: Signals computed only when a rule could use them: regex → the sets of flags of which one
    #: must be wholly in the fact for any rule testing it to fire (None: always), and likewise per
    #: value property that may be read from text.
    pattern_triggers: dict[str, Triggers | None] = field(default_factory=dict)
    inference_triggers: dict[str, Triggers | None] = field(default_factory=dict)

    @functools.cached_property
    def value_groups(self) -> list[tuple[tuple[str, ...], list[tuple[str, str, str, Kind]]]]:
        """`values` grouped by parent object, so a listing's nested objects are looked up once:
        [(parent path parts, [(key, source, prop, kind)])]."""
        groups: dict[tuple[str, ...], list[tuple[str, str, str, Kind]]] = {}
        for (path, source), (prop, kind) in self.values.items():
            *parent, key = path.split(".")
            groups.setdefault(tuple(parent), []).append((key, source, prop, kind))
        return list(groups.items())


@dataclass
class Program:
    """A compiled policy set: durable-rules definitions and what is needed to feed them."""

    rules: dict[str, CompiledRule]
    ruleset: dict[str, Any]
    plan: FactPlan
    policy_countries: list[frozenset[str]]
    #: per policy, the tests of where and when it applies, which every one of its rules holds
    policy_scopes: list[tuple[Literal, ...]]
    #: each leaf test of the pack → the alternatives its rules test for it (engine.explain)
    leaf_terms: dict[Leaf, list[Term]]


class ConditionTooComplex(ValueError):
    """A condition whose disjunctive normal form is too large to compile."""

    def __init__(self, message: str, policy_id: str = "") -> None:
        super().__init__(message)
        self.policy_id = policy_id


class _Names:
    """Hands out short, stable fact property names."""

    def __init__(self) -> None:
        self._names: dict[Any, str] = {}
        self._counters: dict[str, itertools.count[int]] = {}

    def get(self, prefix: str, key: Any) -> str:
        full = (prefix, key)
        if full not in self._names:
            counter = self._counters.setdefault(prefix, itertools.count())
            self._names[full] = f"{prefix}{next(counter)}"
        return self._names[full]


def fold_value(value: str) -> str:
    """How strings are compared: case, accents and extra spaces ignored."""
    return " ".join(fold(value).split())


def member_values(policy_set: PolicySet, leaf: FieldTest) -> frozenset[str]:
    """The folded values an equality or membership test accepts; on a country field a group
    such as EU stands for its member states, and France for its overseas departments too."""
    operand = leaf.operand
    if leaf.operator == "in_list":
        operand = policy_set.lists[operand].values
    if isinstance(operand, str):
        operand = (operand,)
    if leaf.field in COUNTRY_FIELDS:
        operand = tuple(code for value in operand for code in countries.covered(value))
    return frozenset(fold_value(value) for value in operand)


class _Compiler:
    def __init__(self, policy_set: PolicySet) -> None:
        self.policy_set = policy_set
        self.names = _Names()
        self.plan = FactPlan()

    # --- leaves -------------------------------------------------------------------------

    def _flag(self, leaf: Leaf) -> str:
        if isinstance(leaf, LexiconTest):
            prop = self.names.get("x", (leaf.lexicon, leaf.fields))
            for name in leaf.fields:
                flags = self.plan.lexicon_flags.setdefault((leaf.lexicon, name), [])
                if prop not in flags:
                    flags.append(prop)
                self.plan.lexicon_fields.add(name)
            return prop
        if isinstance(leaf, ObfuscationTest):
            prop = self.names.get("x", (OBFUSCATED, leaf.fields))
            for name in leaf.fields:
                flags = self.plan.lexicon_flags.setdefault((OBFUSCATED, name), [])
                if prop not in flags:
                    flags.append(prop)
                self.plan.obfuscation_fields.add(name)
            return prop
        if isinstance(leaf, RegexTest):
            prop = self.names.get("r", (leaf.regex, leaf.fields))
            known = self.plan.patterns.get(leaf.regex, ())
            self.plan.patterns[leaf.regex] = tuple(dict.fromkeys((*known, *leaf.fields)))
            for name in leaf.fields:
                flags = self.plan.pattern_flags.setdefault((leaf.regex, name), [])
                if prop not in flags:
                    flags.append(prop)
            return prop
        values = member_values(self.policy_set, leaf)
        prop = self.names.get("m", (leaf.field, values))
        table = self.plan.memberships.setdefault(leaf.field, {})
        for value in values:
            flags = table.setdefault(value, [])
            if prop not in flags:
                flags.append(prop)
        return prop

    def _value_prop(self, path: str, source: str) -> str:
        key = (path, source)
        if key not in self.plan.values:
            self.plan.values[key] = (self.names.get("f", key), self.policy_set.fields.kinds[path])
        return self.plan.values[key][0]

    def leaf(self, leaf: Leaf, negate: bool) -> list[Term]:
        """The alternatives (each one literal) equivalent to `leaf`, or to its negation."""
        is_flag = (
            not isinstance(leaf, FieldTest)
            or leaf.operator in ("in", "in_list", "contains")
            or (leaf.operator == "equals" and self.policy_set.fields.kinds[leaf.field] is Kind.STRING)
        )
        if is_flag:
            prop = self._flag(leaf)
            return (
                [(Literal(prop, "nex", None, leaf, False),)]
                if negate
                else [(Literal(prop, "eq", 1, leaf, True),)]
            )
        assert isinstance(leaf, FieldTest)
        prop = self._value_prop(leaf.field, leaf.source)
        operator = leaf.operator
        if operator == "present":
            present = bool(leaf.present) != negate
            return [(Literal(prop, "ex" if present else "nex", None, leaf, not negate),)]
        value = leaf.operand
        value = int(value) if isinstance(value, bool) else value
        op = {"equals": "eq", "lt": "lt", "lte": "lte", "gt": "gt", "gte": "gte"}[operator]
        if not negate:
            return [(Literal(prop, op, value, leaf, True),)]
        opposite = {"eq": "neq", "lt": "gte", "lte": "gt", "gt": "lte", "gte": "lt"}[op]
        return [(Literal(prop, "nex", None, leaf, False),), (Literal(prop, opposite, value, leaf, False),)]

    # --- conditions ---------------------------------------------------------------------

    def dnf(self, condition: Condition, negate: bool = False) -> list[Term]:
        """Disjunctive normal form: a list of alternatives, each a conjunction of literals."""
        return walk(condition, _Normal(self), ())(negate)

    def policy_terms(self, policy: Policy) -> list[Term]:
        terms = self.dnf(policy.when)
        for exception in policy.unless:
            terms = _product([terms, self.dnf(exception, negate=True)])
        return terms

    # --- policies -----------------------------------------------------------------------

    def scope(self, policy: Policy) -> tuple[Literal, frozenset[str]]:
        where = countries.expand(list(policy.applies_in), list(policy.except_in))
        prop = self.names.get("j", where)
        for code in where:
            flags = self.plan.scopes.setdefault(code, [])
            if prop not in flags:
                flags.append(prop)
        return Literal(prop, "eq", 1, None, True), where

    def compile(self) -> Program:
        rules: dict[str, CompiledRule] = {}
        where_by_policy: list[frozenset[str]] = []
        scopes: list[tuple[Literal, ...]] = []
        for index, policy in enumerate(self.policy_set.policies):
            scope, where = self.scope(policy)
            where_by_policy.append(where)
            dates = _date_literals(policy.in_force.from_, policy.in_force.to)
            scopes.append((scope, *dates))
            try:
                terms = self.policy_terms(policy)
            except ConditionTooComplex as error:
                raise ConditionTooComplex(str(error), policy.id) from error
            for number, term in enumerate(terms):
                literals = tuple(sorted({*term, scope, *dates}, key=_selectivity))
                rules[f"p{index}.{number}"] = CompiledRule(index, literals)
        self._plan_lazy_signals(rules)
        self._bucket(rules)
        ruleset = {name: {"all": [{"m": _conjunction(rule.literals)}]} for name, rule in rules.items()}
        leaf_terms = {
            leaf: self.leaf(leaf, negate=False)
            for policy in self.policy_set.policies
            for leaf, _ in leaves(policy)
        }
        return Program(rules, ruleset, self.plan, where_by_policy, scopes, leaf_terms)

    def _plan_lazy_signals(self, rules: dict[str, CompiledRule]) -> None:
        """Regexes and numbers read from text are costly; a rule can only fire when its eager
        signals (lexicon and membership flags) are in the fact, so compute a lazy signal only
        when one of the eager flags of some rule using it is present."""
        pattern_of = {
            prop: source for (source, _), props in self.plan.pattern_flags.items() for prop in props
        }
        extracted = {f"attributes.{name}" for name in self.policy_set.attributes.from_text}
        inferred_of = {
            prop: prop
            for (path, source), (prop, _) in self.plan.values.items()
            if path in extracted and source != "stated"
        }
        # Known before any costly signal: lexicon and membership flags, and values as stated. A
        # rule holds only if every prop it tests other than by `nex` is in the fact (Literal.holds).
        stated = {prop for prop, _ in self.plan.values.values()} - set(inferred_of)
        triggers: dict[tuple[str, str], set[frozenset[str]] | None] = {}
        for rule in rules.values():
            eager = frozenset(
                literal.prop
                for literal in rule.literals
                if (literal.op == "eq" and literal.prop[0] in "xm")
                or (literal.op != "nex" and literal.prop in stated)
            )
            for literal in rule.literals:
                key = (
                    ("pattern", pattern_of[literal.prop])
                    if literal.prop in pattern_of
                    else ("inferred", inferred_of[literal.prop])
                    if literal.prop in inferred_of
                    else None
                )
                if key is None:
                    continue
                known = triggers.setdefault(key, set())
                if known is not None and eager:
                    known.add(eager)
                else:
                    triggers[key] = None
        for (kind, name), needs in triggers.items():
            target = self.plan.pattern_triggers if kind == "pattern" else self.plan.inference_triggers
            target[name] = (
                None if needs is None else frozenset(need for need in needs if not _implied(need, needs))
            )

    def _bucket(self, rules: dict[str, CompiledRule]) -> None:
        """Group rules behind bucket flags when the root would have too many children."""
        anchors = sorted({rule.literals[0].prop for rule in rules.values()})
        if len(anchors) <= ANCHOR_LIMIT:
            return
        count = math.ceil(len(anchors) / BUCKET_SIZE)
        self.plan.buckets = {prop: f"b{index % count}" for index, prop in enumerate(anchors)}
        for name, rule in rules.items():
            bucket = Literal(self.plan.buckets[rule.literals[0].prop], "eq", 1, None, True)
            rules[name] = CompiledRule(rule.policy, (bucket, *rule.literals))


Normal = Callable[[bool], list[Term]]


class _Normal:
    """Fold: a condition → its disjunctive normal form, or its negation's (De Morgan), on demand."""

    def __init__(self, compiler: _Compiler) -> None:
        self.compiler = compiler

    def leaf(self, leaf: Leaf, path: Path, depth: int) -> Normal:
        return lambda negate: self.compiler.leaf(leaf, negate)

    def all(self, children: list[Normal], path: Path, depth: int) -> Normal:
        return lambda negate: (_union if negate else _product)([child(negate) for child in children])

    def any(self, children: list[Normal], path: Path, depth: int) -> Normal:
        return lambda negate: (_product if negate else _union)([child(negate) for child in children])

    def not_(self, child: Normal, path: Path, depth: int) -> Normal:
        return lambda negate: child(not negate)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "neq": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}


def compile_policy_set(policy_set: PolicySet) -> Program:
    """Raises ConditionTooComplex (naming the policy) when a condition expands too far."""
    return _Compiler(policy_set).compile()


def date_number(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def _date_literals(start: date | None, end: date | None) -> list[Literal]:
    literals = []
    if start is not None:
        literals.append(Literal("d", "gte", date_number(start), None, True))
    if end is not None:
        literals.append(Literal("d", "lte", date_number(end), None, True))
    return literals


def _selectivity(literal: Literal) -> tuple[int, str, str, str]:
    """Order tests so that rules start with what rarely holds: signals first."""
    if literal.op == "eq" and literal.prop[0] in "xrm":
        rank = 0
    elif literal.op in ("eq", "ex", "lt", "lte", "gt", "gte") and literal.prop[0] == "f":
        rank = 1
    elif literal.prop[0] == "j":
        rank = 2
    elif literal.prop == "d":
        rank = 3
    else:
        rank = 4
    return (rank, literal.prop, literal.op, repr(literal.value))


def _conjunction(literals: Term) -> dict[str, Any]:
    tests = [literal.test() for literal in literals]
    return tests[0] if len(tests) == 1 else {"$and": tests}


def _union(parts: list[list[Term]]) -> list[Term]:
    return _simplify(term for part in parts for term in part)


def _product(parts: list[list[Term]]) -> list[Term]:
    total = math.prod(len(part) for part in parts)
    if total > MAX_TERMS * 4:
        raise ConditionTooComplex(f"the condition expands to {total} alternatives")
    return _simplify(tuple(itertools.chain.from_iterable(combo)) for combo in itertools.product(*parts))


def _simplify(terms: Iterator[Term] | Any) -> list[Term]:
    """Drop repeated literals, contradictory alternatives and repeated alternatives."""
    seen: set[frozenset[tuple[str, str, Any]]] = set()
    result: list[Term] = []
    for term in terms:
        unique = tuple({literal.key: literal for literal in term}.values())
        keys = {literal.key for literal in unique}
        if _contradictory(keys):
            continue
        signature = frozenset(keys)
        if signature not in seen:
            seen.add(signature)
            result.append(unique)
    if len(result) > MAX_TERMS:
        raise ConditionTooComplex(
            f"the condition expands to {len(result)} alternatives (at most {MAX_TERMS}); "
            "use a lexicon or a list instead of many alternatives"
        )
    return result


def _contradictory(keys: set[tuple[str, str, Any]]) -> bool:
    present = {prop for prop, op, _ in keys if op != "nex"}
    absent = {prop for prop, op, _ in keys if op == "nex"}
    return bool(present & absent)

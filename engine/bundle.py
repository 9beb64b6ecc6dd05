"""A bundle: the compiled, immutable result of one set of policy sources, named by its digest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tamis.engine.compiler import ConditionTooComplex, Program, compile_policy_set
from tamis.engine.errors import PolicyProblem, PolicySetError
from tamis.engine.policyset import PolicySet, load_policy_set
from tamis.engine.sources import SourceTree, bundle_digest, read_tree
from tamis.engine.textscan import TextScanner


@dataclass(frozen=True)
class Bundle:
    """Everything needed to judge listings under one version of the policies."""

    digest: str
    sources: SourceTree
    policy_set: PolicySet
    program: Program
    scanner: TextScanner
    loaded_at: datetime


def load_bundle(source: Path | SourceTree) -> Bundle:
    """Load, validate and compile a policy pack (a directory, or sources kept in a verdict log).

    Raises PolicySetError listing every problem, FileNotFoundError for a missing directory.
    """
    tree = read_tree(source) if isinstance(source, Path) else dict(source)
    policy_set = load_policy_set(tree)
    try:
        program = compile_policy_set(policy_set)
    except ConditionTooComplex as error:
        location = policy_set.locate(error.policy_id, ("when",))
        raise PolicySetError([PolicyProblem(location, "when", str(error))]) from error
    plan = program.plan
    scanner = TextScanner(
        policy_set.lexicons.values(),
        plan.lexicon_fields,
        plan.obfuscation_fields,
        plan.patterns,
        policy_set.attributes.from_text,
    )
    return Bundle(bundle_digest(tree), tree, policy_set, program, scanner, datetime.now(UTC))

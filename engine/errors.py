"""Errors that point at their cause: a policy file position, or a listing field."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """A position in a policy source file (1-based line and column, as editors count)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}"
        return self.file


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """One thing wrong with a policy source, located and explained."""

    location: SourceLocation
    path: str
    message: str

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"{self.location}: {self.message}{where}"


class PolicySetError(Exception):
    """A policy set was rejected whole; every problem found is listed."""

    def __init__(self, problems: list[PolicyProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.location.file, p.location.line, p.location.column))
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the policy set"
        super().__init__(head + "\n" + "\n".join(f"  {p}" for p in self.problems))


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One field of a listing that breaks the contract (mirrors google.rpc.BadRequest)."""

    field: str
    description: str

    def __str__(self) -> str:
        return f"{self.field}: {self.description}"


class ListingError(ValueError):
    """A listing that breaks the JSON contract; nothing was evaluated."""

    def __init__(self, violations: list[FieldViolation], *, too_large: bool = False) -> None:
        self.violations = violations
        self.too_large = too_large
        super().__init__("; ".join(str(v) for v in violations))

"""The durable-rules engine, driven through its C core.

durable-rules' Python `Host` runs actions on timer threads and can hand one listing's match
to the next (DESIGN.md). We call the C module directly instead: assert a batch of facts,
drain every action it queued, retract the facts, all under one lock, since the engine's state
is global to the process. Nothing runs in the background, facts never outlive a call, and each
fired action is attributed to its fact by the fact's id, never by arrival order.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import durable_rules_engine as core
import orjson

#: The C core keeps process-global state: one caller at a time.
_LOCK = threading.Lock()
_NAMES = itertools.count()
_FACT_IDS = itertools.count(1)

#: A fact may hold at most 255 properties (MAX_OBJECT_PROPERTIES in the C core).
MAX_FACT_PROPERTIES = 250

_OBSERVED = 2  # assert result: 0 handled, 1 matched no rule (fine: allow), 2 already held


class EngineError(RuntimeError):
    pass


def next_fact_id() -> int:
    """A process-wide unique fact id: the engine refuses a fact identical to one it holds."""
    return next(_FACT_IDS)


class DurableRuleset:
    """One compiled ruleset living in the C engine until closed."""

    def __init__(self, label: str, definition: dict[str, Any]) -> None:
        with _LOCK:
            self._handle: int | None = core.create_ruleset(
                f"{label}-{next(_NAMES)}", orjson.dumps(definition).decode()
            )

    def fire(self, facts: list[dict[str, Any]]) -> dict[int, set[str]]:
        """Assert `facts` (each with a unique integer `id`) and return, per fact id, the
        names of every rule it fired. The facts are retracted before returning."""
        if not facts:
            return {}
        for fact in facts:
            if len(fact) > MAX_FACT_PROPERTIES:
                raise EngineError(
                    f"a listing raised {len(fact)} signals; the engine takes {MAX_FACT_PROPERTIES}"
                )
        expected = {fact["id"] for fact in facts}
        payload = orjson.dumps(facts).decode()
        fired: dict[int, set[str]] = {}
        with _LOCK:
            handle = self._live_handle()
            result, state = core.assert_facts(handle, payload)
            messages: str | None = None
            try:
                if result == _OBSERVED:
                    raise EngineError("the engine already held one of these facts")
                started = core.start_action_for_state(handle, state)
                messages = started[1] if started else None
                while messages:
                    for rule, body in orjson.loads(messages).items():
                        fact_id = body["m"]["id"]
                        if fact_id not in expected:
                            raise EngineError(f"rule {rule} fired for a fact of another call")
                        fired.setdefault(fact_id, set()).add(rule)
                    messages = core.complete_and_start_action(handle, state)
            finally:
                while messages:  # drain what an error left queued, so no later call sees it
                    messages = core.complete_and_start_action(handle, state)
                core.retract_facts(handle, payload)
        return fired

    def _live_handle(self) -> int:
        if self._handle is None:
            raise EngineError("the ruleset was closed")
        return self._handle

    def close(self) -> None:
        """Free the ruleset.

        The C core's delete_ruleset leaves the ruleset's session state allocated (about 1.3 MB
        for the shipped pack). Its delete_state would free it, but crashes the process for some
        rulesets (a use-after-free in deleteStateNode, seen here), so a replaced bundle leaks
        that much: bounded by the number of reloads a process lives through.
        """
        with _LOCK:
            if self._handle is not None:
                core.delete_ruleset(self._handle)
                self._handle = None

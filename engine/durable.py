"""The durable-rules engine, driven through its C core.

durable-rules' Python `Host` runs actions on timer threads and can hand one listing's match
to the next (DESIGN.md). We call the C module directly instead: assert a batch of facts,
drain every action it queued, retract the facts, all under one lock, since the engine's state
is global to the process. Nothing runs in the background, facts never outlive a call, and each
fired action is attributed to its fact by the fact's id, never by arrival order.

The C core trusts its input more than a listing deserves. Its JSON parser takes an exponent
only after a fraction (`1.0e-07`, not orjson's `1e-07`) and, on a number it cannot read, stops
reading the batch without saying so: the facts after it are never asserted (their listings
would come back `allow`) and the state it returns may be garbage (a crash on the next step).
So numbers are written in the form it reads (`engine_number`), a payload it would misread is
refused before it gets there, and every batch ends with a canary fact that a rule of our own
must fire for: if it did not, the engine did not read the whole batch, and the batch is an
error. `fire_each` then re-runs the facts one by one, so only the listing at fault fails.
"""

from __future__ import annotations

import itertools
import math
import re
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

#: Every rule hands over all its matches of a batch in one action (durable-rules' `cap`), not
#: one action per match: each action costs a scan of every rule's queue in the C core and a
#: round trip through Python (measured: ~12 µs per match at 2,000 rules).
_CAP = 1_000_000

_HANDLED, _NOT_HANDLED = 0, 1  # the assert results that mean the engine took every fact

#: The rule that fires for the canary fact closing every batch (compiled rules are named p…).
CANARY_RULE = "tamis.canary"
_CANARY_PROPERTY = "canary"

#: A number the C parser misreads: an exponent with no fraction before it, or a non-finite
#: value (orjson writes it as null).
_UNREADABLE = re.compile(rb":(?:-?\d+[eE]|null)")

#: A frame of an action, and the id its fact starts with (see _action).
_FRAME = '{"m":{'
_FRAME_ID = re.compile(r'\{"m":\{"id":(\d+)[,}]')

#: orjson writes a float in [1e-4, 1e16) without an exponent (and ints as digits).
_PLAIN_LOW, _PLAIN_HIGH = 1e-4, 1e15
_INT_LIMIT = 2**53


class EngineError(RuntimeError):
    pass


def next_fact_id() -> int:
    """A process-wide unique fact id: the engine refuses a fact identical to one it holds."""
    return next(_FACT_IDS)


def engine_number(value: float) -> float | orjson.Fragment:
    """`value` as the C core reads it: plain digits when orjson writes them so, else the
    mantissa with a fraction before the exponent (`1.0e-07`); beyond the range of a double,
    the largest double of that sign (a comparison with any threshold reads the same)."""
    if type(value) is int:
        if -_INT_LIMIT < value < _INT_LIMIT:
            return value
        value = float(value) if abs(value) < 2**1023 else (math.inf if value > 0 else -math.inf)
    magnitude = abs(value)
    if _PLAIN_LOW <= magnitude < _PLAIN_HIGH or magnitude == 0 or math.isnan(value):
        return value  # NaN: orjson writes null, which fire() refuses
    if math.isinf(value):
        value = math.copysign(1.7976931348623157e308, value)
    mantissa, mark, exponent = repr(value).partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return orjson.Fragment(f"{mantissa}{mark}{exponent}")


class DurableRuleset:
    """One compiled ruleset living in the C engine until closed."""

    def __init__(self, label: str, definition: dict[str, Any]) -> None:
        rules = {
            name: {**rule, "cap": _CAP}
            for name, rule in {**definition, CANARY_RULE: {"all": [{"m": {_CANARY_PROPERTY: 1}}]}}.items()
        }
        source = _payload(_readable(rules), "a rule")  # a policy's thresholds are numbers too
        with _LOCK:
            self._handle: int | None = core.create_ruleset(f"{label}-{next(_NAMES)}", source)
            # The session's state offset, the same for every call: learnt from a first canary,
            # so that an assert that fails without one can still be cleaned up after.
            canary = _payload([{"id": next_fact_id(), _CANARY_PROPERTY: 1}])
            self._state: int = core.assert_facts(self._handle, canary)[1]
            self._clean(self._handle, [])
            core.retract_facts(self._handle, canary)

    def fire(self, facts: list[dict[str, Any]]) -> dict[int, set[str]]:
        """Assert `facts` (each with a unique integer `id`) and return, per fact id, the
        names of every rule it fired. The facts are retracted before returning; on an error
        (EngineError) too, and the engine is left clean for the next call."""
        if not facts:
            return {}
        for fact in facts:
            if len(fact) > MAX_FACT_PROPERTIES:
                raise EngineError(
                    f"a listing raised {len(fact)} signals; the engine takes {MAX_FACT_PROPERTIES}"
                )
        canary = {"id": next_fact_id(), _CANARY_PROPERTY: 1}
        with _LOCK:
            fired = self._run(self._live_handle(), [*facts, canary])
        if fired.pop(canary["id"], None) != {CANARY_RULE}:
            raise EngineError("the engine did not read the whole batch")
        return fired

    def fire_each(self, facts: list[dict[str, Any]]) -> tuple[dict[int, set[str]], dict[int, EngineError]]:
        """As `fire`, but an error fails only the facts at fault: when the batch fails, its
        facts are run again one by one. Returns what fired and, per failed fact id, why."""
        self._live_handle()  # a closed ruleset fails the call, not each listing
        try:
            return self.fire(facts), {}
        except EngineError as error:
            if len(facts) == 1:
                return {}, {facts[0]["id"]: error}
        fired: dict[int, set[str]] = {}
        failed: dict[int, EngineError] = {}
        for fact in facts:
            try:
                fired.update(self.fire([fact]))
            except EngineError as error:
                failed[fact["id"]] = error
        return fired, failed

    def _run(self, handle: int, batch: list[dict[str, Any]]) -> dict[int, set[str]]:
        """Assert, drain, retract; called under the lock."""
        payload = _payload(batch)
        expected = {fact["id"] for fact in batch}
        fired: dict[int, set[str]] = {}
        messages: str | None = None
        try:
            result, state = core.assert_facts(handle, payload)
            if result not in (_HANDLED, _NOT_HANDLED):
                raise EngineError(f"the engine answered {result} to a batch of new facts")
            if state != self._state:
                raise EngineError("the engine returned an unknown state")
            started = core.start_action_for_state(handle, state)
            messages = started[1] if started else None
            while messages:
                rule, ids = _action(messages)
                for fact_id in ids:
                    if fact_id not in expected:
                        raise EngineError(f"rule {rule} fired for a fact of another call")
                    fired.setdefault(fact_id, set()).add(rule)
                messages = core.complete_and_start_action(handle, state)
        except EngineError:
            self._clean(handle, batch)
            raise
        except Exception as error:  # the C module's own errors (e.g. its stack limit, 303)
            self._clean(handle, batch)
            raise EngineError(f"the engine failed: {error}") from error
        core.retract_facts(handle, payload)
        return fired

    def _clean(self, handle: int, batch: list[dict[str, Any]]) -> None:
        """After an error: drop every queued action and every fact the batch left behind, so
        that no later call sees them."""
        started = core.start_action_for_state(handle, self._state)
        messages = started[1] if started else None
        while messages:
            messages = core.complete_and_start_action(handle, self._state)
        for fact in batch:
            try:
                core.retract_fact(handle, _payload(fact))
            except Exception:  # a fact the engine never took has nothing to retract
                continue

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


def _action(messages: str) -> tuple[str, list[int]]:
    """The rule of an action and the ids of the facts it fired for, read without parsing the
    facts (a batch's actions carry every matching fact whole: ~50 properties each, whose
    dictionaries cost more than the engine's own work).

    An action is `{"RULE":[{"m":FACT},{"m":FACT},…]}` and every FACT was written by _payload
    from a dictionary whose first key is `id`, holding numbers only: nothing inside a fact
    looks like the start of a frame, so counting frames checks the reading."""
    rule = messages[2 : messages.index('"', 2)]
    ids = [int(found) for found in _FRAME_ID.findall(messages)]
    if len(ids) != messages.count(_FRAME):
        raise EngineError(f"rule {rule} fired with an action the engine cannot have written")
    return rule, ids


def _readable(value: Any) -> Any:
    """`value` with every number in it as engine_number writes it."""
    if isinstance(value, dict):
        return {key: _readable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_readable(item) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return engine_number(value)
    return value


def _payload(value: Any, holder: str = "a fact") -> str:
    """Facts (or rules) as the C parser must read them, or EngineError if it would misread them."""
    try:
        payload = orjson.dumps(value)
    except TypeError as error:  # an integer beyond 64 bits, a value of no JSON type
        raise EngineError(f"{holder} holds a value the engine cannot take ({error})") from error
    # Property names hold no "e" and plain numbers neither: the search runs only when a number
    # is written with an exponent (rare, see engine_number) or as null.
    if (b"e" in payload or b"E" in payload or b"null" in payload) and _UNREADABLE.search(payload):
        raise EngineError(f"{holder} holds a number the engine cannot read")
    return payload.decode()

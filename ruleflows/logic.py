"""The only way ruleflows evaluates JSON Logic: a safe wrapper around json-logic-qubit.

json-logic-qubit's own ``jsonLogic()`` is never called. Its ``method`` operator reaches arbitrary Python
(``{"method": [{"var": ""}, "__class__"]}`` climbs to ``object.__subclasses__()``), its ``operations`` table
is a mutable module global anyone can add to, and several operators depart from the JSON Logic standard in
ways business rules hit. So this module dispatches over its own read-only table, built once from an explicit
allow-list: the qubit functions that are correct (``===``, ``merge``, ``substr``) are taken from it by name,
the broken ones are replaced with our own, and the newer operators of the
JSON Logic community (``val``, ``exists``, ``??``, ``try``, ``throw``, ``preserve``) and the order-domain
operators of :mod:`ruleflows.operations` are added. An operator not in the table is refused, at
validation and at run time.

Every evaluation has a budget of steps, and everything that takes work pays for it: each operation, each
item of a literal array or object, each item an iteration visits, and text by its length (a step per
``TEXT_CHARS_PER_STEP`` characters scanned or produced). The clock is looked at every ``CLOCK_EVERY`` steps
against an optional deadline, so a time budget (the thread's CPU seconds) really stops an evaluation.
Strings, arrays and the result are bounded in size. Past any limit a
:class:`~ruleflows.errors.LimitExceededError` says which one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

import json_logic

from ruleflows.coercion import is_number, normalise_number, to_number, to_text, truthy
from ruleflows.errors import (
    INVALID_ARGUMENTS,
    LIMIT_DEPTH,
    LIMIT_SIZE,
    LIMIT_STEPS,
    LIMIT_TIME,
    NAN,
    LimitExceededError,
    LogicError,
    RefusedOperatorError,
    RuleError,
)
from ruleflows.operations import DOMAIN_OPERATIONS, DomainOperation

MAX_EVALUATION_DEPTH: Final = 64
MAX_EVALUATION_STEPS: Final = 100_000
MAX_STRING_LENGTH: Final = 100_000
MAX_ARRAY_LENGTH: Final = 100_000
#: The largest value an evaluation may return, in characters of JSON (roughly).
MAX_RESULT_SIZE: Final = 1_000_000
#: One step pays for this many characters of text scanned or produced (C-speed work, a step is Python-speed).
TEXT_CHARS_PER_STEP: Final = 64
TEXT_SHIFT: Final = 6  # log2(TEXT_CHARS_PER_STEP): text costs len >> TEXT_SHIFT steps
#: Steps between two looks at the clock.
CLOCK_EVERY: Final = 64

# Operators that can never be allowed, whatever is added to json_logic's table at run time.
FORBIDDEN_OPERATORS: Final = frozenset({"method"})

# Taken once, by name, from json-logic-qubit: these behave as the standard says. (Its ``missing`` is not
# among them: it raises IndexError on a short array.)
_QUBIT: Final = {name: json_logic.operations[name] for name in ("===", "merge", "substr")}

# Python errors an operator can hit on arguments of the wrong shape; they become JSON Logic errors.
ARGUMENT_ERRORS: Final = (TypeError, ValueError, IndexError, KeyError, AttributeError, OverflowError)

#: Python errors an evaluation may run into, which it reports as rule errors (see :func:`rule_error`).
PYTHON_ERRORS: Final = (RecursionError, MemoryError, *ARGUMENT_ERRORS)


def rule_error(exc: BaseException) -> RuleError:
    """The rule error an evaluation reports for a Python error: whatever the data, callers only ever see
    rule errors."""
    if isinstance(exc, RecursionError):
        return LimitExceededError("expression or data nested too deeply", limit=LIMIT_DEPTH)
    if isinstance(exc, MemoryError):
        return LimitExceededError("expression produced too large a value", limit=LIMIT_SIZE)
    return LogicError(INVALID_ARGUMENTS, f"{INVALID_ARGUMENTS}: {exc}")


Scopes = list[Any]
Handler = Callable[["Evaluation", Any, Scopes, int], Any]
#: An expression compiled by :mod:`ruleflows.compiler`: called with the evaluation and the scope stack.
Compiled = Callable[["Evaluation", Scopes], Any]


#: The clock a ``time_limit`` is counted on: the CPU seconds of the thread that runs the rule. A runaway rule
#: spends them and is stopped; a sound one is not stopped because the machine is busy with other work (a peak
#: of orders, other processes), which stretches the wall clock but not the rule's own CPU time.
budget_clock = time.thread_time


class Evaluation:
    """The state of one evaluation: the clock, the step budget, the deadline and the root-level ``var`` reads.

    ``deadline`` is a :data:`budget_clock` instant; past it the evaluation stops (checked every
    ``CLOCK_EVERY`` steps, so the overshoot is a few dozen steps).
    """

    __slots__ = ("banked", "deadline", "now", "reads", "ticks")

    def __init__(
        self,
        now: datetime | None = None,
        *,
        max_steps: int = MAX_EVALUATION_STEPS,
        record_reads: bool = False,
        deadline: float | None = None,
    ) -> None:
        self.now = now
        self.deadline = deadline
        # The budget is kept in two parts so the hot path compares one counter with 0: ``ticks``, the steps
        # until the next look at the budget and the clock (at most CLOCK_EVERY), and ``banked``, the rest.
        self.ticks = min(max_steps, CLOCK_EVERY)
        self.banked = max_steps - self.ticks
        self.reads: dict[str, Any] | None = {} if record_reads else None

    def restart(self, max_steps: int) -> None:
        """Start a new expression with a fresh budget (and fresh reads), reusing this evaluation's clock."""
        self.ticks = ticks = min(max_steps, CLOCK_EVERY)
        self.banked = max_steps - ticks
        if self.reads is not None:
            self.reads = {}

    def evaluate(self, logic: Any, data: Any, compiled: Compiled | None = None) -> Any:
        """Evaluate ``logic`` against ``data`` (the root scope); ``compiled`` is its compiled form, if any."""
        try:
            if compiled is not None:
                return compiled(self, [data])
            return self.eval(logic, [data], 0)
        except PYTHON_ERRORS as exc:
            raise rule_error(exc) from exc

    @property
    def steps_left(self) -> int:
        """Steps of the budget not spent yet (negative once it is overspent)."""
        return self.banked + self.ticks

    def charge(self, cost: int) -> None:
        """Spend ``cost`` steps of the budget; stops the evaluation past the budget or the deadline."""
        self.ticks -= cost
        if self.ticks < 0:
            self.checkpoint()

    def charge_comparison(self, left: Any, right: Any) -> None:
        """Spend what comparing two operands costs: text by length, containers (deep compared) by weight."""
        if type(left) is str and type(right) is str:
            if (length := len(left) + len(right)) >> TEXT_SHIFT:
                self.charge(length >> TEXT_SHIFT)
        elif type(left) not in SCALARS or type(right) not in SCALARS:
            limit = self.banked + self.ticks + 1
            self.charge(operand_cost(left, limit) + operand_cost(right, limit))

    def checkpoint(self) -> None:
        """Stop if the step budget is spent or the deadline has passed; else set the next check."""
        left = self.banked + self.ticks
        if left < 0:
            raise LimitExceededError("expression took too many evaluation steps", limit=LIMIT_STEPS)
        if self.deadline is not None:
            if budget_clock() > self.deadline:
                raise LimitExceededError("evaluation ran past its time limit", limit=LIMIT_TIME)
            # A deadline means a server runs this in a worker thread: hand the GIL over now and then, so its
            # event loop answers within milliseconds instead of waiting out 5 ms switch intervals in turn.
            time.sleep(0)
        self.ticks = min(left, CLOCK_EVERY)
        self.banked = left - self.ticks

    def eval(self, logic: Any, scopes: Scopes, depth: int) -> Any:
        """Evaluate one node of an expression within the given scope stack."""
        if isinstance(logic, dict):
            if len(logic) != 1:
                # Not an expression: a literal object, returned as it is, paid for by its size.
                self.charge(1 + weight(logic, self.steps_left + 1))
                return logic
            ((operator, raw),) = logic.items()
            handler = HANDLERS.get(operator)
            if handler is None:
                raise RefusedOperatorError(str(operator))
            # One step for the operation and one per argument written in the rule (scalars are not
            # evaluated, so a long literal argument list would otherwise be free).
            self.ticks -= len(raw) + 1 if type(raw) is list else 1
            if self.ticks < 0:
                self.checkpoint()
            if depth > MAX_EVALUATION_DEPTH:
                raise LimitExceededError("expression nested too deeply", limit=LIMIT_DEPTH)
            return handler(self, raw, scopes, depth + 1)
        if isinstance(logic, list):
            self.ticks -= len(logic)
            if self.ticks < 0:
                self.checkpoint()
            return [self.eval(item, scopes, depth + 1) for item in logic]
        return logic

    def record(self, scopes: Scopes, path: str, value: Any) -> None:
        """Remember a read of the root context (reads inside map/filter are relative to an item)."""
        if self.reads is not None and len(scopes) == 1:
            self.reads[path] = value


def evaluate(
    logic: Any,
    data: Any = None,
    *,
    now: datetime | None = None,
    max_steps: int = MAX_EVALUATION_STEPS,
    time_limit: float | None = None,
) -> Any:
    """Evaluate one JSON Logic expression through the safe wrapper.

    Raises :class:`~ruleflows.errors.LogicError` for a JSON Logic error value (NaN, invalid arguments,
    ``throw``), :class:`~ruleflows.errors.RefusedOperatorError` for an operator outside the allow-list and
    :class:`~ruleflows.errors.LimitExceededError` past a safety limit (steps, ``time_limit`` seconds of the
    thread's CPU time (:data:`budget_clock`), depth, or a result larger than ``MAX_RESULT_SIZE``). ``now`` is
    the clock the time operators use; nothing reads the system time.
    """
    deadline = budget_clock() + time_limit if time_limit is not None else None
    result = Evaluation(now, max_steps=max_steps, deadline=deadline).evaluate(logic, data)
    if type(result) in SCALARS:
        return result
    return OutputBudget(MAX_RESULT_SIZE).keep(result)


# ------------------------------------------------------------------------------------------------- sizes


def weight(value: Any, limit: int) -> int:
    """What a value costs to walk: one step per item at any depth, plus its text by length.

    Stops counting once past ``limit`` (the caller only needs to know it is too much).
    """
    total = 0
    pending = [value]
    while pending:
        item = pending.pop()
        total += 1
        if isinstance(item, str):
            total += len(item) >> TEXT_SHIFT
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
        if total > limit:
            break
    return total


def shallow_cost(values: list[Any]) -> int:
    """The cost of an operation's evaluated arguments: text by length, arrays and objects by item count."""
    cost = 0
    for value in values:
        if isinstance(value, str):
            cost += len(value) >> TEXT_SHIFT
        elif isinstance(value, list | dict):
            cost += len(value)
    return cost


SCALARS: Final = frozenset({int, float, bool, type(None)})


def operand_cost(value: Any, limit: int) -> int:
    """A comparison's cost for one operand: text by length, containers (deep compared by ===) by weight."""
    if isinstance(value, str):
        return len(value) >> TEXT_SHIFT
    if type(value) in SCALARS:
        return 0
    return weight(value, limit)


class OutputBudget:
    """Copies values that leave an evaluation (results, traces), counting their size as JSON characters.

    Past the budget a :class:`LimitExceededError` stops the copy at once, before any large output exists.
    """

    __slots__ = ("left", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.left = size

    def keep(self, value: Any) -> Any:
        """A JSON-like copy of ``value``, charged to the budget."""
        if type(value) in SCALARS:  # the common case, without the copy's call
            self.left -= 5
        else:
            value = self._copy(value)
        if self.left < 0:
            self._refuse()
        return value

    def charge(self, size: int) -> None:
        """Count ``size`` characters of output already known (what keeping a fixed value costs)."""
        self.left -= size
        if self.left < 0:
            self._refuse()

    def count(self, value: Any) -> None:
        """Charge what :meth:`keep` would for ``value``, without the copy (a run that keeps no trace)."""
        if type(value) in SCALARS:
            self.left -= 5
        else:
            self.left -= _output_size(value, self.left)
        if self.left < 0:
            self._refuse()

    def _refuse(self) -> None:
        raise LimitExceededError(f"results larger than {self.size:,} characters", limit=LIMIT_SIZE)

    def _copy(self, value: Any) -> Any:
        kind = type(value)
        if kind in SCALARS:
            self.left -= 5
            return value
        if kind is str:
            self.left -= len(value) + 2
            return value
        # Leaves are counted in the loops rather than in a call of their own: most of a trace is leaves. (The
        # two loops are alike on purpose: this is the hottest code of a run.)
        if kind is dict:
            left = self.left - 2 - len(value)
            if left < 0:
                self.left = left
                self._refuse()
            copied = {}
            for key, item in value.items():
                left -= len(key) + 3 if type(key) is str else 8
                item_kind = type(item)
                if item_kind is str:
                    left -= len(item) + 2
                elif item_kind in SCALARS:
                    left -= 5
                else:
                    self.left = left
                    item = self._copy(item)
                    left = self.left
                copied[key] = item
            self.left = left
            return copied
        if kind is list or kind is tuple:
            left = self.left - 2 - len(value)
            if left < 0:
                self.left = left
                self._refuse()
            items = []
            for item in value:
                item_kind = type(item)
                if item_kind is str:
                    left -= len(item) + 2
                elif item_kind in SCALARS:
                    left -= 5
                else:
                    self.left = left
                    item = self._copy(item)
                    left = self.left
                items.append(item)
            self.left = left
            return items
        if isinstance(value, str):  # a str subclass, such as an enum member
            self.left -= len(value) + 2
        else:
            self.left -= 5
        return value


def _output_size(value: Any, limit: int) -> int:
    """What :meth:`OutputBudget.keep` charges for ``value`` (the count of its copy, nothing built); stops
    counting once past ``limit``, as the copy stops there."""
    kind = type(value)
    if kind in SCALARS:
        return 5
    if kind is str:
        return len(value) + 2
    if kind is dict:
        items: Any = value.values()
        size = 2 + len(value)
        for key in value:
            size += len(key) + 3 if type(key) is str else 8
    elif kind is list or kind is tuple:
        items = value
        size = 2 + len(value)
    else:
        return len(value) + 2 if isinstance(value, str) else 5
    if size > limit:
        return size
    for item in items:
        item_kind = type(item)
        if item_kind is str:
            size += len(item) + 2
        elif item_kind in SCALARS:
            size += 5
        else:
            size += _output_size(item, limit - size)
            if size > limit:
                return size
    return size


# ----------------------------------------------------------------------------------------- argument forms


def _values(ev: Evaluation, raw: Any, scopes: Scopes, depth: int, *, spread: bool = True) -> list[Any]:
    """Evaluate an operator's arguments; a single expression yielding an array spreads into arguments."""
    if isinstance(raw, list):
        return [ev.eval(item, scopes, depth) for item in raw]
    value = ev.eval(raw, scopes, depth)
    if spread and isinstance(value, list) and isinstance(raw, dict):
        ev.charge(len(value))
        return value
    return [value]


def _static_list(raw: Any) -> list[Any]:
    """Arguments of lazy operators must be written as an array in the rule itself."""
    if not isinstance(raw, list):
        raise LogicError(INVALID_ARGUMENTS)
    return raw


def _eager(function: Callable[[list[Any]], Any], *, spread: bool = True) -> Handler:
    """An operation of its evaluated arguments, which pays for the text and items it is given."""

    def handler(ev: Evaluation, raw: Any, scopes: Scopes, depth: int) -> Any:
        values = _values(ev, raw, scopes, depth, spread=spread)
        if cost := shallow_cost(values):
            ev.charge(cost)
        try:
            return function(values)
        except ARGUMENT_ERRORS as exc:
            raise LogicError(INVALID_ARGUMENTS, f"{INVALID_ARGUMENTS}: {exc}") from exc

    return handler


def _metered(function: Callable[[Evaluation, list[Any]], Any]) -> Handler:
    """Like :func:`_eager`, for operations whose cost depends on what they compute: they charge it themselves."""

    def handler(ev: Evaluation, raw: Any, scopes: Scopes, depth: int) -> Any:
        values = _values(ev, raw, scopes, depth)
        if cost := shallow_cost(values):
            ev.charge(cost)
        try:
            return function(ev, values)
        except ARGUMENT_ERRORS as exc:
            raise LogicError(INVALID_ARGUMENTS, f"{INVALID_ARGUMENTS}: {exc}") from exc

    return handler


def _domain(operation: DomainOperation) -> Handler:
    # The order-domain operations scan their arguments once (lines, categories, text), so the arguments'
    # size is their cost, plus what the operation declares (a regex pays for its matching); they refuse text
    # past their own limits and never turn containers into text.
    function, extra = operation.function, operation.cost

    def handler(ev: Evaluation, raw: Any, scopes: Scopes, depth: int) -> Any:
        values = _values(ev, raw, scopes, depth, spread=False)
        if cost := shallow_cost(values) + (extra(values) if extra is not None else 0):
            ev.charge(cost)
        try:
            return function(values, ev.now)
        except ARGUMENT_ERRORS as exc:
            raise LogicError(INVALID_ARGUMENTS, f"{INVALID_ARGUMENTS}: {exc}") from exc

    return handler


# ------------------------------------------------------------------------------------------- data access


def lookup(data: Any, key: Any) -> tuple[bool, Any]:
    """One step of a path: (found, value). Arrays take integer or digit-string indices."""
    if isinstance(data, dict):
        if isinstance(key, list | dict):
            return False, None  # no key is an array or an object (their text could be any length)
        name = key if isinstance(key, str) else to_text(key)
        if name in data:
            return True, data[name]
        return False, None
    if isinstance(data, list | str):
        try:
            index = int(key) if not isinstance(key, bool) else -1
        except (TypeError, ValueError):
            return False, None
        if 0 <= index < len(data):
            return True, data[index]
    return False, None


def _var(ev: Evaluation, raw: Any, scopes: Scopes, depth: int) -> Any:
    args = [] if raw == [] else _values(ev, raw, scopes, depth, spread=False)
    return read_path(ev, scopes, args[0] if args else None, args[1] if len(args) > 1 else None)


def read_path(ev: Evaluation, scopes: Scopes, path: Any, default: Any) -> Any:
    """``var`` semantics: a dotted path into the current scope; the default only when a key is absent."""
    data = scopes[-1]
    if path is None or path == "" or path == []:
        return data
    text = path if isinstance(path, str) else to_text(path)
    if len(text) > 16:
        ev.charge(len(text) >> 4)  # a step per 16 characters: a path of many short keys is many lookups
    for key in text.split("."):
        if data is None:
            ev.record(scopes, text, default)
            return default
        found, data = lookup(data, key)
        if not found:
            ev.record(scopes, text, default)
            return default
    ev.record(scopes, text, data)
    return data


def _val_path(ev: Evaluation, raw: Any, scopes: Scopes, depth: int) -> tuple[Any, list[Any], int]:
    """The data a ``val``/``exists`` starts from, the path keys, and how many scopes it climbed."""
    args = _values(ev, raw, scopes, depth, spread=False)
    if cost := shallow_cost(args):
        ev.charge(cost)
    climb = 0
    if args and isinstance(args[0], list):
        # {"val": [[n], "key"]} reads from n scopes up: each iteration adds an index scope and an item scope.
        level = args[0][0] if args[0] else 0
        climb = abs(int(to_number(level)))
        args = args[1:]
    index = len(scopes) - 1 - climb
    return (scopes[index] if index >= 0 else None), args, climb


def _val(ev: Evaluation, raw: Any, scopes: Scopes, depth: int) -> Any:
    data, keys, climb = _val_path(ev, raw, scopes, depth)
    for key in keys:
        found, data = lookup(data, key)
        if not found:
            data = None
            break
    if climb == 0 and keys:
        ev.record(scopes, ".".join("?" if isinstance(k, list | dict) else to_text(k) for k in keys), data)
    return data


def _exists(ev: Evaluation, raw: Any, scopes: Scopes, depth: int) -> bool:
    data, keys, _ = _val_path(ev, raw, scopes, depth)
    for key in keys:
        found, data = lookup(data, key)
        if not found:
            return False
    return bool(keys)


def _absent(ev: Evaluation, scopes: Scopes, names: list[Any]) -> list[Any]:
    """The names whose value is missing, null or "" in the current scope (duplicates kept, as specified)."""
    ev.charge(len(names))
    absent = []
    for name in names:
        value = read_path(ev, scopes, name, None)
        if value is None or value == "":
            absent.append(name)
    return absent


def _missing(ev: Evaluation, raw: Any, scopes: Scopes, depth: int) -> list[Any]:
    args = _values(ev, raw, scopes, depth)
    names = args[0] if len(args) == 1 and isinstance(args[0], list) else args
    return _absent(ev, scopes, names)


def _missing_some(ev: Evaluation, raw: Any, scopes: Scopes, depth: int) -> list[Any]:
    args = _values(ev, raw, scopes, depth)
    if len(args) != 2 or not isinstance(args[1], list):
        raise LogicError(INVALID_ARGUMENTS)
    absent = _absent(ev, scopes, args[1])
    return [] if len(args[1]) - len(absent) >= to_number(args[0]) else absent


# ------------------------------------------------------------------------------------------------ logic


def _if(ev: Evaluation, raw: Any, scopes: Scopes, depth: int) -> Any:
    args = _static_list(raw)
    for index in range(0, len(args) - 1, 2):
        if truthy(ev.eval(args[index], scopes, depth)):
            return ev.eval(args[index + 1], scopes, depth)
    if len(args) % 2:
        return ev.eval(args[-1], scopes, depth)
    return None


def _and(ev: Evaluation, raw: Any, scopes: Scopes, depth: int) -> Any:
    value: Any = False
    for item in _static_list(raw):
        value = ev.eval(item, scopes, depth)
        if not truthy(value):
            return value
    return value


def _or(ev: Evaluation, raw: Any, scopes: Scopes, depth: int) -> Any:
    value: Any = False
    for item in _static_list(raw):
        value = ev.eval(item, scopes, depth)
        if truthy(value):
            return value
    return value


def _coalesce(ev: Evaluation, raw: Any, scopes: Scopes, depth: int) -> Any:
    for item in raw if isinstance(raw, list) else [raw]:
        value = ev.eval(item, scopes, depth)
        if value is not None:
            return value
    return None


def _try(ev: Evaluation, raw: Any, scopes: Scopes, depth: int) -> Any:
    # After a failure the next alternative sees the error object as its data, e.g. {"val": "type"}.
    current = scopes
    failure: LogicError | None = None
    for item in raw if isinstance(raw, list) else [raw]:
        try:
            return ev.eval(item, current, depth)
        except LogicError as exc:
            failure = exc
            current = [*scopes, {}, exc.payload]
    if failure is not None:
        raise failure
    return None


def _throw(values: list[Any]) -> Any:
    raise LogicError(values[0] if values else None)


def _preserve(ev: Evaluation, raw: Any, scopes: Scopes, depth: int) -> Any:
    ev.charge(weight(raw, ev.steps_left + 1))  # returned as it is: paid for by its size, like a literal
    return raw


def _not(values: list[Any]) -> bool:
    return not truthy(values[0]) if values else True


def _double_bang(values: list[Any]) -> bool:
    return truthy(values[0]) if values else False


# ------------------------------------------------------------------------------------------- comparison


def _is_container(value: Any) -> bool:
    return isinstance(value, list | dict | tuple)


def loose_equal(left: Any, right: Any) -> bool:
    """``==``: same-type values compare directly, others numerically; arrays and objects are NaN."""
    if _is_container(left) or _is_container(right):
        raise LogicError(NAN)
    if left is None and right is None:
        return True
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    return to_number(left) == to_number(right)


def strict_equal(left: Any, right: Any) -> bool:
    """``===``: equal value and type (all numbers are one type; booleans are not numbers)."""
    return bool(_QUBIT["==="](left, right))


def less_than(left: Any, right: Any) -> bool:
    """``<``: two strings compare as text, anything else as numbers (NaN is an error)."""
    if isinstance(left, str) and isinstance(right, str):
        return left < right
    if _is_container(left) or _is_container(right):
        raise LogicError(NAN)
    return to_number(left) < to_number(right)


def _compare_chain(test: Callable[[Any, Any], bool]) -> Handler:
    """Comparisons take 2+ arguments pairwise (a < b < c), evaluated lazily left to right."""

    def handler(ev: Evaluation, raw: Any, scopes: Scopes, depth: int) -> bool:
        args = _static_list(raw)
        if len(args) < 2:
            raise LogicError(INVALID_ARGUMENTS)
        left = ev.eval(args[0], scopes, depth)
        for item in args[1:]:
            right = ev.eval(item, scopes, depth)
            if type(left) not in SCALARS or type(right) not in SCALARS:
                ev.charge_comparison(left, right)
            if not test(left, right):
                return False
            left = right
        return True

    return handler


def _less_equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left <= right
    if _is_container(left) or _is_container(right):
        raise LogicError(NAN)
    return to_number(left) <= to_number(right)


# ------------------------------------------------------------------------------------------- arithmetic


def _plus(values: list[Any]) -> int | float:
    return normalise_number(sum(to_number(value) for value in values))


def _times(values: list[Any]) -> int | float:
    product: int | float = 1
    for value in values:
        product = normalise_number(product * to_number(value))
    return product


def _minus(values: list[Any]) -> int | float:
    if not values:
        raise LogicError(INVALID_ARGUMENTS)
    if len(values) == 1:
        return normalise_number(-to_number(values[0]))
    result = to_number(values[0])
    for value in values[1:]:
        result = normalise_number(result - to_number(value))
    return result


def _divide(values: list[Any]) -> int | float:
    if not values:
        raise LogicError(INVALID_ARGUMENTS)
    numbers = [to_number(value) for value in values]
    if len(numbers) == 1:
        numbers.insert(0, 1)
    result = numbers[0]
    for number in numbers[1:]:
        if number == 0:
            raise LogicError(NAN, "division by zero")
        result = normalise_number(result / number)
    return result


def _modulo(values: list[Any]) -> int | float:
    if len(values) < 2:
        raise LogicError(INVALID_ARGUMENTS)
    numbers = [to_number(value) for value in values]
    result = numbers[0]
    for number in numbers[1:]:
        if number == 0:
            raise LogicError(NAN, "modulo by zero")
        # JavaScript's remainder takes the sign of the dividend; Python's % takes the divisor's.
        remainder = abs(result) % abs(number)
        result = normalise_number(-remainder if result < 0 else remainder)
    return result


def _extreme(pick: Callable[[list[int | float]], int | float]) -> Callable[[list[Any]], Any]:
    def function(values: list[Any]) -> Any:
        if not values:
            return None
        numbers = []
        for value in values:
            if not is_number(value):
                raise LogicError(INVALID_ARGUMENTS)
            numbers.append(value)
        return pick(numbers)

    return function


# ------------------------------------------------------------------------------------------------ text


def _cat(ev: Evaluation, values: list[Any]) -> str:
    texts = [to_text(value) for value in values]
    length = sum(map(len, texts))
    if length > MAX_STRING_LENGTH:
        # Refused before joining: the parts may be long, the whole would be longer.
        raise LimitExceededError(f"string longer than {MAX_STRING_LENGTH:,} characters", limit=LIMIT_SIZE)
    ev.charge(length >> TEXT_SHIFT)
    return "".join(texts)


def _substr(ev: Evaluation, values: list[Any]) -> str:
    if not values:
        raise LogicError(INVALID_ARGUMENTS)
    start = int(to_number(values[1])) if len(values) > 1 else 0
    length = int(to_number(values[2])) if len(values) > 2 and values[2] is not None else None
    text = to_text(values[0])
    ev.charge(len(text) >> TEXT_SHIFT)  # an array's text is built before it is cut: pay for its length
    return str(_QUBIT["substr"](text, start, length))


def _in(ev: Evaluation, values: list[Any]) -> bool:
    if len(values) < 2:
        return False
    needle, haystack = values[0], values[1]
    if isinstance(haystack, str):
        needle_text = needle if isinstance(needle, str) else to_text(needle)
        ev.charge(len(needle_text) >> TEXT_SHIFT)
        return needle_text in haystack
    if isinstance(haystack, list):
        if type(needle) not in SCALARS and not isinstance(needle, str):
            # A container is compared deeply with every item: pay for that.
            ev.charge(weight(needle, ev.steps_left + 1) * len(haystack))
        return any(strict_equal(needle, item) for item in haystack)
    return False


def _merge(values: list[Any]) -> list[Any]:
    # Its cost is the arrays' lengths, charged with its arguments.
    if sum(len(value) if isinstance(value, list) else 1 for value in values) > MAX_ARRAY_LENGTH:
        raise LimitExceededError(f"array longer than {MAX_ARRAY_LENGTH:,} items", limit=LIMIT_SIZE)
    merged: list[Any] = _QUBIT["merge"](*values)
    return merged


# ------------------------------------------------------------------------------------------- iteration


def _iteration_source(
    ev: Evaluation, args: list[Any], scopes: Scopes, depth: int, *, missing_is_empty: bool
) -> list[Any]:
    if len(args) < 2 or args[0] is None:
        raise LogicError(INVALID_ARGUMENTS)
    items = ev.eval(args[0], scopes, depth)
    if isinstance(items, list):
        ev.charge(len(items))  # a step per item visited (quantifiers may stop early: charged up front anyway)
        return items
    if items is None and missing_is_empty:
        return []
    raise LogicError(INVALID_ARGUMENTS)


def _each(scopes: Scopes, items: list[Any]) -> Iterator[Scopes]:
    # Every item sees [..., {"index": i}, item]: {"val": [[1], "index"]} reads the index,
    # {"val": [[2], ...]} the enclosing data.
    for index, item in enumerate(items):
        yield [*scopes, {"index": index}, item]


def _map(ev: Evaluation, raw: Any, scopes: Scopes, depth: int) -> list[Any]:
    args = _static_list(raw)
    items = _iteration_source(ev, args, scopes, depth, missing_is_empty=True)
    if args[1] is None:
        raise LogicError(INVALID_ARGUMENTS)
    return [ev.eval(args[1], inner, depth) for inner in _each(scopes, items)]


def _filter(ev: Evaluation, raw: Any, scopes: Scopes, depth: int) -> list[Any]:
    args = _static_list(raw)
    items = _iteration_source(ev, args, scopes, depth, missing_is_empty=True)
    if args[1] is None:
        raise LogicError(INVALID_ARGUMENTS)
    return [inner[-1] for inner in _each(scopes, items) if truthy(ev.eval(args[1], inner, depth))]


def _reduce(ev: Evaluation, raw: Any, scopes: Scopes, depth: int) -> Any:
    args = _static_list(raw)
    items = _iteration_source(ev, args, scopes, depth, missing_is_empty=True)
    if len(args) > 2:
        accumulator = ev.eval(args[2], scopes, depth)
    elif items:
        accumulator, items = items[0], items[1:]
    else:
        return None
    for index, item in enumerate(items):
        inner = [*scopes, {"index": index}, {"current": item, "accumulator": accumulator}]
        accumulator = ev.eval(args[1], inner, depth)
    return accumulator


def _quantifier(stop_on: bool, result_on_stop: bool, empty: bool) -> Handler:
    def handler(ev: Evaluation, raw: Any, scopes: Scopes, depth: int) -> bool:
        args = _static_list(raw)
        items = _iteration_source(ev, args, scopes, depth, missing_is_empty=False)
        if not items:
            return empty
        for inner in _each(scopes, items):
            if truthy(ev.eval(args[1], inner, depth)) is stop_on:
                return result_on_stop
        return not result_on_stop

    return handler


def _log(values: list[Any]) -> Any:
    # Identity: rules run for every order, and writing order data to the log is not wanted here.
    return values[0] if values else None


#: The comparison operators: each takes 2+ arguments pairwise with one of these tests.
COMPARISONS: Final[Mapping[str, Callable[[Any, Any], bool]]] = MappingProxyType(
    {
        "==": loose_equal,
        "!=": lambda a, b: not loose_equal(a, b),
        "===": strict_equal,
        "!==": lambda a, b: not strict_equal(a, b),  # qubit's !== is the negation of its ===
        "<": less_than,
        "<=": _less_equal,
        ">": lambda a, b: less_than(b, a),
        ">=": lambda a, b: _less_equal(b, a),
    }
)

#: Operations of their evaluated arguments (see :func:`_eager`): name -> (function, whether a single
#: expression yielding an array spreads into arguments).
EAGER_OPERATIONS: Final[Mapping[str, tuple[Callable[[list[Any]], Any], bool]]] = MappingProxyType(
    {
        "throw": (_throw, False),
        "!": (_not, False),
        "!!": (_double_bang, False),
        "+": (_plus, True),
        "-": (_minus, True),
        "*": (_times, True),
        "/": (_divide, True),
        "%": (_modulo, True),
        "min": (_extreme(min), True),
        "max": (_extreme(max), True),
        "merge": (_merge, True),
        "log": (_log, False),
    }
)

#: Operations of their evaluated arguments that charge what they compute themselves (see :func:`_metered`).
METERED_OPERATIONS: Final[Mapping[str, Callable[[Evaluation, list[Any]], Any]]] = MappingProxyType(
    {"cat": _cat, "substr": _substr, "in": _in}
)


#: all / some / none: name -> (the item truthiness that stops early, the result then, the result for []).
QUANTIFIERS: Final[Mapping[str, tuple[bool, bool, bool]]] = MappingProxyType(
    {"all": (False, False, False), "some": (True, True, False), "none": (True, False, True)}
)


def _build_handlers() -> Mapping[str, Handler]:
    handlers: dict[str, Handler] = {
        "var": _var,
        "val": _val,
        "exists": _exists,
        "missing": _missing,
        "missing_some": _missing_some,
        "if": _if,
        "?:": _if,
        "and": _and,
        "or": _or,
        "??": _coalesce,
        "try": _try,
        "preserve": _preserve,
        "map": _map,
        "filter": _filter,
        "reduce": _reduce,
    }
    for name, (stop_on, result_on_stop, empty) in QUANTIFIERS.items():
        handlers[name] = _quantifier(stop_on, result_on_stop, empty)
    for name, test in COMPARISONS.items():
        handlers[name] = _compare_chain(test)
    for name, (function, spread) in EAGER_OPERATIONS.items():
        handlers[name] = _eager(function, spread=spread)
    for name, metered in METERED_OPERATIONS.items():
        handlers[name] = _metered(metered)
    for name, operation in DOMAIN_OPERATIONS.items():
        handlers[name] = _domain(operation)
    assert not FORBIDDEN_OPERATORS & handlers.keys()
    return MappingProxyType(handlers)


#: Operator -> handler(evaluation, raw arguments, scopes, depth): the read-only dispatch table.
HANDLERS: Final = _build_handlers()

#: Every operator a rule may use: the standard ones and the order-domain ones.
ALLOWED_OPERATORS: Final = frozenset(HANDLERS)

#: Operators whose second argument is evaluated once per array item, relative to that item.
ITERATING_OPERATORS: Final = frozenset({"map", "filter", "reduce", "all", "some", "none"})


def is_expression(value: Any) -> bool:
    """True if ``value`` has the shape of a JSON Logic operation: an object with exactly one key."""
    return isinstance(value, dict) and len(value) == 1

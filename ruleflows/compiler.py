"""JSON Logic compiled into Python closures, once per flow version, for the runs that follow.

The interpreter in :mod:`ruleflows.logic` walks an expression's JSON for every order: it looks the operator
up, measures its argument list and re-reads constant paths each time. A compiled expression did all of that
once: a closure per operation, with its constant step cost, its ``var`` path already split and its nesting
depth already known. The closures are a faster spelling of the interpreter, never a second semantics:

- they run on the same :class:`~ruleflows.logic.Evaluation` (budget, clock, deadline, recorded reads) and
  call the interpreter's own operator functions, coercions and cost functions;
- they charge the same steps at the same moments: constant costs are only added together where nothing
  between them can fail or be recorded, so the step limit, a ``try``, the reads of a failed node and the
  steps left for the next node all come out as the interpreter's;
- an operation without a closure of its own here (``try``, ``val``, ...) is compiled as a call of the
  interpreter's handler, so every operator of the allow-list is covered and nothing else is.

``tests/unit/ruleflows/test_compiler.py`` holds them to the interpreter on the shared JSON Logic suites and
on generated rules, data and flows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from ruleflows.actions import param_specs, value_problem
from ruleflows.coercion import to_text, truthy
from ruleflows.document import nesting_depth
from ruleflows.errors import (
    INVALID_ARGUMENTS,
    LIMIT_DEPTH,
    LimitExceededError,
    LogicError,
    RefusedOperatorError,
)
from ruleflows.logic import (
    ARGUMENT_ERRORS,
    COMPARISONS,
    EAGER_OPERATIONS,
    HANDLERS,
    MAX_EVALUATION_DEPTH,
    MAX_EVALUATION_STEPS,
    MAX_RESULT_SIZE,
    METERED_OPERATIONS,
    QUANTIFIERS,
    SCALARS,
    TEXT_SHIFT,
    Compiled,
    Evaluation,
    OutputBudget,
    Scopes,
    budget_clock,
    lookup,
    shallow_cost,
    weight,
)
from ruleflows.operations import DOMAIN_OPERATIONS

#: Expressions nested deeper than this (arrays and objects, counted in the JSON) are left to the
#: interpreter: its recursion, not ours, must decide when Python's stack is too deep. Flow documents are
#: bounded far below it (``MAX_DOCUMENT_DEPTH``).
MAX_COMPILED_NESTING: Final = 150

_UNBOUNDED: Final = 1 << 62


# ------------------------------------------------------------------------------------------ expressions


@dataclass(frozen=True, slots=True)
class CompiledLogic:
    """One JSON Logic expression and its closure; :meth:`evaluate` behaves as :func:`ruleflows.evaluate`."""

    logic: Any
    function: Compiled

    def evaluate(
        self,
        data: Any = None,
        *,
        now: datetime | None = None,
        max_steps: int = MAX_EVALUATION_STEPS,
        time_limit: float | None = None,
    ) -> Any:
        """Evaluate against ``data``: the same result, or the same error, as ``ruleflows.evaluate``."""
        deadline = budget_clock() + time_limit if time_limit is not None else None
        evaluation = Evaluation(now, max_steps=max_steps, deadline=deadline)
        result = evaluation.evaluate(self.logic, data, self.function)
        if type(result) in SCALARS:
            return result
        return OutputBudget(MAX_RESULT_SIZE).keep(result)


def compile_logic(logic: Any) -> CompiledLogic:
    """Compile one expression (any JSON value; an unknown operator fails when it is evaluated, as it would)."""
    return CompiledLogic(logic, compile_expression(logic))


def compile_expression(logic: Any) -> Compiled:
    """The closure of a whole expression, to be called as ``closure(evaluation, [data])``."""
    if nesting_depth(logic, MAX_COMPILED_NESTING) > MAX_COMPILED_NESTING:

        def interpreted(ev: Evaluation, scopes: Scopes) -> Any:
            return ev.eval(logic, scopes, 0)

        return interpreted
    return _compile(logic, 0)


def _constant(value: Any) -> Compiled:
    def constant(ev: Evaluation, scopes: Scopes) -> Any:
        return value

    return constant


def _is_literal(value: Any) -> bool:
    """True if evaluating ``value`` runs no operation (scalars, arrays of literals, objects of 0 or 2+ keys)."""
    if isinstance(value, dict):
        return len(value) != 1
    if isinstance(value, list):
        return all(_is_literal(item) for item in value)
    return True


def _literal_cost(value: Any) -> int:
    """The steps the interpreter charges to evaluate a literal (see ``Evaluation.eval``)."""
    if isinstance(value, dict):
        return 1 + weight(value, _UNBOUNDED)
    if isinstance(value, list):
        return len(value) + sum(_literal_cost(item) for item in value)
    return 0


def _fresh(value: Any) -> Any:
    """What the interpreter returns for a literal: new arrays at every level, objects as written."""
    if isinstance(value, list):
        return [_fresh(item) for item in value]
    return value


def _compile(logic: Any, depth: int) -> Compiled:
    """The closure evaluating ``logic`` at nesting ``depth`` (as ``Evaluation.eval(logic, scopes, depth)``)."""
    if isinstance(logic, dict):
        if len(logic) == 1:
            ((operator, raw),) = logic.items()
            return _compile_operation(operator, raw, depth)
    elif not isinstance(logic, list):
        return _constant(logic)
    cost = _literal_cost(logic)
    if not isinstance(logic, list):  # an object that is not an expression: returned as it is
        return _charged_constant(cost, logic)
    if _is_literal(logic):
        if not any(isinstance(item, list) for item in logic):

            def flat_literal(ev: Evaluation, scopes: Scopes) -> Any:
                ev.ticks -= cost
                if ev.ticks < 0:
                    ev.checkpoint()
                return list(logic)

            return flat_literal

        def literal(ev: Evaluation, scopes: Scopes) -> Any:
            ev.ticks -= cost
            if ev.ticks < 0:
                ev.checkpoint()
            return _fresh(logic)

        return literal
    items = [_compile(item, depth + 1) for item in logic]
    count = len(logic)

    def array(ev: Evaluation, scopes: Scopes) -> Any:
        ev.ticks -= count
        if ev.ticks < 0:
            ev.checkpoint()
        return [item(ev, scopes) for item in items]

    return array


def _charged_constant(cost: int, value: Any) -> Compiled:
    def charged(ev: Evaluation, scopes: Scopes) -> Any:
        ev.ticks -= cost
        if ev.ticks < 0:
            ev.checkpoint()
        return value

    return charged


Builder = Callable[[str, Any, int, int], Compiled | None]


def _compile_operation(operator: Any, raw: Any, depth: int) -> Compiled:
    handler = HANDLERS.get(operator)
    if handler is None:
        name = str(operator)

        def refused(ev: Evaluation, scopes: Scopes) -> Any:
            raise RefusedOperatorError(name)

        return refused
    # One step for the operation and one per argument written in the rule, charged before anything else.
    cost = len(raw) + 1 if type(raw) is list else 1
    if depth > MAX_EVALUATION_DEPTH:

        def too_deep(ev: Evaluation, scopes: Scopes) -> Any:
            ev.ticks -= cost
            if ev.ticks < 0:
                ev.checkpoint()
            raise LimitExceededError("expression nested too deeply", limit=LIMIT_DEPTH)

        return too_deep
    # Arguments given as an array subclass would be read differently by the handlers' checks: interpret.
    builder = _BUILDERS.get(operator) if not isinstance(raw, list) or type(raw) is list else None
    if builder is not None:
        compiled = builder(operator, raw, depth + 1, cost)
        if compiled is not None:
            return compiled
    inner = depth + 1

    def interpreted(ev: Evaluation, scopes: Scopes) -> Any:
        ev.ticks -= cost
        if ev.ticks < 0:
            ev.checkpoint()
        return handler(ev, raw, scopes, inner)

    return interpreted


# Every builder gets the operator, its raw arguments, the depth its arguments are evaluated at and the
# operation's own cost; it returns None to leave the operation to the interpreter's handler.


def _static_path(raw: Any) -> tuple[Any, Any] | None:
    """(path, default) of a ``var`` whose arguments are constants, or None."""
    if raw == []:
        return None, None
    args = raw if isinstance(raw, list) else [raw]
    if any(isinstance(arg, list | dict) for arg in args):
        return None
    return (args[0] if args else None), (args[1] if len(args) > 1 else None)


def _path_reader(path: Any, default: Any, cost: int) -> Compiled:
    """``var`` of a constant path (``read_path``): the path split and its length charged up front."""
    if path is None or path == "":

        def whole_scope(ev: Evaluation, scopes: Scopes) -> Any:
            ev.ticks -= cost
            if ev.ticks < 0:
                ev.checkpoint()
            return scopes[-1]

        return whole_scope
    text = path if isinstance(path, str) else to_text(path)
    if len(text) > 16:
        cost += len(text) >> 4  # a step per 16 characters: a path of many short keys is many lookups
    keys = tuple(text.split("."))

    def read(ev: Evaluation, scopes: Scopes) -> Any:
        ev.ticks -= cost
        if ev.ticks < 0:
            ev.checkpoint()
        data = scopes[-1]
        for key in keys:
            if type(data) is dict:
                if key in data:
                    data = data[key]
                    continue
                data = default
                break
            if data is None:
                data = default
                break
            found, data = lookup(data, key)
            if not found:
                data = default
                break
        reads = ev.reads
        if reads is not None and len(scopes) == 1:
            reads[text] = data
        return data

    return read


def _build_var(operator: str, raw: Any, depth: int, cost: int) -> Compiled | None:
    static = _static_path(raw)
    if static is None:
        return None
    return _path_reader(*static, cost)


def _build_missing(operator: str, raw: Any, depth: int, cost: int) -> Compiled | None:
    names = raw if isinstance(raw, list) else [raw]
    if any(isinstance(name, list | dict) for name in names):
        return None
    # Each name is read like a var of its own, recording what it found, after the list's cost.
    readers = [(name, _path_reader(name, None, 0)) for name in names]
    total = cost + len(names)

    def missing(ev: Evaluation, scopes: Scopes) -> Any:
        ev.ticks -= total
        if ev.ticks < 0:
            ev.checkpoint()
        absent = []
        for name, reader in readers:
            value = reader(ev, scopes)
            if value is None or value == "":
                absent.append(name)
        return absent

    return missing


def _argument_error(exc: Exception) -> LogicError:
    return LogicError(INVALID_ARGUMENTS, f"{INVALID_ARGUMENTS}: {exc}")


def _arguments(raw: Any, depth: int, *, spread: bool) -> Callable[[Evaluation, Scopes], list[Any]]:
    """The evaluated arguments of an eager operation (``_values`` of the interpreter)."""
    if isinstance(raw, list):
        items = [_compile(item, depth) for item in raw]
        if len(items) == 1:
            (only,) = items

            def one(ev: Evaluation, scopes: Scopes) -> list[Any]:
                return [only(ev, scopes)]

            return one
        if len(items) == 2:
            first, second = items

            def two(ev: Evaluation, scopes: Scopes) -> list[Any]:
                return [first(ev, scopes), second(ev, scopes)]

            return two

        def many(ev: Evaluation, scopes: Scopes) -> list[Any]:
            return [item(ev, scopes) for item in items]

        return many
    single = _compile(raw, depth)
    if spread and isinstance(raw, dict):

        def spreading(ev: Evaluation, scopes: Scopes) -> list[Any]:
            value = single(ev, scopes)
            if isinstance(value, list):
                ev.ticks -= len(value)
                if ev.ticks < 0:
                    ev.checkpoint()
                return value
            return [value]

        return spreading

    def wrapped(ev: Evaluation, scopes: Scopes) -> list[Any]:
        return [single(ev, scopes)]

    return wrapped


def _applied(
    arguments: Callable[[Evaluation, Scopes], list[Any]],
    cost: int,
    call: Callable[[Evaluation, list[Any]], Any],
    extra_cost: Callable[[list[Any]], int] | None = None,
) -> Compiled:
    """An operation of its evaluated arguments, which pays for the text and items it is given (plus what it
    declares), and reports Python errors of arguments of the wrong shape as JSON Logic errors."""

    def operation(ev: Evaluation, scopes: Scopes) -> Any:
        ev.ticks -= cost
        if ev.ticks < 0:
            ev.checkpoint()
        values = arguments(ev, scopes)
        if extra := shallow_cost(values) + (extra_cost(values) if extra_cost is not None else 0):
            ev.charge(extra)
        try:
            return call(ev, values)
        except ARGUMENT_ERRORS as exc:
            raise _argument_error(exc) from exc

    return operation


def _build_eager(operator: str, raw: Any, depth: int, cost: int) -> Compiled | None:
    function, spread = EAGER_OPERATIONS[operator]
    if operator in ("!", "!!") and not isinstance(raw, list):
        return _build_negation(operator == "!", raw, depth, cost)
    return _applied(_arguments(raw, depth, spread=spread), cost, lambda ev, values: function(values))


def _build_metered(operator: str, raw: Any, depth: int, cost: int) -> Compiled | None:
    return _applied(_arguments(raw, depth, spread=True), cost, METERED_OPERATIONS[operator])


def _build_domain(operator: str, raw: Any, depth: int, cost: int) -> Compiled | None:
    operation = DOMAIN_OPERATIONS[operator]
    function = operation.function
    arguments = _arguments(raw, depth, spread=False)
    return _applied(arguments, cost, lambda ev, values: function(values, ev.now), operation.cost)


def _build_negation(negate: bool, raw: Any, depth: int, cost: int) -> Compiled:
    """``!`` and ``!!`` of one argument, the commonest operations of all."""
    argument = _compile(raw, depth)

    def negation(ev: Evaluation, scopes: Scopes) -> bool:
        ev.ticks -= cost
        if ev.ticks < 0:
            ev.checkpoint()
        value = argument(ev, scopes)
        if type(value) not in SCALARS:
            if isinstance(value, str):
                if extra := len(value) >> TEXT_SHIFT:
                    ev.charge(extra)
            elif isinstance(value, list | dict):
                if extra := len(value):
                    ev.charge(extra)
        try:
            return truthy(value) is not negate
        except ARGUMENT_ERRORS as exc:  # a huge integer cannot be tested for NaN
            raise _argument_error(exc) from exc

    return negation


def _build_comparison(operator: str, raw: Any, depth: int, cost: int) -> Compiled | None:
    if not isinstance(raw, list) or len(raw) != 2:
        return None  # chains (a < b < c) and wrong argument counts: the interpreter's handler
    test = COMPARISONS[operator]
    first, second = _compile(raw[0], depth), _compile(raw[1], depth)
    if not isinstance(raw[1], list | dict):
        return _compare_with_constant(test, first, raw[1], cost)

    def comparison(ev: Evaluation, scopes: Scopes) -> bool:
        ev.ticks -= cost
        if ev.ticks < 0:
            ev.checkpoint()
        left = first(ev, scopes)
        right = second(ev, scopes)
        if type(left) not in SCALARS or type(right) not in SCALARS:
            ev.charge_comparison(left, right)
        return bool(test(left, right))

    return comparison


def _compare_with_constant(test: Callable[[Any, Any], bool], first: Compiled, right: Any, cost: int) -> Compiled:
    """A comparison with a constant on the right, the commonest shape ({">": [{"var": ...}, 3]})."""

    def comparison(ev: Evaluation, scopes: Scopes) -> bool:
        ev.ticks -= cost
        if ev.ticks < 0:
            ev.checkpoint()
        left = first(ev, scopes)
        if type(left) not in SCALARS or type(right) not in SCALARS:
            ev.charge_comparison(left, right)
        return bool(test(left, right))

    return comparison


def _build_and_or(operator: str, raw: Any, depth: int, cost: int) -> Compiled | None:
    if not isinstance(raw, list):
        return None
    items = [_compile(item, depth) for item in raw]
    stop_when = operator == "or"  # `and` stops at the first falsy value, `or` at the first truthy one

    def junction(ev: Evaluation, scopes: Scopes) -> Any:
        ev.ticks -= cost
        if ev.ticks < 0:
            ev.checkpoint()
        value: Any = False
        for item in items:
            value = item(ev, scopes)
            if truthy(value) is stop_when:
                return value
        return value

    return junction


def _build_if(operator: str, raw: Any, depth: int, cost: int) -> Compiled | None:
    if not isinstance(raw, list):
        return None
    items = [_compile(item, depth) for item in raw]
    pairs = [(items[index], items[index + 1]) for index in range(0, len(items) - 1, 2)]
    otherwise = items[-1] if len(items) % 2 else None

    def choice(ev: Evaluation, scopes: Scopes) -> Any:
        ev.ticks -= cost
        if ev.ticks < 0:
            ev.checkpoint()
        for condition, then in pairs:
            if truthy(condition(ev, scopes)):
                return then(ev, scopes)
        if otherwise is not None:
            return otherwise(ev, scopes)
        return None

    return choice


def _iteration(raw: Any, depth: int) -> tuple[Compiled, Compiled] | None:
    """The compiled source and body of an iterating operation, or None for a shape the handler refuses."""
    if not isinstance(raw, list) or len(raw) < 2 or raw[0] is None or raw[1] is None:
        return None
    return _compile(raw[0], depth), _compile(raw[1], depth)


def _items(ev: Evaluation, source: Compiled, scopes: Scopes, *, missing_is_empty: bool) -> list[Any]:
    items = source(ev, scopes)
    if isinstance(items, list):
        ev.ticks -= len(items)  # a step per item visited (quantifiers may stop early: charged up front anyway)
        if ev.ticks < 0:
            ev.checkpoint()
        return items
    if items is None and missing_is_empty:
        return []
    raise LogicError(INVALID_ARGUMENTS)


def _build_quantifier(operator: str, raw: Any, depth: int, cost: int) -> Compiled | None:
    parts = _iteration(raw, depth)
    if parts is None:
        return None
    source, body = parts
    stop_on, result_on_stop, empty = QUANTIFIERS[operator]

    def quantifier(ev: Evaluation, scopes: Scopes) -> bool:
        ev.ticks -= cost
        if ev.ticks < 0:
            ev.checkpoint()
        items = _items(ev, source, scopes, missing_is_empty=False)
        if not items:
            return empty
        for index, item in enumerate(items):
            if truthy(body(ev, [*scopes, {"index": index}, item])) is stop_on:
                return result_on_stop
        return not result_on_stop

    return quantifier


def _build_map_filter(operator: str, raw: Any, depth: int, cost: int) -> Compiled | None:
    parts = _iteration(raw, depth)
    if parts is None:
        return None
    source, body = parts
    keep_items = operator == "filter"

    def iterate(ev: Evaluation, scopes: Scopes) -> list[Any]:
        ev.ticks -= cost
        if ev.ticks < 0:
            ev.checkpoint()
        items = _items(ev, source, scopes, missing_is_empty=True)
        if keep_items:
            return [item for index, item in enumerate(items) if truthy(body(ev, [*scopes, {"index": index}, item]))]
        return [body(ev, [*scopes, {"index": index}, item]) for index, item in enumerate(items)]

    return iterate


def _build_reduce(operator: str, raw: Any, depth: int, cost: int) -> Compiled | None:
    parts = _iteration(raw, depth)
    if parts is None:
        return None
    source, body = parts
    initial = _compile(raw[2], depth) if len(raw) > 2 else None

    def reduce(ev: Evaluation, scopes: Scopes) -> Any:
        ev.ticks -= cost
        if ev.ticks < 0:
            ev.checkpoint()
        items = _items(ev, source, scopes, missing_is_empty=True)
        if initial is not None:
            accumulator = initial(ev, scopes)
        elif items:
            accumulator, items = items[0], items[1:]
        else:
            return None
        for index, item in enumerate(items):
            accumulator = body(ev, [*scopes, {"index": index}, {"current": item, "accumulator": accumulator}])
        return accumulator

    return reduce


_BUILDERS: Final[dict[Any, Builder]] = {
    "var": _build_var,
    "missing": _build_missing,
    "and": _build_and_or,
    "or": _build_and_or,
    "if": _build_if,
    "?:": _build_if,
    "map": _build_map_filter,
    "filter": _build_map_filter,
    "reduce": _build_reduce,
    **dict.fromkeys(COMPARISONS, _build_comparison),
    **dict.fromkeys(EAGER_OPERATIONS, _build_eager),
    **dict.fromkeys(METERED_OPERATIONS, _build_metered),
    **dict.fromkeys(QUANTIFIERS, _build_quantifier),
    **dict.fromkeys(DOMAIN_OPERATIONS, _build_domain),
}


# ------------------------------------------------------------------------------------------------ nodes


def output_size(value: Any) -> int:
    """What keeping ``value`` in a run's output costs (see :class:`~ruleflows.logic.OutputBudget`)."""
    budget = OutputBudget(_UNBOUNDED)
    budget.keep(value)
    return _UNBOUNDED - budget.left


@dataclass(frozen=True, slots=True)
class CompiledParam:
    """An action parameter: its closure, or its value when it is a constant the run need not evaluate."""

    name: str
    function: Compiled
    spec: dict[str, Any] | None  # None for a parameter the action does not have (refused when reached)
    constant: bool = False
    value: Any = None
    #: For a constant: the output its evaluation costs (its empty reads and the kept value) and its problem.
    size: int = 0
    problem: tuple[str, str] | None = None


@dataclass(slots=True, eq=False)  # by identity: comparing would walk every node its exits lead to
class CompiledNode:
    """A node of a compiled flow: what it evaluates, and the nodes its exits lead to."""

    id: str
    type: str
    name: str
    logic: Compiled | None = None  # condition
    branches: tuple[tuple[str, Compiled], ...] = ()  # switch: (branch id, its logic)
    action: str = ""
    params: tuple[CompiledParam, ...] = ()
    exits: dict[str, CompiledNode] = field(default_factory=dict)


def compile_node(node_id: str, node_type: str, name: str, config: dict[str, Any]) -> CompiledNode:
    """Compile the expressions of one validated node (exits are linked by :func:`link`)."""
    compiled = CompiledNode(node_id, node_type, name)
    if node_type == "condition":
        compiled.logic = compile_expression(config["logic"])
    elif node_type == "switch":
        compiled.branches = tuple(
            (str(branch["id"]), compile_expression(branch["logic"])) for branch in config["branches"]
        )
    elif node_type == "action":
        compiled.action = config["action"]
        specs = param_specs(compiled.action)
        compiled.params = tuple(
            _compile_param(key, raw, specs.get(key)) for key, raw in (config.get("params") or {}).items()
        )
    return compiled


def _compile_param(name: str, raw: Any, spec: dict[str, Any] | None) -> CompiledParam:
    function = compile_expression(raw)
    if isinstance(raw, list | dict) or spec is None:
        return CompiledParam(name, function, spec)
    # A scalar evaluates to itself for no steps and reads nothing: its output cost and check are known now.
    size = output_size({}) + output_size(raw)
    problem = value_problem(spec, raw) if raw is not None else None
    return CompiledParam(name, function, spec, constant=True, value=raw, size=size, problem=problem)


def link(nodes: dict[str, CompiledNode], exits: dict[tuple[str, str], str]) -> None:
    """Point every node's exits at the compiled nodes they lead to."""
    for (source, port), target in exits.items():
        nodes[source].exits[port] = nodes[target]

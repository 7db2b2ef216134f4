"""A flow generated as one Python function, with its trace and without, for the runs of a compiled flow.

The compiled run (:class:`~ruleflows.interpreter._CompiledRun`) still walks the flow node by node and pays at
run time for what the document already fixes: a closure call per operation, a fresh evaluation per
expression, every read counted against the output budget, every decision turned into JSON. Here the whole
flow becomes the source of one function, compiled once per published version with ``compile()`` over a
namespace of our own. No text of the document is ever code: its constants reach the function as ``repr`` of
plain scalars (text, whole numbers, booleans, null) or as names bound in the namespace, its ids and paths too.

The function is optimistic, never approximate. It adds up the steps it spends and bounds from above the
output the interpreter would count (every read counted at every place that reads it, every action's
decisions generously), and checks both, and the deadline, once at its end; before work that may be long (an
iteration, an order-domain operation) it checks the steps so far. When anything is off — a node that fails,
a budget it cannot show it stayed inside, the deadline passed — it gives up and returns None, and the caller
runs the compiled run instead, which stops where the interpreter stops, with the interpreter's error. A run
has no side effects, so running it again is safe. The paths a flow reads are read once, up front: reading
has no effects either.

Only the common shapes are generated (``var`` and ``missing`` of constant paths, comparisons, ``!``,
``!!``, ``and``, ``or``, ``if``, ``some``/``all``/``none``, ``in``, the eager and order-domain operations,
constant and literal-array parameters); a flow using anything else gets no function and always runs
compiled. So does a run given decisions already made (a later flow of a chain), or a step limit below the
flow's longest path.
``tests/unit/ruleflows/test_compiler.py`` holds the generated runs to the interpreter.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from ruleflows.actions import (
    DecisionsDraft,
    effect_keys,
    fixed_effect,
    is_known_action,
    param_specs,
    prepared_effect,
    value_problem,
)
from ruleflows.coercion import to_text, truthy
from ruleflows.compiler import output_size
from ruleflows.document import Node
from ruleflows.logic import (
    COMPARISONS,
    EAGER_OPERATIONS,
    HANDLERS,
    MAX_EVALUATION_STEPS,
    METERED_OPERATIONS,
    QUANTIFIERS,
    SCALARS,
    TEXT_SHIFT,
    Evaluation,
    OutputBudget,
    budget_clock,
    lookup,
    operand_cost,
    shallow_cost,
)
from ruleflows.operations import DOMAIN_OPERATIONS

#: The steps a generated run may spend before it gives up: below both the per-expression and the per-run
#: budgets of the interpreter, so that a run within it can hit neither.
STEP_BOUND: Final = MAX_EVALUATION_STEPS
#: Statically nested loops (``some`` in ``some``) and indentation a generated function may use; deeper flows
#: run compiled (Python refuses more than 20 nested loops and 100 levels of indentation).
MAX_LOOPS: Final = 8
MAX_INDENT: Final = 60
#: What a run may keep for each decided action in its decisions' JSON beyond its parameters' size: its keys,
#: the brackets, a gift's or a message's field names (generous: it only bounds).
_DECISION_OVERHEAD: Final = 200

_MISSING: Final = object()  # a path that is not there (the default applies), distinct from a null


class Unsupported(Exception):
    """A shape the generator leaves to the compiled run."""


class GiveUp(Exception):
    """Raised inside a generated run that cannot prove it gives the interpreter's result."""


#: What a generated function returns: the node ids visited, the decided actions and the trace (empty without
#: one), the decisions made being in the draft it was given; None when the compiled run must decide.
Made = tuple[list[str], list[Any], list[Any]] | None
Function = Callable[[Any, Any, dict[str, Any], DecisionsDraft, datetime | None, float | None], Made]


@dataclass(frozen=True, slots=True)
class GeneratedFlow:
    """A flow's generated functions and when they may be used.

    ``function(order, features, seen, draft, now, deadline)`` runs the flow for the order (an after-sales flow's
    case) and features given
    starting from the decisions given (``seen``, as flows read them, and ``draft``, the typed record that the
    run's actions update).
    """

    untraced: Function
    traced: Function
    longest_path: int  # the most nodes one run can visit: a step limit below it needs the compiled run
    source: str = field(repr=False)  # the untraced function's source, for reading


def _step(data: Any, key: str) -> Any:
    """One key of a path through anything but a plain dict, as ``read`` of the compiler does it."""
    if data is None or data is _MISSING:
        return _MISSING
    found, value = lookup(data, key)
    return value if found else _MISSING


def _read(data: Any, keys: tuple[str, ...], default: Any) -> Any:
    """A path relative to an iteration's item (not recorded), as ``read`` of the compiler does it."""
    for key in keys:
        if type(data) is dict:
            if key in data:
                data = data[key]
                continue
            return default
        if data is None:
            return default
        found, data = lookup(data, key)
        if not found:
            return default
    return data


def _comparison_cost(left: Any, right: Any) -> int:
    """The steps ``Evaluation.charge_comparison`` charges (past ``STEP_BOUND`` it only needs to be more)."""
    if type(left) is str and type(right) is str:
        return (len(left) + len(right)) >> TEXT_SHIFT
    if type(left) not in SCALARS or type(right) not in SCALARS:
        return operand_cost(left, STEP_BOUND + 1) + operand_cost(right, STEP_BOUND + 1)
    return 0


_MEMBERSHIP: Final = METERED_OPERATIONS["in"]


def _membership(values: list[Any], steps: int) -> tuple[int, bool]:
    """``in`` of evaluated arguments as the interpreter computes it, and ``steps`` plus what it charges: on an
    evaluation of the steps left below ``STEP_BOUND``, so that a deep comparison stops before it starts (the
    run gives up)."""
    if steps > STEP_BOUND:
        raise GiveUp
    evaluation = Evaluation(max_steps=STEP_BOUND - steps)
    found = _MEMBERSHIP(evaluation, values)
    return STEP_BOUND - evaluation.steps_left, found


def _item_cost(value: Any) -> int:
    """``shallow_cost`` of one value."""
    if isinstance(value, str):
        return len(value) >> TEXT_SHIFT
    if isinstance(value, list | dict):
        return len(value)
    return 0


_LITERAL_TYPES: Final = (str, int, bool, type(None))
#: The comparisons Python spells as JSON Logic computes them for two ints or two texts.
_SYMBOLS: Final = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

_RUNTIME: Final[dict[str, Any]] = {
    "_M": _MISSING,
    "_S": SCALARS,
    "_GiveUp": GiveUp,
    "_step": _step,
    "_read": _read,
    "_ccost": _comparison_cost,
    "_icost": _item_cost,
    "_in": _membership,
    "_shallow": shallow_cost,
    "_truthy": truthy,
    "_problem": value_problem,
    "_budget_clock": budget_clock,
    "_clock": time.perf_counter_ns,
    "STEP_BOUND": STEP_BOUND,
}


class _Generator:
    """Builds the source of one flow's function."""

    def __init__(
        self,
        nodes: Mapping[str, Node],
        exits: Mapping[tuple[str, str], str],
        start: str,
        output_budget: int,
        *,
        traced: bool,
        subject: str = "order",
    ) -> None:
        self.nodes, self.exits, self.start = nodes, exits, start
        self.subject = subject  # the context's key the function's first argument holds (order or case)
        self.output_budget = output_budget
        self.traced = traced
        self.reads = ""  # with a trace: the variable of the reads of the node being written
        self.namespace: dict[str, Any] = dict(_RUNTIME)

        def size(value: Any) -> int:
            """What keeping ``value`` costs the output; past the whole budget it raises (the run gives up)."""
            budget = OutputBudget(output_budget)
            budget.count(value)
            return output_budget - budget.left

        self.namespace["_size"] = size
        self.namespace["_Budget"] = OutputBudget
        self.counter = 0
        self.hoisted: dict[str, tuple[str, tuple[str, ...]]] = {}  # root path -> (variable, keys)
        self.sites: dict[str, int] = {}  # root path -> how many places read it
        self.static_output = 2  # the output a run may count beyond what depends on the data
        self.decision_reads: set[str] = set()
        self.defaulted: set[str] = set()  # hoisted reads also wanted with null for a missing path
        self.uses_keep = False  # whether the run copies values into its result (an OutputBudget's keep)
        self.loops = 0

    # -------------------------------------------------------------------------------------------- names

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def constant(self, value: Any) -> str:
        """Python for a constant of the document: the repr of a plain scalar, else a name in the namespace."""
        if type(value) in _LITERAL_TYPES:
            return repr(value)
        name = self.name("_k")
        self.namespace[name] = value
        return name

    def bind(self, value: Any, prefix: str = "_f") -> str:
        name = self.name(prefix)
        self.namespace[name] = value
        return name

    # -------------------------------------------------------------------------------------- expressions

    def expression(self, logic: Any, scope: str | None, out: list[str], pad: str, depth: int) -> tuple[str, str]:
        """Emit the statements evaluating ``logic``; returns (Python for its value, its kind: bool/list/any).

        ``scope`` is the variable holding the current item inside an iteration, None at the root.
        """
        if isinstance(logic, dict):
            if len(logic) != 1:
                raise Unsupported("an object literal")
            ((operator, raw),) = logic.items()
            return self.operation(operator, raw, scope, out, pad, depth)
        if isinstance(logic, list):
            if any(isinstance(item, list | dict) for item in logic):
                raise Unsupported("a nested array literal")
            target = self.name("t")
            out.append(f"{pad}s += {len(logic)}")
            out.append(f"{pad}{target} = [{', '.join(self.constant(item) for item in logic)}]")
            return target, "list"
        if isinstance(logic, float):
            return self.constant(logic), "any"
        return self.constant(logic), "bool" if isinstance(logic, bool) else "any"

    def operation(
        self, operator: Any, raw: Any, scope: str | None, out: list[str], pad: str, depth: int
    ) -> tuple[str, str]:
        if operator not in HANDLERS or (isinstance(raw, list) and type(raw) is not list) or depth > 20:
            raise Unsupported(str(operator))
        cost = len(raw) + 1 if type(raw) is list else 1
        inner = depth + 1
        if operator == "var":
            return self.var(raw, cost, scope, out, pad)
        if operator == "missing":
            return self.missing(raw, cost, scope, out, pad)
        if operator in COMPARISONS:
            if not isinstance(raw, list) or len(raw) != 2:
                raise Unsupported("a comparison chain")
            out.append(f"{pad}s += {cost}")
            left, left_kind = self.expression(raw[0], scope, out, pad, inner)
            right, right_kind = self.expression(raw[1], scope, out, pad, inner)
            return self.comparison(operator, left, left_kind, right, right_kind, raw[1], out, pad), "bool"
        if operator in ("!", "!!") and (not isinstance(raw, list) or len(raw) == 1):
            argument = raw[0] if isinstance(raw, list) else raw
            out.append(f"{pad}s += {cost}")
            value, kind = self.expression(argument, scope, out, pad, inner)
            negate = operator == "!"
            target = self.name("t")
            if kind == "bool":
                out.append(f"{pad}{target} = {'not ' if negate else ''}{value}")
                return target, "bool"
            out.append(f"{pad}s += {'len(' + value + ')' if kind == 'list' else self.item_cost(value)}")
            out.append(f"{pad}{target} = {'not ' if negate else ''}{self.test(value, kind)}")
            return target, "bool"
        if operator in ("and", "or"):
            return self.junction(operator == "or", raw, cost, scope, out, pad, inner)
        if operator in ("if", "?:"):
            return self.choice(raw, cost, scope, out, pad, inner)
        if operator in QUANTIFIERS:
            return self.quantifier(operator, raw, cost, scope, out, pad, inner)
        if operator == "in":
            return self.membership(raw, cost, scope, out, pad, inner)
        if operator in DOMAIN_OPERATIONS:
            operation = DOMAIN_OPERATIONS[operator]
            values, costs = self.arguments(raw, False, scope, out, pad, inner)
            if operation.cost is not None:
                costs += f" + {self.bind(operation.cost, '_x')}({values})"
            out.append(f"{pad}s += {cost}{costs}")
            out.append(f"{pad}if s > STEP_BOUND:")
            out.append(f"{pad}    raise _GiveUp")
            target = self.name("t")
            out.append(f"{pad}{target} = {self.bind(operation.function, '_d')}({values}, now)")
            return target, "any"
        if operator in EAGER_OPERATIONS:
            function, spread = EAGER_OPERATIONS[operator]
            out.append(f"{pad}s += {cost}")
            values, costs = self.arguments(raw, spread, scope, out, pad, inner)
            if costs:
                out.append(f"{pad}s += {costs[3:]}")
            target = self.name("t")
            out.append(f"{pad}{target} = {self.bind(function, '_e')}({values})")
            return target, "any"
        raise Unsupported(str(operator))

    def comparison(
        self, operator: str, left: str, left_kind: str, right: str, right_kind: str, raw: Any, out: list[str], pad: str
    ) -> str:
        """A comparison of two evaluated operands; one with a constant on the right is spelt out for the
        commonest operands (an int with an int, text with text), as the interpreter's test computes it."""
        target, test = self.name("t"), self.bind(COMPARISONS[operator], "_c")
        symbol = _SYMBOLS.get(operator)
        constant = not isinstance(raw, list | dict)
        if constant and symbol is not None and type(raw) in (int, bool):
            out.append(f"{pad}if type({left}) is {type(raw).__name__}:")
            out.append(f"{pad}    {target} = {left} {symbol} {right}")
            out.append(f"{pad}else:")
            out.append(f"{pad}    if type({left}) not in _S:")
            out.append(f"{pad}        s += _ccost({left}, {right})")
            out.append(f"{pad}    {target} = {test}({left}, {right})")
        elif constant and symbol is not None and type(raw) is str:
            out.append(f"{pad}if type({left}) is str:")
            if extra := len(raw):
                out.append(f"{pad}    s += (len({left}) + {extra}) >> {TEXT_SHIFT}")
            else:
                out.append(f"{pad}    s += len({left}) >> {TEXT_SHIFT}")
            out.append(f"{pad}    {target} = {left} {symbol} {right}")
            out.append(f"{pad}else:")
            out.append(f"{pad}    s += _ccost({left}, {right})")
            out.append(f"{pad}    {target} = {test}({left}, {right})")
        elif constant and type(raw) in SCALARS:
            if left_kind != "bool":
                out.append(f"{pad}if type({left}) not in _S:")
                out.append(f"{pad}    s += _ccost({left}, {right})")
            out.append(f"{pad}{target} = {test}({left}, {right})")
        else:
            if not (left_kind == "bool" and right_kind == "bool"):
                out.append(f"{pad}if type({left}) not in _S or type({right}) not in _S:")
                out.append(f"{pad}    s += _ccost({left}, {right})")
            out.append(f"{pad}{target} = {test}({left}, {right})")
        return target

    def membership(
        self, raw: Any, cost: int, scope: str | None, out: list[str], pad: str, depth: int
    ) -> tuple[str, str]:
        """``in``. The builder's shapes are spelt out for text, as the interpreter computes them: a value among
        a literal array (属于大区, 是其中之一, a category row) and literal text in a value (包含); any other
        operands go to the interpreter's ``in``."""
        target = self.name("t")
        if isinstance(raw, list) and len(raw) == 2 and _is_flat_literal(raw[1]):
            choices = raw[1]
            out.append(f"{pad}s += {cost + 2 * len(choices)}")  # the array's items, evaluated then measured
            needle, kind = self.expression(raw[0], scope, out, pad, depth)
            listed = self.bind(list(choices), "_k")
            if kind == "bool":
                out.append(f"{pad}s, {target} = _in([{needle}, {listed}], s)")
                return target, "bool"
            # Text is strictly equal to text only: the array's texts as a set answer for a text needle.
            texts = self.bind(frozenset(choice for choice in choices if type(choice) is str), "_k")
            out.append(f"{pad}if type({needle}) is str:")
            out.append(f"{pad}    s += len({needle}) >> {TEXT_SHIFT}")
            out.append(f"{pad}    {target} = {needle} in {texts}")
            out.append(f"{pad}else:")
            out.append(f"{pad}    s, {target} = _in([{needle}, {listed}], s + {self.item_cost(needle)})")
            return target, "bool"
        if isinstance(raw, list) and len(raw) == 2 and type(raw[0]) is str:
            text = raw[0]
            static = len(text) >> TEXT_SHIFT
            out.append(f"{pad}s += {cost + static}")  # the operation and the text's length, measured
            haystack, kind = self.expression(raw[1], scope, out, pad, depth)
            if kind == "bool":
                out.append(f"{pad}{target} = False")  # neither text nor an array: nothing is in it
                return target, "bool"
            out.append(f"{pad}if type({haystack}) is str:")
            out.append(f"{pad}    s += (len({haystack}) >> {TEXT_SHIFT}){f' + {static}' if static else ''}")
            out.append(f"{pad}    {target} = {self.constant(text)} in {haystack}")
            out.append(f"{pad}else:")
            measured = f"len({haystack})" if kind == "list" else self.item_cost(haystack)
            out.append(f"{pad}    s, {target} = _in([{self.constant(text)}, {haystack}], s + {measured})")
            return target, "bool"
        out.append(f"{pad}s += {cost}")
        values, costs = self.arguments(raw, True, scope, out, pad, depth)
        if costs:
            out.append(f"{pad}s += {costs[3:]}")
        out.append(f"{pad}s, {target} = _in({values}, s)")
        return target, "bool"

    def arguments(
        self, raw: Any, spread: bool, scope: str | None, out: list[str], pad: str, depth: int
    ) -> tuple[str, str]:
        """The evaluated arguments of an eager operation, as a list variable (``_values`` of the interpreter),
        and Python adding what they cost (``shallow_cost``), as `` + ...`` terms."""
        target = self.name("a")
        if spread and isinstance(raw, dict):
            value, kind = self.expression(raw, scope, out, pad, depth)
            if kind != "bool":
                out.append(f"{pad}if isinstance({value}, list):")
                out.append(f"{pad}    s += len({value})")
                out.append(f"{pad}    {target} = {value}")
                out.append(f"{pad}else:")
                out.append(f"{pad}    {target} = [{value}]")
                return target, f" + _shallow({target})"
            out.append(f"{pad}{target} = [{value}]")
            return target, ""
        items, costs = [], []
        for item in raw if isinstance(raw, list) else [raw]:
            value, kind = self.expression(item, scope, out, pad, depth)
            items.append(value)
            if isinstance(item, str):
                if static := len(item) >> TEXT_SHIFT:
                    costs.append(str(static))
            elif isinstance(item, list):
                costs.append(str(len(item)))
            elif kind == "list":
                costs.append(f"len({value})")
            elif kind != "bool" and isinstance(item, dict):
                costs.append(self.item_cost(value))
        out.append(f"{pad}{target} = [{', '.join(items)}]")
        return target, "".join(f" + {term}" for term in costs)

    def path_of(self, raw: Any) -> tuple[str | None, Any]:
        """(dotted path, default) of a ``var`` of constant arguments; Unsupported otherwise."""
        if raw == []:
            return None, None
        args = raw if isinstance(raw, list) else [raw]
        if any(isinstance(arg, list | dict) for arg in args):
            raise Unsupported("a computed path")
        path = args[0] if args else None
        if path is None or path == "":
            return None, None
        return (path if isinstance(path, str) else to_text(path)), (args[1] if len(args) > 1 else None)

    def read(self, text: str, default: Any, scope: str | None, out: list[str], pad: str) -> str:
        """Python for the value at a path (recorded as a read when at the root)."""
        keys = tuple(text.split("."))
        fallback = self.constant(default)
        if scope is not None:
            target = self.name("t")
            out.append(f"{pad}{target} = _read({scope}, {self.bind(keys, '_p')}, {fallback})")
            return target
        # A read at the root: counted against the output as the interpreter keeps it, its key and its value.
        self.static_output += len(text) + 4 + output_size(default)
        if keys[0] == "decisions":
            return self.recorded(text, self.decision_read(keys, fallback, out, pad), out, pad)
        self.sites[text] = self.sites.get(text, 0) + 1
        if text not in self.hoisted:
            self.hoisted[text] = (self.name("r"), keys)
        variable = self.hoisted[text][0]
        if default is None:
            self.defaulted.add(variable + "n")
            return self.recorded(text, variable + "n", out, pad)
        target = self.name("t")
        out.append(f"{pad}{target} = {fallback} if {variable} is _M else {variable}")
        return self.recorded(text, target, out, pad)

    def recorded(self, text: str, value: str, out: list[str], pad: str) -> str:
        """With a trace: a read of the root kept in its node's reads, as ``Evaluation.reads`` keeps it (the
        last value of a path) and the node then adds it to its trace (in the order paths are first read)."""
        if self.traced:
            self.uses_keep = True
            out.append(
                f"{pad}{self.reads}[{self.constant(text)}] = "
                f"{value} if type({value}) in _S or type({value}) is str else _keep({value})"
            )
        return value

    def decision_read(self, keys: tuple[str, ...], fallback: str, out: list[str], pad: str) -> str:
        """``decisions.<name>...``: what the actions of this run wrote, else what the run was given."""
        if len(keys) < 2:
            raise Unsupported("the whole decisions")
        target, rest = self.name("t"), self.bind(keys[1:], "_p")
        written = keys[1] in _DECISION_FIELDS
        if written:
            field = keys[1]
            self.decision_reads.add(field)
            out.append(f"{pad}if w_{field}:")
            if len(keys) == 2:
                out.append(f"{pad}    {target} = draft.json_value({field!r})")
            else:
                out.append(
                    f"{pad}    {target} = _read(draft.json_value({field!r}), {self.bind(keys[2:], '_p')}, {fallback})"
                )
            out.append(f"{pad}else:")
        inner = pad + "    " if written else pad
        out.append(f"{inner}{target} = _read(seen, {rest}, {fallback}) if seen else {fallback}")
        out.append(f"{pad}o += {self.size_of(target)}")
        return target

    def var(self, raw: Any, cost: int, scope: str | None, out: list[str], pad: str) -> tuple[str, str]:
        text, default = self.path_of(raw)
        if text is None:
            if scope is None:
                raise Unsupported("the whole context")
            out.append(f"{pad}s += {cost}")
            return scope, "any"
        if len(text) > 16:
            cost += len(text) >> 4
        out.append(f"{pad}s += {cost}")
        return self.read(text, default, scope, out, pad), "any"

    def missing(self, raw: Any, cost: int, scope: str | None, out: list[str], pad: str) -> tuple[str, str]:
        names = raw if isinstance(raw, list) else [raw]
        if any(isinstance(name, list | dict) or name is None or name == "" for name in names):
            raise Unsupported("a computed or empty name")
        total = cost + len(names)
        for name in names:
            text = name if isinstance(name, str) else to_text(name)
            total += len(text) >> 4 if len(text) > 16 else 0
        out.append(f"{pad}s += {total}")
        target = self.name("t")
        out.append(f"{pad}{target} = []")
        for name in names:
            text = name if isinstance(name, str) else to_text(name)
            value = self.name("v")
            out.append(f"{pad}{value} = {self.read(text, None, scope, out, pad)}")
            out.append(f"{pad}if {value} is None or {value} == '':")
            out.append(f"{pad}    {target}.append({self.constant(name)})")
        return target, "list"

    @staticmethod
    def size_of(value: str) -> str:
        """Python for what keeping ``value`` costs the output (scalars and text without a call)."""
        return f"(5 if type({value}) in _S else len({value}) + 2 if type({value}) is str else _size({value}))"

    def test(self, value: str, kind: str) -> str:
        """Python for the truthiness of a value (a bool is its own)."""
        if kind == "bool":
            return value
        if kind == "list":
            return f"len({value}) > 0"  # a list is true when it has items
        return f"({value} if type({value}) is bool else _truthy({value}))"

    @staticmethod
    def item_cost(value: str) -> str:
        """Python for ``shallow_cost`` of one value (scalars without a call)."""
        return f"(0 if type({value}) in _S else _icost({value}))"

    def junction(
        self, stop_when: bool, raw: Any, cost: int, scope: str | None, out: list[str], pad: str, depth: int
    ) -> tuple[str, str]:
        if not isinstance(raw, list):
            raise Unsupported("and/or of one argument")
        out.append(f"{pad}s += {cost}")
        target = self.name("t")
        if not raw:
            out.append(f"{pad}{target} = False")
            return target, "bool"
        kinds = set()
        for index, item in enumerate(raw):
            value, kind = self.expression(item, scope, out, pad, depth)
            kinds.add(kind)
            out.append(f"{pad}{target} = {value}")
            if index < len(raw) - 1:
                test = self.test(target, kind)
                out.append(f"{pad}if {'not ' if stop_when else ''}{test}:")
                pad += "    "
                self.check_indent(pad)
        return target, "bool" if kinds == {"bool"} else "any"

    def choice(self, raw: Any, cost: int, scope: str | None, out: list[str], pad: str, depth: int) -> tuple[str, str]:
        if not isinstance(raw, list):
            raise Unsupported("if of one argument")
        out.append(f"{pad}s += {cost}")
        target = self.name("t")
        kinds = set()
        pairs = [(raw[index], raw[index + 1]) for index in range(0, len(raw) - 1, 2)]
        for condition, then in pairs:
            value, kind = self.expression(condition, scope, out, pad, depth)
            out.append(f"{pad}if {self.test(value, kind)}:")
            chosen, chosen_kind = self.expression(then, scope, out, pad + "    ", depth)
            kinds.add(chosen_kind)
            out.append(f"{pad}    {target} = {chosen}")
            out.append(f"{pad}else:")
            pad += "    "
            self.check_indent(pad)
        if len(raw) % 2:
            chosen, chosen_kind = self.expression(raw[-1], scope, out, pad, depth)
            kinds.add(chosen_kind)
            out.append(f"{pad}{target} = {chosen}")
        else:
            out.append(f"{pad}{target} = None")
            kinds.add("any")
        return target, "bool" if kinds == {"bool"} else "any"

    def quantifier(
        self, operator: str, raw: Any, cost: int, scope: str | None, out: list[str], pad: str, depth: int
    ) -> tuple[str, str]:
        if not isinstance(raw, list) or len(raw) < 2 or raw[0] is None or raw[1] is None:
            raise Unsupported("a quantifier's shape")
        self.loops += 1
        if self.loops > MAX_LOOPS:
            raise Unsupported("iterations nested too deeply")
        stop_on, result_on_stop, empty = QUANTIFIERS[operator]
        out.append(f"{pad}s += {cost}")
        source, _ = self.expression(raw[0], scope, out, pad, depth)
        target, item = self.name("t"), self.name("i")
        out.append(f"{pad}if not isinstance({source}, list):")
        out.append(f"{pad}    raise _GiveUp")  # the interpreter's invalid-arguments error
        out.append(f"{pad}s += len({source})")
        out.append(f"{pad}if s > STEP_BOUND:")
        out.append(f"{pad}    raise _GiveUp")
        out.append(f"{pad}{target} = {empty!r}")
        out.append(f"{pad}if {source}:")
        out.append(f"{pad}    {target} = {(not result_on_stop)!r}")
        out.append(f"{pad}    for {item} in {source}:")
        body, kind = self.expression(raw[1], item, out, pad + "        ", depth)
        test = self.test(body, kind)
        out.append(f"{pad}        if {'' if stop_on else 'not '}{test}:")
        out.append(f"{pad}            {target} = {result_on_stop!r}")
        out.append(f"{pad}            break")
        self.loops -= 1
        return target, "bool"

    def check_indent(self, pad: str) -> None:
        if len(pad) // 4 > MAX_INDENT:
            raise Unsupported("nested too deeply")

    # -------------------------------------------------------------------------------------------- nodes

    def flow(self) -> tuple[str, int]:
        """The source of the whole function and the longest path through the flow."""
        nodes, exits = self.nodes, self.exits
        successors: dict[str, list[str]] = {node_id: [] for node_id in nodes}
        for (source, _port), target in exits.items():
            successors[source].append(target)
        reachable: list[str] = []
        pending, seen = [self.start], {self.start}
        while pending:
            node_id = pending.pop()
            reachable.append(node_id)
            for target in successors[node_id]:
                if target not in seen:
                    seen.add(target)
                    pending.append(target)
        incoming = dict.fromkeys(reachable, 0)
        for (source, _port), target in exits.items():
            if source in seen:
                incoming[target] += 1
        order = _topological(reachable, successors)
        longest: dict[str, int] = {}
        for node_id in reversed(order):
            longest[node_id] = 1 + max((longest[t] for t in successors[node_id]), default=0)
        # Nodes reached from one place only are written inside it; the others start a block of their own,
        # run in topological order, one after the other, as ``block`` says.
        self.heads = [node_id for node_id in order if node_id == self.start or incoming[node_id] != 1]
        self.block_of = {node_id: index for index, node_id in enumerate(self.heads)}
        body: list[str] = ["block = 0"]
        for index, head in enumerate(self.heads):
            body.append(f"if block == {index}:")
            self.node(head, body, "    ", [])
        return self.assemble(body), longest[self.start]

    def goto(self, node_id: str | None, out: list[str], pad: str, pending: list[str]) -> None:
        """Continue to ``node_id``: inline when only this exit reaches it, else in its block."""
        if node_id is not None and node_id not in self.block_of and len(pad) // 4 < MAX_INDENT:
            self.node(node_id, out, pad, pending)
            return
        self.flush(pending, out, pad)
        if node_id is None:
            out.append(f"{pad}block = -1")
        else:
            if node_id not in self.block_of:
                raise Unsupported("nested too deeply")
            out.append(f"{pad}block = {self.block_of[node_id]}")

    def flush(self, pending: list[str], out: list[str], pad: str) -> None:
        """Append the node ids visited since the last branch to the path (one call for a chain of nodes)."""
        if len(pending) == 1:
            out.append(f"{pad}path.append({self.constant(pending[0])})")
        elif pending:
            out.append(f"{pad}path += ({', '.join(self.constant(node_id) for node_id in pending)},)")
        pending.clear()

    def evaluate(self, logic: Any, reads: str, out: list[str], pad: str) -> tuple[str, str]:
        """An expression of a node; with a trace, what it reads is kept in the node's dict ``reads``."""
        self.reads = reads
        return self.expression(logic, None, out, pad, 0)

    def step(self, node: Node, reads: str, output: str, port: str, out: list[str], pad: str) -> None:
        """With a trace: the node's entry, timed from the end of the node before, as the compiled run does."""
        if self.traced:
            names = ", ".join(self.constant(text) for text in (node.id, node.type, node.name))
            out.append(f"{pad}c = _clock()")
            out.append(f"{pad}trace.append(_Step({names}, {reads}, {output}, {port}, None, (c - c0) // 1000))")
            out.append(f"{pad}c0 = c")

    def node(self, node_id: str, out: list[str], pad: str, pending: list[str]) -> None:
        node = self.nodes[node_id]
        pending = [*pending, node_id]
        exits = self.exits
        reads = self.name("R")
        if self.traced and node.type in ("condition", "switch", "action"):
            out.append(f"{pad}{reads} = {{}}")
        if node.type == "start":
            self.step(node, "{}", "None", "'next'", out, pad)
            self.goto(exits.get((node_id, "next")), out, pad, pending)
        elif node.type == "end":
            self.step(node, "{}", "None", "None", out, pad)
            self.flush(pending, out, pad)
            out.append(f"{pad}block = -1")
        elif node.type == "condition":
            self.static_output += 2  # its reads, when none
            value, kind = self.evaluate(node.config["logic"], reads, out, pad)
            if kind == "bool":
                self.static_output += 5
                output = value
            else:
                out.append(f"{pad}o += {self.size_of(value)}")
                output = f"({value} if type({value}) in _S else _keep({value}))"
                self.uses_keep = self.uses_keep or self.traced
            test = self.name("t")
            out.append(f"{pad}{test} = {self.test(value, kind)}")
            self.step(node, reads, output, f"('true' if {test} else 'false')", out, pad)
            self.flush(pending, out, pad)
            out.append(f"{pad}if {test}:")
            self.goto(exits.get((node_id, "true")), out, pad + "    ", [])
            out.append(f"{pad}else:")
            self.goto(exits.get((node_id, "false")), out, pad + "    ", [])
        elif node.type == "switch":
            self.flush(pending, out, pad)
            for branch in node.config["branches"]:
                self.static_output += 2
                value, kind = self.evaluate(branch["logic"], reads, out, pad)
                out.append(f"{pad}if {self.test(value, kind)}:")
                port = self.constant(str(branch["id"]))
                self.step(node, reads, port, port, out, pad + "    ")
                self.goto(exits.get((node_id, str(branch["id"]))), out, pad + "    ", [])
                out.append(f"{pad}else:")
                pad += "    "
                self.check_indent(pad)
            self.step(node, reads, "'default'", "'default'", out, pad)
            self.goto(exits.get((node_id, "default")), out, pad, [])
        else:
            copy = self.action(node, reads, out, pad)
            if self.traced:
                output = f"{{'action': {self.constant(node.config['action'])}, 'params': {copy}}}"
                self.step(node, reads, output, "'next'", out, pad)
            self.goto(exits.get((node_id, "next")), out, pad, pending)

    def action(self, node: Node, reads: str, out: list[str], pad: str) -> str:
        """Emit an action node's parameters and its decision; returns Python for a copy of its parameters (what
        its trace entry shows)."""
        action = node.config["action"]
        if not is_known_action(action):
            raise Unsupported("an unknown action")
        specs = param_specs(action)
        raw_params = node.config.get("params") or {}
        constant: dict[str, Any] = {}
        dynamic = False
        entries: list[str] = []  # Python for each parameter given, in order
        params = self.name("p")
        self.static_output += 2 + _DECISION_OVERHEAD  # the params' braces; its decisions' keys
        steps: list[str] = []
        literal: set[str] = set()
        for name, raw in raw_params.items():
            spec = specs.get(name)
            if spec is None:
                raise Unsupported("an unknown parameter")  # the run fails there: the compiled run says so
            self.static_output += len(name) + 4
            if not isinstance(raw, list | dict):
                self.static_output += 2 + 3 * output_size(raw)  # its empty reads, its value three times
                if raw is None:
                    if spec["required"]:
                        raise Unsupported("a required parameter that is null")
                    continue
                if value_problem(spec, raw) is not None:
                    raise Unsupported("a parameter that does not fit")
                constant[name] = raw
                entries.append(f"{self.constant(name)}: {self.constant(raw)}")
                continue
            dynamic = True
            self.static_output += 2
            value, _kind = self.evaluate(raw, reads, steps, pad)
            variable = self.name("v")
            steps.append(f"{pad}{variable} = {value}")
            if _is_flat_literal(raw):
                if value_problem(spec, raw) is not None:
                    raise Unsupported("a parameter that does not fit")
                literal.add(name)  # never null, checked and measured now
                self.static_output += 3 * output_size(raw)
                entries.append(f"{self.constant(name)}: {variable}")
                continue
            steps.append(f"{pad}o += 3 * {self.size_of(variable)}")
            # Kept as the interpreter keeps it: a copy, so that no result shares the caller's data.
            self.uses_keep = True
            steps.append(f"{pad}if type({variable}) not in _S and type({variable}) is not str:")
            steps.append(f"{pad}    {variable} = _keep({variable})")
            if spec["required"]:
                steps.append(
                    f"{pad}if {variable} is None or _problem({self.bind(spec, '_q')}, {variable}) is not None:"
                )
                steps.append(f"{pad}    raise _GiveUp")
            else:
                steps.append(
                    f"{pad}if {variable} is not None and _problem({self.bind(spec, '_q')}, {variable}) is not None:"
                )
                steps.append(f"{pad}    raise _GiveUp")
            entries.append(f"{self.constant(name)}: {variable}")
        out += steps
        if dynamic:
            # A null optional parameter is left out, as the interpreter leaves it out.
            out.append(f"{pad}{params} = {{{', '.join(entries)}}}")
            for name in raw_params:
                if name not in constant and name not in literal and not specs[name]["required"]:
                    out.append(f"{pad}if {params}[{self.constant(name)}] is None:")
                    out.append(f"{pad}    del {params}[{self.constant(name)}]")
        else:
            out.append(f"{pad}{params} = {{{', '.join(entries)}}}")
        out.append(f"{pad}actions.append(_decided({self.constant(node.id)}, {self.constant(action)}, {params}))")
        fixed = fixed_effect(action, constant) if not dynamic else None
        prepared = prepared_effect(action, constant) if not dynamic else None
        if fixed is not None:
            out.append(f"{pad}values.update({self.bind(fixed, '_v')})")
        elif prepared is not None:
            out.append(f"{pad}{self.bind(prepared, '_r')}(values)")
        else:
            out.append(f"{pad}draft.record({self.constant(action)}, {params})")
        for key in effect_keys(action):
            if key in _DECISION_FIELDS:
                out.append(f"{pad}w_{key} = True")
        if dynamic:
            self.uses_keep = self.uses_keep or self.traced
            return f"_keep({params})"
        return f"{{{', '.join(entries)}}}"  # scalars only: the same literal makes a copy

    def assemble(self, body: list[str]) -> str:
        prologue = ["o = 0", "s = 0", "path = []", "actions = []", "values = draft.values"]
        prologue += ["trace = []", "c0 = _clock()"] if self.traced else []
        if self.uses_keep or self.traced:  # (copies past the whole budget raise: the run gives up first)
            prologue += [f"copies = _Budget({self.output_budget})", "_keep = copies.keep"]
        prologue += [f"w_{field} = False" for field in sorted(self.decision_reads)]
        # Which decisions were written is only kept for those a later node reads.
        body = _merged_steps([line for line in body if not _unread_mark(line, self.decision_reads)])
        # Every path the flow reads from the root, read once, before anything: reading has no effects.
        prefixes: dict[tuple[str, ...], str] = {}
        for text, (variable, keys) in self.hoisted.items():
            parent = {self.subject: "order", "features": "features"}.get(keys[0])
            if parent is None:
                prologue.append(f"{variable} = _M")  # the root holds nothing else
            else:
                for length in range(2, len(keys) + 1):
                    prefix = keys[:length]
                    if prefix not in prefixes:
                        prefixes[prefix] = self.name("x")
                        key = self.constant(prefix[-1])
                        prologue.append(
                            f"{prefixes[prefix]} = {parent}.get({key}, _M) if type({parent}) is dict "
                            f"else _step({parent}, {key})"
                        )
                    parent = prefixes[prefix]
                prologue.append(f"{variable} = {parent}")  # (a second name for a prefix read elsewhere too)
            count = self.sites[text]
            if self.traced:  # an array or object read is copied into the trace where it is read: counted there
                prologue.append(
                    f"if type({variable}) in _S: o += {5 * count}\n"
                    f"elif type({variable}) is str: o += {count} * (len({variable}) + 2)"
                )
            else:
                prologue.append(f"if {variable} is not _M: o += {count} * {self.size_of(variable)}")
            if variable + "n" in self.defaulted:
                prologue.append(f"{variable}n = None if {variable} is _M else {variable}")
        if self.traced:
            body.append(f"o += {self.output_budget} - copies.left")  # what the copies cost
        # Decisions given (a later flow of a chain): they are all kept at the end, and so is what was decided.
        body.append("if seen:")
        body.append("    o += _size(seen) + _size(draft.json())")
        lines = ["def run(order, features, seen, draft, now, deadline):", "    try:"]
        lines += [f"        {line}" for part in prologue for line in part.split("\n")]
        lines += [f"        {line}" for line in body]
        lines += [
            "    except Exception:",
            "        return None",
            f"    if s > STEP_BOUND or o > {self.output_budget - self.static_output}:",
            "        return None",
            "    if deadline is not None and _budget_clock() > deadline:",
            "        return None",
            f"    return path, actions, {'trace' if self.traced else '[]'}",
        ]
        return "\n".join(lines) + "\n"


_DECISION_FIELDS: Final = frozenset(DecisionsDraft().values)


def _is_flat_literal(value: Any) -> bool:
    return isinstance(value, list) and not any(isinstance(item, list | dict) for item in value)


def _merged_steps(lines: list[str]) -> list[str]:
    """Consecutive ``s += ...`` of one block as one addition."""
    merged: list[str] = []
    for line in lines:
        text = line.lstrip()
        if merged and text.startswith("s += "):
            last = merged[-1]
            last_text = last.lstrip()
            if last_text.startswith("s += ") and len(last) - len(last_text) == len(line) - len(text):
                terms = [last_text[5:], text[5:]]
                if all(term.isdigit() for term in terms):
                    merged[-1] = last[: len(last) - len(last_text)] + f"s += {int(terms[0]) + int(terms[1])}"
                else:
                    merged[-1] = f"{last} + {text[5:]}"
                continue
        merged.append(line)
    return merged


def _unread_mark(line: str, read: set[str]) -> bool:
    """Whether ``line`` marks a decision written that no node reads (``w_<field> = True``)."""
    text = line.strip()
    return text.startswith("w_") and text.endswith(" = True") and text[2:-7] not in read


def _topological(nodes: list[str], successors: Mapping[str, list[str]]) -> list[str]:
    """The nodes in an order where every exit points forward (the flow is acyclic, as validated)."""
    order: list[str] = []
    state: dict[str, int] = {}
    for root in nodes:
        if root in state:
            continue
        stack = [(root, iter(successors[root]))]
        state[root] = 1
        while stack:
            node_id, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                order.append(node_id)
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(successors[child])))
    order.reverse()
    return order


def generate_flow(
    nodes: Mapping[str, Node],
    exits: Mapping[tuple[str, str], str],
    start: str,
    *,
    output_budget: int,
    decided: Callable[[str, str, dict[str, Any]], Any],
    step: Callable[..., Any],
    subject: str = "order",
) -> GeneratedFlow | None:
    """Generate a validated flow's functions, or None when it uses a shape left to the compiled run.

    ``decided(node_id, action, params)`` makes a decided action and ``step(node_id, type, name, reads, output,
    port, error, micros)`` a trace entry; ``output_budget`` is the run's output budget.
    """
    functions: list[Function] = []
    sources: list[str] = []
    longest = 0
    for traced in (False, True):
        generator = _Generator(nodes, exits, start, output_budget, traced=traced, subject=subject)
        try:
            source, longest = generator.flow()
            code = compile(source, "<generated flow>", "exec")
        except (Unsupported, SyntaxError, RecursionError, MemoryError):
            return None
        namespace = generator.namespace
        namespace.update(_decided=decided, _Step=step)
        exec(code, namespace)  # noqa: S102 - our own source over our own namespace (see the module's docstring)
        functions.append(namespace["run"])
        sources.append(source)
    return GeneratedFlow(untraced=functions[0], traced=functions[1], longest_path=longest, source=sources[0])

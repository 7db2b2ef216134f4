"""The interpreter: walks a flow for one order and returns the decided actions with a per-node trace.

``run`` never raises. A node whose expression fails is traced as failed and the run stops there with
status ``failed`` (the app then sends the order to review); an invalid document gives a failed result with
its problems; a step limit stops a runaway run. A run that goes past a safety limit of the engine (evaluation
steps, its time limit, nesting, or more output than ``MAX_RUN_OUTPUT_SIZE``) stops with status
``limit_exceeded`` and says which limit in ``limit``. The caller's context is never changed: decisions made
by actions are visible to later nodes through a copy, as ``decisions``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from ruleflows.actions import Decisions, DecisionsDraft, param_specs, value_problem
from ruleflows.codegen import GeneratedFlow, generate_flow
from ruleflows.coercion import truthy
from ruleflows.compiler import CompiledNode, compile_node, link
from ruleflows.document import Node
from ruleflows.errors import LIMIT_DEPTH, LIMIT_TIME, LimitExceededError, LogicError
from ruleflows.logic import (
    MAX_EVALUATION_STEPS,
    PYTHON_ERRORS,
    SCALARS,
    Compiled,
    Evaluation,
    OutputBudget,
    budget_clock,
    rule_error,
)
from ruleflows.problems import Problem
from ruleflows.schema import context_of_trigger
from ruleflows.validation import check_document

DEFAULT_MAX_STEPS: Final = 1000
# Evaluation steps shared by all expressions of one run, so many nodes cannot each spend the per-expression
# budget in turn.
MAX_RUN_EVALUATION_STEPS: Final = 200_000
#: The most a run may put in its trace, actions and decisions, in characters of JSON (roughly).
MAX_RUN_OUTPUT_SIZE: Final = 1_000_000

STATUS_OK: Final = "ok"
STATUS_FAILED: Final = "failed"
STATUS_STEP_LIMIT: Final = "step_limit"
STATUS_LIMIT_EXCEEDED: Final = "limit_exceeded"


_NONE_DECIDED: Final = Decisions()


class InvalidFlowError(ValueError):
    """Raised by :func:`compile_flow` for a document with problems; ``problems`` lists them all."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(problem.message_en for problem in problems[:5]))


@dataclass(frozen=True, slots=True)
class CompiledFlow:
    """A validated flow, ready to run many times without validating again.

    ``program`` holds the flow's expressions compiled into closures (:mod:`ruleflows.compiler`); a flow
    prepared without it (as ``run`` does for a document it is given) is run by the interpreter.
    ``generated`` is the whole flow as one function (:mod:`ruleflows.codegen`), with its trace and without,
    when the flow has only the shapes it generates; a run it cannot vouch for runs compiled.
    """

    name: str
    trigger: str
    start_id: str
    nodes: Mapping[str, Node]
    exits: Mapping[tuple[str, str], str]  # (node id, port) -> next node id
    #: The context's key holding what the flow is about: ``order``, or ``case`` for an after-sales flow.
    subject: str = "order"
    # Derived from the rest, so it takes no part in comparing flows (its nodes compare by identity).
    program: Mapping[str, CompiledNode] | None = field(default=None, compare=False, repr=False)
    generated: GeneratedFlow | None = field(default=None, compare=False, repr=False)


def compile_flow(doc: Any) -> CompiledFlow:
    """Validate a document and compile its expressions; raises InvalidFlowError listing every problem."""
    flow = _prepare(doc)
    program = {node.id: compile_node(node.id, node.type, node.name, node.config) for node in flow.nodes.values()}
    link(program, dict(flow.exits))
    generated = generate_flow(
        flow.nodes,
        flow.exits,
        flow.start_id,
        output_budget=MAX_RUN_OUTPUT_SIZE,
        decided=_decided_action,
        step=NodeTrace,
        subject=flow.subject,
    )
    return replace(flow, program=program, generated=generated)


def _prepare(doc: Any) -> CompiledFlow:
    """Validate a document and index its nodes and exits, for the interpreter."""
    document, problems = check_document(doc)
    if problems:
        raise InvalidFlowError(problems)
    nodes = {node.id: node for node in document.nodes}
    start_id = next(node.id for node in document.nodes if node.type == "start")
    exits = {(edge.source, edge.port): edge.target for edge in document.edges}
    subject = "case" if context_of_trigger(document.trigger) == "return" else "order"
    return CompiledFlow(
        name=document.name, trigger=document.trigger, start_id=start_id, nodes=nodes, exits=exits, subject=subject
    )


@dataclass(slots=True)
class NodeTrace:
    """What one node did: the fields it read, its output, the exit it took, any error, and its time."""

    node_id: str
    type: str
    name: str
    reads: dict[str, Any] = field(default_factory=dict)
    output: Any = None
    port: str | None = None
    error: str | None = None
    micros: int = 0

    def to_dict(self, *, timings: bool = True) -> dict[str, Any]:
        """JSON-serialisable form; ``timings=False`` leaves out the only non-deterministic field."""
        data = {
            "node_id": self.node_id,
            "type": self.type,
            "name": self.name,
            "reads": self.reads,
            "output": self.output,
            "port": self.port,
            "error": self.error,
        }
        if timings:
            data["micros"] = self.micros
        return data


@dataclass(frozen=True, slots=True)
class DecidedAction:
    """An action the flow decided, with its parameters already evaluated."""

    node_id: str
    action: str
    params: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {"node_id": self.node_id, "action": self.action, "params": self.params}


@dataclass(slots=True)
class RunResult:
    """The outcome of running a flow for one order; ``decisions`` is what its actions decided, typed."""

    status: str
    actions: list[DecidedAction] = field(default_factory=list)
    path: list[str] = field(default_factory=list)
    trace: list[NodeTrace] = field(default_factory=list)
    decisions: Decisions = field(default_factory=Decisions)
    failed_node: str | None = None
    error: str | None = None
    problems: list[Problem] = field(default_factory=list)
    micros: int = 0
    limit: str | None = None  # with status limit_exceeded: which limit (ruleflows.errors.LIMIT_*)

    @property
    def ok(self) -> bool:
        """True when the flow ran to its end without failing."""
        return self.status == STATUS_OK

    def to_dict(self, *, timings: bool = True) -> dict[str, Any]:
        """JSON-serialisable form; with ``timings=False`` two runs on the same input compare equal."""
        data: dict[str, Any] = {
            "status": self.status,
            "actions": [action.to_dict() for action in self.actions],
            "path": list(self.path),
            "trace": [step.to_dict(timings=timings) for step in self.trace],
            "decisions": self.decisions.to_dict(),
            "failed_node": self.failed_node,
            "error": self.error,
            "problems": [problem.to_dict() for problem in self.problems],
            "limit": self.limit,
        }
        if timings:
            data["micros"] = self.micros
        return data


def run(
    flow: Any,
    context: Any,
    *,
    now: datetime | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    time_limit: float | None = None,
    trace: bool = True,
) -> RunResult:
    """Run a flow (a document or a :class:`CompiledFlow`) for one order context; never raises.

    ``context`` is ``{"order": ..., "features": ..., "decisions": ...}`` (an after-sales flow's has ``case`` in
    place of ``order``); ``now`` is the clock the time
    operators use (they fail, and so does the node, if it is needed and not given). ``time_limit`` is a
    budget in seconds of the running thread's CPU time (:data:`~ruleflows.logic.budget_clock`), counted from
    the start of the run; past it the run stops with status
    ``limit_exceeded``. Without it only the step budgets bound the run.

    ``trace=False`` leaves the per-node trace out (what a backtest needs: decisions and path): the result is
    the traced run's with an empty ``trace``. The output budget is charged as if the trace were kept, so the
    two runs stop at the same limits; a compiled flow then skips building the trace, a document does not.

    A compiled flow runs its generated function when it has one (:mod:`ruleflows.codegen`), and its closures
    node by node whenever that function cannot vouch for the result; both give the interpreter's.
    """
    started = time.perf_counter_ns()
    deadline = budget_clock() + time_limit if time_limit is not None else None
    if isinstance(flow, CompiledFlow):
        compiled = flow
    else:
        try:
            # One run of a document: validating it is the cost, compiling would only add to it.
            compiled = _prepare(flow)
        except InvalidFlowError as exc:
            return RunResult(
                status=STATUS_FAILED,
                error="invalid flow document: " + str(exc),
                problems=exc.problems,
                micros=_micros_since(started),
            )
    if not isinstance(context, dict):
        return RunResult(status=STATUS_FAILED, error="the context must be an object", micros=_micros_since(started))
    try:
        generated = compiled.generated
        made = None
        if generated is not None and max_steps >= generated.longest_path:
            seen, draft = _given_decisions(context)
            features = context.get("features")
            function = generated.traced if trace else generated.untraced
            subject = context.get(compiled.subject)
            made = function(subject, features if features is not None else {}, seen, draft, now, deadline)
        if made is not None:
            path, actions, steps = made
            result = RunResult(STATUS_OK, actions, path, steps, draft.freeze())
        else:
            # The interpreter, or the compiled run: whenever there is no generated function or it gave up.
            runner = _Run if compiled.program is None else _CompiledRun
            result = runner(compiled, context, now, max_steps, deadline, traced=trace).execute()
    except RecursionError:
        # Only data nested past Python's recursion limit gets here (copying the context's decisions).
        result = RunResult(status=STATUS_LIMIT_EXCEEDED, error="the context is nested too deeply", limit=LIMIT_DEPTH)
    result.micros = _micros_since(started)
    return result


def _micros_since(started: int) -> int:
    return (time.perf_counter_ns() - started) // 1000


def _given_decisions(context: dict[str, Any]) -> tuple[dict[str, Any], DecisionsDraft]:
    """What a run starts from: the decisions as flows read them (a copy of the JSON given) and the typed
    record read from them once, to be updated by the run's actions."""
    given = context.get("decisions")
    seen = json_copy(given) if isinstance(given, dict) and given else {}
    return seen, DecisionsDraft(Decisions.from_dict(seen)) if seen else DecisionsDraft()


def json_copy(value: Any) -> Any:
    """A copy of JSON-like data, so results never alias the caller's context or the document."""
    if isinstance(value, dict):
        return {key: json_copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_copy(item) for item in value]
    return value


class _Run:
    """One execution of a compiled flow."""

    def __init__(
        self,
        flow: CompiledFlow,
        context: dict[str, Any],
        now: datetime | None,
        max_steps: int,
        deadline: float | None,
        *,
        traced: bool = True,
    ) -> None:
        self.flow = flow
        self.traced = traced
        self.now = now
        self.max_steps = max_steps
        self.deadline = deadline
        self.output = OutputBudget(MAX_RUN_OUTPUT_SIZE)
        seen, self.draft = _given_decisions(context)
        self.data: dict[str, Any] = {
            flow.subject: context.get(flow.subject),
            "features": context.get("features") if context.get("features") is not None else {},
            "decisions": seen,
        }
        self.result = RunResult(status=STATUS_OK, decisions=_NONE_DECIDED)  # (not a new one per run)
        self.evaluation_steps_left = MAX_RUN_EVALUATION_STEPS

    def execute(self) -> RunResult:
        result = self.result
        node_id: str | None = self.flow.start_id
        while node_id is not None:
            if len(result.path) >= self.max_steps:
                result.status = STATUS_STEP_LIMIT
                result.failed_node = node_id
                result.error = f"step limit of {self.max_steps} reached"
                break
            node = self.flow.nodes[node_id]
            result.path.append(node.id)
            step = NodeTrace(node_id=node.id, type=node.type, name=node.name)
            result.trace.append(step)
            started = time.perf_counter_ns()
            try:
                if self.deadline is not None and budget_clock() > self.deadline:
                    raise LimitExceededError("the run went past its time limit", limit=LIMIT_TIME)
                port = self._step(node, step)
            except Exception as exc:  # a failing node must be reported, never escape
                port = self._failed(step, exc)
            step.micros = (time.perf_counter_ns() - started) // 1000
            step.port = port
            if result.status != STATUS_OK or port is None:
                break
            node_id = self.flow.exits.get((node.id, port))
        return self._finish()

    def _finish(self) -> RunResult:
        """The result, with the decisions charged to the output budget, as any result."""
        result = self.result
        if not self.traced:
            result.trace = []  # (the interpreter makes it all the same: a document's run costs its validation)
        try:
            self.output.keep(self.data["decisions"])
            result.decisions = self.draft.freeze()
        except LimitExceededError as exc:
            result.status, result.limit, result.error = STATUS_LIMIT_EXCEEDED, exc.limit, str(exc)
            result.decisions = Decisions()
        return result

    def _failed(self, step: NodeTrace, exc: Exception) -> str | None:
        """Record the error a node failed with: a safety limit stops the run as such, anything else fails it."""
        if isinstance(exc, LimitExceededError):
            return self._stop(step, _describe(exc), STATUS_LIMIT_EXCEEDED, exc.limit)
        if isinstance(exc, RecursionError):
            return self._stop(step, "LimitExceededError: nested too deeply", STATUS_LIMIT_EXCEEDED, LIMIT_DEPTH)
        return self._stop(step, _describe(exc), STATUS_FAILED, None)

    def _stop(self, step: NodeTrace, error: str, status: str, limit: str | None) -> str | None:
        """Record why the run stops at this node; returns the exit taken, which is none."""
        step.error = error
        self.result.status = status
        self.result.limit = limit
        self.result.failed_node = step.node_id
        self.result.error = f"node {step.node_id}: {error}"
        return None

    def _evaluate(self, logic: Any, step: NodeTrace) -> Any:
        budget = min(self.evaluation_steps_left, MAX_EVALUATION_STEPS)
        evaluation = Evaluation(self.now, max_steps=budget, record_reads=True, deadline=self.deadline)
        try:
            return evaluation.evaluate(logic, self.data)
        finally:
            self.evaluation_steps_left -= budget - max(evaluation.steps_left, 0)
            assert evaluation.reads is not None
            step.reads.update(self.output.keep(evaluation.reads))

    def _step(self, node: Node, step: NodeTrace) -> str | None:
        """Execute one node and return the exit taken (None ends the run)."""
        if node.type == "start":
            return "next"
        if node.type == "end":
            return None
        if node.type == "condition":
            value = self._evaluate(node.config["logic"], step)
            step.output = self.output.keep(value)
            return "true" if truthy(value) else "false"
        if node.type == "switch":
            for branch in node.config["branches"]:
                if truthy(self._evaluate(branch["logic"], step)):
                    step.output = branch["id"]
                    return str(branch["id"])
            step.output = "default"
            return "default"
        return self._act(node, step)

    def _act(self, node: Node, step: NodeTrace) -> str:
        action = node.config["action"]
        specs = param_specs(action)
        params: dict[str, Any] = {}
        for name, raw in (node.config.get("params") or {}).items():
            value = self.output.keep(self._evaluate(raw, step))
            if value is None:
                if specs[name]["required"]:
                    raise ValueError(f"parameter {name!r} of {action} evaluated to null")
                continue
            problem = value_problem(specs[name], value)
            if problem is not None:
                raise ValueError(f"parameter {name!r} of {action}: {problem[1]}")
            params[name] = value
        return self._decide(node.id, step, action, params)

    def _decide(self, node_id: str, step: NodeTrace | None, action: str, params: dict[str, Any]) -> str:
        """Record an action decided with checked params: in the result, the decisions and the trace (charged
        to the output budget alone when there is no trace)."""
        self.result.actions.append(DecidedAction(node_id, action, params))
        self.data["decisions"] = {**self.data["decisions"], **self.draft.apply(action, params)}
        if step is None:
            self.output.count(params)
        else:
            step.output = {"action": action, "params": self.output.keep(params)}
        return "next"


_NEW: Final = object.__new__
_SET_NODE: Final = vars(DecidedAction)["node_id"].__set__
_SET_ACTION: Final = vars(DecidedAction)["action"].__set__
_SET_PARAMS: Final = vars(DecidedAction)["params"].__set__


def _decided_action(node_id: str, action: str, params: dict[str, Any]) -> DecidedAction:
    """``DecidedAction(node_id, action, params)``, through its slots: a frozen dataclass's __init__ costs three
    calls of object.__setattr__, and a generated run decides an action in less."""
    decided = _NEW(DecidedAction)
    _SET_NODE(decided, node_id)
    _SET_ACTION(decided, action)
    _SET_PARAMS(decided, params)
    return decided


def _describe(exc: Exception) -> str:
    if isinstance(exc, LogicError) and str(exc) != str(exc.type):
        return f"LogicError {exc.type}: {exc}"
    return f"{type(exc).__name__}: {exc}"


class _CompiledRun(_Run):
    """One execution of a flow's compiled program: the interpreter's run, node for node, without re-reading
    the document. It returns what :class:`_Run` returns for the same flow and context (timings aside).

    Without ``traced`` no trace entry is made, nor a node timed: each output the trace would keep is only
    charged to the output budget (``step`` is None in the methods below)."""

    def execute(self) -> RunResult:
        result, output, traced = self.result, self.output, self.traced
        path, trace = result.path, result.trace
        # One evaluation serves every expression of the run; each starts with its own budget and reads.
        self.evaluation = Evaluation(self.now, record_reads=True, deadline=self.deadline)
        self.scopes = [self.data]
        assert self.flow.program is not None
        node: CompiledNode | None = self.flow.program[self.flow.start_id]
        max_steps, deadline, clock = self.max_steps, self.deadline, time.perf_counter_ns
        # A node's time runs from the end of the one before to its own end: one look at the clock per node
        # instead of two, and a node's time still includes all its own work (its trace entry, its output).
        started = clock()
        while node is not None:
            if len(path) >= max_steps:
                result.status = STATUS_STEP_LIMIT
                result.failed_node = node.id
                result.error = f"step limit of {max_steps} reached"
                break
            path.append(node.id)
            step: NodeTrace | None = None
            if traced:
                step = NodeTrace(node.id, node.type, node.name, {})
                trace.append(step)
            port: str | None
            try:
                if deadline is not None and budget_clock() > deadline:
                    raise LimitExceededError("the run went past its time limit", limit=LIMIT_TIME)
                logic = node.logic
                if logic is not None:  # a condition, the commonest node, without a call of its own
                    value = self._evaluate_compiled(logic, step)
                    if type(value) in SCALARS:
                        output.charge(5)  # what keeping a scalar costs
                        if step is not None:
                            step.output = value
                    elif step is None:
                        output.count(value)
                    else:
                        step.output = output.keep(value)
                    port = "true" if value is True or (value is not False and truthy(value)) else "false"
                elif node.type == "action":
                    port = self._act_compiled(node, step)
                elif node.branches:
                    port = self._switch_compiled(node, step)
                else:
                    port = "next" if node.type == "start" else None
            except Exception as exc:  # a failing node must be reported, never escape
                port = self._failed(step or NodeTrace(node.id, node.type, node.name), exc)
            if step is not None:
                ended = clock()
                step.micros = (ended - started) // 1000
                started = ended
                step.port = port
            if port is None or result.status != STATUS_OK:
                break
            node = node.exits.get(port)
        return self._finish()

    def _evaluate_compiled(self, function: Compiled, step: NodeTrace | None) -> Any:
        """``_evaluate`` of the interpreter, for a compiled expression and the run's one evaluation."""
        left = self.evaluation_steps_left
        budget = left if left < MAX_EVALUATION_STEPS else MAX_EVALUATION_STEPS
        evaluation = self.evaluation
        evaluation.restart(budget)
        try:
            return function(evaluation, self.scopes)
        except PYTHON_ERRORS as exc:
            raise rule_error(exc) from exc
        finally:
            left = evaluation.banked + evaluation.ticks
            self.evaluation_steps_left -= budget - left if left > 0 else budget
            reads = evaluation.reads
            if not reads:
                self.output.charge(2)  # what keeping the empty reads costs, as the interpreter does
            elif step is None:
                self.output.count(reads)
            elif step.reads:
                step.reads.update(self.output.keep(reads))
            else:
                step.reads = self.output.keep(reads)

    def _switch_compiled(self, node: CompiledNode, step: NodeTrace | None) -> str:
        for branch_id, logic in node.branches:
            if truthy(self._evaluate_compiled(logic, step)):
                if step is not None:
                    step.output = branch_id
                return branch_id
        if step is not None:
            step.output = "default"
        return "default"

    def _act_compiled(self, node: CompiledNode, step: NodeTrace | None) -> str:
        action, output = node.action, self.output
        params: dict[str, Any] = {}
        for param in node.params:
            if param.constant:
                output.charge(param.size)
                value, problem = param.value, param.problem
            else:
                value = output.keep(self._evaluate_compiled(param.function, step))
                problem = None
            if param.spec is None:
                raise KeyError(param.name)  # the interpreter's lookup of an unknown parameter's spec
            if value is None:
                if param.spec["required"]:
                    raise ValueError(f"parameter {param.name!r} of {action} evaluated to null")
                continue
            if not param.constant:
                problem = value_problem(param.spec, value)
            if problem is not None:
                raise ValueError(f"parameter {param.name!r} of {action}: {problem[1]}")
            params[param.name] = value
        return self._decide(node.id, step, action, params)

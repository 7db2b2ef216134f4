"""Validation of flow documents: every problem at once, each tied to a node or edge.

Checks, besides the structure read by :mod:`ruleflows.document`: exactly one start; no loops; every
condition has a true and a false exit, every switch branch and its default lead somewhere; no dangling or
duplicate connections; no unreachable nodes; known actions with fitting parameters; JSON Logic that uses only
allowed operators, reads only fields of the context of the flow's trigger (the order's, or an after-sales case's)
and stays within the depth limit; only the actions the trigger allows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ruleflows.actions import check_params, is_action_for, is_known_action
from ruleflows.document import MAX_EXPRESSION_DEPTH, Document, Edge, Node, read_document
from ruleflows.logic import ALLOWED_OPERATORS, ITERATING_OPERATORS, is_expression
from ruleflows.operations import DOMAIN_OPERATIONS, regex_problem
from ruleflows.problems import Problem, make_problem
from ruleflows.schema import context_of_trigger, is_known_path

# Operators whose arguments must be written as an array in the rule (JSON Logic "Invalid Arguments").
_NEEDS_ARRAY = frozenset(
    {"if", "?:", "and", "or", "==", "!=", "===", "!==", "<", "<=", ">", ">=", *ITERATING_OPERATORS}
)
_COMPARISONS = frozenset({"==", "!=", "===", "!==", "<", "<=", ">", ">="})


def validate(doc: Any) -> list[Problem]:
    """Every problem of a flow document; an empty list means it may be saved and run."""
    return check_document(doc)[1]


def check_document(doc: Any) -> tuple[Document, list[Problem]]:
    """Read and validate a document; returns what was read and all problems found."""
    document = read_document(doc)
    problems = list(document.problems)
    if not document.readable:
        return document, problems
    nodes = _unique_nodes(document.nodes, problems)
    edges = _usable_edges(document.edges, nodes, problems)
    start = _check_start(nodes, edges, problems)
    _check_exits(nodes, edges, problems)
    _check_cycles(nodes, edges, problems)
    if start is not None:
        _check_reachable(start, nodes, edges, problems)
    for node in nodes.values():
        _check_config(node, document.trigger, problems)
    return document, problems


def ports_of(node: Node) -> list[str]:
    """The exits a node has: next, true/false, or its branch ids plus default."""
    if node.type in ("start", "action"):
        return ["next"]
    if node.type == "condition":
        return ["true", "false"]
    if node.type == "switch":
        return [*branch_ids(node), "default"]
    return []


def branch_ids(node: Node) -> list[str]:
    """The ids of a switch node's branches, in order (entries without a string id are skipped)."""
    branches = node.config.get("branches")
    if not isinstance(branches, list):
        return []
    return [b["id"] for b in branches if isinstance(b, dict) and isinstance(b.get("id"), str)]


# ------------------------------------------------------------------------------------------------ graph


def _unique_nodes(nodes: list[Node], problems: list[Problem]) -> dict[str, Node]:
    unique: dict[str, Node] = {}
    for node in nodes:
        if node.id in unique:
            problems.append(
                make_problem("duplicate_node_id", id=node.id, node_id=node.id, path=f"nodes[{node.index}].id")
            )
        else:
            unique[node.id] = node
    return unique


def _usable_edges(edges: list[Edge], nodes: dict[str, Node], problems: list[Problem]) -> list[Edge]:
    """Edges that connect known nodes through a real exit; a problem for each one that does not."""
    usable: list[Edge] = []
    edge_ids: set[str] = set()
    taken_ports: set[tuple[str, str]] = set()
    for edge in edges:
        where = {"edge_id": edge.id, "path": f"edges[{edge.index}]"}
        if edge.id in edge_ids:
            problems.append(make_problem("duplicate_edge_id", id=edge.id, **where))
            continue
        edge_ids.add(edge.id)
        dangling = False
        for end, end_zh, end_en in (("source", "起点", "source"), ("target", "终点", "target")):
            if getattr(edge, end) not in nodes:
                problems.append(
                    make_problem(
                        "dangling_edge", id=edge.id, end_zh=end_zh, end_en=end_en, target=getattr(edge, end), **where
                    )
                )
                dangling = True
        if dangling:
            continue
        source, target = nodes[edge.source], nodes[edge.target]
        if source.type == "end":
            problems.append(make_problem("edge_from_end", node=source.label, node_id=source.id, **where))
            continue
        if target.type == "start":
            problems.append(make_problem("edge_into_start", id=edge.id, node_id=target.id, **where))
            continue
        if edge.port not in ports_of(source):
            problems.append(make_problem("invalid_port", node=source.label, port=edge.port, node_id=source.id, **where))
            continue
        if (edge.source, edge.port) in taken_ports:
            problems.append(
                make_problem("duplicate_port", node=source.label, port=edge.port, node_id=source.id, **where)
            )
            continue
        taken_ports.add((edge.source, edge.port))
        usable.append(edge)
    return usable


def _check_start(nodes: dict[str, Node], edges: list[Edge], problems: list[Problem]) -> Node | None:
    starts = [node for node in nodes.values() if node.type == "start"]
    if not starts:
        problems.append(make_problem("no_start", path="nodes"))
        return None
    for extra in starts[1:]:
        problems.append(
            make_problem("multiple_starts", node=extra.label, node_id=extra.id, path=f"nodes[{extra.index}]")
        )
    start = starts[0]
    if not any(edge.source == start.id for edge in edges):
        problems.append(
            make_problem("start_not_connected", node=start.label, node_id=start.id, path=f"nodes[{start.index}]")
        )
    return start if len(starts) == 1 else None


def _check_exits(nodes: dict[str, Node], edges: list[Edge], problems: list[Problem]) -> None:
    used = {(edge.source, edge.port) for edge in edges}
    for node in nodes.values():
        where = {"node_id": node.id, "path": f"nodes[{node.index}]"}
        if node.type == "condition":
            for port in ("true", "false"):
                if (node.id, port) not in used:
                    problems.append(make_problem(f"missing_{port}_edge", node=node.label, **where))
        elif node.type == "switch":
            for branch in branch_ids(node):
                if (node.id, branch) not in used:
                    problems.append(
                        make_problem(
                            "branch_not_connected", node=node.label, branch=_branch_label(node, branch), **where
                        )
                    )
            if (node.id, "default") not in used:
                problems.append(make_problem("default_not_connected", node=node.label, **where))


def _branch_label(node: Node, branch_id: str) -> str:
    for branch in node.config.get("branches") or []:
        if isinstance(branch, dict) and branch.get("id") == branch_id and isinstance(branch.get("label"), str):
            return f"{branch['label']}（{branch_id}）" if branch["label"] else branch_id
    return branch_id


def _check_cycles(nodes: dict[str, Node], edges: list[Edge], problems: list[Problem]) -> None:
    """Report each connection that closes a loop (iterative DFS: documents may be long chains)."""
    outgoing: dict[str, list[Edge]] = {node_id: [] for node_id in nodes}
    for edge in edges:
        outgoing[edge.source].append(edge)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in nodes:
        if root in state:
            continue
        path: list[str] = [root]
        stack: list[Iterator[Edge]] = [iter(outgoing[root])]
        state[root] = 1
        while stack:
            following = next(stack[-1], None)
            if following is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            edge = following
            if state.get(edge.target) == 1:
                loop = [*path[path.index(edge.target) :], edge.target]
                problems.append(
                    make_problem(
                        "cycle",
                        cycle=" → ".join(nodes[n].label for n in loop),
                        node_id=edge.source,
                        edge_id=edge.id,
                        path=f"edges[{edge.index}]",
                    )
                )
            elif edge.target not in state:
                state[edge.target] = 1
                path.append(edge.target)
                stack.append(iter(outgoing[edge.target]))


def _check_reachable(start: Node, nodes: dict[str, Node], edges: list[Edge], problems: list[Problem]) -> None:
    outgoing: dict[str, list[str]] = {}
    for edge in edges:
        outgoing.setdefault(edge.source, []).append(edge.target)
    seen = {start.id}
    pending = [start.id]
    while pending:
        for target in outgoing.get(pending.pop(), []):
            if target not in seen:
                seen.add(target)
                pending.append(target)
    for node in nodes.values():
        if node.id not in seen:
            problems.append(
                make_problem("unreachable_node", node=node.label, node_id=node.id, path=f"nodes[{node.index}]")
            )


# ---------------------------------------------------------------------------------------------- config


def _check_config(node: Node, trigger: str, problems: list[Problem]) -> None:
    base = f"nodes[{node.index}].config"
    if node.type == "condition":
        if "logic" not in node.config or node.config["logic"] is None:
            problems.append(make_problem("missing_logic", node=node.label, node_id=node.id, path=f"{base}.logic"))
        else:
            problems.extend(check_expression(node.config["logic"], node, f"{base}.logic", trigger))
    elif node.type == "switch":
        _check_switch(node, base, trigger, problems)
    elif node.type == "action":
        _check_action(node, base, trigger, problems)


def _check_switch(node: Node, base: str, trigger: str, problems: list[Problem]) -> None:
    branches = node.config.get("branches")
    where = {"node_id": node.id}
    if branches is None or branches == []:
        problems.append(make_problem("no_branches", node=node.label, path=f"{base}.branches", **where))
        return
    if not isinstance(branches, list):
        problems.append(
            make_problem(
                "wrong_type",
                field=f"{base}.branches",
                expected_zh="列表",
                expected_en="an array",
                path=f"{base}.branches",
                **where,
            )
        )
        return
    seen: set[str] = set()
    for index, branch in enumerate(branches):
        path = f"{base}.branches[{index}]"
        if not isinstance(branch, dict):
            problems.append(
                make_problem("wrong_type", field=path, expected_zh="对象", expected_en="an object", path=path, **where)
            )
            continue
        branch_id = branch.get("id")
        if not isinstance(branch_id, str) or not branch_id or branch_id == "default":
            problems.append(
                make_problem(
                    "wrong_type",
                    field=f"{path}.id",
                    expected_zh="非空文字（不能是 default）",
                    expected_en='non-empty text other than "default"',
                    path=f"{path}.id",
                    **where,
                )
            )
        elif branch_id in seen:
            problems.append(
                make_problem("duplicate_branch_id", node=node.label, branch=branch_id, path=f"{path}.id", **where)
            )
        else:
            seen.add(branch_id)
        if "label" in branch and not isinstance(branch["label"], str):
            problems.append(
                make_problem(
                    "wrong_type",
                    field=f"{path}.label",
                    expected_zh="文字",
                    expected_en="text",
                    path=f"{path}.label",
                    **where,
                )
            )
        if branch.get("logic") is None:
            problems.append(
                make_problem("missing_logic", node=f"{node.label} / {branch_id}", path=f"{path}.logic", **where)
            )
        else:
            problems.extend(check_expression(branch["logic"], node, f"{path}.logic", trigger))


def _check_action(node: Node, base: str, trigger: str, problems: list[Problem]) -> None:
    where = {"node_id": node.id}
    action = node.config.get("action")
    if action is None or action == "":
        problems.append(make_problem("missing_action", node=node.label, path=f"{base}.action", **where))
        return
    if not is_known_action(action):
        problems.append(
            make_problem("unknown_action", node=node.label, value=str(action), path=f"{base}.action", **where)
        )
        return
    if not is_action_for(action, trigger):
        problems.append(
            make_problem("action_not_for_trigger", node=node.label, value=str(action), path=f"{base}.action", **where)
        )
        return
    params = node.config.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        problems.append(
            make_problem(
                "wrong_type",
                field=f"{base}.params",
                expected_zh="对象",
                expected_en="an object",
                path=f"{base}.params",
                **where,
            )
        )
        return
    dynamic = set()
    for name, value in params.items():
        expression_problems = check_expression(value, node, f"{base}.params.{name}", trigger)
        problems.extend(expression_problems)
        if contains_expression(value):
            dynamic.add(name)
    for issue in check_params(action, params, dynamic=frozenset(dynamic)):
        problems.append(
            make_problem(
                issue.code,
                action=action,
                param=issue.param,
                params=issue.param,
                detail_zh=issue.detail_zh,
                detail_en=issue.detail_en,
                path=f"{base}.params.{issue.param}",
                **where,
            )
        )


def contains_expression(value: Any) -> bool:
    """True if a parameter value holds JSON Logic anywhere (so it is only known at run time)."""
    if is_expression(value):
        return True
    if isinstance(value, list):
        return any(contains_expression(item) for item in value)
    return False


# ------------------------------------------------------------------------------------------ expressions


def check_expression(logic: Any, node: Node, path: str, trigger: str | None = None) -> list[Problem]:
    """Problems of one JSON Logic expression: operators, ``var`` paths (against the context of the flow's
    trigger, the order context by default), argument shapes and depth."""
    problems: list[Problem] = []
    _walk(logic, node, path, relative=False, depth=0, problems=problems, trigger=trigger)
    return problems


def _walk(
    logic: Any, node: Node, path: str, *, relative: bool, depth: int, problems: list[Problem], trigger: str | None
) -> bool:
    """Check one expression node; returns False once the depth limit is hit, to stop the walk."""
    if depth > MAX_EXPRESSION_DEPTH:
        problems.append(
            make_problem("expression_too_deep", node=node.label, limit=MAX_EXPRESSION_DEPTH, node_id=node.id, path=path)
        )
        return False
    if isinstance(logic, list):
        # Scalars need no check: skipping them keeps a long literal array (up to the document size) cheap.
        return all(
            _walk(item, node, f"{path}[{i}]", relative=relative, depth=depth + 1, problems=problems, trigger=trigger)
            for i, item in enumerate(logic)
            if isinstance(item, dict | list)
        )
    if not is_expression(logic):
        return True
    ((operator, raw),) = logic.items()
    where = {"node_id": node.id, "path": f"{path}.{operator}"}
    if operator not in ALLOWED_OPERATORS:
        problems.append(make_problem("operator_not_allowed", node=node.label, operator=str(operator), **where))
    elif operator == "preserve":
        return True  # its argument is data, never evaluated
    else:
        _check_operator(operator, raw, node, relative, problems, where, trigger)
    args = raw if isinstance(raw, list) else [raw]
    for index, arg in enumerate(args):
        if not isinstance(arg, dict | list):
            continue
        inner_relative = relative or _is_relative_argument(operator, index)
        if not _walk(
            arg,
            node,
            f"{path}.{operator}[{index}]",
            relative=inner_relative,
            depth=depth + 1,
            problems=problems,
            trigger=trigger,
        ):
            return False
    return True


def _is_relative_argument(operator: str, index: int) -> bool:
    # The per-item logic of map/filter/... reads the item; try's fallbacks read the caught error.
    if operator in ITERATING_OPERATORS:
        return index == 1
    return operator == "try" and index >= 1


def _check_operator(
    operator: str,
    raw: Any,
    node: Node,
    relative: bool,
    problems: list[Problem],
    where: dict[str, Any],
    trigger: str | None,
) -> None:
    def bad_args(detail_zh: str, detail_en: str) -> None:
        problems.append(
            make_problem(
                "bad_operator_args",
                node=node.label,
                operator=operator,
                detail_zh=detail_zh,
                detail_en=detail_en,
                **where,
            )
        )

    if operator in _NEEDS_ARRAY and not isinstance(raw, list):
        bad_args("参数应写成列表", "arguments must be written as an array")
        return
    if operator in _COMPARISONS and len(raw) < 2:
        bad_args("比较至少需要两个值", "a comparison needs at least two values")
    if operator in ITERATING_OPERATORS and len(raw) < 2:
        bad_args("需要一个列表和一条针对每一项的规则", "needs an array and a rule for each item")
    if operator in DOMAIN_OPERATIONS:
        operation = DOMAIN_OPERATIONS[operator]
        count = len(raw) if isinstance(raw, list) else 1
        if not operation.min_args <= count <= operation.max_args:
            bad_args(
                f"需要 {operation.min_args}–{operation.max_args} 个参数",
                f"takes {operation.min_args} to {operation.max_args} arguments",
            )
        if operator == "regex_match" and isinstance(raw, list) and raw and isinstance(raw[0], str):
            reason = regex_problem(raw[0])
            if reason is not None:
                problems.append(
                    make_problem("bad_regex", node=node.label, detail_zh=reason[0], detail_en=reason[1], **where)
                )
    if not relative:
        for var_path in _static_paths(operator, raw):
            if not is_known_path(var_path, trigger):
                data_zh, data_en = (
                    ("售后单", "after-sales case") if context_of_trigger(trigger) == "return" else ("订单", "order")
                )
                problems.append(
                    make_problem(
                        "unknown_var", node=node.label, var=var_path, data_zh=data_zh, data_en=data_en, **where
                    )
                )


def _static_paths(operator: str, raw: Any) -> list[str]:
    """The context paths an operator reads, where they are written literally (dynamic ones are skipped)."""
    args = raw if isinstance(raw, list) else [raw]
    if operator == "var":
        if not args or args[0] is None:
            return []
        first = args[0]
        return [str(first)] if isinstance(first, str | int) and not isinstance(first, bool) else []
    if operator in ("val", "exists"):
        if any(isinstance(key, dict | list) for key in args):
            return []  # computed keys or a scope climb: not checkable against the root schema
        return [".".join(str(key) for key in args)] if args else []
    if operator == "missing":
        names = args[0] if len(args) == 1 and isinstance(args[0], list) else args
        return [name for name in names if isinstance(name, str)]
    if operator == "missing_some" and len(args) == 2 and isinstance(args[1], list):
        return [name for name in args[1] if isinstance(name, str)]
    return []

"""The flow document model and its structural reading.

A document is JSON as the editor saves it::

    {"schema": 1, "name": "...", "trigger": "order.received",
     "nodes": [{"id", "type", "name", "position": {"x", "y"}, "config": {...}}],
     "edges": [{"id", "source", "target", "port"}]}

:func:`read_document` never raises: whatever it is given, it returns the nodes and edges it could read and a
Problem for everything it could not, so the editor can show every mistake at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

from ruleflows.coercion import is_number
from ruleflows.problems import Problem, make_problem

SCHEMA_VERSION: Final = 1
NODE_TYPES: Final = ("start", "condition", "switch", "action", "end")
#: Flows on an order: the order context (``order``, its ``features``, the ``decisions`` so far).
ORDER_TRIGGERS: Final = ("order.received", "order.paid", "order.updated")
#: Flows on an after-sales case (售后申请) when it opens: the case context (``case``, the buyer's history as
#: ``features``, the case's ``decisions``) and only the after-sales actions.
RETURN_TRIGGERS: Final = ("return.requested",)
TRIGGERS: Final = (*ORDER_TRIGGERS, *RETURN_TRIGGERS)

MAX_DOCUMENT_BYTES: Final = 256 * 1024
MAX_NODES: Final = 200
MAX_EDGES: Final = 400
MAX_EXPRESSION_DEPTH: Final = 20
#: Arrays and objects inside one another, counted from the document itself. A flow needs about 50 (an
#: expression 20 deep inside a node's config); far deeper input would only reach Python's recursion limit.
MAX_DOCUMENT_DEPTH: Final = 100

_TYPE_NAMES: Final = {
    "object": ("对象", "an object"),
    "array": ("列表", "an array"),
    "string": ("文字", "text"),
    "id": ("非空文字", "non-empty text"),
    "number": ("数字", "a number"),
    "integer": ("整数", "a whole number"),
}


@dataclass(frozen=True, slots=True)
class Node:
    """A step of the flow: start, condition, switch, action or end."""

    id: str
    type: str
    name: str
    config: dict[str, Any]
    index: int  # position in the document's node list, for problem paths

    @property
    def label(self) -> str:
        """How messages name the node: the user's name for it, with the id when they differ."""
        return f"{self.name}（{self.id}）" if self.name and self.name != self.id else self.id


@dataclass(frozen=True, slots=True)
class Edge:
    """A connection from one node's exit (``port``) to another node."""

    id: str
    source: str
    target: str
    port: str
    index: int


@dataclass(slots=True)
class Document:
    """What could be read of a flow document, plus the problems met reading it."""

    name: str = ""
    trigger: str = ""
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    readable: bool = True  # False when the document is not worth checking further (not an object, too big)


_CONTAINERS: Final = (dict, list, tuple)


def nesting_depth(value: Any, limit: int) -> int:
    """How deeply arrays and objects nest in ``value`` (a scalar is 0), counting no further than ``limit + 1``.

    Level by level rather than recursively, so it is safe on input nested far past Python's recursion limit.
    """
    depth = 0
    level = [value] if isinstance(value, _CONTAINERS) else []
    while level:
        depth += 1
        if depth > limit:
            break
        below = []
        for item in level:
            for child in item.values() if isinstance(item, dict) else item:
                if isinstance(child, _CONTAINERS):
                    below.append(child)
        level = below
    return depth


def document_size(doc: Any) -> int | None:
    """Size of the document as compact UTF-8 JSON, or None if it is not JSON at all."""
    try:
        text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return None
    return len(text.encode("utf-8"))


def _wrong_type(field_name: str, expected: str, **where: Any) -> Problem:
    zh, en = _TYPE_NAMES[expected]
    return make_problem("wrong_type", field=field_name, expected_zh=zh, expected_en=en, **where)


def read_document(doc: Any) -> Document:
    """Read a flow document's structure; every structural problem is returned, nothing is raised."""
    result = Document()
    problems = result.problems
    if not isinstance(doc, dict):
        problems.append(make_problem("document_not_object"))
        result.readable = False
        return result
    if nesting_depth(doc, MAX_DOCUMENT_DEPTH) > MAX_DOCUMENT_DEPTH:
        problems.append(make_problem("document_too_deep", limit=MAX_DOCUMENT_DEPTH))
        result.readable = False
        return result
    size = document_size(doc)
    if size is None:
        problems.append(make_problem("not_json", detail="NaN, Infinity, non-string keys or non-JSON values"))
        result.readable = False
        return result
    if size > MAX_DOCUMENT_BYTES:
        problems.append(make_problem("document_too_large", size=size, limit=MAX_DOCUMENT_BYTES))
        result.readable = False
        return result

    if "schema" not in doc:
        problems.append(make_problem("missing_field", field="schema", path="schema"))
    elif doc["schema"] != SCHEMA_VERSION or isinstance(doc["schema"], bool):
        problems.append(make_problem("unsupported_schema", value=json.dumps(doc["schema"]), path="schema"))

    for key in ("name", "trigger"):
        if key not in doc:
            problems.append(make_problem("missing_field", field=key, path=key))
        elif not isinstance(doc[key], str):
            problems.append(_wrong_type(key, "string", path=key))
    result.name = doc["name"] if isinstance(doc.get("name"), str) else ""
    if isinstance(doc.get("trigger"), str):
        result.trigger = doc["trigger"]
        if result.trigger not in TRIGGERS:
            problems.append(make_problem("unknown_trigger", value=result.trigger, path="trigger"))

    for key in ("nodes", "edges"):
        if key not in doc:
            problems.append(make_problem("missing_field", field=key, path=key))
        elif not isinstance(doc[key], list):
            problems.append(_wrong_type(key, "array", path=key))
    raw_nodes: list[Any] = doc["nodes"] if isinstance(doc.get("nodes"), list) else []
    raw_edges: list[Any] = doc["edges"] if isinstance(doc.get("edges"), list) else []
    if len(raw_nodes) > MAX_NODES:
        problems.append(make_problem("too_many_nodes", count=len(raw_nodes), limit=MAX_NODES, path="nodes"))
    if len(raw_edges) > MAX_EDGES:
        problems.append(make_problem("too_many_edges", count=len(raw_edges), limit=MAX_EDGES, path="edges"))

    for index, raw in enumerate(raw_nodes):
        node = _read_node(raw, index, problems)
        if node is not None:
            result.nodes.append(node)
    for index, raw in enumerate(raw_edges):
        edge = _read_edge(raw, index, problems)
        if edge is not None:
            result.edges.append(edge)
    return result


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _read_node(raw: Any, index: int, problems: list[Problem]) -> Node | None:
    path = f"nodes[{index}]"
    if not isinstance(raw, dict):
        problems.append(_wrong_type(path, "object", path=path))
        return None
    node_id = raw.get("id")
    if "id" not in raw:
        problems.append(make_problem("missing_field", field=f"{path}.id", path=f"{path}.id"))
        return None
    if not _is_id(node_id):
        problems.append(_wrong_type(f"{path}.id", "id", path=f"{path}.id"))
        return None
    where = {"node_id": node_id}
    name = raw.get("name", "")
    if not isinstance(name, str):
        problems.append(_wrong_type(f"{path}.name", "string", path=f"{path}.name", **where))
        name = ""
    label = f"{name}（{node_id}）" if name and name != node_id else node_id
    ok = True
    node_type = raw.get("type")
    if "type" not in raw:
        problems.append(make_problem("missing_field", field=f"{path}.type", path=f"{path}.type", **where))
        ok = False
    elif node_type not in NODE_TYPES:
        problems.append(
            make_problem(
                "unknown_node_type",
                node=label,
                value=json.dumps(node_type, ensure_ascii=False),
                path=f"{path}.type",
                **where,
            )
        )
        ok = False
    position = raw.get("position")
    if position is not None and not (
        isinstance(position, dict) and all(is_number(position.get(axis)) for axis in ("x", "y"))
    ):
        problems.append(
            make_problem(
                "wrong_type",
                field=f"{path}.position",
                expected_zh="含数字 x、y 的对象",
                expected_en="an object with numeric x and y",
                path=f"{path}.position",
                **where,
            )
        )
    config = raw.get("config", {})
    if config is None:
        config = {}
    if not isinstance(config, dict):
        problems.append(_wrong_type(f"{path}.config", "object", path=f"{path}.config", **where))
        config = {}
    if not ok:
        return None
    return Node(id=str(node_id), type=str(node_type), name=name, config=config, index=index)


def _read_edge(raw: Any, index: int, problems: list[Problem]) -> Edge | None:
    path = f"edges[{index}]"
    if not isinstance(raw, dict):
        problems.append(_wrong_type(path, "object", path=path))
        return None
    edge_id = raw.get("id") if _is_id(raw.get("id")) else None
    where = {"edge_id": edge_id}
    ok = True
    for key in ("id", "source", "target", "port"):
        if key not in raw:
            problems.append(make_problem("missing_field", field=f"{path}.{key}", path=f"{path}.{key}", **where))
            ok = False
        elif not _is_id(raw[key]):
            problems.append(_wrong_type(f"{path}.{key}", "id", path=f"{path}.{key}", **where))
            ok = False
    if not ok:
        return None
    return Edge(id=raw["id"], source=raw["source"], target=raw["target"], port=raw["port"], index=index)

"""Validation returns every problem at once, each with a code, the node or edge, and zh/en messages."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from ruleflows import isolated, validate, without_bidi_controls
from ruleflows.document import MAX_DOCUMENT_BYTES, MAX_EDGES, MAX_EXPRESSION_DEPTH, MAX_NODES
from ruleflows.problems import MESSAGES

Doc = dict[str, Any]


def base() -> Doc:
    """start -> condition (true: tag action, false: switch) ; switch vip -> priority action, default -> end."""
    return {
        "schema": 1,
        "name": "测试流程",
        "trigger": "order.received",
        "nodes": [
            {"id": "s", "type": "start", "name": "开始", "position": {"x": 0, "y": 0}},
            {
                "id": "c",
                "type": "condition",
                "name": "大额订单",
                "position": {"x": 1, "y": 0},
                "config": {"logic": {">=": [{"var": "order.amounts.paid_fen"}, 100000]}},
            },
            {
                "id": "a1",
                "type": "action",
                "name": "加标签",
                "config": {"action": "add_tag", "params": {"tag": "大额"}},
            },
            {
                "id": "sw",
                "type": "switch",
                "name": "按渠道",
                "config": {
                    "branches": [{"id": "tm", "label": "天猫", "logic": {"==": [{"var": "order.channel"}, "tmall"]}}]
                },
            },
            {
                "id": "a2",
                "type": "action",
                "name": "优先",
                "config": {"action": "set_priority", "params": {"level": "high"}},
            },
            {"id": "e", "type": "end", "name": "结束"},
        ],
        "edges": [
            {"id": "e1", "source": "s", "target": "c", "port": "next"},
            {"id": "e2", "source": "c", "target": "a1", "port": "true"},
            {"id": "e3", "source": "c", "target": "sw", "port": "false"},
            {"id": "e4", "source": "a1", "target": "e", "port": "next"},
            {"id": "e5", "source": "sw", "target": "a2", "port": "tm"},
            {"id": "e6", "source": "sw", "target": "e", "port": "default"},
            {"id": "e7", "source": "a2", "target": "e", "port": "next"},
        ],
    }


def node(doc: Doc, node_id: str) -> dict[str, Any]:
    return next(n for n in doc["nodes"] if n["id"] == node_id)


def edge(doc: Doc, edge_id: str) -> dict[str, Any]:
    return next(e for e in doc["edges"] if e["id"] == edge_id)


def drop_edge(doc: Doc, edge_id: str) -> None:
    doc["edges"] = [e for e in doc["edges"] if e["id"] != edge_id]


def set_logic(logic: Any) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        node(doc, "c")["config"]["logic"] = logic

    return change


def set_params(params: Any) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        node(doc, "a1")["config"]["params"] = params

    return change


def deep(levels: int) -> Any:
    logic: Any = {"var": "order.channel"}
    for _ in range(levels):
        logic = {"!": [logic]}
    return logic


# (code, change to the base document, node_id, edge_id) — every code of MESSAGES must appear here.
CASES: list[tuple[str, Callable[[Doc], Any], str | None, str | None]] = [
    ("missing_field", lambda d: d.pop("edges"), None, None),
    ("wrong_type", lambda d: d.update(nodes={"s": 1}), None, None),
    ("unsupported_schema", lambda d: d.update(schema=2), None, None),
    ("unknown_trigger", lambda d: d.update(trigger="order.exploded"), None, None),
    (
        "too_many_nodes",
        lambda d: d["nodes"].extend({"id": f"x{i}", "type": "end"} for i in range(MAX_NODES)),
        None,
        None,
    ),
    (
        "too_many_edges",
        lambda d: d["edges"].extend(
            {"id": f"x{i}", "source": "nope", "target": "e", "port": "next"} for i in range(MAX_EDGES)
        ),
        None,
        None,
    ),
    ("duplicate_node_id", lambda d: d["nodes"].append({"id": "e", "type": "end"}), "e", None),
    (
        "duplicate_edge_id",
        lambda d: d["edges"].append({"id": "e1", "source": "s", "target": "e", "port": "x"}),
        None,
        "e1",
    ),
    ("unknown_node_type", lambda d: node(d, "a2").update(type="loop"), "a2", None),
    ("no_start", lambda d: node(d, "s").update(type="end"), None, None),
    ("multiple_starts", lambda d: d["nodes"].append({"id": "s2", "type": "start"}), "s2", None),
    ("start_not_connected", lambda d: drop_edge(d, "e1"), "s", None),
    ("dangling_edge", lambda d: edge(d, "e4").update(target="ghost"), None, "e4"),
    (
        "duplicate_port",
        lambda d: d["edges"].append({"id": "e9", "source": "c", "target": "e", "port": "true"}),
        "c",
        "e9",
    ),
    ("invalid_port", lambda d: edge(d, "e2").update(port="next"), "c", "e2"),
    ("edge_into_start", lambda d: edge(d, "e4").update(target="s"), "s", "e4"),
    (
        "edge_from_end",
        lambda d: d["edges"].append({"id": "e9", "source": "e", "target": "a1", "port": "next"}),
        "e",
        "e9",
    ),
    ("cycle", lambda d: edge(d, "e7").update(target="c"), "a2", "e7"),
    ("missing_true_edge", lambda d: drop_edge(d, "e2"), "c", None),
    ("missing_false_edge", lambda d: drop_edge(d, "e3"), "c", None),
    ("branch_not_connected", lambda d: drop_edge(d, "e5"), "sw", None),
    ("default_not_connected", lambda d: drop_edge(d, "e6"), "sw", None),
    ("no_branches", lambda d: node(d, "sw")["config"].update(branches=[]), "sw", None),
    (
        "duplicate_branch_id",
        lambda d: node(d, "sw")["config"]["branches"].append({"id": "tm", "logic": True}),
        "sw",
        None,
    ),
    ("unreachable_node", lambda d: d["nodes"].append({"id": "lonely", "type": "end"}), "lonely", None),
    ("missing_logic", lambda d: node(d, "c")["config"].pop("logic"), "c", None),
    ("operator_not_allowed", set_logic({"method": [{"var": ""}, "__class__"]}), "c", None),
    ("bad_operator_args", set_logic({"<": [1]}), "c", None),
    ("unknown_var", set_logic({"==": [{"var": "order.receiver.phone_cipher"}, "x"]}), "c", None),
    ("bad_regex", set_logic({"regex_match": [r"(a)\1", {"var": "order.buyer_message"}]}), "c", None),
    ("expression_too_deep", set_logic(deep(MAX_EXPRESSION_DEPTH + 1)), "c", None),
    ("unknown_action", lambda d: node(d, "a1")["config"].update(action="launch_rocket"), "a1", None),
    (
        "action_not_for_trigger",
        lambda d: node(d, "a1")["config"].update(action="approve_case", params={}),
        "a1",
        None,
    ),
    ("missing_action", lambda d: node(d, "a1")["config"].pop("action"), "a1", None),
    ("missing_param", set_params({}), "a1", None),
    ("unknown_param", set_params({"tag": "x", "colour": "red"}), "a1", None),
    ("bad_param", set_params({"tag": 42}), "a1", None),
    (
        "conflicting_params",
        lambda d: node(d, "a2")["config"].update(action="assign_carrier", params={"code": "SF", "strategy": "fastest"}),
        "a2",
        None,
    ),
]


def nested_lists(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


WHOLE_DOCUMENT_CASES = {
    "document_not_object": 42,
    "not_json": {"x": float("nan")},
    "document_too_large": {"pad": "x" * (MAX_DOCUMENT_BYTES + 1)},
    "document_too_deep": {"nodes": nested_lists(5000)},
}


def test_the_base_document_is_valid() -> None:
    assert validate(base()) == []


def test_every_problem_code_has_a_test() -> None:
    assert {code for code, *_ in CASES} | WHOLE_DOCUMENT_CASES.keys() == set(MESSAGES)


@pytest.mark.parametrize(("code", "change", "node_id", "edge_id"), CASES, ids=[case[0] for case in CASES])
def test_it_reports(code: str, change: Callable[[Doc], Any], node_id: str | None, edge_id: str | None) -> None:
    doc = base()
    change(doc)
    matching = [p for p in validate(doc) if p.code == code]
    assert matching, f"{code} not reported"
    problem = matching[0]
    if node_id is not None:
        assert problem.node_id == node_id
    if edge_id is not None:
        assert problem.edge_id == edge_id
    assert problem.message_zh and problem.message_en
    assert "{" not in problem.message_zh + problem.message_en


@pytest.mark.parametrize("code", list(WHOLE_DOCUMENT_CASES))
def test_it_reports_unusable_documents(code: str) -> None:
    assert [p.code for p in validate(WHOLE_DOCUMENT_CASES[code])] == [code]


def test_it_reports_every_problem_at_once() -> None:
    doc = base()
    drop_edge(doc, "e3")
    node(doc, "a1")["config"]["action"] = "launch_rocket"
    node(doc, "a2")["config"]["params"] = {"level": "whenever"}
    doc["nodes"].append({"id": "lonely", "type": "end"})
    found = sorted((p.code, p.node_id) for p in validate(doc))
    assert found == [
        ("bad_param", "a2"),
        ("missing_false_edge", "c"),
        ("unknown_action", "a1"),
        ("unreachable_node", "a2"),
        ("unreachable_node", "lonely"),
        ("unreachable_node", "sw"),
    ]


def test_messages_name_the_node_as_the_user_named_it() -> None:
    doc = base()
    edge(doc, "e2").update(target="e")
    (problem,) = [p for p in validate(doc) if p.code == "unreachable_node"]
    assert "加标签" in problem.message_zh
    drop_edge(doc, "e2")
    problem = next(p for p in validate(doc) if p.code == "missing_true_edge")
    assert "大额订单" in problem.message_zh and "大额订单" in problem.message_en
    assert problem.to_dict()["node_id"] == "c"


@pytest.mark.parametrize(
    "logic",
    [
        {"==": [{"var": "order.lines.0.sku"}, "A"]},
        {"some": [{"var": "order.lines"}, {"==": [{"var": "category"}, "3C"]}]},
        {"all": [{"var": "order.lines"}, {">": [{"var": "qty"}, 0]}]},
        {"reduce": [{"var": "order.lines"}, {"+": [{"var": "accumulator"}, {"var": "current.qty"}]}, 0]},
        {">": [{"var": "features.stock_by_warehouse.SH01"}, 0]},
        {"!": {"missing": ["order.receiver.name", "order.receiver.address"]}},
        {"==": [{"val": ["order", "receiver", "province"]}, "上海"]},
        {"map": [{"var": "order.lines"}, {"val": [[2], "order", "channel"]}]},
        {"try": [{"/": [1, 0]}, {"==": [{"var": "type"}, "NaN"]}]},
        {"==": [{"var": {"cat": ["order.", "channel"]}}, "jd"]},
        {"in": ["VIP", {"var": "order.tags"}]},
        {"==": [{"var": ""}, {}]},
    ],
)
def test_it_does_not_report_valid_var_paths(logic: Any) -> None:
    doc = base()
    node(doc, "c")["config"]["logic"] = logic
    assert validate(doc) == []


def test_it_checks_var_paths_in_action_params() -> None:
    doc = base()
    node(doc, "a1")["config"]["params"] = {"tag": {"cat": ["渠道-", {"var": "order.chanel"}]}}
    assert [p.code for p in validate(doc)] == ["unknown_var"]


def test_a_computed_param_is_not_type_checked_at_save_time() -> None:
    doc = base()
    node(doc, "a1")["config"]["params"] = {"tag": {"var": "order.channel"}}
    assert validate(doc) == []


def test_the_builder_state_is_never_trusted_or_checked() -> None:
    doc = base()
    node(doc, "c")["config"]["builder"] = {"method": "anything the editor stored"}
    assert validate(doc) == []


@pytest.mark.parametrize(
    "doc",
    [
        None,
        [],
        "flow",
        0,
        {},
        {"nodes": None, "edges": None},
        {"nodes": [1, "x", None], "edges": [[], 3]},
        {"schema": 1, "name": 3, "trigger": [], "nodes": [{"id": 5}, {"type": "start"}], "edges": [{"id": "x"}]},
        {"schema": True, "nodes": [{"id": "s", "type": "start", "config": "bad", "position": [1]}], "edges": []},
        {"schema": 1, "nodes": [{"id": "w", "type": "switch", "config": {"branches": [1, {"id": 2}]}}], "edges": []},
        {"schema": 1, "nodes": [{"id": "a", "type": "action", "config": {"action": [1], "params": []}}], "edges": []},
    ],
)
def test_malformed_documents_give_problems_not_exceptions(doc: Any) -> None:
    problems = validate(copy.deepcopy(doc))
    assert problems
    assert all(p.message_zh and p.message_en for p in problems)


def test_a_reversing_name_is_isolated_so_the_rest_of_the_problem_reads_as_written() -> None:
    doc = base()
    edge(doc, "e2").update(target="e")
    node(doc, "a1")["name"] = "\u202e加标签"  # saved before bidi controls were taken out of names
    (problem,) = [p for p in validate(doc) if p.code == "unreachable_node"]
    assert problem.message_zh == "节点「\u2068\u202e加标签（a1）\u2069」从开始节点无法到达。"
    assert problem.message_en.endswith('\u2069" cannot be reached from the start.')


def test_a_name_without_bidi_controls_is_named_as_it_is() -> None:
    assert isolated("华东 3C？") == "华东 3C？"
    assert without_bidi_controls("\u200f华东\u202e3C\u2069") == "华东3C"

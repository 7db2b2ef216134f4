"""Property tests: random valid flows never raise out of run and give the same result twice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ruleflows import ALLOWED_OPERATORS, evaluate, run, validate
from ruleflows.errors import RuleError

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
STATUSES = {"ok", "failed", "step_limit"}

CONDITIONS = [
    {">": [{"var": "order.amounts.paid_fen"}, 5000]},
    {"==": [{"region_of": {"var": "order.receiver.province"}}, "华东"]},
    {"mobile_cn": {"var": "order.receiver.phone_masked"}},
    {"some": [{"var": "order.lines"}, {"==": [{"var": "category"}, "3C"]}]},
    {"<": [0, {"lines_sum": [{"var": "order.lines"}, "qty"]}, 10]},
    {"/": [100, {"var": "order.amounts.discount_fen"}]},  # fails when the discount is 0
    {">": [{"hours_since": {"var": "order.paid_at"}}, 24]},
    {"==": [{"var": "decisions.warehouse"}, "SH01"]},
    {"in": ["VIP", {"var": "order.tags"}]},
    {"regex_match": ["发票", {"var": "order.buyer_message"}]},
    {"!": {"missing": ["order.receiver.name", "order.receiver.address"]}},
    {"??": [{"var": "features.is_urgent"}, False]},
]
ACTIONS = [
    ("approve", {}),
    ("hold_for_review", {"reason": "人工复核"}),
    ("assign_warehouse", {"code": "SH01"}),
    ("assign_warehouse", {"strategy": "nearest"}),
    ("assign_carrier", {"strategy": "cheapest", "candidates": ["ZTO", "YTO"]}),
    ("add_gift", {"sku": "GIFT-1", "qty": 1}),
    ("add_tag", {"tag": {"cat": ["渠道-", {"var": "order.channel"}]}}),
    ("set_priority", {"level": {"if": [{"var": "features.is_urgent"}, "urgent", "normal"]}}),
    ("mark_presale", {"balance_due_at": {"var": "order.presale.balance_due_at"}}),  # fails when null
    ("generate_documents", {"kinds": ["outbound_order", "pick_list"]}),
]


@st.composite
def flows(
    draw: st.DrawFn,
    conditions: st.SearchStrategy[Any] = st.sampled_from(CONDITIONS),
    actions: st.SearchStrategy[tuple[str, dict[str, Any]]] = st.sampled_from(ACTIONS),
    *,
    dangling: bool = False,
) -> dict[str, Any]:
    """An acyclic flow: every exit leads to a later node (with ``dangling``, some lead nowhere and end the
    run); unreachable nodes are then dropped."""
    count = draw(st.integers(min_value=2, max_value=14))
    kinds = [
        "start",
        *draw(
            st.lists(
                st.sampled_from(["condition", "switch", "action", "action", "end"]),
                min_size=count - 2,
                max_size=count - 2,
            )
        ),
        "end",
    ]
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for index, kind in enumerate(kinds):
        node: dict[str, Any] = {"id": f"n{index}", "type": kind, "name": f"节点{index}"}
        ports: list[str] = []
        if kind == "condition":
            node["config"] = {"logic": draw(conditions)}
            ports = ["true", "false"]
        elif kind == "switch":
            size = draw(st.integers(min_value=1, max_value=3))
            node["config"] = {
                "branches": [{"id": f"b{k}", "label": f"分支{k}", "logic": draw(conditions)} for k in range(size)]
            }
            ports = [*(f"b{k}" for k in range(size)), "default"]
        elif kind == "action":
            name, params = draw(actions)
            node["config"] = {"action": name, "params": params}
            ports = ["next"] if draw(st.booleans()) or index == 0 else []
        elif kind == "start":
            ports = ["next"]
        nodes.append(node)
        for port in ports:
            if dangling and not draw(st.integers(0, 9)):
                continue
            target = draw(st.integers(min_value=index + 1, max_value=count - 1))
            edges.append({"id": f"e{index}-{port}", "source": node["id"], "target": f"n{target}", "port": port})
    reached = {"n0"}
    for edge in edges:  # edges are in source order and always point forward
        if edge["source"] in reached:
            reached.add(edge["target"])
    return {
        "schema": 1,
        "name": "随机流程",
        "trigger": "order.received",
        "nodes": [n for n in nodes if n["id"] in reached],
        "edges": [e for e in edges if e["source"] in reached],
    }


@st.composite
def contexts(draw: st.DrawFn) -> dict[str, Any]:
    lines = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "sku": st.sampled_from(["A", "B", "C"]),
                    "qty": st.integers(0, 5),
                    "category": st.sampled_from(["3C", "食品", "家居"]),
                    "bundle_of": st.none() | st.just("SET-1"),
                }
            ),
            max_size=4,
        )
    )
    order = {
        "channel": draw(st.sampled_from(["tmall", "jd", "douyin"])),
        "paid_at": draw(st.sampled_from(["2026-11-25T01:00:00Z", "2026-11-26T09:00:00+08:00", None, "bad"])),
        "receiver": {
            "name": draw(st.sampled_from(["王", ""])),
            "province": draw(st.sampled_from(["上海", "广东省", "新疆", "火星", None])),
            "phone_masked": draw(st.sampled_from(["138****5678", "123", None])),
            "address": "某路 1 号",
        },
        "amounts": {"paid_fen": draw(st.integers(0, 10**6)), "discount_fen": draw(st.sampled_from([0, 100]))},
        "lines": lines,
        "presale": {
            "is_presale": draw(st.booleans()),
            "balance_due_at": draw(st.none() | st.just("2026-12-01T00:00:00Z")),
        },
        "tags": draw(st.lists(st.sampled_from(["VIP", "new"]), max_size=2)),
        "buyer_message": draw(st.sampled_from(["", "要发票", None])),
    }
    return {"order": order, "features": {"is_urgent": draw(st.booleans() | st.none())}, "decisions": {}}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=flows(), context=contexts())
def test_random_valid_flows_run_without_raising_and_deterministically(
    doc: dict[str, Any], context: dict[str, Any]
) -> None:
    assert validate(doc) == []
    first = run(doc, context, now=NOW)
    second = run(doc, context, now=NOW)
    assert first.status in STATUSES
    assert first.path[0] == "n0"
    assert first.to_dict(timings=False) == second.to_dict(timings=False)
    if first.status == "failed":
        assert first.failed_node == first.path[-1]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=20,
)
expressions = st.recursive(
    json_values,
    lambda children: st.builds(
        lambda op, args: {op: args},
        st.sampled_from(sorted(ALLOWED_OPERATORS)),
        children | st.lists(children, max_size=4),
    ),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(logic=expressions, data=json_values)
def test_evaluate_raises_only_rule_errors(logic: Any, data: Any) -> None:
    try:
        evaluate(logic, data, now=NOW)
    except RuleError:
        pass


@settings(max_examples=200, deadline=None)
@given(
    doc=json_values | st.fixed_dictionaries({"schema": json_values, "nodes": json_values, "edges": json_values}),
    context=json_values,
)
def test_arbitrary_json_never_makes_validate_or_run_raise(doc: Any, context: Any) -> None:
    assert isinstance(validate(doc), list)
    assert run(doc, context, now=NOW).status in STATUSES

"""The no-code condition builder and the version diff: pure functions, no server."""

from __future__ import annotations

import pytest

import ruleflows
from app.domain.flows import builder, lifting
from app.domain.flows.samples import SAMPLE_ORDERS, context_from_payload, context_of, sample_by_key
from app.domain.flows.services import clean_document, diff_documents


def rule(field, op, value=None, **extra):
    return {"field": field, "op": op, "value": value, **extra}


def logic_of(*rules, join="and"):
    logic, problems = builder.to_logic({"join": join, "rules": list(rules)})
    assert problems == {}
    return logic


@pytest.mark.parametrize(
    ("typed", "fen"), [("49.9", 4990), ("¥1,299.00", 129900), ("0.01", 1), ("300", 30000), ("￥5", 500)]
)
def test_money_typed_in_yuan_becomes_fen(typed, fen):
    assert builder.yuan_to_fen(typed) == fen


@pytest.mark.parametrize("typed", ["abc", "1.234", "", "NaN", "1e20"])
def test_what_is_not_an_amount_is_refused(typed):
    with pytest.raises(builder.RuleProblem):
        builder.yuan_to_fen(typed)


@pytest.mark.parametrize("typed", ["1e15", "-1000000000000000", "1e400", "1e1000000"])
def test_a_number_too_large_for_any_order_is_refused_with_the_limit(typed):
    with pytest.raises(builder.RuleProblem, match="15"):
        builder.number(typed)
    _, problems = builder.to_logic({"join": "and", "rules": [rule("features.same_address_24h", "gt", typed)]})
    assert list(problems.values()) == ["请填写整数部分不超过 15 位的数字。"]


@pytest.mark.parametrize("typed", ["٣", "１２", "۱۰", "1_000", "Infinity", "²"])
def test_a_number_in_other_digits_than_ascii_is_refused_and_not_shown_on_the_node(typed):
    with pytest.raises(builder.RuleProblem):
        builder.number(typed)
    with pytest.raises(builder.RuleProblem):
        builder.yuan_to_fen(typed)
    tree = {"join": "and", "rules": [rule("features.same_address_24h", "gt", typed)]}
    logic, problems = builder.to_logic(tree)
    assert list(problems.values()) == ["请填写数字。"] and logic is None


def test_a_number_as_typed_keeps_its_value():
    assert [builder.number(t) for t in ("3", "2.5", "999999999999999", "-0.001")] == [3, 2.5, 999999999999999, -0.001]


def test_every_operator_offered_for_every_field_compiles_to_valid_json_logic():
    samples = {
        "province": ["上海"],
        "category": ["3C"],
        "enum": None,
        "list": "VIP",
        "phone": None,
        "string": "x",
        "money": "10",
        "number": "3",
        "boolean": None,
        "datetime": "2026-11-11T08:00",
    }
    for field in builder.PICKER_FIELDS:
        for op, _ in builder.operators_for(field.path):
            value = "48" if op in builder.HOURS_AGO else samples[field.kind]
            if field.kind == "enum":
                value = [field.values[0]] if op in builder.MULTI_VALUE else field.values[0]
            if op == "in_region":
                value = ["华东"]
            logic = logic_of(rule(field.path, op, value, value2="20"))
            doc = {
                "schema": 1,
                "name": "t",
                "trigger": "order.received",
                "edges": [],
                "nodes": [{"id": "c", "type": "condition", "config": {"logic": logic}}],
            }
            problems = [p for p in ruleflows.validate(doc) if p.path and p.path.startswith("nodes[0].config")]
            assert problems == [], (field.path, op, logic)
            for sample in SAMPLE_ORDERS:
                timed = op in ("before", "after", *builder.HOURS_AGO)  # a time the sample may not have
                ruleflows.evaluate(logic, context_of(sample), now=None) if not timed else None


def test_region_and_category_rules_decide_as_a_business_user_expects():
    logic = logic_of(
        rule("order.receiver.province", "in_region", ["华东"]), rule("order.lines[].category", "in", ["3C"])
    )
    decided = {s.key: ruleflows.evaluate(logic, context_of(s)) for s in SAMPLE_ORDERS}
    assert [key for key, yes in decided.items() if yes] == ["east_3c"]


def test_an_incomplete_rule_gives_no_logic_and_says_what_is_missing():
    logic, problems = builder.to_logic({"join": "and", "rules": [rule("order.amounts.paid_fen", "lt", "")]})
    assert logic is None
    assert set(problems) == {"0"}


def test_add_and_remove_commands_change_the_tree_where_asked():
    tree = builder.empty_group()
    tree = builder.apply_command(tree, "c", "add_group:c")
    tree = builder.apply_command(tree, "c", "add_rule:c.1")
    assert builder.count_rules(tree) == 3
    assert tree["rules"][1]["join"] == "or"
    tree = builder.apply_command(tree, "c", "remove:c.1")
    assert builder.count_rules(tree) == 1


def test_the_form_is_read_back_into_the_same_tree():
    form = {
        "rows": ["c", "c.0", "c.1", "c.1.0"],
        "kind:c": "group",
        "join:c": "or",
        "kind:c.0": "rule",
        "field:c.0": "features.is_urgent",
        "op:c.0": "is_true",
        "kind:c.1": "group",
        "join:c.1": "and",
        "kind:c.1.0": "rule",
        "field:c.1.0": "order.channel",
        "op:c.1.0": "in",
        "value:c.1.0": ["jd", "tmall"],
    }
    tree = builder.read_form(form, "c")
    assert tree == {
        "join": "or",
        "rules": [
            rule("features.is_urgent", "is_true"),
            {"join": "and", "rules": [rule("order.channel", "in", ["jd", "tmall"])]},
        ],
    }


def test_a_field_change_resets_an_operator_that_does_not_fit():
    assert builder.normalise_rule(rule("order.amounts.paid_fen", "in_region", ["华东"]))["op"] == "gte"


def test_the_diff_names_added_removed_and_rewired_parts():
    old = {
        "nodes": [{"id": "a", "type": "start"}, {"id": "b", "type": "end"}],
        "edges": [{"id": "e1", "source": "a", "target": "b", "port": "next"}],
    }
    new = {
        "nodes": [{"id": "a", "type": "start"}, {"id": "c", "type": "end"}],
        "edges": [{"id": "e9", "source": "a", "target": "c", "port": "next"}],
    }
    diff = diff_documents(old, new)
    assert [n["id"] for n in diff.nodes_added] == ["c"]
    assert [n["id"] for n in diff.nodes_removed] == ["b"]
    assert diff.edges_changed == [{"source": "a", "port": "next", "before": "b", "after": "c"}]
    assert diff.edges_added == diff.edges_removed == []


def test_renumbered_edges_are_not_a_change():
    doc = {
        "nodes": [{"id": "a", "type": "start"}],
        "edges": [{"id": "e1", "source": "a", "target": "b", "port": "next"}],
    }
    renumbered = {"nodes": doc["nodes"], "edges": [{"id": "x7", "source": "a", "target": "b", "port": "next"}]}
    assert diff_documents(doc, renumbered).is_empty


def test_cleaning_a_document_drops_editor_markup_but_keeps_mistakes_for_validation():
    dirty = {
        "schema": 1,
        "name": "x",
        "trigger": "order.received",
        "drawflow": {},
        "nodes": [{"id": "a", "type": "start", "html": "<b>", "class": "x", "data": {}}, "not a node"],
        "edges": [],
    }
    clean = clean_document(dirty)
    assert clean["nodes"] == [{"id": "a", "type": "start"}, "not a node"]
    assert "drawflow" not in clean


def test_a_pasted_order_gets_its_features_derived():
    order = sample_by_key("east_3c").order
    context = context_from_payload(order)
    assert context["features"]["region"] == "华东"
    assert context["features"]["categories"] == ["3C"]
    with pytest.raises(ValueError):
        context_from_payload([1, 2])


def test_builder_state_and_empty_params_are_not_a_change_in_behaviour():
    old = {
        "nodes": [
            {"id": "a", "type": "action", "name": "通过", "config": {"action": "approve"}},
            {"id": "c", "type": "condition", "config": {"logic": {"!": {"var": "features.is_urgent"}}}},
        ],
        "edges": [],
    }
    new = {
        "nodes": [
            {"id": "a", "type": "action", "name": "通过", "config": {"action": "approve", "params": {}}},
            {
                "id": "c",
                "type": "condition",
                "config": {"logic": {"!": {"var": "features.is_urgent"}}, "builder": {"join": "and", "rules": []}},
            },
        ],
        "edges": [],
    }
    assert diff_documents(old, new).is_empty


# --- after-sales flows -----------------------------------------------------------------------------------------


def test_an_after_sales_flow_builds_rules_on_the_case_and_the_buyers_history_only() -> None:
    paths = {field.path for field in builder.picker_fields("return.requested")}
    assert {"case.kind", "case.refund_fen", "case.shipped", "case.qty", "features.returns_90d"} <= paths
    assert not any(path.startswith("order") for path in paths)
    assert [key for key, _ in builder.field_groups("return.requested")] == ["case", "buyer", "case_decisions"]
    assert dict(builder.field_groups("return.requested"))["buyer"] == "买家近况"
    order_paths = {field.path for field in builder.picker_fields("order.received")}
    assert "order.amounts.paid_fen" in order_paths and not any(p.startswith("case") for p in order_paths)


def test_a_case_rule_is_written_in_fen_from_yuan_and_read_back_as_rows() -> None:
    tree = {
        "join": "and",
        "rules": [
            {"field": "case.refund_fen", "op": "lt", "value": "50.00"},
            {"field": "features.returns_90d", "op": "eq", "value": "0"},
            {"field": "case.kind", "op": "in", "value": ["refund_only"]},
        ],
    }
    logic, problems = builder.to_logic(tree)
    assert problems == {}
    assert logic == {
        "and": [
            {"<": [{"var": "case.refund_fen"}, 5000]},
            {"==": [{"var": "features.returns_90d"}, 0]},
            {"in": [{"var": "case.kind"}, ["refund_only"]]},
        ]
    }
    assert lifting.lift(logic) == tree

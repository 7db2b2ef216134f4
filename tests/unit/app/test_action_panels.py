"""Action parameters as forms: every action's parameters go form → params → form unchanged, computed times
("活动结束时间", "付款后 N 小时/天", a fixed time) are written as JSON Logic that gives the expected time and
open as the form again, anything else computed stays as JSON, and bad input is refused with a message."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

import ruleflows
from app.domain.flows import action_forms, panels
from app.domain.flows.samples import context_of, sample_by_key
from ruleflows import ACTION_CATALOGUE

NOW = datetime(2026, 11, 12, 8, 0, tzinfo=UTC)
PAID_PLUS_48H = {"add_hours": [{"var": "order.paid_at"}, 48]}
PAID_PLUS_3D = {"add_hours": [{"var": "order.paid_at"}, {"*": [3, 24]}]}

#: Parameters of every catalogue action, one example per form a parameter can have.
EXAMPLES: list[tuple[str, dict[str, Any]]] = [
    ("approve", {}),
    ("hold_for_review", {"reason": "收货地址不完整"}),
    ("cancel", {"reason": "买家要求取消"}),
    ("assign_warehouse", {"code": "SH01"}),
    ("assign_warehouse", {"strategy": "cheapest"}),
    ("assign_carrier", {"code": "SF"}),
    ("assign_carrier", {"strategy": "cheapest", "candidates": ["ZTO", "YTO", "STO", "YUNDA"]}),
    ("assign_carrier", {"strategy": "cheapest", "split_by_temperature": True}),
    ("add_gift", {"sku": "GIFT-TOTE-01", "qty": 2}),
    ("expand_bundles", {}),
    ("split_by_warehouse", {}),
    ("merge_same_buyer", {}),
    ("mark_presale", {"balance_due_at": action_forms.PRESALE_END}),
    ("mark_presale", {"balance_due_at": PAID_PLUS_48H}),
    ("mark_presale", {"balance_due_at": PAID_PLUS_3D}),
    ("mark_presale", {"balance_due_at": "2026-11-20T23:59:00+08:00"}),
    ("add_tag", {"tag": "双十一"}),
    ("set_priority", {"level": "urgent"}),
    ("generate_documents", {"kinds": ["outbound_order", "pick_list"]}),
    ("request_waybill", {}),
    ("notify", {"template": "presale_balance_reminder", "via": "wechat"}),
    ("approve_case", {}),
    ("refuse_case", {"reason": "超过售后期"}),
    ("refer_to_supervisor", {"reason": "高价值售后：退款超过 ¥500"}),
]


def action_node(action: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"id": "a1", "type": "action", "name": "动作", "config": {"action": action, "params": copy.deepcopy(params)}}


def form_of(node: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """What the browser submits for the panel as it shows ``node`` (with ``changes`` typed in)."""
    form: dict[str, Any] = {"action": node["config"]["action"]}
    mode = panels.one_of_mode(node)
    if mode:
        form["mode"] = mode
    for row in panels.param_rows(panels.Applied(node)):
        key = f"param:{row.name}"
        if row.kind == "logic" or (mode and row.name in ("code", "strategy") and row.name != mode):
            continue
        if row.kind == "time":
            form[key] = row.state["mode"]
            if row.state["mode"] == "after_paid":
                form[f"{key}:amount"], form[f"{key}:unit"] = row.state["amount"], row.state["unit"]
            elif row.state["mode"] == "fixed":
                form[f"{key}:at"] = row.state["at"]
        elif row.kind == "boolean":
            if row.state["value"]:
                form[key] = "yes"
        else:
            form[key] = row.state["value"]
    form.update(changes)
    return form


def rows_by_name(node: dict[str, Any]) -> dict[str, action_forms.ParamRow]:
    return {row.name: row for row in panels.param_rows(panels.Applied(node))}


def test_the_examples_cover_every_action_and_every_kind_of_form() -> None:
    assert {action for action, _ in EXAMPLES} == set(ACTION_CATALOGUE)
    kinds = {row.kind for action, params in EXAMPLES for row in rows_by_name(action_node(action, params)).values()}
    assert kinds >= {
        "text",
        "integer",
        "boolean",
        "enum",
        "choices",
        "time",
        "warehouse",
        "carrier",
        "carriers",
        "sku",
        "message",
    }
    assert "logic" not in kinds, "every example opens as a form"


@pytest.mark.parametrize(("action", "params"), EXAMPLES, ids=[f"{a}-{'-'.join(p)}" for a, p in EXAMPLES])
def test_each_action_goes_from_form_to_params_and_back_unchanged(action: str, params: dict[str, Any]) -> None:
    node = action_node(action, params)
    applied = panels.apply_form(node, form_of(node))

    assert applied.param_problems == {}
    assert applied.node["config"] == {"action": action, "params": params}
    assert rows_by_name(applied.node) == rows_by_name(node)


@pytest.mark.parametrize(("action", "params"), EXAMPLES, ids=[f"{a}-{'-'.join(p)}" for a, p in EXAMPLES])
def test_params_typed_into_an_empty_form_are_what_the_form_shows(action: str, params: dict[str, Any]) -> None:
    filled = action_node(action, params)
    empty = action_node(action, {})
    form = form_of(filled)
    applied = panels.apply_form(empty, form)

    assert applied.node["config"]["params"] == params
    trigger = "return.requested" if action in ruleflows.CASE_ACTIONS else "order.received"
    assert panels.node_problems(applied.node, trigger) == []


def test_an_after_sales_flow_offers_only_the_case_actions_and_an_order_flow_none_of_them() -> None:
    assert [name for name, _ in panels.action_choices("return.requested")] == list(ruleflows.CASE_ACTIONS)
    assert dict(panels.action_choices("return.requested"))["refer_to_supervisor"] == "转主管审核"
    order_actions = [name for name, _ in panels.action_choices("order.received")]
    assert "approve" in order_actions and not set(order_actions) & set(ruleflows.CASE_ACTIONS)
    refused = panels.node_problems(action_node("approve", {}), "return.requested")
    assert len(refused) == 1 and "售后流程只能同意、拒绝或转主管审核" in refused[0]


def test_a_choice_is_shown_with_its_chinese_label() -> None:
    rows = rows_by_name(action_node("generate_documents", {"kinds": ["pick_list"]}))
    assert rows["kinds"].choices == [("outbound_order", "出库单"), ("pick_list", "拣货单")]
    level = rows_by_name(action_node("set_priority", {}))["level"]
    assert ("urgent", "紧急") in level.choices
    assert (level.minimum, level.maximum) == (None, None)
    qty = rows_by_name(action_node("add_gift", {}))["qty"]
    assert (qty.minimum, qty.maximum) == (1, 999)


# --- computed times -------------------------------------------------------------------------------------


def due_at(params: dict[str, Any], sample: str = "presale") -> str:
    """The balance due time the params give for a sample order, as the engine computes it."""
    context = context_of(sample_by_key(sample))  # type: ignore[arg-type]
    return str(ruleflows.evaluate(params["balance_due_at"], context, now=NOW))


def presale_form(mode: str, **parts: str) -> dict[str, Any]:
    return {
        "action": "mark_presale",
        "param:balance_due_at": mode,
        **{f"param:balance_due_at:{k}": v for k, v in parts.items()},
    }


@pytest.mark.parametrize(
    ("form", "written", "expected"),
    [
        (presale_form("presale_end"), action_forms.PRESALE_END, "2026-11-20T23:59:59+08:00"),
        (presale_form("after_paid", amount="48", unit="hours"), PAID_PLUS_48H, "2026-11-13T00:06:00+08:00"),
        (presale_form("after_paid", amount="3", unit="days"), PAID_PLUS_3D, "2026-11-14T00:06:00+08:00"),
        (presale_form("fixed", at="2026-11-20T23:59"), "2026-11-20T23:59:00+08:00", "2026-11-20T23:59:00+08:00"),
    ],
    ids=["presale-end", "hours-after-payment", "days-after-payment", "fixed"],
)
def test_a_presale_due_time_form_writes_logic_that_gives_the_expected_time(
    form: dict[str, Any], written: Any, expected: str
) -> None:
    applied = panels.apply_form(action_node("mark_presale", {}), form)
    params = applied.node["config"]["params"]

    assert params == {"balance_due_at": written}
    assert datetime.fromisoformat(due_at(params)) == datetime.fromisoformat(expected)
    assert form_of(applied.node) == form, "it opens as the same form again"
    assert panels.node_problems(applied.node) == []


def test_the_presale_end_without_a_platform_due_time_is_the_shops_default_term_after_payment() -> None:
    context = context_of(sample_by_key("presale"))  # type: ignore[arg-type]
    context["order"]["presale"]["balance_due_at"] = None
    paid = datetime.fromisoformat(context["order"]["paid_at"])

    due = ruleflows.evaluate(action_forms.PRESALE_END, context, now=NOW)

    assert (datetime.fromisoformat(str(due)) - paid).total_seconds() == 72 * 3600


def test_the_platforms_due_time_alone_opens_as_the_presale_end_and_is_saved_with_the_default() -> None:
    written = action_node("mark_presale", {"balance_due_at": {"var": "order.presale.balance_due_at"}})
    assert rows_by_name(written)["balance_due_at"].state["mode"] == "presale_end"

    saved = panels.apply_form(written, form_of(written))

    assert saved.node["config"]["params"] == {"balance_due_at": action_forms.PRESALE_END}


def test_a_presale_due_time_runs_through_a_flow_as_the_hold_until_time() -> None:
    params = panels.apply_form(action_node("mark_presale", {}), presale_form("after_paid", amount="2", unit="days"))
    doc = {
        "schema": 1,
        "name": "预售",
        "trigger": "order.received",
        "nodes": [
            {"id": "s", "type": "start", "position": {"x": 0, "y": 0}},
            {**params.node, "position": {"x": 200, "y": 0}},
            {"id": "e", "type": "end", "position": {"x": 400, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "source": "s", "target": "a1", "port": "next"},
            {"id": "e2", "source": "a1", "target": "e", "port": "next"},
        ],
    }
    result = ruleflows.run(doc, context_of(sample_by_key("presale")), now=NOW)  # type: ignore[arg-type]

    assert result.status == "ok"
    assert result.decisions.hold_until_at == datetime.fromisoformat("2026-11-13T00:06:00+08:00")


def test_computed_times_written_elsewhere_in_those_shapes_open_as_the_form() -> None:
    template = ruleflows.load_template("standard_four_stage")
    mark = next(n for n in template["nodes"] if n["id"] == "mark_presale")
    assert rows_by_name(mark)["balance_due_at"].state["mode"] == "presale_end"
    written = action_node("mark_presale", {"balance_due_at": {"add_hours": [{"var": "order.paid_at"}, 72.0]}})
    row = rows_by_name(written)["balance_due_at"]
    assert (row.kind, row.state["mode"], row.state["amount"], row.state["unit"]) == (
        "time",
        "after_paid",
        "72",
        "hours",
    )


def test_the_canvas_names_a_computed_time_in_words() -> None:
    assert panels.summary(action_node("mark_presale", {"balance_due_at": PAID_PLUS_3D})) == "付款后 3 天"
    assert panels.summary(action_node("mark_presale", {"balance_due_at": PAID_PLUS_48H})) == "付款后 48 小时"
    assert panels.summary(action_node("mark_presale", {"balance_due_at": action_forms.PRESALE_END})) == "活动结束时间"
    assert panels.summary(action_node("generate_documents", {"kinds": ["outbound_order", "pick_list"]})) == (
        "出库单、拣货单"
    )


def test_the_carrier_panel_offers_splitting_by_temperature_zone_and_the_canvas_says_when_it_is_on() -> None:
    node = action_node("assign_carrier", {"strategy": "cheapest"})
    row = rows_by_name(node)["split_by_temperature"]
    assert (row.kind, row.label, row.state) == ("boolean", "按温层拆包", {"value": False})

    ticked = panels.apply_form(node, form_of(node, **{"param:split_by_temperature": "yes"})).node
    assert ticked["config"]["params"] == {"strategy": "cheapest", "split_by_temperature": True}
    assert panels.summary(ticked) == "最便宜 · 按温层拆包"

    unticked = panels.apply_form(ticked, {"action": "assign_carrier", "mode": "strategy", "param:strategy": "cheapest"})
    # Unticked is the default (one parcel), as in documents written before the switch existed.
    assert unticked.node["config"]["params"] == {"strategy": "cheapest"}
    assert panels.summary(unticked.node) == "最便宜"


def test_other_computed_values_stay_as_pretty_json_with_chinese_as_written_and_are_kept() -> None:
    reason = {"cat": ["地址不全：", {"var": "order.receiver.city"}]}
    due = {"if": [{"var": "order.presale.is_presale"}, {"var": "order.presale.balance_due_at"}, {"now": []}]}
    node = action_node("hold_for_review", {"reason": reason})
    row = rows_by_name(node)["reason"]
    assert row.kind == "logic"
    assert "地址不全：" in row.logic_json and "\n" in row.logic_json
    assert panels.apply_form(node, form_of(node)).node["config"]["params"] == {"reason": reason}
    presale = action_node("mark_presale", {"balance_due_at": due})
    assert rows_by_name(presale)["balance_due_at"].kind == "logic"
    assert panels.apply_form(presale, form_of(presale)).node["config"]["params"] == {"balance_due_at": due}


def test_a_computed_value_can_be_replaced_by_the_form() -> None:
    node = action_node("hold_for_review", {"reason": {"cat": ["地址不全：", {"var": "order.receiver.city"}]}})
    replaced = panels.apply_form(node, form_of(node, do="replace:reason"))
    assert replaced.node["config"]["params"] == {}
    assert rows_by_name(replaced.node)["reason"].kind == "text"
    typed = panels.apply_form(replaced.node, form_of(replaced.node, **{"param:reason": "地址不全"}))
    assert typed.node["config"]["params"] == {"reason": "地址不全"}


# --- bad input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "typed", "param", "message"),
    [
        ("add_gift", {"param:qty": "0"}, "qty", "请输入 1 到 999 之间的整数。"),
        ("add_gift", {"param:qty": "1000"}, "qty", "请输入 1 到 999 之间的整数。"),
        ("add_gift", {"param:qty": "1.5"}, "qty", "请输入整数。"),
        ("add_gift", {"param:qty": "٣"}, "qty", "请输入整数。"),
        ("add_gift", {"param:qty": "１２"}, "qty", "请输入整数。"),
        ("add_gift", {"param:qty": "1_0"}, "qty", "请输入整数。"),
        ("set_priority", {"param:level": "asap"}, "level", "不是该字段的可选值：asap"),
        ("generate_documents", {"param:kinds": ["invoice"]}, "kinds", "不是该字段的可选值：invoice"),
        ("add_tag", {"param:tag": "长" * 201}, "tag", "最多 200 个字。"),
        ("mark_presale", presale_form("after_paid", amount="", unit="days"), "balance_due_at", "请填写付款后多少天。"),
        (
            "mark_presale",
            presale_form("after_paid", amount="400", unit="days"),
            "balance_due_at",
            "请输入 1 到 366 之间的整数。",
        ),
        ("mark_presale", presale_form("fixed", at=""), "balance_due_at", "请选择日期和时间。"),
        ("mark_presale", presale_form("fixed", at="下周五"), "balance_due_at", "请填写日期和时间。"),
    ],
)
def test_bad_input_is_refused_with_a_chinese_message_and_changes_nothing(
    action: str, typed: dict[str, Any], param: str, message: str
) -> None:
    before = {"add_gift": {"sku": "GIFT-TOTE-01", "qty": 1}, "mark_presale": {"balance_due_at": PAID_PLUS_48H}}
    node = action_node(action, before.get(action, {}))
    applied = panels.apply_form(node, form_of(node, **typed))

    assert applied.param_problems[param] == message
    assert applied.node["config"] == node["config"]
    shown = {row.name: row for row in panels.param_rows(applied)}
    assert shown[param].problem == message
    if action == "mark_presale":  # what was typed is shown again
        assert shown[param].state["mode"] == typed["param:balance_due_at"]
    else:
        assert shown[param].state["value"] == typed[f"param:{param}"]

"""技巧二's rules as ready flows (``ruleflows/library/tip2_*.json``): each validates, opens entirely as forms
(conditions as the builder writes them, parameters as action forms), is stored laid out, and — run on orders
built like the editor's samples — does what its name says and leaves other orders alone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import ruleflows
from app.domain.flows import builder, layout, lifting, panels
from app.domain.flows.samples import context_of, features_of, sample_by_key

NOW = datetime(2026, 11, 11, 4, 0, tzinfo=UTC)
RULES = [
    "tip2_1_auto_audit",
    "tip2_2_east_china_3c",
    "tip2_3_small_order_economy",
    "tip2_4_presale_and_gifts",
    "tip2_5_documents_and_notice",
    "return_auto_review",
]


def sample(key: str, **features: Any) -> dict[str, Any]:
    """A sample order's flow context, with some features changed."""
    context = context_of(sample_by_key(key))  # type: ignore[arg-type]
    context["features"].update(features)
    return context


def decided(template: str, context: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    result = ruleflows.run(ruleflows.load_template(template), context, now=NOW)
    assert result.status == "ok", result.error
    return [(action.action, action.params) for action in result.actions]


def test_the_rules_are_offered_after_the_complete_flow() -> None:
    listed = ruleflows.list_templates()
    assert [t["key"] for t in listed] == ["standard_four_stage", *RULES]
    assert [t["complete"] for t in listed] == [True] + [False] * len(RULES)
    for summary in listed[1:]:
        assert summary["description"] and "\n" not in summary["description"]
        assert any("\u4e00" <= char <= "\u9fff" for char in summary["name"] + summary["description"])


@pytest.mark.parametrize("key", RULES)
def test_each_rule_template_is_valid_laid_out_and_opens_entirely_as_forms(key: str) -> None:
    doc = ruleflows.load_template(key)
    assert ruleflows.validate(doc) == []
    assert layout.apply(doc, layout.arrange(doc)) == doc, "stored as 整理布局 lays it out"
    assert not layout.needs_arranging(doc)
    for node in doc["nodes"]:
        if node["type"] == "condition":
            tree = lifting.lift(node["config"]["logic"])
            assert tree is not None, node["id"]
            assert builder.to_logic(tree) == (node["config"]["logic"], {}), f"{node['id']} is written as the builder"
        elif node["type"] == "action":
            rows = panels.param_rows(panels.Applied(node))
            assert all(row.kind != "logic" for row in rows), node["id"]


def test_the_audit_approves_a_good_order_and_holds_each_kind_of_bad_one() -> None:
    assert decided("tip2_1_auto_audit", sample("east_3c")) == [("approve", {})]
    assert decided("tip2_1_auto_audit", sample("bad_phone")) == [("hold_for_review", {"reason": "收货人手机号无效"})]
    assert decided("tip2_1_auto_audit", sample("same_address_burst")) == [
        ("hold_for_review", {"reason": "同一地址 24 小时内订单过多，疑似刷单"})
    ]
    for street in ("", "上海", "上海市静安区"):  # nothing below the area: no door to ship to
        no_address = sample("east_3c")
        no_address["order"]["receiver"]["address"] = street
        no_address["features"] = features_of(no_address["order"], phone="13800000000")
        assert decided("tip2_1_auto_audit", no_address) == [("hold_for_review", {"reason": "收货地址不完整"})]
    four_there = sample("same_address_burst", same_address_24h=3)
    assert decided("tip2_1_auto_audit", four_there) == [("approve", {})], "only more than 3 is held"
    released = sample("bad_phone", review_approved=True)
    assert decided("tip2_1_auto_audit", released) == [("approve", {})], "an operator's approval is final"


def test_east_china_3c_goes_to_shanghai_with_sf_and_other_orders_are_left_alone() -> None:
    assert decided("tip2_2_east_china_3c", sample("east_3c")) == [
        ("assign_warehouse", {"code": "SH01"}),
        ("assign_carrier", {"code": "SF"}),
    ]
    assert decided("tip2_2_east_china_3c", sample("cheap_not_urgent")) == [], "3C, but to Beijing"
    assert decided("tip2_2_east_china_3c", sample("urgent_cold")) == [], "Nanjing is 华东, but yogurt is not 3C"


def test_a_small_order_that_is_not_urgent_takes_the_cheapest_warehouse_and_economy_carrier() -> None:
    economy = [
        ("assign_warehouse", {"strategy": "cheapest"}),
        ("assign_carrier", {"strategy": "cheapest", "candidates": ["ZTO", "YTO", "STO", "YUNDA"]}),
    ]
    assert decided("tip2_3_small_order_economy", sample("cheap_not_urgent")) == economy  # ¥29.00
    assert decided("tip2_3_small_order_economy", sample("cheap_not_urgent", is_urgent=True)) == []
    assert decided("tip2_3_small_order_economy", sample("east_3c")) == [], "¥4,028.00 is not small"
    at_fifty = sample("cheap_not_urgent")
    at_fifty["order"]["amounts"]["paid_fen"] = 5000
    assert decided("tip2_3_small_order_economy", at_fifty) == [], "不足 50 元: exactly ¥50.00 is not"


def test_a_presale_waits_until_the_activity_ends_and_orders_over_299_get_a_gift() -> None:
    result = ruleflows.run(ruleflows.load_template("tip2_4_presale_and_gifts"), sample("presale"), now=NOW)
    assert [(a.action, a.params) for a in result.actions] == [
        ("mark_presale", {"balance_due_at": "2026-11-20T23:59:59+08:00"}),
        ("add_gift", {"sku": "GIFT-TOTE-01", "qty": 1}),
    ]
    assert result.decisions.presale and result.decisions.hold_until_at == datetime(2026, 11, 20, 15, 59, 59, tzinfo=UTC)
    assert decided("tip2_4_presale_and_gifts", sample("bundle")) == [("add_gift", {"sku": "GIFT-TOTE-01", "qty": 1})]
    assert decided("tip2_4_presale_and_gifts", sample("cheap_not_urgent")) == []
    balance_paid = sample("presale")
    balance_paid["order"]["presale"]["balance_paid"] = True
    assert [a for a, _ in decided("tip2_4_presale_and_gifts", balance_paid)] == ["add_gift"]


def test_an_order_ready_to_ship_gets_its_documents_waybill_and_shipped_notice_and_a_presale_waits() -> None:
    assert decided("tip2_5_documents_and_notice", sample("east_3c")) == [
        ("generate_documents", {"kinds": ["outbound_order", "pick_list"]}),
        ("request_waybill", {}),
        ("notify", {"template": "order_shipped", "via": "sms"}),
    ]
    waiting = sample("presale")
    waiting["decisions"] = {"presale": True, "hold_until": "2026-11-20T23:59:59+08:00"}
    assert decided("tip2_5_documents_and_notice", waiting) == []

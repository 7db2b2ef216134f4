"""Golden tests: the shipped templates on realistic canonical orders give exactly these actions and paths."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from ruleflows import Decisions, Gift, Notification, compile_flow, list_templates, load_template, run, validate

STAGE_1 = ["start", "review_approved", "audit_address", "audit_phone", "audit_same_address", "approve", "route"]
DOCS_AND_NOTIFY = ["ready_to_ship", "documents", "waybill", "notify_buyer", "end"]
SHIPPING_ACTIONS = [
    ("generate_documents", {"kinds": ["outbound_order", "pick_list"]}),
    ("request_waybill", {}),
    ("notify", {"template": "order_processed", "via": "sms"}),
]


def decided(result: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(action.action, action.params) for action in result.actions]


@pytest.fixture
def four_stage() -> dict[str, Any]:
    return load_template("standard_four_stage")


def test_every_template_is_listed_and_valid() -> None:
    templates = list_templates()
    assert templates[0]["key"] == "standard_four_stage" and templates[0]["complete"]
    for summary in templates:
        doc = load_template(summary["key"])
        assert validate(doc) == []
        assert summary["name"] == doc["name"]
        assert any("\u4e00" <= char <= "\u9fff" for char in doc["name"]), "template names are Chinese"


def test_it_refuses_an_unknown_template_name() -> None:
    with pytest.raises(KeyError):
        load_template("../pyproject")


def test_load_template_returns_a_fresh_copy() -> None:
    load_template("standard_four_stage")["name"] = "changed"
    assert load_template("standard_four_stage")["name"] != "changed"


@pytest.fixture
def east_china_phone(
    make_order: Callable[..., dict[str, Any]],
    make_line: Callable[..., dict[str, Any]],
    make_context: Callable[..., dict[str, Any]],
) -> dict[str, Any]:
    """The context of a phone (3C) shipped to Shanghai."""
    order = make_order(
        receiver__province="上海",
        receiver__city="上海市",
        lines=[make_line("l1", "PHONE-15", "智能手机 15", 1, 599900, category="3C")],
        amounts={"items_fen": 599900, "shipping_fen": 0, "discount_fen": 0, "paid_fen": 599900},
    )
    return make_context(order, categories=["3C"])


def test_east_china_3c_order_goes_to_shanghai_with_sf(
    four_stage: dict[str, Any], east_china_phone: dict[str, Any], now: datetime
) -> None:
    result = run(four_stage, east_china_phone, now=now)

    assert result.status == "ok"
    assert result.path == [
        *STAGE_1,
        "wh_shanghai",
        "carrier_sf",
        "is_presale",
        "gift_threshold",
        "add_gift",
        "has_bundle",
        *DOCS_AND_NOTIFY,
    ]
    assert decided(result) == [
        ("approve", {}),
        ("assign_warehouse", {"code": "SH01"}),
        ("assign_carrier", {"code": "SF", "split_by_temperature": True}),
        ("add_gift", {"sku": "GIFT-TOTE-01", "qty": 1}),
        *SHIPPING_ACTIONS,
    ]
    assert result.decisions.warehouse == "SH01"
    assert result.decisions.carrier == "SF"


def test_the_four_stage_template_gives_an_east_china_phone_order_these_typed_decisions(
    four_stage: dict[str, Any], east_china_phone: dict[str, Any], now: datetime
) -> None:
    result = run(four_stage, east_china_phone, now=now)
    assert result.decisions == Decisions(
        approved=True,
        warehouse="SH01",
        carrier="SF",
        split_by_temperature=True,
        gifts=(Gift("GIFT-TOTE-01", 1),),
        documents=("outbound_order", "pick_list"),
        waybill_requested=True,
        notifications=(Notification("order_processed", "sms"),),
    )
    assert Decisions.from_dict(result.to_dict()["decisions"]) == result.decisions


def test_cheap_non_urgent_order_takes_the_cheapest_warehouse_and_carrier(
    four_stage: dict[str, Any],
    make_order: Callable[..., dict[str, Any]],
    make_line: Callable[..., dict[str, Any]],
    make_context: Callable[..., dict[str, Any]],
    now: datetime,
) -> None:
    order = make_order(
        receiver__province="四川省",
        receiver__city="成都市",
        lines=[make_line("l1", "PEN-01", "中性笔", 3, 1200, category="文具")],
        amounts={"items_fen": 3600, "shipping_fen": 0, "discount_fen": 0, "paid_fen": 3600},
    )
    result = run(four_stage, make_context(order, region="西南", is_urgent=False), now=now)

    assert result.status == "ok"
    assert result.path == [
        *STAGE_1,
        "wh_cheapest",
        "carrier_cheapest",
        "is_presale",
        "gift_threshold",
        "has_bundle",
        *DOCS_AND_NOTIFY,
    ]
    assert decided(result) == [
        ("approve", {}),
        ("assign_warehouse", {"strategy": "cheapest"}),
        (
            "assign_carrier",
            {"strategy": "cheapest", "candidates": ["ZTO", "YTO", "STO", "YUNDA"], "split_by_temperature": True},
        ),
        *SHIPPING_ACTIONS,
    ]


def test_cheap_but_urgent_order_uses_the_default_strategy(
    four_stage: dict[str, Any],
    make_order: Callable[..., dict[str, Any]],
    make_context: Callable[..., dict[str, Any]],
    now: datetime,
) -> None:
    order = make_order(
        receiver__province="广东", amounts={"items_fen": 3600, "shipping_fen": 0, "discount_fen": 0, "paid_fen": 3600}
    )
    result = run(four_stage, make_context(order, is_urgent=True), now=now)
    assert decided(result)[1:3] == [
        ("assign_warehouse", {"strategy": "priority"}),
        ("assign_carrier", {"strategy": "cheapest", "split_by_temperature": True}),
    ]


def test_presale_order_is_held_until_the_balance_is_due(
    four_stage: dict[str, Any],
    make_order: Callable[..., dict[str, Any]],
    make_context: Callable[..., dict[str, Any]],
    now: datetime,
) -> None:
    order = make_order(
        receiver__province="广东省",
        receiver__city="深圳市",
        amounts={"items_fen": 19900, "shipping_fen": 0, "discount_fen": 0, "paid_fen": 19900},
        presale={"is_presale": True, "deposit_paid": True, "balance_due_at": "2026-12-10T16:00:00+00:00"},
    )
    result = run(four_stage, make_context(order, region="华南"), now=now)

    assert result.status == "ok"
    assert result.path == [
        *STAGE_1,
        "wh_default",
        "carrier_default",
        "is_presale",
        "mark_presale",
        "gift_threshold",
        "has_bundle",
        "ready_to_ship",
        "notify_presale",
        "end",
    ]
    assert decided(result) == [
        ("approve", {}),
        ("assign_warehouse", {"strategy": "priority"}),
        ("assign_carrier", {"strategy": "cheapest", "split_by_temperature": True}),
        ("mark_presale", {"balance_due_at": "2026-12-10T16:00:00+00:00"}),
        ("notify", {"template": "presale_balance_reminder", "via": "wechat"}),
    ]
    assert result.decisions.hold_until == "2026-12-10T16:00:00+00:00"


def test_bundle_order_is_expanded_and_gets_the_gift(
    four_stage: dict[str, Any],
    make_order: Callable[..., dict[str, Any]],
    make_line: Callable[..., dict[str, Any]],
    make_context: Callable[..., dict[str, Any]],
    now: datetime,
) -> None:
    order = make_order(
        receiver__province="北京",
        receiver__city="北京市",
        lines=[make_line("l1", "GIFTBOX-TEA", "中秋茶礼盒", 1, 45800, bundle_of="GIFTBOX-TEA", category="食品")],
        amounts={"items_fen": 45800, "shipping_fen": 0, "discount_fen": 0, "paid_fen": 45800},
    )
    result = run(four_stage, make_context(order, region="华北"), now=now)

    assert result.status == "ok"
    assert result.path == [
        *STAGE_1,
        "wh_default",
        "carrier_default",
        "is_presale",
        "gift_threshold",
        "add_gift",
        "has_bundle",
        "expand_bundles",
        *DOCS_AND_NOTIFY,
    ]
    assert decided(result) == [
        ("approve", {}),
        ("assign_warehouse", {"strategy": "priority"}),
        ("assign_carrier", {"strategy": "cheapest", "split_by_temperature": True}),
        ("add_gift", {"sku": "GIFT-TOTE-01", "qty": 1}),
        ("expand_bundles", {}),
        *SHIPPING_ACTIONS,
    ]


def test_order_with_an_invalid_phone_goes_to_review(
    four_stage: dict[str, Any],
    make_order: Callable[..., dict[str, Any]],
    make_context: Callable[..., dict[str, Any]],
    now: datetime,
) -> None:
    # The features builder judged the real number (say 021-5555, or 10 digits behind a 138****5678 mask).
    result = run(four_stage, make_context(make_order(), phone_valid=False), now=now)

    assert result.status == "ok"
    assert result.path == ["start", "review_approved", "audit_address", "audit_phone", "hold_phone", "end_held"]
    assert decided(result) == [("hold_for_review", {"reason": "收货人手机号无效"})]
    assert result.trace[3].reads == {"features.phone_valid": False}


def test_a_receiver_the_platform_protects_is_audited_like_any_other(
    four_stage: dict[str, Any],
    make_order: Callable[..., dict[str, Any]],
    make_context: Callable[..., dict[str, Any]],
    now: datetime,
) -> None:
    # A Tmall trade with an oaid: only masks in the order; the features say the platform's values are good.
    order = make_order(
        receiver__name="王**", receiver__phone_masked="", receiver__address="文一西路****", receiver__protected=True
    )
    result = run(four_stage, make_context(order), now=now)

    assert result.path[:6] == [*STAGE_1[:5], "approve"]
    assert not result.decisions.hold


def test_repeated_address_order_goes_to_review(
    four_stage: dict[str, Any],
    make_order: Callable[..., dict[str, Any]],
    make_context: Callable[..., dict[str, Any]],
    now: datetime,
) -> None:
    result = run(four_stage, make_context(make_order(), same_address_24h=5), now=now)

    assert result.path == [
        "start",
        "review_approved",
        "audit_address",
        "audit_phone",
        "audit_same_address",
        "hold_same_address",
        "end_held",
    ]
    assert decided(result) == [("hold_for_review", {"reason": "同一地址 24 小时内订单过多，疑似刷单"})]


def test_order_with_an_incomplete_address_goes_to_review(
    four_stage: dict[str, Any],
    make_order: Callable[..., dict[str, Any]],
    make_context: Callable[..., dict[str, Any]],
    now: datetime,
) -> None:
    result = run(four_stage, make_context(make_order(receiver__address="上****"), address_complete=False), now=now)

    assert result.path == ["start", "review_approved", "audit_address", "hold_address", "end_held"]
    assert decided(result) == [("hold_for_review", {"reason": "收货地址不完整"})]


def test_presale_order_without_a_due_date_fails_at_mark_presale(
    four_stage: dict[str, Any],
    make_order: Callable[..., dict[str, Any]],
    make_context: Callable[..., dict[str, Any]],
    now: datetime,
) -> None:
    order = make_order(presale={"is_presale": True, "deposit_paid": True, "balance_due_at": None})
    result = run(four_stage, make_context(order), now=now)

    assert result.status == "failed"
    assert result.failed_node == "mark_presale"
    assert result.trace[-1].error is not None


def test_a_compiled_template_gives_the_same_result_as_the_document(
    four_stage: dict[str, Any],
    make_context: Callable[..., dict[str, Any]],
    now: datetime,
) -> None:
    context = make_context()
    assert run(compile_flow(four_stage), context, now=now).to_dict(timings=False) == run(
        four_stage, context, now=now
    ).to_dict(timings=False)


def test_an_order_an_operator_approved_skips_the_automatic_audit(
    four_stage: dict[str, Any],
    make_order: Callable[..., dict[str, Any]],
    make_context: Callable[..., dict[str, Any]],
    now: datetime,
) -> None:
    context = make_context(make_order(receiver__address=""), same_address_24h=9, review_approved=True)
    result = run(four_stage, context, now=now)

    assert result.path[:4] == ["start", "review_approved", "approve", "route"]
    assert ("hold_for_review", {"reason": "收货地址不完整"}) not in decided(result)
    assert result.decisions.approved is True


def test_a_presale_order_whose_balance_is_paid_ships_like_any_other(
    four_stage: dict[str, Any],
    make_order: Callable[..., dict[str, Any]],
    make_context: Callable[..., dict[str, Any]],
    now: datetime,
) -> None:
    presale = {"is_presale": True, "deposit_paid": True, "balance_paid": True, "balance_due_at": None}
    result = run(four_stage, make_context(make_order(presale=presale), region="华南"), now=now)

    assert result.status == "ok"
    assert "mark_presale" not in result.path
    assert result.path[-len(DOCS_AND_NOTIFY) :] == DOCS_AND_NOTIFY

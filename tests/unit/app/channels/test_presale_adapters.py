"""Presale as each platform sends it: the deposit in fen, whether it and the balance are paid, and the balance due
time when the platform gives one (None when it does not: the shop's default term applies in the flows)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from app.domain.channels.adapters import adapter_for
from app.domain.channels.adapters.base import NormalizeError
from app.domain.orders.schemas import NormalizedOrder
from tests.samples import channels as samples

#: 2026-11-13 23:59:59 China time, the balance due time of the samples that give one.
DUE = datetime(2026, 11, 13, 15, 59, 59, tzinfo=UTC)


def normalize(channel: str, payload: dict[str, Any]) -> NormalizedOrder:
    adapter = adapter_for(channel)
    return adapter.normalize(adapter.unwrap(payload))


def presale_of(order: NormalizedOrder) -> tuple[bool, bool, int, bool, datetime | None]:
    return (order.is_presale, order.deposit_paid, order.deposit_fen, order.balance_paid, order.balance_due_at)


def test_a_taobao_step_trade_with_the_deposit_paid_waits_for_its_balance_without_a_due_time():
    order = normalize("tmall", samples.taobao_step_trade_deposit_paid())
    assert presale_of(order) == (True, True, 5000, False, None)


def test_a_taobao_step_trade_paid_in_full_has_no_balance_left():
    trade = samples.taobao_step_trade_deposit_paid() | {
        "status": "WAIT_SELLER_SEND_GOODS",
        "step_trade_status": "FRONT_PAID_FINAL_PAID",
        "step_paid_fee": "259.00",
    }
    order = normalize("tmall", trade)
    # step_paid_fee is then the whole payment, not the deposit.
    assert presale_of(order) == (True, True, 0, True, None)


def test_a_taobao_step_trade_with_nothing_paid_is_a_presale_without_its_deposit():
    trade = samples.taobao_step_trade_deposit_paid() | {
        "step_trade_status": "FRONT_NOPAID_FINAL_NOPAID",
        "step_paid_fee": "0.00",
        "pay_time": None,
    }
    assert presale_of(normalize("tmall", trade)) == (True, False, 0, False, None)


def test_a_douyin_deposit_presale_reads_its_deposit_and_balance_due_time_from_the_phases():
    order = normalize("douyin", {"data": {"shop_order_detail": samples.douyin_deposit_presale()}})
    assert presale_of(order) == (True, True, 5000, False, DUE)


def test_a_douyin_deposit_presale_without_phases_has_no_due_time():
    order = normalize("douyin", samples.douyin_deposit_presale(phases=False))
    assert presale_of(order) == (True, True, 0, False, None)


def test_a_douyin_presale_whose_balance_phase_is_paid_is_paid_in_full():
    payload = samples.douyin_deposit_presale()
    payload["order_phase_list"][1] |= {"pay_success": True, "phase_pay_amount": 20900}
    assert presale_of(normalize("douyin", payload)) == (True, True, 5000, True, DUE)


def test_a_douyin_full_payment_presale_has_no_balance_to_wait_for():
    payload = samples.douyin_deposit_presale(phases=False) | {"trade_type": 0}
    payload["sku_order_list"][0] |= {"trade_type": 0, "pre_sale_type": 1}  # 全款预售
    assert presale_of(normalize("douyin", payload)) == (True, True, 0, True, None)


def test_a_kuaishou_deposit_presale_reads_its_deposit_and_balance_due_time_from_the_payment_steps():
    order = normalize("kuaishou", samples.kuaishou_deposit_presale())
    assert presale_of(order) == (True, True, 1000, False, DUE)


def test_a_kuaishou_presale_whose_balance_step_is_paid_is_paid_in_full():
    payload = samples.kuaishou_deposit_presale()
    payload["orderBaseInfo"]["orderPaymentStepInfos"][1] |= {"payTime": 1794400000000, "paymentFee": 4900}
    assert presale_of(normalize("kuaishou", payload)) == (True, True, 1000, True, DUE)


def test_a_kuaishou_presale_without_payment_steps_was_paid_in_full():
    payload = samples.kuaishou_deposit_presale()
    del payload["orderBaseInfo"]["orderPaymentStepInfos"]
    assert presale_of(normalize("kuaishou", payload)) == (True, True, 0, True, None)


@pytest.mark.parametrize(
    ("channel", "payload", "field"),
    [
        (
            "douyin",
            samples.douyin_deposit_presale() | {"order_phase_list": [{"current_phase": 2, "phase_close_time": "soon"}]},
            "order_phase_list[0].phase_close_time",
        ),
        (
            "kuaishou",
            {
                **samples.kuaishou_deposit_presale(),
                "orderBaseInfo": samples.kuaishou_deposit_presale()["orderBaseInfo"]
                | {"orderPaymentStepInfos": [{"payStepNo": 1, "paymentFee": -5}]},
            },
            "orderBaseInfo.orderPaymentStepInfos[0].paymentFee",
        ),
    ],
    ids=["douyin-bad-close-time", "kuaishou-negative-deposit"],
)
def test_a_bad_presale_field_is_refused_naming_it(channel: str, payload: dict[str, Any], field: str):
    with pytest.raises(NormalizeError) as caught:
        normalize(channel, payload)
    assert caught.value.field == field


def test_the_generic_format_carries_the_deposit_and_due_time():
    payload = samples.pos_order() | {
        "status": "paid",
        "presale": {
            "is_presale": True,
            "deposit_paid": True,
            "deposit_fen": 2000,
            "balance_due_at": "2026-11-13 23:59:59",
        },
    }
    assert presale_of(normalize("webshop", payload)) == (True, True, 2000, False, DUE)

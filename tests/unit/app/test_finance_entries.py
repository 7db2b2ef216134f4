"""The voucher arithmetic on its own: VAT split, commission rounding, gifts at cost, red letters, balance."""

from __future__ import annotations

import pytest

from app.domain.finance.entries import (
    Entry,
    Refund,
    RefundLine,
    Sale,
    SaleLine,
    apportion,
    assert_balanced,
    net_of_tax,
    refund_entries,
    sale_entries,
    share_of,
)
from app.domain.finance.models import LineKind


def totals(entries: list[Entry]) -> dict[LineKind, int]:
    found: dict[LineKind, int] = {}
    for entry in entries:
        found[entry.kind] = found.get(entry.kind, 0) + entry.debit_fen + entry.credit_fen
    return found


def test_vat_is_split_half_up_and_the_parts_add_up_to_the_gross():
    assert net_of_tax(11300, 1300) == (10000, 1300)
    assert net_of_tax(100, 1300) == (88, 12)  # 0.884… → 0.88
    assert net_of_tax(1, 900) == (1, 0)
    assert all(sum(net_of_tax(gross, 1300)) == gross for gross in range(0, 2000, 7))


def test_commission_rounds_half_up_away_from_zero():
    assert share_of(15700, 500) == 785
    assert share_of(10, 500) == 1  # 0.5 fen → 1
    assert share_of(-10, 500) == -1
    assert share_of(29, 0) == 0


def test_a_sale_with_a_gift_shipping_and_two_carriers_balances():
    sale = Sale(
        channel="tmall",
        platform="支付宝(天猫)",
        lines=[SaleLine("SERUM-30", 25900, 1300)],
        shipping_paid_fen=1000,
        commission_bp=500,
        freight_fen={"顺丰速运": 1800, "中通快递": 600},
        shipped=[("SERUM-30", 1, 8000, False), ("GIFT-TOTE-01", 1, 1500, True)],
    )
    entries = sale_entries(sale)
    assert totals(entries) == {
        LineKind.receivable: 26900,
        LineKind.revenue: 22920 + 885,
        LineKind.output_vat: 2980 + 115,
        LineKind.commission: 1345,
        LineKind.commission_payable: 1345,
        LineKind.freight: 2400,
        LineKind.freight_payable: 2400,
        LineKind.cost_of_goods: 8000,
        LineKind.gift_cost: 1500,
        LineKind.inventory: 9500,
    }
    assert [e.partner for e in entries if e.kind == LineKind.freight_payable] == ["中通快递", "顺丰速运"]


def test_a_refund_is_the_same_accounts_in_red_and_balances():
    refund = Refund(
        platform="京东",
        lines=[RefundLine("SERUM-30", 25900, 1300, returned_qty=1, cost_fen=8000)],
        shipping_refund_fen=1000,
        commission_bp=800,
    )
    entries = refund_entries(refund)
    assert all(e.debit_fen <= 0 and e.credit_fen <= 0 for e in entries)
    assert totals(entries) == {
        LineKind.receivable: -26900,
        LineKind.revenue: -(22920 + 885),
        LineKind.output_vat: -(2980 + 115),
        LineKind.commission: -2152,
        LineKind.commission_payable: -2152,
        LineKind.cost_of_goods: -8000,
        LineKind.inventory: -8000,
    }


def test_an_order_discount_is_spread_by_what_each_line_paid_to_the_fen():
    assert apportion(10000, [2900, 2900, 9900]) == [1847, 1847, 6306]
    assert sum(apportion(999, [1, 1, 1])) == 999
    assert apportion(5, [0, 0]) == [3, 2]
    assert apportion(7, []) == []


def test_an_unbalanced_voucher_or_a_two_sided_line_is_refused():
    with pytest.raises(ValueError, match="does not balance"):
        assert_balanced([Entry(LineKind.receivable, "x", debit_fen=100), Entry(LineKind.revenue, "x", credit_fen=99)])
    with pytest.raises(ValueError, match="both sides"):
        assert_balanced([Entry(LineKind.receivable, "x", debit_fen=100, credit_fen=100)])

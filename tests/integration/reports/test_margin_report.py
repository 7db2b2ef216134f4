"""毛利 by channel: per channel, the revenue (net of VAT) of the orders whose sale voucher is dated in the range, less
cost of goods, gifts, commission and freight, equal to a direct sum of those orders' voucher lines (red-letter
refunds taken back out); the channel filter narrows it."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date
from decimal import Decimal

from sqlmodel import select

from app.domain.finance.models import LineKind, Voucher, VoucherKind, VoucherLine
from tests.integration.finance.test_margins import books
from tests.integration.reports.test_report_pages import as_viewer

NOVEMBER = {"date_from": "2026-11-01", "date_to": "2026-11-30"}
COSTS = (LineKind.cost_of_goods, LineKind.gift_cost, LineKind.commission, LineKind.freight)


async def summed_directly(db, channel: str = "") -> dict[str, list[int]]:
    """Per channel: orders, revenue, each cost and the margin, summed from the vouchers' lines themselves."""
    async with db.reading() as session:
        vouchers = (await session.exec(select(Voucher))).all()
        lines = (await session.exec(select(VoucherLine))).all()
    in_range = {
        v.order_id: v.channel
        for v in vouchers
        if v.kind == VoucherKind.sale.value
        and date(2026, 11, 1) <= v.voucher_date <= date(2026, 11, 30)
        and channel in ("", v.channel)
    }
    order_of = {v.id: v.order_id for v in vouchers}
    sums: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for line in lines:
        order_id = order_of[line.voucher_id]
        if order_id in in_range:
            sign = 1 if line.line_kind == LineKind.revenue.value else -1
            amount = (line.credit_fen - line.debit_fen) * sign
            sums[in_range[order_id]][line.line_kind] += amount
    result = {}
    for order_channel, figures in sums.items():
        revenue = figures[LineKind.revenue.value]
        costs = [figures[kind.value] for kind in COSTS]
        orders = sum(1 for c in in_range.values() if c == order_channel)
        result[order_channel] = [orders, revenue, *costs, revenue - sum(costs)]
    return result


def yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:.2f}"


async def test_gross_margin_by_channel_is_the_sum_of_the_orders_vouchers(client, db, make_user):
    await books(db)
    await as_viewer(client, make_user)
    labels = {"天猫": "tmall", "京东": "jd"}
    for query, channel in ((NOVEMBER, ""), ({**NOVEMBER, "channel": "jd"}, "jd")):
        response = await client.get("/reports/margin/download/csv", params=query)
        table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert table[0] == [
            "渠道",
            "订单数",
            "收入（不含税）",
            "商品成本",
            "赠品",
            "平台佣金",
            "运费",
            "毛利",
            "毛利率",
        ]
        expected = await summed_directly(db, channel)
        assert expected, "the range must hold vouchers for the test to mean anything"
        assert {labels[row[0]]: row[1:] for row in table[1:]} == {
            key: [str(v[0]), *(yuan(x) for x in v[1:]), f"{round(v[-1] / v[1] * 100, 1)}" if v[1] else ""]
            for key, v in expected.items()
        }
    page = (await client.get("/reports", params=NOVEMBER)).text
    assert "毛利（按渠道）" in page

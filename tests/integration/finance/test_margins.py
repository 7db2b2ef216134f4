"""Margins per order on /finance/margins, read from the orders' vouchers (sale minus red-letter)."""

from __future__ import annotations

import io
import re
from datetime import date

from openpyxl import load_workbook

from app.domain.accounts.models import Role
from app.domain.finance.models import LineKind, VoucherKind
from app.domain.shops.models import Channel
from tests.integration.finance.books import add_order, add_shop, add_voucher
from tests.integration.forms import login

NOVEMBER = "start=2026-11-01&end=2026-11-30"
K = LineKind


async def books(db) -> dict[str, int]:
    """The worked example.

    M1 (Tmall) paid 113.00 with 13 % VAT: revenue 100.00, VAT 13.00; commission 5.65, freight 8.00, goods at cost
    40.00 and a gift at 3.00. Its partial refund of 33.90 (30 %) reverses revenue 30.00, VAT 3.90, commission
    1.70 and goods 12.00 in red. M1's margin: 70.00 − 28.00 − 3.00 − 3.95 − 8.00 = 27.05 (38.6 %).
    M2 (JD): revenue 20.00, VAT 2.60, commission 1.81, freight 12.00, goods 15.00: margin −8.81.
    M3's sale voucher is dated in October and is left out of November.
    Together: revenue 90.00, goods 43.00, gifts 3.00, commission 5.76, freight 20.00 → margin 18.24 (20.3 %).
    """
    tmall, jd = await add_shop(db, Channel.tmall), await add_shop(db, Channel.jd)
    m1 = await add_order(db, tmall, "tmall", "M1", 11300)
    m2 = await add_order(db, jd, "jd", "M2", 2260)
    m3 = await add_order(db, tmall, "tmall", "M3", 5000)
    sale = [
        (K.receivable, 11300, 0),
        (K.revenue, 0, 10000),
        (K.output_vat, 0, 1300),
        (K.commission, 565, 0),
        (K.commission_payable, 0, 565),
        (K.freight, 800, 0),
        (K.freight_payable, 0, 800),
        (K.cost_of_goods, 4000, 0),
        (K.inventory, 0, 4000),
        (K.gift_cost, 300, 0),
        (K.inventory, 0, 300),
    ]
    await add_voucher(db, f"sale:order:{m1}", m1, "tmall", tmall, date(2026, 11, 30), sale)
    red = [
        (K.receivable, -3390, 0),
        (K.revenue, 0, -3000),
        (K.output_vat, 0, -390),
        (K.commission, -170, 0),
        (K.commission_payable, 0, -170),
        (K.cost_of_goods, -1200, 0),
        (K.inventory, 0, -1200),
    ]
    await add_voucher(db, "refund:case:1", m1, "tmall", tmall, date(2026, 12, 1), red, kind=VoucherKind.refund)
    loss = [
        (K.receivable, 2260, 0),
        (K.revenue, 0, 2000),
        (K.output_vat, 0, 260),
        (K.commission, 181, 0),
        (K.commission_payable, 0, 181),
        (K.freight, 1200, 0),
        (K.freight_payable, 0, 1200),
        (K.cost_of_goods, 1500, 0),
        (K.inventory, 0, 1500),
    ]
    await add_voucher(db, f"sale:order:{m2}", m2, "jd", jd, date(2026, 11, 15), loss)
    october = [(K.receivable, 5000, 0), (K.revenue, 0, 5000)]
    await add_voucher(db, f"sale:order:{m3}", m3, "tmall", tmall, date(2026, 10, 31), october)
    return {"M1": m1, "M2": m2, "M3": m3, "tmall": tmall, "jd": jd}


def rows_of(html: str) -> list[tuple[str, int]]:
    return [
        (m[0], int(m[1]))
        for m in re.findall(r'data-testid="margin-row" data-external-id="([^"]+)" data-margin="(-?\d+)"', html)
    ]


async def as_finance(client, make_user) -> None:
    await make_user(Role.finance, "finance1")
    await login(client, "finance1")


async def test_margins_per_order_follow_the_worked_example_lowest_first_with_totals(client, make_user, db):
    await books(db)
    await as_finance(client, make_user)
    page = await client.get(f"/finance/margins?{NOVEMBER}")
    assert page.status_code == 200
    assert rows_of(page.text) == [("M2", -881), ("M1", 2705)]
    total = page.text.split('data-testid="margins-total"', 1)[1].split("</tr>", 1)[0]
    assert [cell for cell in re.findall(r'<td class="num">([^<]*)</td>', total)] == [
        "¥90.00",
        "¥43.00",
        "¥3.00",
        "¥5.76",
        "¥20.00",
        "¥18.24",
        "20.3%",
    ]
    assert "38.6%" in page.text
    highest = await client.get(f"/finance/margins?{NOVEMBER}&order=desc")
    assert rows_of(highest.text) == [("M1", 2705), ("M2", -881)]


async def test_margins_filter_by_channel_shop_and_day(client, make_user, db):
    ids = await books(db)
    await as_finance(client, make_user)
    assert rows_of((await client.get(f"/finance/margins?{NOVEMBER}&channel=jd")).text) == [("M2", -881)]
    assert rows_of((await client.get(f"/finance/margins?{NOVEMBER}&shop={ids['tmall']}")).text) == [("M1", 2705)]
    assert rows_of((await client.get("/finance/margins?end=2026-10-31")).text) == [("M3", 5000)]
    refused = await client.get("/finance/margins?start=2026-13-01")
    assert refused.status_code == 400


async def test_the_margins_download_opens_in_excel_with_the_rows_and_the_total(client, make_user, db):
    await books(db)
    await as_finance(client, make_user)
    response = await client.get(f"/finance/margins/download?{NOVEMBER}")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == (
        "平台单号",
        "渠道",
        "收入(不含税)",
        "商品成本",
        "赠品成本",
        "平台佣金",
        "运费",
        "毛利",
        "毛利率%",
    )
    assert [row[0] for row in rows[1:]] == ["M2", "M1", "合计"]
    assert rows[2][2:] == (70.0, 28.0, 3.0, 3.95, 8.0, 27.05, 38.6)
    assert rows[3][7:] == (18.24, 20.3)


async def test_a_reversed_range_is_refused_in_chinese_on_the_page_and_the_download(client, make_user, db):
    await books(db)
    await as_finance(client, make_user)

    for url in ("/finance/margins", "/finance/margins/download"):
        refused = await client.get(f"{url}?start=2026-11-30&end=2026-11-01")
        assert refused.status_code == 400, url
        assert "开始日期（2026-11-30）晚于结束日期（2026-11-01）" in refused.text, url
    fragment = await client.get("/finance/margins?start=2026-11-30&end=2026-11-01", headers={"HX-Request": "true"})
    assert fragment.status_code == 400 and "晚于结束日期" in fragment.text

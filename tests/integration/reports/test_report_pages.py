"""报表: each report's figures equal a direct count of the orders for the filters asked, its chart's data and
its CSV and Excel downloads say the same, and filters that cannot be used are refused with a message."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from datetime import date
from decimal import Decimal

from openpyxl import load_workbook

from app.domain.accounts.models import Role
from app.domain.reports.queries import same_day_last_year
from tests.integration.forms import login
from tests.integration.reports.conftest import count_directly

RANGE = {"date_from": "2026-11-10", "date_to": "2026-11-13"}


async def as_viewer(client, make_user) -> None:
    await make_user(Role.viewer, "viewer")
    assert (await login(client, "viewer")).status_code in (302, 303)


def chart_data(page: str, key: str) -> dict:
    found = re.search(rf'<script type="application/json" id="chart-data-{key}">(.*?)</script>', page, re.S)
    assert found, f"no chart data for {key}"
    return json.loads(found.group(1))


def yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:.2f}"


async def expected_gmv(db, *, channel: str = "", shop_id: int | None = None) -> dict[tuple[str, str], list[int]]:
    """Per day and channel: orders, paid orders, GMV, refunds, net, counted from the orders themselves."""
    first, last = date.fromisoformat(RANGE["date_from"]), date.fromisoformat(RANGE["date_to"])
    rows: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for (day, _hour, order_channel, order_shop), cell in (await count_directly(db)).items():
        if not first <= day <= last or (channel and order_channel != channel) or shop_id not in (None, order_shop):
            continue
        row = rows[(day.isoformat(), order_channel)]
        for index, value in enumerate(
            (cell.orders, cell.paid_orders, cell.gmv_fen, cell.refund_fen, cell.gmv_fen - cell.refund_fen)
        ):
            row[index] += value
    return dict(rows)


async def downloaded_gmv(client, query: dict[str, str]) -> dict[tuple[str, str], list[str]]:
    response = await client.get("/reports/gmv/download/csv", params=query)
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert table[0] == ["日期", "渠道", "订单数", "支付订单数", "成交额", "退款额", "净成交额"]
    return {(row[0], row[1]): row[2:] for row in table[1:]}


async def test_gmv_by_channel_and_day_equals_a_count_of_the_orders_in_csv_and_excel(client, db, make_user, data_set):
    await as_viewer(client, make_user)
    expected = await expected_gmv(db)
    labels = {"tmall": "天猫", "jd": "京东"}
    shown = await downloaded_gmv(client, RANGE)
    assert shown == {
        (day, labels[channel]): [str(values[0]), str(values[1]), *(yuan(v) for v in values[2:])]
        for (day, channel), values in expected.items()
    }
    workbook = load_workbook(io.BytesIO((await client.get("/reports/gmv/download/xlsx", params=RANGE)).content))
    sheet = list(workbook.active.iter_rows(values_only=True))
    assert {(row[0], row[1]): [row[2], row[3], *(f"{Decimal(str(v)):.2f}" for v in row[4:])] for row in sheet[1:]} == {
        key: [int(values[0]), int(values[1]), *values[2:]] for key, values in shown.items()
    }


async def test_the_channel_and_shop_filters_narrow_the_figures(client, db, make_user, shops, data_set):
    await as_viewer(client, make_user)
    labels = {"tmall": "天猫", "jd": "京东"}
    shop_b = shops["tmall-b"].id
    for query, expected in (
        ({**RANGE, "channel": "jd"}, await expected_gmv(db, channel="jd")),
        ({**RANGE, "shop": str(shop_b)}, await expected_gmv(db, shop_id=shop_b)),
    ):
        shown = await downloaded_gmv(client, query)
        assert shown == {
            (day, labels[channel]): [str(values[0]), str(values[1]), *(yuan(v) for v in values[2:])]
            for (day, channel), values in expected.items()
        }
        assert shown, "the filter must keep something for the test to mean anything"


async def test_the_page_draws_gmv_per_channel_and_the_hours_of_the_last_day_beside_last_year(
    client, db, make_user, data_set
):
    await as_viewer(client, make_user)
    response = await client.get("/reports", params=RANGE)
    assert response.status_code == 200
    page = response.text
    assert '<script src="/static/vendor/echarts-5.6.0/echarts.min.js" defer></script>' in page
    assert "成交额与订单（按渠道、按日）" in page

    gmv = chart_data(page, "gmv")
    expected = await expected_gmv(db)
    assert gmv["categories"] == ["2026-11-10", "2026-11-11", "2026-11-12", "2026-11-13"]
    by_name = {series["name"]: series["values"] for series in gmv["series"]}
    assert by_name == {
        label: [expected.get((day, channel), [0, 0, 0])[2] / 100 for day in gmv["categories"]]
        for channel, label in (("jd", "京东"), ("tmall", "天猫"))
    }

    hourly = chart_data(page, "hourly")
    day = date.fromisoformat(RANGE["date_to"])
    before = same_day_last_year(day)
    counted = await count_directly(db)
    per_hour = {
        shown_day: [
            sum(c.orders for (d, h, _, _), c in counted.items() if d == shown_day and h == hour) for hour in range(24)
        ]
        for shown_day in (day, before)
    }
    assert [series["name"] for series in hourly["series"]] == [day.isoformat(), before.isoformat()]
    assert [series["values"] for series in hourly["series"]] == [per_hour[day], per_hour[before]]
    assert "每小时订单：2026-11-13 对比 2025-11-13" in page


async def test_the_busiest_day_beside_the_same_day_last_year(client, db, make_user, data_set):
    await as_viewer(client, make_user)
    response = await client.get(
        "/reports/hourly/download/csv", params={"date_from": "2026-11-11", "date_to": "2026-11-11"}
    )
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert table[0] == ["小时", "订单数 2026-11-11", "订单数 2025-11-11", "成交额 2026-11-11", "成交额 2025-11-11"]
    counted = await count_directly(db)
    for row in table[1:]:
        hour = int(row[0][:2])
        today = [c for (d, h, _, _), c in counted.items() if d == date(2026, 11, 11) and h == hour]
        last_year = [c for (d, h, _, _), c in counted.items() if d == date(2025, 11, 11) and h == hour]
        assert row[1:] == [
            str(sum(c.orders for c in today)),
            str(sum(c.orders for c in last_year)),
            yuan(sum(c.gmv_fen for c in today)),
            yuan(sum(c.gmv_fen for c in last_year)),
        ]
    assert sum(int(row[1]) for row in table[1:]) > 0 and sum(int(row[2]) for row in table[1:]) > 0


async def test_filters_that_cannot_be_used_are_refused_with_a_message(client, make_user, data_set):
    await as_viewer(client, make_user)
    for query, message in (
        ({"date_from": "2026-11-13", "date_to": "2026-11-10"}, "开始日期晚于结束日期"),
        ({"date_from": "2024-01-01", "date_to": "2026-11-10"}, "报表最多覆盖 366 天"),
        ({"date_from": "2026-02-30"}, "不是"),
        ({"channel": "<b>x</b>"}, "没有渠道 &lt;b&gt;x&lt;/b&gt;"),
        ({"shop": "abc"}, "没有这个店铺"),
        ({"shop": "999999"}, "没有这个店铺"),
    ):
        response = await client.get("/reports", params=query)
        assert response.status_code == 400, query
        assert message in response.text, (query, response.text[-600:])
        download = await client.get("/reports/gmv/download/csv", params=query)
        assert download.status_code == 400 and message in download.text, query
    # Only the last day given, near the first day kept: the range starts at that first day, and its links work.
    page = await client.get("/reports", params={"date_to": "2000-01-05"})
    assert page.status_code == 200 and 'value="2000-01-01"' in page.text
    assert (await client.get("/reports/gmv/download/csv", params={"date_to": "2000-01-05"})).status_code == 200
    assert (await client.get("/reports/nothing/download/csv")).status_code == 404
    assert (await client.get("/reports/gmv/download/pdf")).status_code == 404

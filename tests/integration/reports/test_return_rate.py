"""退货率: per SKU and reason, the units return and exchange cases asked back against the units sold, equal to a direct
count over the stored orders and cases for a small fixed data set, on the page, in its chart and in its downloads;
and the SKU rollups stay equal to the orders when an order is cancelled, refunded or moved after it was counted."""

from __future__ import annotations

import csv
import io
import operator
from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlmodel import delete, select

from app.db import CHINA, Database
from app.domain.accounts.services import Actor
from app.domain.aftersales import services as aftersales
from app.domain.aftersales.models import AfterSaleCase, AfterSaleLine, CaseKind
from app.domain.aftersales.services import CaseRequest, LineRequest
from app.domain.inventory.models import Sku
from app.domain.orders import services as orders
from app.domain.orders.changes import hour_of
from app.domain.orders.models import Order, OrderLine, OrderStatus
from app.domain.orders.schemas import REFUND_SUCCESS_STATUSES, NormalizedLine, NormalizedOrder
from app.domain.reports import rollups
from app.domain.reports.models import SkuHourRollup, SkuMonthRollup
from app.domain.reports.queries import ReportFilters, return_rate
from app.domain.shops.models import Shop
from app.params import start_of_day
from app.settings import Settings
from tests.integration.orders.test_order_api import land
from tests.integration.reports.conftest import ELEVEN_ELEVEN, change_while_refreshing, normalized
from tests.integration.reports.test_report_pages import as_viewer, chart_data

SERVICE = Actor("user", None, "service")
FIRST, LAST = date(2026, 11, 11), date(2026, 11, 13)
RANGE = {"date_from": FIRST.isoformat(), "date_to": LAST.isoformat()}
NAMES = {"TEE-M": "纯棉T恤 M", "MUG-1": "马克杯", "CAP-9": "棒球帽", "STICKER": "贴纸"}

#: (SKU, units, paid fen, gift, refunded) per line.
Line = tuple[str, int, int, bool, bool]


def order(
    external_id: str,
    placed_at: datetime,
    lines: list[Line],
    *,
    status: str = "shipped",
    paid: bool = True,
    updated_at: datetime | None = None,
) -> NormalizedOrder:
    """A shipped order of these lines, each SKU's seller code being ours."""
    data = normalized(external_id, placed_at, status=status, paid=paid, updated_at=updated_at)
    total = sum(fen for _, _, fen, _, _ in lines)
    return replace(
        data,
        items_fen=total,
        paid_fen=total if paid else 0,
        lines=[
            NormalizedLine(
                str(index), sku, "", NAMES[sku], qty, fen // qty, fen, gift, refund_status="SUCCESS" if refunded else ""
            )
            for index, (sku, qty, fen, gift, refunded) in enumerate(lines)
        ],
    )


TEE_AND_MUG: list[Line] = [("TEE-M", 2, 19800, False, False), ("MUG-1", 1, 3900, False, False)]
J1_LINES: list[Line] = [("TEE-M", 2, 19800, False, False), ("CAP-9", 2, 9800, False, False)]


async def open_case(db: Database, kind: CaseKind, order_id: int, sku: str, qty: int, reason: str, at: datetime) -> int:
    """A case of ``qty`` units of the order's line of ``sku``, opened at ``at`` through the after-sales service."""
    async with db.transaction() as session:
        line = (await session.exec(select(OrderLine).where(OrderLine.order_id == order_id, OrderLine.sku == sku))).one()
        view = await aftersales.open_case(
            session,
            SERVICE,
            CaseRequest(kind=kind, order_id=order_id, lines=[LineRequest(order_id, line.line_id, qty)], reason=reason),
            now=at,
        )
    assert view.case.id is not None
    return view.case.id


@pytest.fixture
async def returns_set(db: Database, settings: Settings, shops: dict[str, Shop]) -> dict[str, int]:
    """Orders of three SKUs (and a gift) over 11-11 to 11-13 in three shops, some cancelled, unpaid, refunded or
    outside the range; and cases of every kind, some refused, withdrawn or opened outside the range."""
    async with db.transaction() as session:
        for code, name in NAMES.items():
            session.add(Sku(code=code, name=name))
    at = ELEVEN_ELEVEN
    a1, a2, a3, a4 = await land(
        db,
        settings,
        shops["tmall-a"],
        order("A1", at + timedelta(hours=1), [*TEE_AND_MUG, ("STICKER", 1, 0, True, False)]),
        order("A2", at + timedelta(hours=9), [("TEE-M", 1, 9900, False, False)]),
        order("A3", at + timedelta(hours=10), [("TEE-M", 3, 29700, False, False)], status="cancelled"),
        order("A4", at + timedelta(hours=11), [("MUG-1", 1, 3900, False, False)], status="received", paid=False),
    )
    (b1,) = await land(
        db,
        settings,
        shops["tmall-b"],
        order(
            "B1", at + timedelta(days=1, hours=3), [("MUG-1", 4, 15600, False, False), ("CAP-9", 1, 4900, False, True)]
        ),
    )
    j1, j2 = await land(
        db,
        settings,
        shops["jd"],
        order("J1", at + timedelta(days=2, hours=20), J1_LINES),
        # Sold the week before the range, returned in it.
        order("J2", at - timedelta(days=7), [("CAP-9", 1, 4900, False, False)]),
    )
    opened = at + timedelta(days=2, hours=2)
    await open_case(db, CaseKind.return_refund, a1, "TEE-M", 1, "尺码不合适", opened)
    await open_case(db, CaseKind.exchange, a2, "TEE-M", 1, "尺码不合适", opened)
    await open_case(db, CaseKind.return_refund, a1, "MUG-1", 1, "破损", opened)
    await open_case(db, CaseKind.return_refund, b1, "MUG-1", 2, "破损", opened)
    await open_case(db, CaseKind.return_refund, j1, "CAP-9", 1, "", opened)
    await open_case(db, CaseKind.return_refund, j2, "CAP-9", 1, "质量问题", opened)
    # Not returns of goods: a refund without return, and a reissue (its order is sent at no charge: not a sale).
    await open_case(db, CaseKind.refund_only, j1, "TEE-M", 1, "不想要了", opened)
    reissue = await open_case(db, CaseKind.reissue, b1, "CAP-9", 1, "少发", opened)
    async with db.transaction() as session:
        await aftersales.approve(session, reissue, SERVICE, now=opened)
    # Came to nothing: refused, withdrawn; and one opened the day after the range.
    refused = await open_case(db, CaseKind.return_refund, j1, "TEE-M", 1, "质量问题", opened)
    withdrawn = await open_case(db, CaseKind.return_refund, b1, "MUG-1", 1, "破损", opened)
    async with db.transaction() as session:
        await aftersales.refuse(session, refused, SERVICE, "超过退货期限", now=opened)
        await aftersales.withdraw(session, withdrawn, SERVICE, now=opened)
    await open_case(db, CaseKind.return_refund, j1, "TEE-M", 1, "尺码不合适", at + timedelta(days=3, hours=1))
    await rollups.refresh_order_rollups(db)
    return {"A1": a1, "A2": a2, "A3": a3, "A4": a4, "B1": b1, "J1": j1, "J2": j2}


def counted_line(order: Order, line: OrderLine) -> bool:
    """Whether a line's units are sold, said again here: a paid order, not cancelled, not sent again; not a gift."""
    return (
        order.reissue_of is None
        and order.paid_at is not None
        and order.status != OrderStatus.cancelled
        and not line.is_gift
        and bool(line.sku)
    )


async def sold_directly(db: Database) -> dict[tuple[datetime, str, int, str], tuple[int, int]]:
    """Units sold and refunded per UTC hour, channel, shop and SKU, counted straight from the stored orders."""
    async with db.reading() as session:
        stored = {order.id: order for order in (await session.exec(select(Order))).all()}
        lines = (await session.exec(select(OrderLine))).all()
    counted: dict[tuple[datetime, str, int, str], list[int]] = defaultdict(lambda: [0, 0])
    for line in lines:
        owner = stored[line.order_id]
        if counted_line(owner, line):
            cell = counted[(hour_of(owner.placed_at), owner.channel, owner.shop_id, line.sku)]
            cell[0] += line.qty
            cell[1] += line.qty if line.refund_status in REFUND_SUCCESS_STATUSES else 0
    return {key: (units, refunded) for key, (units, refunded) in counted.items()}


async def kept_sku_rollups(db: Database) -> dict[tuple[datetime, str, int, str], tuple[int, int]]:
    async with db.reading() as session:
        rows = (await session.exec(select(SkuHourRollup))).all()
    return {(row.hour_start, row.channel, row.shop_id, row.sku_code): (row.units, row.refunded_units) for row in rows}


async def kept_months(db: Database) -> dict[tuple[date, str, int, str], tuple[int, int]]:
    async with db.reading() as session:
        rows = (await session.exec(select(SkuMonthRollup))).all()
    return {(row.month, row.channel, row.shop_id, row.sku_code): (row.units, row.refunded_units) for row in rows}


async def months_directly(db: Database) -> dict[tuple[date, str, int, str], tuple[int, int]]:
    """Units sold and refunded per China month, channel, shop and SKU, from the stored orders."""
    months: dict[tuple[date, str, int, str], list[int]] = defaultdict(lambda: [0, 0])
    for (hour, channel, shop_id, sku), (units, refunded) in (await sold_directly(db)).items():
        cell = months[(hour.astimezone(CHINA).date().replace(day=1), channel, shop_id, sku)]
        cell[0] += units
        cell[1] += refunded
    return {key: (units, refunded) for key, (units, refunded) in months.items()}


async def expected_rows(
    db: Database, *, channel: str = "", shop_id: int | None = None, first: date = FIRST, last: date = LAST
) -> dict[tuple, list]:
    """(SKU, reason or None for all) → [returned, sold, refunded, rate], counted straight from the orders and cases
    of the range."""
    start, end = start_of_day(first, CHINA), start_of_day(last, CHINA) + timedelta(days=1)
    sold: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (hour, row_channel, row_shop, sku), (units, refunded) in (await sold_directly(db)).items():
        if start <= hour < end and channel in ("", row_channel) and shop_id in (None, row_shop):
            sold[sku][0] += units
            sold[sku][1] += refunded
    async with db.reading() as session:
        cases = {case.id: case for case in (await session.exec(select(AfterSaleCase))).all()}
        lines = (await session.exec(select(AfterSaleLine))).all()
    back: dict[tuple[str, str], int] = defaultdict(int)
    for line in lines:
        case = cases[line.case_id]
        if (
            case.kind in ("return_refund", "exchange")
            and case.status not in ("refused", "cancelled")
            and start <= case.created_at < end
            and channel in ("", case.channel)
            and shop_id in (None, case.shop_id)
        ):
            back[(line.sku, case.reason)] += line.qty
    rows: dict[tuple, list] = {}
    for sku in {*sold, *(sku for sku, _ in back)}:
        units, refunded = sold.get(sku, [0, 0])
        total = sum(count for (code, _), count in back.items() if code == sku)
        rows[(sku, None)] = [total, units, refunded, total / units if units else None]
        for (code, reason), count in back.items():
            if code == sku:
                rows[(sku, reason)] = [count, None, None, count / units if units else None]
    return rows


async def reported_rows(db: Database, **filters: str) -> dict[tuple, list]:
    async with db.reading() as session:
        report = await return_rate(session, ReportFilters.from_query({**RANGE, **filters}))
    assert len({(row[0], row[2]) for row in report.rows}) == len(report.rows), "one row per SKU and reason"
    for row in report.rows:
        assert row[1] == NAMES[row[0]]
    return {(row[0], row[2]): row[3:] for row in report.rows}


async def test_the_return_rate_of_each_sku_and_reason_equals_a_count_of_the_orders_and_cases(db, returns_set):
    reported = await reported_rows(db)
    assert reported == await expected_rows(db)
    # Said by hand for one SKU: 2 + 1 (A1, A2) + 2 (J1) T-shirts sold in the range, A3 cancelled; A1's return and
    # A2's exchange for 尺码不合适; J1's refund without return, the refused case and the one after the range not.
    assert reported[("TEE-M", None)] == [2, 5, 0, 2 / 5]
    assert reported[("TEE-M", "尺码不合适")] == [2, None, None, 2 / 5], "its units sold are on the SKU's row only"
    # The gift is no sale, the reissue of a cap no sale; J2's cap was sold before the range but returned in it.
    assert ("STICKER", None) not in reported
    assert reported[("CAP-9", None)] == [2, 3, 1, 2 / 3]
    assert reported[("MUG-1", None)] == [3, 5, 0, 3 / 5]


async def test_a_range_of_whole_months_and_odd_days_counts_each_unit_once(db, returns_set):
    # October's last day, all November (from the monthly rollup) and December's first two days.
    query = {"date_from": "2026-10-31", "date_to": "2026-12-02"}
    expected = await expected_rows(db, first=date(2026, 10, 31), last=date(2026, 12, 2))
    assert await reported_rows(db, **query) == expected
    assert expected[("TEE-M", None)] == [3, 5, 0, 3 / 5], "the case opened after 11-13 counts in this range"
    assert expected[("CAP-9", None)] == [2, 4, 1, 2 / 4], "and J2, sold on 11-04, too"


async def test_the_channel_and_shop_filters_narrow_sales_and_returns_alike(db, shops, returns_set):
    assert await reported_rows(db, channel="jd") == await expected_rows(db, channel="jd")
    shop_id = shops["tmall-b"].id
    assert shop_id is not None
    narrowed = await reported_rows(db, shop=str(shop_id))
    assert narrowed == await expected_rows(db, shop_id=shop_id)
    assert set(narrowed) == {("MUG-1", None), ("MUG-1", "破损"), ("CAP-9", None)}


async def test_the_highest_rate_comes_first_each_sku_above_its_reasons(db, returns_set):
    async with db.reading() as session:
        report = await return_rate(session, ReportFilters.from_query(RANGE))
    totals = [row for row in report.rows if row[2] is None]
    assert [row[0] for row in totals] == ["CAP-9", "MUG-1", "TEE-M"]
    assert [row[2] for row in report.rows if row[0] == "CAP-9"] == [None, "", "质量问题"]


async def test_the_sku_rollups_follow_an_order_cancelled_refunded_or_moved_after_it_was_counted(
    db, settings, shops, returns_set
):
    assert await kept_sku_rollups(db) == await sold_directly(db)
    assert await kept_months(db) == await months_directly(db)
    at = ELEVEN_ELEVEN
    async with db.transaction() as session:
        a2 = await session.get(Order, returns_set["A2"])
        assert a2 is not None
        await orders.set_status(session, a2, OrderStatus.cancelled)
    # The platform refunds J1's caps, says J2 was placed in October and A1 two hours later than first told.
    later = at + timedelta(days=4)
    await land(
        db,
        settings,
        shops["jd"],
        order("J1", at + timedelta(days=2, hours=20), [J1_LINES[0], ("CAP-9", 2, 9800, False, True)], updated_at=later),
        order("J2", at - timedelta(days=14), [("CAP-9", 1, 4900, False, False)], updated_at=later),
    )
    await land(
        db,
        settings,
        shops["tmall-a"],
        order("A1", at + timedelta(hours=3), TEE_AND_MUG, updated_at=later),
    )
    stale = (await kept_sku_rollups(db), await kept_months(db))
    fresh = (await sold_directly(db), await months_directly(db))
    assert all(map(operator.ne, stale, fresh)), "the changes must matter to the rollups for this test to mean anything"

    await rollups.refresh_order_rollups(db)
    assert await kept_sku_rollups(db) == await sold_directly(db)
    assert await kept_months(db) == await months_directly(db)
    assert await reported_rows(db) == await expected_rows(db)
    assert (await reported_rows(db))[("TEE-M", None)] == [2, 4, 0, 2 / 4]
    assert (await reported_rows(db))[("CAP-9", None)][1:3] == [3, 3]

    kept, months = await kept_sku_rollups(db), await kept_months(db)
    async with db.transaction() as session:
        await rollups.rebuild_order_rollups(session)
    assert (await kept_sku_rollups(db), await kept_months(db)) == (kept, months)


async def test_units_sold_while_refreshes_run_are_all_counted_in_the_end_by_the_hour_and_the_month(
    db, settings, shops, returns_set
):
    # Either side of November's last midnight (China time), so months change as well as hours.
    await change_while_refreshing(
        db,
        settings,
        shops["tmall-b"],
        lambda index: order(
            f"N{index}",
            ELEVEN_ELEVEN + timedelta(days=19, hours=22 + index % 4, minutes=index),
            [("MUG-1", 1 + index % 3, 3900, False, False)],
        ),
    )
    assert await kept_sku_rollups(db) == await sold_directly(db)
    assert await kept_months(db) == await months_directly(db)
    assert {month for month, *_ in await kept_months(db)} == {date(2026, 11, 1), date(2026, 12, 1)}


async def test_the_page_chart_and_downloads_show_the_return_rate_with_reasons_as_given(
    client, db, make_user, returns_set
):
    await as_viewer(client, make_user)
    page = await client.get("/reports", params=RANGE)
    assert page.status_code == 200
    assert 'data-testid="report-returns"' in page.text
    chart = chart_data(page.text, "returns")
    assert chart["categories"] == ["CAP-9", "MUG-1", "TEE-M"]
    stacks = {series["name"]: series["values"] for series in chart["series"]}
    # CAP-9: one of three sold came back with no reason, one (J2's) for 质量问题; MUG-1's three of five were 破损.
    assert stacks["未填原因"] == [round(100 / 3, 2), 0, 0]
    assert stacks["质量问题"] == [round(100 / 3, 2), 0, 0]
    assert stacks["破损"] == [0, 60.0, 0]
    assert stacks["尺码不合适"] == [0, 0, 40.0]

    response = await client.get("/reports/returns/download/csv", params=RANGE)
    assert response.status_code == 200
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert table[0] == ["商品编码", "名称", "原因", "退货件数", "销售件数", "退款件数", "退货率"]
    expected = await expected_rows(db)
    reasons = {None: "全部原因", "": "未填原因"}
    assert {(row[0], row[2]): row[3:] for row in table[1:]} == {
        (sku, reasons.get(reason, reason)): [
            str(values[0]),
            "" if values[1] is None else str(values[1]),
            "" if values[2] is None else str(values[2]),
            "" if values[3] is None else str(round(values[3] * 100, 1)),
        ]
        for (sku, reason), values in expected.items()
    }
    workbook = load_workbook(io.BytesIO((await client.get("/reports/returns/download/xlsx", params=RANGE)).content))
    sheet = list(workbook.active.iter_rows(values_only=True))
    assert len(sheet) == len(table)
    # Summed in a spreadsheet, the units-sold column counts each SKU's sales once.
    assert sum(int(row[4]) for row in table[1:] if row[4]) == sum(
        values[1] for (_, reason), values in expected.items() if reason is None
    )
    assert [list(row[:3]) for row in sheet[1:]] == [row[:3] for row in table[1:]]


async def test_reports_rebuild_counts_the_units_sold_before_an_upgrade_added_their_rollups(
    db, reports_rebuild, returns_set
):
    kept, months = await kept_sku_rollups(db), await kept_months(db)
    async with db.transaction() as session:
        await session.exec(delete(SkuHourRollup))
        await session.exec(delete(SkuMonthRollup))
    await reports_rebuild()
    assert (await kept_sku_rollups(db), await kept_months(db)) == (kept, months)
    assert await reported_rows(db) == await expected_rows(db)

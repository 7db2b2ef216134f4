"""The reports' figures, read from rollups and counters (the orders' and SKUs' hourly rollups, the flows' hit
counters) and from small sets (the orders waiting in review, the return cases of the range), never by scanning the
orders: each report is a table of raw values (days, channel codes, counts, fen) that the pages, the charts and the
downloads present alike."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, ClassVar

from sqlalchemy import func, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import CHINA, utcnow
from app.domain.aftersales import queries as aftersales
from app.domain.finance import margins
from app.domain.fulfillment import carrier_master, shipment_rollups
from app.domain.fulfillment.models import ShipmentDayRollup
from app.domain.inventory import services as inventory
from app.domain.processing import hits
from app.domain.processing import queries as processing
from app.domain.reports.models import OrderHourRollup, SkuHourRollup, SkuMonthRollup
from app.domain.shops import services as shop_readers
from app.domain.shops.models import Channel
from app.errors import DomainError, excerpt
from app.i18n import N_
from app.params import FIRST_DAY, parse_day, parse_id, start_of_day

#: Days the date filter covers when it is not given: the last 30, today included.
DEFAULT_DAYS = 30
#: The longest range a report covers.
MAX_DAYS = 366


class ReportFilterError(DomainError):
    """A report's filters that cannot be used."""

    title = N_("Invalid request")
    in_place = False
    messages: ClassVar[Mapping[str, str]] = {
        "range_reversed": N_("The first day comes after the last day."),
        "range_too_long": N_("A report covers at most %(days)s days."),
        "unknown_channel": N_("There is no channel %(value)s."),
        "unknown_shop": N_("There is no such shop."),
    }


def today() -> date:
    """Today in China, the day the reports' ranges end by default."""
    return utcnow().astimezone(CHINA).date()


@dataclass(frozen=True)
class ReportFilters:
    """What every report is narrowed by: China days from ``first`` to ``last`` (both included), a channel, a shop."""

    first: date
    last: date
    channel: str = ""
    shop_id: int | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str], *, now: date | None = None) -> ReportFilters:
        """The filters from a report page's query string; a missing day means the last 30 days up to today."""
        last = parse_day(query.get("date_to", ""), "date_to") or (now or today())
        first = parse_day(query.get("date_from", ""), "date_from") or max(
            FIRST_DAY, last - timedelta(days=DEFAULT_DAYS - 1)
        )
        if first > last:
            raise ReportFilterError("range_reversed", field="date_from")
        if (last - first).days + 1 > MAX_DAYS:
            raise ReportFilterError("range_too_long", field="date_from", days=MAX_DAYS)
        channel = query.get("channel", "").strip()
        if channel and channel not in Channel.__members__:
            raise ReportFilterError("unknown_channel", field="channel", value=excerpt(channel))
        shop = query.get("shop", "").strip()
        shop_id = parse_id(shop) if shop else None
        if shop and shop_id is None:
            raise ReportFilterError("unknown_shop", field="shop")
        return cls(first=first, last=last, channel=channel, shop_id=shop_id)

    @classmethod
    async def kept(cls, session: AsyncSession, query: Mapping[str, str]) -> ReportFilters:
        """As :meth:`from_query`, the shop asked for among the shops kept."""
        filters = cls.from_query(query)
        if filters.shop_id is not None and await shop_readers.shop_of(session, filters.shop_id) is None:
            raise ReportFilterError("unknown_shop", field="shop")
        return filters

    def as_query(self) -> dict[str, str]:
        """The filters as query parameters, for links (downloads) that keep them."""
        values = {
            "date_from": self.first.isoformat(),
            "date_to": self.last.isoformat(),
            "channel": self.channel,
            "shop": str(self.shop_id or ""),
        }
        return {key: value for key, value in values.items() if value}

    def where(
        self,
        *,
        days: tuple[date, ...] | None = None,
        rollup: type[OrderHourRollup] | type[SkuHourRollup] | type[ShipmentDayRollup] = OrderHourRollup,
    ) -> list[ColumnElement[bool]]:
        """The rollup rows these filters keep (``days`` instead of the range when given), of the orders' hourly
        rollup unless another is named."""
        conditions: list[ColumnElement[bool]] = (
            [col(rollup.day).in_(days)]
            if days is not None
            else [col(rollup.day) >= self.first, col(rollup.day) <= self.last]
        )
        if self.channel:
            conditions.append(col(rollup.channel) == self.channel)
        if self.shop_id is not None:
            conditions.append(col(rollup.shop_id) == self.shop_id)
        return conditions


@dataclass(frozen=True)
class ReportColumn:
    """One column of a report's table: its heading (an English message id) and what its values are."""

    header: str
    #: day, hour, channel, text, count, yuan, percent, hours
    kind: str


@dataclass(frozen=True)
class Series:
    """One line or set of bars of a chart: its name and a value per category (fen or a count, as the chart's unit)."""

    name: str
    values: list[int] | list[float]
    #: How the name is shown: "msgid" (translated), "channel" (a channel's label) or "text" (as it is).
    name_kind: str = "msgid"


@dataclass(frozen=True)
class Chart:
    """How a report is drawn: a line or bar chart over ``categories`` (texts of the x axis) with its series."""

    kind: str
    categories: list[str]
    series: list[Series]
    #: What the values are: "yuan", "count" (orders), "hits", "days", "percent" (return rates) or "share" (of
    #: parcels, up to 100%; the axis is labelled so).
    unit: str = "count"
    #: How the categories are shown: "text" (as they are), "channel" or "hold_code" (translated labels).
    category_kind: str = "text"


@dataclass(frozen=True)
class Report:
    """One report: its key (the URL's), title and note (message ids), the table, and its chart."""

    key: str
    title: str
    note: str
    columns: list[ReportColumn]
    rows: list[list[Any]]
    chart: Chart
    #: Values the title and the note name, e.g. the two days compared.
    params: dict[str, str] = field(default_factory=dict)


async def gmv_by_channel_and_day(session: AsyncSession, filters: ReportFilters) -> Report:
    """成交额与订单: per China day and channel, the orders placed, the paid ones, their GMV, refunds and the net."""
    rollup = OrderHourRollup
    rows = (
        await session.exec(
            select(  # type: ignore[call-overload]
                col(rollup.day),
                col(rollup.channel),
                func.sum(rollup.orders),
                func.sum(rollup.paid_orders),
                func.sum(rollup.gmv_fen),
                func.sum(rollup.refund_fen),
            )
            .where(*filters.where())
            .group_by(col(rollup.day), col(rollup.channel))
            .order_by(col(rollup.day), col(rollup.channel))
        )
    ).all()
    table = [
        [day, channel, int(orders), int(paid), int(gmv), int(refund), int(gmv) - int(refund)]
        for day, channel, orders, paid, gmv, refund in rows
    ]
    days = _days(filters.first, filters.last)
    position = {day: index for index, day in enumerate(days)}
    by_channel: dict[str, list[int]] = {}
    for row in table:
        by_channel.setdefault(row[1], [0] * len(days))[position[row[0]]] = row[4]
    return Report(
        key="gmv",
        title=N_("GMV and orders by channel and day"),
        note=N_("Orders by the day they were placed; GMV is what paid orders were paid, refunds what went back."),
        columns=[
            ReportColumn(N_("Day"), "day"),
            ReportColumn(N_("Channel"), "channel"),
            ReportColumn(N_("Order count"), "count"),
            ReportColumn(N_("Paid orders"), "count"),
            ReportColumn(N_("GMV"), "yuan"),
            ReportColumn(N_("Refunds"), "yuan"),
            ReportColumn(N_("Net GMV"), "yuan"),
        ],
        rows=table,
        chart=Chart(
            kind="bar_stacked",
            categories=[day.isoformat() for day in days],
            series=[Series(channel, values, "channel") for channel, values in sorted(by_channel.items())],
            unit="yuan",
        ),
    )


def same_day_last_year(day: date) -> date:
    """The same date a year before (28 February for a 29th)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


async def orders_by_hour(session: AsyncSession, filters: ReportFilters) -> Report:
    """每小时订单 (the 双十一 curve): orders and GMV per hour of the range's last day beside the same day last year."""
    rollup = OrderHourRollup
    day, before = filters.last, same_day_last_year(filters.last)
    found = (
        await session.exec(
            select(  # type: ignore[call-overload]
                col(rollup.day), col(rollup.hour), func.sum(rollup.orders), func.sum(rollup.gmv_fen)
            )
            .where(*filters.where(days=(day, before)))
            .group_by(col(rollup.day), col(rollup.hour))
        )
    ).all()
    counted = {(found_day, int(hour)): (int(orders), int(gmv)) for found_day, hour, orders, gmv in found}
    table = []
    for hour in range(24):
        orders, gmv = counted.get((day, hour), (0, 0))
        orders_before, gmv_before = counted.get((before, hour), (0, 0))
        table.append([hour, orders, orders_before, gmv, gmv_before])
    return Report(
        key="hourly",
        title=N_("Orders per hour: %(day)s beside %(before)s"),
        note=N_("The last day of the range, hour by hour (China time), beside the same day a year before."),
        columns=[
            ReportColumn(N_("Hour"), "hour"),
            ReportColumn(N_("Order count %(day)s"), "count"),
            ReportColumn(N_("Order count %(before)s"), "count"),
            ReportColumn(N_("GMV %(day)s"), "yuan"),
            ReportColumn(N_("GMV %(before)s"), "yuan"),
        ],
        rows=table,
        chart=Chart(
            kind="line",
            categories=[f"{hour:02d}:00" for hour in range(24)],
            series=[
                Series(day.isoformat(), [row[1] for row in table], "text"),
                Series(before.isoformat(), [row[2] for row in table], "text"),
            ],
        ),
        params={"day": day.isoformat(), "before": before.isoformat()},
    )


async def held_orders(session: AsyncSession, filters: ReportFilters) -> Report:
    """挂起订单: the orders waiting in review now, by why, with how long they have waited (on average, the longest)."""
    now = utcnow()
    groups = await processing.held_by_code(session, channel=filters.channel, shop_id=filters.shop_id)
    table: list[list[Any]] = [
        [
            group.code,
            group.count,
            (now - group.mean_held_at).total_seconds() / 3600,
            (now - group.first_held_at).total_seconds() / 3600,
        ]
        for group in groups
    ]
    return Report(
        key="holds",
        title=N_("Held orders by reason and wait"),
        note=N_("Orders waiting in review now by why (the date range does not apply), with the hours they waited."),
        columns=[
            ReportColumn(N_("Reason"), "hold_code"),
            ReportColumn(N_("Order count"), "count"),
            ReportColumn(N_("Average wait (hours)"), "hours"),
            ReportColumn(N_("Longest wait (hours)"), "hours"),
        ],
        rows=table,
        chart=Chart(
            kind="bar",
            categories=[group.code for group in groups],
            series=[Series(N_("Order count"), [group.count for group in groups])],
            category_kind="hold_code",
        ),
    )


#: Nodes the hits chart draws (the table lists them all).
CHART_NODES = 15


async def rule_hits(session: AsyncSession, filters: ReportFilters) -> Report:
    """规则命中: how many runs passed each node of each flow version in the range (the workers' hourly counters)."""
    start = start_of_day(filters.first, CHINA)
    end = start_of_day(filters.last, CHINA) + timedelta(days=1)
    found = await hits.hits_by_node(session, start, end)
    table: list[list[Any]] = [[hit.flow_name, f"v{hit.version_number}", hit.node_name, hit.count] for hit in found]
    shown = found[:CHART_NODES]
    return Report(
        key="hits",
        title=N_("Rule hits per flow node"),
        note=N_("Runs through each node of each flow version in the range (channel and shop do not apply)."),
        columns=[
            ReportColumn(N_("Flow"), "text"),
            ReportColumn(N_("Version"), "text"),
            ReportColumn(N_("Node"), "text"),
            ReportColumn(N_("Hits"), "count"),
        ],
        rows=table,
        chart=Chart(
            kind="bar",
            categories=[f"{hit.flow_name} v{hit.version_number} · {hit.node_name}" for hit in shown],
            series=[Series(N_("Hits"), [hit.count for hit in shown])],
            unit="hits",
        ),
    )


#: The days of sales the days of cover are worked out from.
SALES_DAYS = 30


async def stock_cover(session: AsyncSession, filters: ReportFilters) -> Report:
    """库存: each SKU's available stock over all warehouses, what it sold a day over the last 30 days and so how many
    days it lasts; out-of-stock SKUs first, then those below their alert level (预警值), then the shortest cover."""
    skus = [sku for sku in await inventory.list_skus(session) if not sku.is_bundle and sku.is_active]
    available = await inventory.available_by_sku(session)
    sold = await inventory.units_sold_since(session, utcnow() - timedelta(days=SALES_DAYS))
    table: list[list[Any]] = []
    for sku in skus:
        units = available.get(sku.code, 0)
        per_day = sold.get(sku.code, 0) / SALES_DAYS
        state = "out" if units <= 0 else "low" if units <= sku.low_stock_threshold else "ok"
        cover = units / per_day if per_day > 0 and units > 0 else None
        table.append([sku.code, sku.name, state, units, sku.low_stock_threshold, sold.get(sku.code, 0), cover])
    order = {"out": 0, "low": 1, "ok": 2}
    table.sort(key=lambda row: (order[row[2]], row[6] if row[6] is not None else float("inf"), row[0]))
    charted = [row for row in table if row[6] is not None][:CHART_NODES]
    return Report(
        key="stock",
        title=N_("Stock: days of cover and out-of-stock SKUs"),
        note=N_("Available stock now, and how many days it lasts at the last 30 days' sales (filters do not apply)."),
        columns=[
            ReportColumn(N_("SKU"), "text"),
            ReportColumn(N_("Name"), "text"),
            ReportColumn(N_("Stock state"), "stock_state"),
            ReportColumn(N_("Available"), "count"),
            ReportColumn(N_("Alert level"), "count"),
            ReportColumn(N_("Sold in 30 days"), "count"),
            ReportColumn(N_("Days of cover"), "days"),
        ],
        rows=table,
        chart=Chart(
            kind="bar",
            categories=[row[0] for row in charted],
            series=[Series(N_("Days of cover"), [round(row[6], 1) for row in charted])],
            unit="days",
        ),
    )


async def gross_margin_by_channel(session: AsyncSession, filters: ReportFilters) -> Report:
    """毛利: per channel, the orders whose sale voucher is dated in the range, their revenue (net of VAT) less cost
    of goods, gifts, platform commission and freight, from finance's vouchers (red-letter refunds taken back out)."""
    found = await margins.margins_by_channel(
        session,
        margins.MarginFilters(start=filters.first, end=filters.last, channel=filters.channel, shop_id=filters.shop_id),
    )
    table: list[list[Any]] = [
        [
            row.channel,
            row.order_count,
            row.figures.revenue,
            row.figures.cost_of_goods,
            row.figures.gifts,
            row.figures.commission,
            row.figures.freight,
            row.figures.margin,
            row.figures.margin / row.figures.revenue if row.figures.revenue else None,
        ]
        for row in found
    ]
    return Report(
        key="margin",
        title=N_("Gross margin by channel"),
        note=N_("Orders whose sale voucher is dated in the range: revenue net of VAT less costs, from the vouchers."),
        columns=[
            ReportColumn(N_("Channel"), "channel"),
            ReportColumn(N_("Order count"), "count"),
            ReportColumn(N_("Revenue (net of VAT)"), "yuan"),
            ReportColumn(N_("Cost of goods"), "yuan"),
            ReportColumn(N_("Gifts"), "yuan"),
            ReportColumn(N_("Platform commission"), "yuan"),
            ReportColumn(N_("Freight"), "yuan"),
            ReportColumn(N_("Gross margin"), "yuan"),
            ReportColumn(N_("Gross margin rate"), "percent"),
        ],
        rows=table,
        chart=Chart(
            kind="bar",
            categories=[row.channel for row in found],
            series=[
                Series(N_("Revenue (net of VAT)"), [row.figures.revenue for row in found]),
                Series(N_("Gross margin"), [row.figures.margin for row in found]),
            ],
            unit="yuan",
            category_kind="channel",
        ),
    )


def whole_months(first: date, last: date) -> tuple[list[date], list[tuple[date, date]]]:
    """The months wholly within ``first`` to ``last`` (their first days), and the days left over as (first, last)."""
    months: list[date] = []
    month = first if first.day == 1 else (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    while (end := (month.replace(day=28) + timedelta(days=4)).replace(day=1)) <= last + timedelta(days=1):
        months.append(month)
        month = end
    if not months:
        return [], [(first, last)]
    left = [(first, months[0] - timedelta(days=1))] if first < months[0] else []
    if month <= last:
        left.append((month, last))
    return months, left


async def units_sold(session: AsyncSession, filters: ReportFilters) -> dict[str, tuple[int, int]]:
    """Per SKU, the units sold and refunded in the range: its whole months from the monthly rollup, the days left
    over from the hourly one."""
    months, days = whole_months(filters.first, filters.last)
    queries = []
    if months:
        monthly = SkuMonthRollup
        conditions: list[ColumnElement[bool]] = [col(monthly.month).in_(months)]
        if filters.channel:
            conditions.append(col(monthly.channel) == filters.channel)
        if filters.shop_id is not None:
            conditions.append(col(monthly.shop_id) == filters.shop_id)
        queries.append(
            select(col(monthly.sku_code), func.sum(monthly.units), func.sum(monthly.refunded_units))
            .where(*conditions)
            .group_by(col(monthly.sku_code))
        )
    hourly = SkuHourRollup
    for first, last in days:
        queries.append(
            select(col(hourly.sku_code), func.sum(hourly.units), func.sum(hourly.refunded_units))
            .where(*replace(filters, first=first, last=last).where(rollup=hourly))
            .group_by(col(hourly.sku_code))
        )
    sold: dict[str, tuple[int, int]] = {}
    for query in queries:
        for sku, units, refunded in (await session.exec(query)).all():  # type: ignore[call-overload]
            before = sold.get(sku, (0, 0))
            sold[sku] = (before[0] + int(units), before[1] + int(refunded))
    return sold


#: Reasons the return-rate chart stacks by name; the rest are drawn together.
CHART_REASONS = 6


async def return_rate(session: AsyncSession, filters: ReportFilters) -> Report:
    """退货率: per SKU, the units return cases (退货退款, 换货) opened in the range asked back, beside the units sold
    in the range (the SKU rollups), with a row per reason under each SKU's own; highest rate first. A reason's row
    leaves the units sold to its SKU's row, so a downloaded table sums to the SKUs' totals."""
    sold = await units_sold(session, filters)
    returned = await aftersales.returned_units(
        session,
        start_of_day(filters.first, CHINA),
        start_of_day(filters.last, CHINA) + timedelta(days=1),
        channel=filters.channel,
        shop_id=filters.shop_id,
    )
    by_reason: dict[str, dict[str, int]] = {}
    for found in returned:
        reasons = by_reason.setdefault(found.sku, {})
        reasons[found.reason] = reasons.get(found.reason, 0) + found.units
    names = {code: sku.name for code, sku in (await inventory.skus_by_code(session, {*sold, *by_reason})).items()}

    def rate(units: int, of: int) -> float | None:
        return units / of if of else None

    skus = []
    for sku in {*sold, *by_reason}:
        units, refunded = sold.get(sku, (0, 0))
        back = sum(by_reason.get(sku, {}).values())
        skus.append((sku, back, units, refunded, rate(back, units)))
    skus.sort(key=lambda row: (row[4] is None, -(row[4] or 0), -row[1], row[0]))
    table: list[list[Any]] = []
    for sku, back, units, refunded, sku_rate in skus:
        table.append([sku, names.get(sku, ""), None, back, units, refunded, sku_rate])
        for reason, count in sorted(by_reason.get(sku, {}).items(), key=lambda item: (-item[1], item[0])):
            table.append([sku, names.get(sku, ""), reason, count, None, None, rate(count, units)])
    charted = [(sku, units) for sku, back, units, _, sku_rate in skus if back and sku_rate is not None]
    return Report(
        key="returns",
        title=N_("Return rate by SKU and reason"),
        note=N_(
            "Units asked back by return and exchange cases opened in the range (not refused or withdrawn), against the "
            "units paid orders placed in the range sold (not cancelled, gifts and reissues left out); units refunded "
            "are those of lines the platform refunded."
        ),
        columns=[
            ReportColumn(N_("SKU"), "text"),
            ReportColumn(N_("Name"), "text"),
            ReportColumn(N_("Reason"), "reason"),
            ReportColumn(N_("Returned units"), "count"),
            ReportColumn(N_("Units sold"), "count"),
            ReportColumn(N_("Units refunded"), "count"),
            ReportColumn(N_("Return rate"), "percent"),
        ],
        rows=table,
        chart=Chart(
            kind="bar_stacked",
            categories=[sku for sku, _ in charted[:CHART_NODES]],
            series=_return_series(charted[:CHART_NODES], by_reason),
            unit="percent",
        ),
    )


async def shipment_times(session: AsyncSession, filters: ReportFilters) -> Report:
    """发货时效: per warehouse and carrier, the parcels shipped in the range, their average hours from payment to
    shipment, the share shipped within the promise, the share of those delivered within the carrier's promised
    days, and how many waited how long (the 发货时效 rollup, ``fulfillment.shipment_rollups``)."""
    rollup = ShipmentDayRollup
    measures = [func.sum(getattr(rollup, name)) for name in shipment_rollups.MEASURES]
    found = (
        await session.exec(
            select(col(rollup.warehouse_code), col(rollup.carrier_code), *measures)  # type: ignore[call-overload]
            .where(*filters.where(rollup=rollup))
            .group_by(col(rollup.warehouse_code), col(rollup.carrier_code))
            .order_by(col(rollup.warehouse_code), col(rollup.carrier_code))
        )
    ).all()
    warehouses = {w.code: w.name for w in await inventory.list_warehouses(session)}
    carriers = {c.code: c.name for c in await carrier_master.list_carriers(session)}
    table: list[list[Any]] = []
    for warehouse, carrier, *sums in found:
        sum_of = dict(zip(shipment_rollups.MEASURES, (int(value or 0) for value in sums), strict=True))
        parcels, delivered_promised = sum_of["parcels"], sum_of["delivered_promised"]
        table.append(
            [
                warehouses.get(warehouse, warehouse),
                carriers.get(carrier, carrier),
                parcels,
                sum_of["wait_minutes"] / 60 / parcels if parcels else None,
                sum_of["in_promise"] / parcels if parcels else None,
                sum_of["delivered"],
                sum_of["delivered_in_promise"] / delivered_promised if delivered_promised else None,
                *(sum_of[name] for name, _ in shipment_rollups.WAIT_BUCKETS),
                sum_of[shipment_rollups.LONGER],
            ]
        )
    return Report(
        key="shiptime",
        title=N_("Shipping time by warehouse and carrier"),
        note=N_(
            "Parcels by the day they shipped: hours from payment to shipment, the share shipped within the "
            "promise (48 hours), and of those signed for, the share within the carrier's promised days."
        ),
        columns=[
            ReportColumn(N_("Warehouse"), "text"),
            ReportColumn(N_("Carrier"), "text"),
            ReportColumn(N_("Parcels shipped"), "count"),
            ReportColumn(N_("Average hours from payment to shipment"), "hours"),
            ReportColumn(N_("Shipped within the promise"), "percent"),
            ReportColumn(N_("Parcels delivered"), "count"),
            ReportColumn(N_("Delivered within the carrier's promise"), "percent"),
            ReportColumn(N_("Waited up to 12 h"), "count"),
            ReportColumn(N_("Waited 12–24 h"), "count"),
            ReportColumn(N_("Waited 24–48 h"), "count"),
            ReportColumn(N_("Waited 48–72 h"), "count"),
            ReportColumn(N_("Waited over 72 h"), "count"),
        ],
        rows=table,
        chart=Chart(
            kind="bar",
            categories=[f"{row[0]} · {row[1]}" for row in table],
            series=[
                Series(N_("Shipped within the promise"), [_percent(row[4]) for row in table]),
                Series(N_("Delivered within the carrier's promise"), [_percent(row[6]) for row in table]),
            ],
            unit="share",
        ),
    )


def _return_series(charted: list[tuple[str, int]], by_reason: dict[str, dict[str, int]]) -> list[Series]:
    """The return-rate chart's stacks: per reason (the commonest ones by name, the rest together), the percent of
    each charted SKU's units sold that came back for it."""
    totals: dict[str, int] = {}
    for sku, _ in charted:
        for reason, count in by_reason[sku].items():
            totals[reason] = totals.get(reason, 0) + count
    named = sorted(totals, key=lambda reason: (-totals[reason], reason))[:CHART_REASONS]

    def percents(reason: str | None) -> list[float]:
        values = []
        for sku, units in charted:
            counts = by_reason[sku]
            count = (
                counts.get(reason, 0)
                if reason is not None
                else sum(counts.values()) - sum(counts.get(name, 0) for name in named)
            )
            values.append(round(count / units * 100, 2))
        return values

    # Reasons are the buyers' or platforms' own words, drawn as they are; only a missing one is named by us.
    series = [
        Series(reason, percents(reason), "text") if reason else Series(N_("No reason given"), percents(reason))
        for reason in named
    ]
    if len(totals) > len(named):
        series.append(Series(N_("Other reasons"), percents(None)))
    return series


def _percent(share: float | None) -> float:
    return round(share * 100, 1) if share is not None else 0.0


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


ReportQuery = Callable[[AsyncSession, ReportFilters], Awaitable[Report]]

#: Every report, by the key its downloads are named with, in the order the page shows them.
REPORTS: dict[str, ReportQuery] = {
    "gmv": gmv_by_channel_and_day,
    "hourly": orders_by_hour,
    "holds": held_orders,
    "hits": rule_hits,
    "stock": stock_cover,
    "margin": gross_margin_by_channel,
    "returns": return_rate,
    "shiptime": shipment_times,
}


#: Reports that need more than ``reports.read``: 毛利 is finance's figure, shown to whoever sees 订单毛利.
PERMISSION_OF = {"margin": "finance.read"}


async def all_reports(session: AsyncSession, filters: ReportFilters, keys: Iterable[str]) -> list[Report]:
    """The reports of ``keys`` for these filters, in the page's order."""
    wanted = set(keys)
    return [await query(session, filters) for key, query in REPORTS.items() if key in wanted]

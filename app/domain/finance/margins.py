"""Margins per order (订单毛利), read from the vouchers: revenue − cost of goods − gifts − commission − freight.

Each figure is the sum of the order's voucher lines of that kind: revenue on the credit side (net of output
VAT, which has lines of its own), the costs on the debit side. A red-letter voucher's negative amounts take
the refunded share back out, and a carrier bill's voucher for the order's parcel adds what the carrier billed
beyond the booked fee, so every voucher of the order counts. The orders are those whose sale voucher is dated
within the chosen days (and of the chosen channel and shop), so a later refund still lowers its order's margin.

Both read rollups kept as vouchers are stored: each voucher of an order adds its figures to the order's own row,
:class:`MarginOrder`, and to the day (and channel and shop) of the order's sale voucher, :class:`MarginDay`; so the
orders of a range are sorted by an index and the margins by channel and the totals sum days, not voucher lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

from sqlalchemy import Date, case, delete, distinct, func, insert
from sqlalchemy import select as select_columns
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.finance.entries import Entry
from app.domain.finance.models import LineKind, MarginDay, MarginOrder, Voucher, VoucherKind, VoucherLine
from app.domain.orders.models import Order
from app.errors import DomainError
from app.i18n import N_
from app.sheets import table_workbook

#: Rows a page shows; the download has them all, up to MAX_DOWNLOAD_ROWS.
PAGE_ROWS = 200
MAX_DOWNLOAD_ROWS = 50_000
#: Filters keeping at least one order in this many are read along the margin index (see :func:`margin_report`).
WALK_SHARE = 50

#: The figures of a margin, with the line kind each is read from and the side it sits on (True: credit).
FIGURES: tuple[tuple[str, LineKind, bool], ...] = (
    ("revenue", LineKind.revenue, True),
    ("cost_of_goods", LineKind.cost_of_goods, False),
    ("gifts", LineKind.gift_cost, False),
    ("commission", LineKind.commission, False),
    ("freight", LineKind.freight, False),
)


class MarginError(DomainError):
    """Margin filters that cannot be used; the message says why."""

    title = N_("Margins per order")
    messages: ClassVar[Mapping[str, str]] = {
        "bad_range": N_("The first day (%(first)s) is after the last day (%(last)s)."),
    }
    fields: ClassVar[Mapping[str, str]] = {"bad_range": "start"}


@dataclass(frozen=True)
class MarginFilters:
    """The days (of the orders' sale vouchers), channel and shop of a margin report; a reversed range is refused."""

    start: date | None = None
    end: date | None = None
    channel: str = ""
    shop_id: int | None = None
    #: "asc": the lowest margin first (where money is lost); "desc": the highest first.
    order: str = "asc"

    def __post_init__(self) -> None:
        if self.start is not None and self.end is not None and self.start > self.end:
            raise MarginError("bad_range", first=self.start.isoformat(), last=self.end.isoformat())

    def as_query(self) -> dict[str, str]:
        return {
            "start": self.start.isoformat() if self.start else "",
            "end": self.end.isoformat() if self.end else "",
            "channel": self.channel,
            "shop": str(self.shop_id or ""),
            "order": self.order,
        }


@dataclass(frozen=True)
class Figures:
    revenue: int = 0
    cost_of_goods: int = 0
    gifts: int = 0
    commission: int = 0
    freight: int = 0

    @property
    def margin(self) -> int:
        return self.revenue - self.cost_of_goods - self.gifts - self.commission - self.freight

    @property
    def margin_pct(self) -> float | None:
        """The margin as a percentage of revenue, to one decimal; None without revenue."""
        return round(self.margin * 100 / self.revenue, 1) if self.revenue else None


@dataclass(frozen=True)
class OrderMargin:
    order_id: int
    external_id: str
    channel: str
    shop_id: int | None
    figures: Figures


@dataclass
class MarginReport:
    filters: MarginFilters
    rows: list[OrderMargin] = field(default_factory=list)
    totals: Figures = Figures()
    order_count: int = 0


def _figure(kind: LineKind, credit_side: bool) -> Any:
    amount = (
        col(VoucherLine.credit_fen) - col(VoucherLine.debit_fen)
        if credit_side
        else col(VoucherLine.debit_fen) - col(VoucherLine.credit_fen)
    )
    return func.coalesce(func.sum(case((col(VoucherLine.line_kind) == kind.value, amount), else_=0)), 0)


async def margin_report(session: AsyncSession, filters: MarginFilters, *, limit: int = PAGE_ROWS) -> MarginReport:
    """The orders' margins sorted by margin (then order id), at most ``limit`` rows, with the totals of all: the
    orders from their kept rows (:class:`MarginOrder`), the totals from the margin days.

    When the filters keep a large share of all orders, the first rows in margin order are found by walking the
    margin index and skipping the few that are out of range; otherwise the range's orders are read by day and
    sorted. SQLite's planner would read a year's orders by day and sort them all, so there the day is compared as
    an expression (``date(day)``), which no index serves."""
    kept = MarginOrder
    by_channel = await margins_by_channel(session, filters)
    order_count = sum(found.order_count for found in by_channel)
    all_orders = int((await session.exec(select(func.count()).select_from(kept))).one())
    day: Any = col(kept.day)
    if order_count * WALK_SHARE >= all_orders and session.bind is not None and session.bind.dialect.name == "sqlite":
        day = func.date(day, type_=Date)
    conditions = []
    if filters.start is not None:
        conditions.append(day >= filters.start)
    if filters.end is not None:
        conditions.append(day <= filters.end)
    if filters.channel:
        conditions.append(col(kept.channel) == filters.channel)
    if filters.shop_id is not None:
        conditions.append(col(kept.shop_id) == filters.shop_id)
    names = [name for name, _, _ in FIGURES]
    margin_order = col(kept.margin_fen).desc() if filters.order == "desc" else col(kept.margin_fen).asc()
    query = (
        select_columns(
            col(kept.order_id),
            *(getattr(kept, f"{name}_fen") for name in names),
            col(Order.external_id),
            col(Order.channel),
            col(Order.shop_id),
        )
        .join(Order, col(Order.id) == col(kept.order_id))
        .where(*conditions)
        .order_by(margin_order, col(kept.order_id))
        .limit(limit)
    )
    report = MarginReport(filters)
    connection = await session.connection()
    for order_id, *figures, external_id, channel, shop_id in (await connection.execute(query)).all():
        report.rows.append(
            OrderMargin(
                order_id=order_id,
                external_id=external_id,
                channel=channel,
                shop_id=shop_id,
                figures=Figures(**{name: int(value) for name, value in zip(names, figures, strict=True)}),
            )
        )
    report.order_count = order_count
    report.totals = Figures(
        **{name: sum(getattr(found.figures, name) for found in by_channel) for name in names},
    )
    return report


@dataclass(frozen=True)
class ChannelMargin:
    """The margins of one channel's orders in the filters, summed."""

    channel: str
    order_count: int
    figures: Figures


async def margins_by_channel(session: AsyncSession, filters: MarginFilters) -> list[ChannelMargin]:
    """The orders' margins of :func:`margin_report`, summed per channel, by channel: read from the days of
    :class:`MarginDay` (kept by :func:`count_voucher`), one aggregate over a few rows a day."""
    names = [name for name, _, _ in FIGURES]
    query = select_columns(
        col(MarginDay.channel),
        func.sum(MarginDay.orders),
        *(func.coalesce(func.sum(getattr(MarginDay, f"{name}_fen")), 0) for name in names),
    )
    if filters.start is not None:
        query = query.where(col(MarginDay.day) >= filters.start)
    if filters.end is not None:
        query = query.where(col(MarginDay.day) <= filters.end)
    if filters.channel:
        query = query.where(col(MarginDay.channel) == filters.channel)
    if filters.shop_id is not None:
        query = query.where(col(MarginDay.shop_id) == filters.shop_id)
    query = query.group_by(col(MarginDay.channel)).order_by(col(MarginDay.channel))
    connection = await session.connection()
    return [
        ChannelMargin(
            channel=str(channel),
            order_count=int(count),
            figures=Figures(**{name: int(value) for name, value in zip(names, sums, strict=True)}),
        )
        for channel, count, *sums in (await connection.execute(query)).all()
        if count
    ]


def figures_of(lines: Iterable[tuple[str, int, int]]) -> Figures:
    """The figures of (line kind, debit, credit) lines: each kind's amount on its side."""
    sides = {kind.value: (name, credit_side) for name, kind, credit_side in FIGURES}
    sums = dict.fromkeys((name for name, _, _ in FIGURES), 0)
    for line_kind, debit, credit in lines:
        if line_kind in sides:
            name, credit_side = sides[line_kind]
            sums[name] += credit - debit if credit_side else debit - credit
    return Figures(**sums)


async def count_voucher(session: AsyncSession, voucher: Voucher, entries: list[Entry]) -> None:
    """Add a voucher just stored to the margin days, in its transaction: an order's sale voucher counts the order
    on its own day with its figures and those of the order's vouchers stored before it (a carrier bill, say);
    any other voucher of an order adds its figures to the day of the order's sale voucher, or waits for it."""
    if voucher.order_id is None:
        return
    lines = [(entry.kind.value, entry.debit_fen, entry.credit_fen) for entry in entries]
    if voucher.kind == VoucherKind.sale.value:
        sale, orders = voucher, 1
        earlier = await session.exec(  # type: ignore[call-overload]
            select_columns(
                col(VoucherLine.line_kind), func.sum(VoucherLine.debit_fen), func.sum(VoucherLine.credit_fen)
            )
            .join(Voucher, col(Voucher.id) == col(VoucherLine.voucher_id))
            .where(col(Voucher.order_id) == voucher.order_id, col(Voucher.id) != voucher.id)
            .group_by(col(VoucherLine.line_kind))
        )
        lines += [(str(kind), int(debit or 0), int(credit or 0)) for kind, debit, credit in earlier]
    else:
        found = (
            await session.exec(
                select(Voucher).where(Voucher.order_id == voucher.order_id, Voucher.kind == VoucherKind.sale.value)
            )
        ).first()
        if found is None:
            return
        sale, orders = found, 0
    figures = figures_of(lines)
    amounts = {f"{name}_fen": getattr(figures, name) for name, _, _ in FIGURES}
    placed = {"day": sale.voucher_date, "channel": sale.channel, "shop_id": sale.shop_id or 0}
    await _add_to(session, MarginDay, ["day", "channel", "shop_id"], placed, {"orders": orders, **amounts})
    order = {"order_id": voucher.order_id, **placed}
    await _add_to(session, MarginOrder, ["order_id"], order, {**amounts, "margin_fen": figures.margin})


async def _add_to(
    session: AsyncSession, rollup: type, key: list[str], row: dict[str, Any], amounts: dict[str, int]
) -> None:
    """Insert ``row`` with ``amounts`` into ``rollup``, or add the amounts to the row kept under the same ``key``."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert(rollup) if dialect == "postgresql" else sqlite.insert(rollup)
    statement = insert.on_conflict_do_update(
        index_elements=key, set_={name: getattr(rollup, name) + getattr(insert.excluded, name) for name in amounts}
    )
    await session.exec(statement, params=[{**row, **amounts}])


async def rebuild_margin_days(session: AsyncSession) -> int:
    """Count every margin day and order margin again from all the vouchers (to check the kept ones, or after a bulk
    load), a statement each: every voucher of an order on the day, channel and shop of the order's sale voucher. Run
    it when no voucher is being booked (a voucher stored meanwhile may be counted twice or not at all). How many days
    there are now."""
    sale, voucher = aliased(Voucher), aliased(Voucher)
    shop = func.coalesce(col(sale.shop_id), 0)
    figures = [_figure(kind, credit) for _, kind, credit in FIGURES]
    margin = figures[0]
    for cost in figures[1:]:
        margin = margin - cost
    lines_of_sales = (
        select_columns(col(sale.order_id))
        .select_from(sale)
        .join(voucher, col(voucher.order_id) == col(sale.order_id))
        .join(VoucherLine, col(VoucherLine.voucher_id) == col(voucher.id))
        .where(col(sale.kind) == VoucherKind.sale.value, col(sale.order_id).is_not(None))
    )
    by_day = lines_of_sales.with_only_columns(
        col(sale.voucher_date), col(sale.channel), shop, func.count(distinct(col(sale.order_id))), *figures
    ).group_by(col(sale.voucher_date), col(sale.channel), shop)
    by_order = lines_of_sales.with_only_columns(
        col(sale.order_id), col(sale.voucher_date), col(sale.channel), shop, *figures, margin
    ).group_by(col(sale.order_id), col(sale.voucher_date), col(sale.channel), shop)
    amounts = [f"{name}_fen" for name, _, _ in FIGURES]
    await session.exec(delete(MarginDay))
    await session.exec(insert(MarginDay).from_select(["day", "channel", "shop_id", "orders", *amounts], by_day))
    await session.exec(delete(MarginOrder))
    await session.exec(
        insert(MarginOrder).from_select(["order_id", "day", "channel", "shop_id", *amounts, "margin_fen"], by_order)
    )
    return int((await session.exec(select(func.count()).select_from(MarginDay))).one())


HEADERS = ("平台单号", "渠道", "收入(不含税)", "商品成本", "赠品成本", "平台佣金", "运费", "毛利", "毛利率%")


def margins_workbook(report: MarginReport, channel_label: Any) -> bytes:
    """The report's rows and a total row as an .xlsx, in yuan."""

    def cells(figures: Figures) -> list[Any]:
        amounts = [figures.revenue, figures.cost_of_goods, figures.gifts, figures.commission, figures.freight]
        return [*(fen / 100 for fen in amounts), figures.margin / 100, figures.margin_pct]

    rows: list[list[Any]] = [[row.external_id, channel_label(row.channel), *cells(row.figures)] for row in report.rows]
    rows.append(["合计", f"{report.order_count} 单", *cells(report.totals)])
    return table_workbook("订单毛利", HEADERS, rows)


__all__ = [
    "FIGURES",
    "MAX_DOWNLOAD_ROWS",
    "PAGE_ROWS",
    "ChannelMargin",
    "Figures",
    "MarginError",
    "MarginFilters",
    "MarginReport",
    "OrderMargin",
    "count_voucher",
    "figures_of",
    "margin_report",
    "margins_by_channel",
    "margins_workbook",
    "rebuild_margin_days",
]

"""How the reports' rollups are kept: orders that change mark their hour, and a refresh counts marked hours again.

Every change of an order's status, amounts or lines (``orders.services.upsert_order`` and ``set_status``, the one
home of each) marks the order's hour and shop in its own transaction (:mod:`app.domain.orders.changes`).
:func:`refresh_order_rollups` (every second, on the worker's clock) takes the marks it sees, counts those hours
again from the orders in one grouped query per batch (and the units of each SKU in another), replaces their rollup
rows and forgets exactly the marks it saw. So a replayed refresh changes nothing, and a change that commits while a
refresh runs leaves its mark behind for the next one (the marks it forgets were committed before it counted).
Refreshes take turns: an advisory lock on PostgreSQL, SQLite's single writer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import CHINA, Database
from app.dbtypes import UTCDateTime
from app.domain.orders import changes
from app.domain.orders.models import Order, OrderLine, OrderStatus
from app.domain.orders.schemas import REFUND_SUCCESS_STATUSES
from app.domain.reports.models import OrderHourRollup, SkuHourRollup, SkuMonthRollup

#: Marks one refresh takes at most; the rest wait for the next tick.
REFRESH_MARKS = 20_000
#: Hour ranges counted by one grouped query.
RANGES_PER_QUERY = 25
#: The advisory lock that lets one refresh run at a time on PostgreSQL (any fixed number of our own).
REFRESH_LOCK = 7_318_001

Bucket = tuple[datetime, str, int]
#: Consecutive hours of one shop: (channel, shop id, first hour, end).
Run = tuple[str, int, datetime, datetime]


def _epoch_hour(dialect: str) -> ColumnElement[Any]:
    """The order's placed hour as whole hours since 1970 (UTC), in the database's own words."""
    if dialect == "sqlite":
        # SQLite keeps the time as UTC text without an offset (app.dbtypes).
        return cast(func.strftime("%s", col(Order.placed_at)), Integer) // 3600
    # floor first: a cast rounds, and 01:59:59.7 belongs to 01:00.
    return cast(func.floor(func.extract("epoch", col(Order.placed_at))), BigInteger) // 3600


def _ranges(buckets: Iterable[Bucket]) -> list[Run]:
    """The buckets as runs of consecutive hours per shop: (channel, shop, first hour, end)."""
    by_shop: dict[tuple[str, int], list[datetime]] = defaultdict(list)
    for hour, channel, shop_id in buckets:
        by_shop[(channel, shop_id)].append(hour)
    runs = []
    for (channel, shop_id), hours in sorted(by_shop.items()):
        hours.sort()
        first = last = hours[0]
        for hour in hours[1:]:
            if hour - last > timedelta(hours=1):
                runs.append((channel, shop_id, first, last + timedelta(hours=1)))
                first = hour
            last = hour
        runs.append((channel, shop_id, first, last + timedelta(hours=1)))
    return runs


def _refunded_fen() -> ColumnElement[Any]:
    """What went back to the buyer of one order: all of it when a paid order was cancelled, else its refunded
    lines (the platform's refund statuses)."""
    lines = (
        select(func.coalesce(func.sum(OrderLine.paid_fen), 0))
        .where(
            col(OrderLine.order_id) == col(Order.id),
            col(OrderLine.refund_status).in_(sorted(REFUND_SUCCESS_STATUSES)),
        )
        .scalar_subquery()
    )
    return case((col(Order.status) == OrderStatus.cancelled.value, col(Order.paid_fen)), else_=lines)


def counted_orders() -> ColumnElement[bool]:
    """The orders the rollups count: all but those sent again at no charge (补发, 换货), which are no sales."""
    return col(Order.reissue_of).is_(None)


def counting_query(dialect: str, where: ColumnElement[bool] | None = None) -> Any:
    """The grouped query that counts orders into rollup rows: (epoch hour, channel, shop, measures…)."""
    paid = col(Order.paid_at).is_not(None)
    hour = _epoch_hour(dialect).label("epoch_hour")
    query = select(
        hour,
        col(Order.channel),
        col(Order.shop_id),
        func.count().label("orders"),
        func.sum(case((paid, 1), else_=0)).label("paid_orders"),
        func.sum(case((col(Order.status) == OrderStatus.cancelled.value, 1), else_=0)).label("cancelled_orders"),
        func.sum(case((paid, col(Order.paid_fen)), else_=0)).label("gmv_fen"),
        func.sum(case((paid, _refunded_fen()), else_=0)).label("refund_fen"),
    ).where(counted_orders())
    if where is not None:
        query = query.where(where)
    return query.group_by(literal_column("epoch_hour"), col(Order.channel), col(Order.shop_id))


def sku_counting_query(dialect: str, where: ColumnElement[bool] | None = None) -> Any:
    """The grouped query that counts the units sold per SKU into rollup rows: (epoch hour, channel, shop, SKU, units,
    refunded units) of the counted orders that were paid and not cancelled, their gifts left out."""
    refunded = col(OrderLine.refund_status).in_(sorted(REFUND_SUCCESS_STATUSES))
    hour = _epoch_hour(dialect).label("epoch_hour")
    query = (
        select(
            hour,
            col(Order.channel),
            col(Order.shop_id),
            col(OrderLine.sku),
            func.sum(col(OrderLine.qty)).label("units"),
            func.sum(case((refunded, col(OrderLine.qty)), else_=0)).label("refunded_units"),
        )
        .select_from(OrderLine)
        .join(Order, col(Order.id) == col(OrderLine.order_id))
        .where(
            counted_orders(),
            col(Order.paid_at).is_not(None),
            col(Order.status) != OrderStatus.cancelled.value,
            col(OrderLine.is_gift).is_(False),
            col(OrderLine.sku) != "",
        )
    )
    if where is not None:
        query = query.where(where)
    return query.group_by(literal_column("epoch_hour"), col(Order.channel), col(Order.shop_id), col(OrderLine.sku))


def _hour_start(epoch_hour: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(hours=int(epoch_hour))


def rollup_row(epoch_hour: int, channel: str, shop_id: int, measures: Sequence[int]) -> dict[str, Any]:
    """One rollup row from a counted group: its UTC hour with the China day and hour it shows under."""
    hour_start = _hour_start(epoch_hour)
    local = hour_start.astimezone(CHINA)
    orders, paid_orders, cancelled_orders, gmv_fen, refund_fen = (int(value or 0) for value in measures)
    return {
        "hour_start": hour_start,
        "channel": channel,
        "shop_id": shop_id,
        "day": local.date(),
        "hour": local.hour,
        "orders": orders,
        "paid_orders": paid_orders,
        "cancelled_orders": cancelled_orders,
        "gmv_fen": gmv_fen,
        "refund_fen": refund_fen,
    }


def sku_row(epoch_hour: int, channel: str, shop_id: int, sku_code: str, units: int, refunded: int) -> dict[str, Any]:
    """One SKU rollup row from a counted group, with the China day its hour shows under."""
    hour_start = _hour_start(epoch_hour)
    return {
        "hour_start": hour_start,
        "channel": channel,
        "shop_id": shop_id,
        "sku_code": sku_code,
        "day": hour_start.astimezone(CHINA).date(),
        "units": int(units or 0),
        "refunded_units": int(refunded or 0),
    }


def _within(runs: Sequence[Run], channel: Any, shop_id: Any, moment: Any) -> ColumnElement[bool]:
    """Rows whose channel, shop and moment fall in one of the runs."""
    return or_(
        *(and_(shop_id == shop, channel == code, moment >= first, moment < end) for code, shop, first, end in runs)
    )


async def count_again(session: AsyncSession, buckets: set[Bucket]) -> None:
    """Replace the rollup rows of ``buckets`` with what the orders say now (an hour left with no orders has none)."""
    if not buckets:
        return
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    runs = _ranges(buckets)
    for start in range(0, len(runs), RANGES_PER_QUERY):
        chunk = runs[start : start + RANGES_PER_QUERY]
        where = _within(chunk, col(Order.channel), col(Order.shop_id), col(Order.placed_at))
        counted = (await session.exec(counting_query(dialect, where))).all()
        sold = (await session.exec(sku_counting_query(dialect, where))).all()
        before = await _sku_rows_of(session, chunk)
        await _delete_runs(session, OrderHourRollup, chunk)
        await _delete_runs(session, SkuHourRollup, chunk)
        rows = [rollup_row(hour, channel, shop_id, measures) for hour, channel, shop_id, *measures in counted]
        if rows:
            await session.exec(insert(OrderHourRollup), params=rows)
        sku_rows = [sku_row(*group) for group in sold]
        if sku_rows:
            await session.exec(insert(SkuHourRollup), params=sku_rows)
        change = by_month(sku_rows)
        for key, (units, refunded) in by_month(before).items():
            cell = change.setdefault(key, [0, 0])
            cell[0] -= units
            cell[1] -= refunded
        await _add_to_months(session, dialect, change)


async def _sku_rows_of(session: AsyncSession, runs: Sequence[Run]) -> list[dict[str, Any]]:
    """The SKU rollup rows of the runs as they are, before they are counted again."""
    skus = SkuHourRollup
    columns = (skus.day, skus.channel, skus.shop_id, skus.sku_code, skus.units, skus.refunded_units)
    names = ("day", "channel", "shop_id", "sku_code", "units", "refunded_units")
    found = await session.exec(
        select(*(col(column) for column in columns)).where(  # type: ignore[call-overload]
            _within(runs, col(skus.channel), col(skus.shop_id), col(skus.hour_start))
        )
    )
    return [dict(zip(names, row, strict=True)) for row in found.all()]


MonthKey = tuple[date, str, int, str]


def by_month(sku_rows: Iterable[Mapping[str, Any]]) -> dict[MonthKey, list[int]]:
    """SKU rollup rows summed per China month, channel, shop and SKU: [units, refunded units]."""
    months: dict[MonthKey, list[int]] = defaultdict(lambda: [0, 0])
    for row in sku_rows:
        cell = months[(row["day"].replace(day=1), row["channel"], row["shop_id"], row["sku_code"])]
        cell[0] += row["units"]
        cell[1] += row["refunded_units"]
    return dict(months)


def month_rows(months: Mapping[MonthKey, Sequence[int]]) -> list[dict[str, Any]]:
    """Monthly rollup rows of the sums (keys in a fixed order, so two writers lock rows in the same order)."""
    return [
        {
            "month": month,
            "channel": channel,
            "shop_id": shop_id,
            "sku_code": sku,
            "units": units,
            "refunded_units": refunded,
        }
        for (month, channel, shop_id, sku), (units, refunded) in sorted(months.items())
    ]


async def _add_to_months(session: AsyncSession, dialect: str, change: Mapping[MonthKey, Sequence[int]]) -> None:
    """Add what a count changed to the months' rows (one upsert per month and SKU), and drop rows left at nothing."""
    rows = month_rows({key: value for key, value in change.items() if any(value)})
    if not rows:
        return
    months = SkuMonthRollup
    upsert = postgresql.insert(months) if dialect == "postgresql" else sqlite.insert(months)
    statement = upsert.on_conflict_do_update(
        index_elements=["month", "channel", "shop_id", "sku_code"],
        set_={
            "units": col(months.units) + upsert.excluded.units,
            "refunded_units": col(months.refunded_units) + upsert.excluded.refunded_units,
        },
    )
    await session.exec(statement, params=rows)
    connection = await session.connection()
    await connection.execute(
        delete(months).where(
            col(months.month) == bindparam("month"),
            col(months.channel) == bindparam("code"),
            col(months.shop_id) == bindparam("shop"),
            col(months.sku_code) == bindparam("sku"),
            col(months.units) == 0,
            col(months.refunded_units) == 0,
        ),
        [{"month": r["month"], "code": r["channel"], "shop": r["shop_id"], "sku": r["sku_code"]} for r in rows],
    )


async def _delete_runs(
    session: AsyncSession, rollup: type[OrderHourRollup] | type[SkuHourRollup], runs: Sequence[Run]
) -> None:
    """Delete a rollup's rows of the runs: one indexed DELETE per run (executemany), as an OR of many runs would test
    every rollup row against each."""
    connection = await session.connection()
    await connection.execute(
        delete(rollup).where(
            col(rollup.channel) == bindparam("code"),
            col(rollup.shop_id) == bindparam("shop"),
            col(rollup.hour_start) >= bindparam("first", type_=UTCDateTime()),
            col(rollup.hour_start) < bindparam("end", type_=UTCDateTime()),
        ),
        [{"code": code, "shop": shop, "first": first, "end": end} for code, shop, first, end in runs],
    )


async def _take_turn(session: AsyncSession) -> None:
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.exec(text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=REFRESH_LOCK))  # type: ignore[call-overload]


@dataclass(frozen=True)
class Refreshed:
    """What one refresh did: the marks it took away and the hours it counted again."""

    marks: int
    hours: int


async def marks_pending(session: AsyncSession) -> bool:
    """Whether any hour waits to be counted again."""
    return await changes.any_marked(session)


async def refresh_order_rollups(db: Database, *, limit: int = REFRESH_MARKS) -> Refreshed:
    """Count the marked hours again and take their marks away, in one transaction."""
    async with db.transaction() as session:
        await _take_turn(session)
        marks = await changes.marked_hours(session, limit)
        if not marks:
            return Refreshed(0, 0)
        buckets = {(hour_start, channel, shop_id) for _, hour_start, channel, shop_id in marks}
        await count_again(session, buckets)
        ids = [mark_id for mark_id, *_ in marks]
        await changes.forget_marks(session, ids)
        return Refreshed(len(ids), len(buckets))


async def rebuild_order_rollups(session: AsyncSession) -> int:
    """Count every hour again from all the orders (after a bulk load, or to check the kept rollups), the units of
    each SKU with them; how many hourly rollup rows of the orders there are now."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    await _take_turn(session)
    await changes.forget_marks(session, None)
    await session.exec(delete(OrderHourRollup))
    await session.exec(delete(SkuHourRollup))
    counted = (await session.exec(counting_query(dialect))).all()
    rows = [rollup_row(hour, channel, shop_id, measures) for hour, channel, shop_id, *measures in counted]
    for start in range(0, len(rows), 5000):
        await session.exec(insert(OrderHourRollup), params=rows[start : start + 5000])
    await session.exec(delete(SkuMonthRollup))
    sku_rows = [sku_row(*group) for group in (await session.exec(sku_counting_query(dialect))).all()]
    for start in range(0, len(sku_rows), 5000):
        await session.exec(insert(SkuHourRollup), params=sku_rows[start : start + 5000])
    months = month_rows(by_month(sku_rows))
    for start in range(0, len(months), 5000):
        await session.exec(insert(SkuMonthRollup), params=months[start : start + 5000])
    return len(rows)

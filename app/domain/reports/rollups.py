"""How the reports' rollups are kept: orders that change mark their hour, and a refresh counts marked hours again.

Every change of an order's status, amounts or lines (``orders.services.upsert_order`` and ``set_status``, the one
home of each) marks the order's hour and shop in its own transaction (:mod:`app.domain.orders.changes`).
:func:`refresh_order_rollups` (every second, on the worker's clock) takes the marks it sees, counts those hours
again from the orders in one grouped query per batch, replaces their rollup rows and forgets exactly the marks it
saw. So a replayed refresh changes nothing, and a change that commits while a refresh runs leaves its mark behind
for the next one (the marks it forgets were committed before it counted). Refreshes take turns: an advisory lock on
PostgreSQL, SQLite's single writer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import Database
from app.dbtypes import UTCDateTime
from app.domain.orders import changes
from app.domain.orders.models import Order, OrderLine, OrderStatus
from app.domain.orders.schemas import REFUND_SUCCESS_STATUSES
from app.domain.reports.models import OrderHourRollup
from app.templating import CHINA

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
    ).where(col(Order.reissue_of).is_(None))
    if where is not None:
        query = query.where(where)
    return query.group_by(literal_column("epoch_hour"), col(Order.channel), col(Order.shop_id))


def rollup_row(epoch_hour: int, channel: str, shop_id: int, measures: Sequence[int]) -> dict[str, Any]:
    """One rollup row from a counted group: its UTC hour with the China day and hour it shows under."""
    hour_start = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(hours=int(epoch_hour))
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
        rollup = OrderHourRollup
        # One indexed DELETE per run (executemany): an OR of many runs would test every rollup row against each.
        connection = await session.connection()
        await connection.execute(
            delete(rollup).where(
                col(rollup.channel) == bindparam("code"),
                col(rollup.shop_id) == bindparam("shop"),
                col(rollup.hour_start) >= bindparam("first", type_=UTCDateTime()),
                col(rollup.hour_start) < bindparam("end", type_=UTCDateTime()),
            ),
            [{"code": code, "shop": shop, "first": first, "end": end} for code, shop, first, end in chunk],
        )
        rows = [rollup_row(hour, channel, shop_id, measures) for hour, channel, shop_id, *measures in counted]
        if rows:
            await session.exec(insert(OrderHourRollup), params=rows)


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
    """Count every hour again from all the orders (after a bulk load, or to check the kept rollups); how many
    rollup rows there are now."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    await _take_turn(session)
    await changes.forget_marks(session, None)
    await session.exec(delete(OrderHourRollup))
    counted = (await session.exec(counting_query(dialect))).all()
    rows = [rollup_row(hour, channel, shop_id, measures) for hour, channel, shop_id, *measures in counted]
    for start in range(0, len(rows), 5000):
        await session.exec(insert(OrderHourRollup), params=rows[start : start + 5000])
    return len(rows)

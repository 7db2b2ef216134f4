"""Which hours' orders changed: each change of an order's status, amounts or lines marks its hour and shop, in the
change's own transaction, for whatever counts orders by the hour (the reports' rollups) to count that hour again.

One row per change, never a shared counter row, so concurrent changes of one hour never wait for each other. A
reader takes the marks it has seen and forgets exactly those ids: a mark committed while it counted stays for the
next reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlmodel import Field, SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import insert_rows
from app.dbtypes import utc_field
from app.domain.orders.models import Order

#: Mark ids forgotten by one DELETE.
FORGET_CHUNK = 1000


class OrderHourMark(SQLModel, table=True):
    """An hour (UTC) of a shop whose orders changed since whoever counts them last looked."""

    __tablename__ = "order_hour_marks"

    id: int | None = Field(default=None, primary_key=True)
    hour_start: datetime = utc_field()
    channel: str = Field(max_length=32)
    shop_id: int


def hour_of(moment: datetime) -> datetime:
    """The start of the UTC hour ``moment`` falls in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


async def mark_order(session: AsyncSession, order: Order, *, placed_before: datetime | None = None) -> None:
    """Note, in the caller's transaction, that the order's hour changed (and the hour it was placed in before, when
    an update moved it)."""
    hours = {hour_of(order.placed_at)}
    if placed_before is not None:
        hours.add(hour_of(placed_before))
    rows = [{"hour_start": hour, "channel": order.channel, "shop_id": order.shop_id} for hour in sorted(hours)]
    await insert_rows(session, OrderHourMark, rows)


async def any_marked(session: AsyncSession) -> bool:
    """Whether any hour is marked."""
    return (await session.exec(select(col(OrderHourMark.id)).limit(1))).first() is not None  # type: ignore[call-overload]


async def marked_hours(session: AsyncSession, limit: int) -> list[tuple[int, datetime, str, int]]:
    """The oldest ``limit`` marks: (mark id, hour, channel, shop id)."""
    query = (
        select(
            col(OrderHourMark.id), col(OrderHourMark.hour_start), col(OrderHourMark.channel), col(OrderHourMark.shop_id)
        )
        .order_by(col(OrderHourMark.id))
        .limit(limit)
    )
    return [tuple(row) for row in (await session.exec(query)).all()]  # type: ignore[call-overload]


async def forget_marks(session: AsyncSession, mark_ids: Sequence[int] | None) -> None:
    """Take these marks away (None: every mark, after a count of all the orders)."""
    if mark_ids is None:
        await session.exec(delete(OrderHourMark))
        return
    for start in range(0, len(mark_ids), FORGET_CHUNK):
        chunk = list(mark_ids[start : start + FORGET_CHUNK])
        await session.exec(delete(OrderHourMark).where(col(OrderHourMark.id).in_(chunk)))

"""How the 发货时效 rollup is kept: each parcel counted into its China day shipped, warehouse, carrier and shop.

A parcel is counted in the transaction that confirms it shipped (``fulfillment.confirmation.confirm_shipped``):
its wait from payment (``fulfillment.ship_promise.clock_start``) to shipment, whether that kept its channel's
promise, and its wait's bucket. When its carrier says it was signed for (``confirm_delivered``) it is counted
again into the same row as delivered, within its carrier's promised days or not. A parcel is shipped once and
delivered once (both guarded by its status, under the order's lock), so a replayed scan or tracking push adds
nothing. :func:`rebuild_shipment_rollups` counts every row again from the shipments (after a bulk load, or to check
the kept rows); :func:`count_parcels` is the one counting both ways share.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import CHINA
from app.domain.fulfillment import ship_promise
from app.domain.fulfillment.models import Shipment, ShipmentDayRollup
from app.domain.orders.models import Order

#: The wait buckets of the histogram: (column, the longest wait it holds in hours); longer waits go to LONGER.
WAIT_BUCKETS: tuple[tuple[str, int], ...] = (
    ("waited_12h", 12),
    ("waited_24h", 24),
    ("waited_48h", 48),
    ("waited_72h", 72),
)
LONGER = "waited_longer"
KEY = ("day", "warehouse_code", "carrier_code", "channel", "shop_id")
MEASURES = (
    "parcels",
    "wait_minutes",
    "in_promise",
    "delivered",
    "delivered_promised",
    "delivered_in_promise",
    *(name for name, _ in WAIT_BUCKETS),
    LONGER,
)
#: Shipments a rebuild reads at a time.
REBUILD_BATCH = 50_000


@dataclass(frozen=True)
class Parcel:
    """What the rollup needs of one shipped parcel and its order."""

    warehouse_code: str
    carrier_code: str
    channel: str
    shop_id: int
    #: When its order's promise started (payment; a presale's balance due time).
    clock_start: datetime
    shipped_at: datetime
    delivered_at: datetime | None = None
    promised_days: int | None = None


def key_of(parcel: Parcel) -> tuple[date, str, str, str, int]:
    """The rollup row a parcel is counted in: the China day it shipped, its warehouse, carrier, channel and shop."""
    return (
        parcel.shipped_at.astimezone(CHINA).date(),
        parcel.warehouse_code,
        parcel.carrier_code,
        parcel.channel,
        parcel.shop_id,
    )


def shipped_measures(parcel: Parcel) -> dict[str, int]:
    """What a parcel's shipment adds to its row: one parcel, its wait in whole minutes, kept promise, bucket."""
    waited = max(parcel.shipped_at - parcel.clock_start, timedelta(0))
    bucket = next((name for name, hours in WAIT_BUCKETS if waited <= timedelta(hours=hours)), LONGER)
    promise = timedelta(hours=ship_promise.promise_hours(parcel.channel))
    return {
        "parcels": 1,
        "wait_minutes": int(waited.total_seconds() // 60),
        "in_promise": int(waited <= promise),
        bucket: 1,
    }


def delivered_measures(parcel: Parcel) -> dict[str, int]:
    """What a parcel's delivery adds to its row (nothing before it is delivered): delivered, and whether within
    the days its carrier promised (a carrier that promised none is left out of that share)."""
    if parcel.delivered_at is None:
        return {}
    if parcel.promised_days is None:
        return {"delivered": 1}
    kept = parcel.delivered_at - parcel.shipped_at <= timedelta(days=parcel.promised_days)
    return {"delivered": 1, "delivered_promised": 1, "delivered_in_promise": int(kept)}


def count_parcels(parcels: Iterable[Parcel], into: dict[tuple[Any, ...], dict[str, int]] | None = None) -> dict:
    """The rollup rows of these parcels (added to ``into`` when given): key → measures."""
    rows: dict[tuple[Any, ...], dict[str, int]] = {} if into is None else into
    for parcel in parcels:
        row = rows.setdefault(key_of(parcel), dict.fromkeys(MEASURES, 0))
        for name, value in (shipped_measures(parcel) | delivered_measures(parcel)).items():
            row[name] += value
    return rows


def row_values(key: tuple[Any, ...], measures: dict[str, int]) -> dict[str, Any]:
    """One rollup row to insert: its key's columns and every measure."""
    return dict(zip(KEY, key, strict=True)) | {name: measures.get(name, 0) for name in MEASURES}


def parcel_of(order: Order, shipment: Shipment) -> Parcel:
    """A shipped parcel of an order as the rollup counts it (its order's channel, shop and promise)."""
    assert shipment.shipped_at is not None
    return Parcel(
        warehouse_code=shipment.warehouse_code,
        carrier_code=shipment.carrier_code or "",
        channel=order.channel,
        shop_id=order.shop_id,
        clock_start=ship_promise.clock_start_of(order),
        shipped_at=shipment.shipped_at,
        delivered_at=shipment.delivered_at,
        promised_days=shipment.promised_days,
    )


async def _add(session: AsyncSession, parcel: Parcel, measures: dict[str, int]) -> None:
    """Add ``measures`` to the parcel's row, creating it: one upsert, in the caller's transaction."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = ShipmentDayRollup.__table__  # type: ignore[attr-defined]
    statement = dialect_insert(table).values(row_values(key_of(parcel), measures))
    statement = statement.on_conflict_do_update(
        index_elements=list(KEY), set_={name: table.c[name] + statement.excluded[name] for name in measures}
    )
    await session.exec(statement)


async def record_shipped(session: AsyncSession, order: Order, shipment: Shipment) -> None:
    """Count a parcel just confirmed shipped (``shipment.shipped_at`` set) into its day's row."""
    parcel = parcel_of(order, shipment)
    await _add(session, parcel, shipped_measures(parcel))


async def record_delivered(session: AsyncSession, order: Order, shipment: Shipment) -> None:
    """Count a shipped parcel just signed for (``shipment.delivered_at`` set) as delivered in its day's row; a
    parcel shipped before shipments kept their shipped time is left as the rollup found it."""
    if shipment.shipped_at is None:
        return
    parcel = parcel_of(order, shipment)
    await _add(session, parcel, delivered_measures(parcel))


#: What a rebuild reads of each shipped parcel and its order, in :func:`_parcel_of_row`'s order.
PARCEL_COLUMNS = (
    col(Shipment.id),
    col(Shipment.warehouse_code),
    col(Shipment.carrier_code),
    col(Shipment.shipped_at),
    col(Shipment.delivered_at),
    col(Shipment.promised_days),
    col(Order.channel),
    col(Order.shop_id),
    col(Order.paid_at),
    col(Order.placed_at),
    col(Order.is_presale),
    col(Order.balance_due_at),
)


def _parcel_of_row(row: Any) -> Parcel:
    _, warehouse, carrier, shipped, delivered, days, channel, shop_id, paid, placed, presale, due = row
    return Parcel(
        warehouse_code=warehouse,
        carrier_code=carrier or "",
        channel=channel,
        shop_id=shop_id,
        clock_start=ship_promise.clock_start(paid, placed, is_presale=presale, balance_due_at=due),
        shipped_at=shipped,
        delivered_at=delivered,
        promised_days=days,
    )


async def rebuild_shipment_rollups(session: AsyncSession) -> int:
    """Count every shipped parcel again from the shipments and their orders and replace the rollup; how many rows
    there are now."""
    counted: dict[tuple[Any, ...], dict[str, int]] = {}
    after = 0
    while True:
        query = (
            select(*PARCEL_COLUMNS)
            .join(Order, col(Order.id) == col(Shipment.order_id))
            .where(col(Shipment.shipped_at).is_not(None), col(Shipment.id) > after)
            .order_by(col(Shipment.id))
            .limit(REBUILD_BATCH)
        )
        found = (await session.exec(query)).all()  # type: ignore[call-overload]
        if not found:
            break
        after = int(found[-1][0])
        count_parcels((_parcel_of_row(row) for row in found), counted)
    await session.exec(delete(ShipmentDayRollup))
    rows = [row_values(key, measures) for key, measures in counted.items()]
    for start in range(0, len(rows), 5000):
        await session.exec(insert(ShipmentDayRollup), params=rows[start : start + 5000])
    return len(rows)


__all__ = [
    "LONGER",
    "MEASURES",
    "WAIT_BUCKETS",
    "Parcel",
    "count_parcels",
    "delivered_measures",
    "key_of",
    "parcel_of",
    "rebuild_shipment_rollups",
    "record_delivered",
    "record_shipped",
    "row_values",
    "shipped_measures",
]

"""Shipment confirmation (发货确认): a waybilled parcel leaves the warehouse; and a shipped one is signed for (签收).

Confirming a waybill number, in the caller's transaction: the stock its shipment holds leaves both reserved and
on hand (through the inventory service, with ledger rows), the shipment is shipped at ``now`` (and counted into
the 发货时效 rollup, ``shipment_rollups``), the 已发货 messages waiting for it go out with its waybill number, and
its order (with the orders merged into it) is shipped once every parcel of it is. A second confirmation of the
same number changes nothing and says so; an unknown number, a cancelled or held order, or a parcel not
waybilled is refused. A shipped parcel its carrier reports signed for (``tracking.py``) is delivered at that
moment, and its order (with the orders merged into it) is delivered once every parcel of it is, by
:func:`confirm_delivered`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import outbox
from app.domain.accounts.services import Actor, audit
from app.domain.fulfillment import notifications, shipment_rollups
from app.domain.fulfillment.models import Interception, Shipment, Waybill
from app.domain.inventory import services as inventory
from app.domain.orders import services as orders
from app.domain.orders.models import Order, OrderStatus
from app.errors import DomainError, excerpt
from app.i18n import N_

#: The most waybill numbers one call confirms (a wave from a WMS).
MAX_WAYBILLS = 500
#: The order statuses a confirmation moves on to shipped (a later one, set by the platform, is kept).
BEFORE_SHIPPED = frozenset({OrderStatus.routed, OrderStatus.waybilled})
#: The parcel statuses of one that left its warehouse.
LEFT = frozenset({"shipped", "delivered"})
#: What a parcel's delivery moves on to delivered (a completed order, or one on hold or cancelled, is kept).
BEFORE_DELIVERED = frozenset({OrderStatus.shipped})
#: The outbox job that writes a shipped parcel back to its order's platform (发货回传, ``channels.delivery``).
WRITEBACK_JOB = "write_back_delivery"


class ShipmentRefused(DomainError):
    """A waybill number that cannot be confirmed as shipped; nothing was changed."""

    messages: ClassVar[Mapping[str, str]] = {
        "waybill_required": N_("Enter a waybill number."),
        "unknown_waybill": N_("No parcel has the waybill number %(waybill)s."),
        "intercepted": N_(
            "Intercepted: the order of waybill %(waybill)s was cancelled. Do not ship this parcel: take it off the"
            " line and confirm it under Intercepted parcels."
        ),
        "order_cancelled": N_("The order of waybill %(waybill)s is cancelled: pull the parcel, do not ship it."),
        "order_held": N_("The order of waybill %(waybill)s is held for review: do not ship the parcel yet."),
        "shipment_cancelled": N_("The parcel of waybill %(waybill)s was cancelled: pull it, do not ship it."),
        "not_waybilled": N_("The parcel of waybill %(waybill)s is not waybilled yet (it is being routed again)."),
        "waybills_required": N_("Send the waybill numbers to confirm as a list (waybill_numbers)."),
        "too_many_waybills": N_("At most %(limit)s waybill numbers can be confirmed at once."),
    }
    fields: ClassVar[Mapping[str, str]] = {
        "waybills_required": "waybill_numbers",
        "too_many_waybills": "waybill_numbers",
    }


class Confirmed(StrEnum):
    """What confirming a waybill number did."""

    shipped = "shipped"
    already_shipped = "already_shipped"


@dataclass(frozen=True)
class ShipConfirmation:
    """One confirmed waybill: its shipment and order, the units that left the stock (0 when already shipped)."""

    waybill_no: str
    outcome: Confirmed
    shipment: str
    order_id: int
    order_status: str
    units: int


async def _shipment_of(session: AsyncSession, waybill_no: str) -> Shipment | None:
    """The shipment a waybill number was issued for (found through the waybill, whose number is unique)."""
    waybill = (await session.exec(select(Waybill).where(Waybill.waybill_no == waybill_no))).first()
    if waybill is None:
        return None
    return (await session.exec(select(Shipment).where(Shipment.ref == waybill.order_ref))).first()


async def locked_order(session: AsyncSession, order_id: int) -> Order:
    """The order, locked for the change (on PostgreSQL), read afresh."""
    query = select(Order).where(Order.id == order_id).with_for_update().execution_options(populate_existing=True)
    return (await session.exec(query)).one()


async def _locked_shipments(session: AsyncSession, order_id: int) -> list[Shipment]:
    query = (
        select(Shipment)
        .where(Shipment.order_id == order_id)
        .order_by(col(Shipment.seq))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list((await session.exec(query)).all())


async def _intercepted(session: AsyncSession, ref: str) -> bool:
    """Whether the parcel was intercepted (拦截): its order was cancelled after the waybill, whatever came after."""
    return (await session.exec(select(Interception.id).where(Interception.shipment_ref == ref))).first() is not None


def _merged_order_ids(shipments: Sequence[Shipment], primary: int) -> set[int]:
    """The orders merged into ``primary`` whose lines its parcels carry."""
    return {int(line["order_id"]) for s in shipments for line in s.lines if line.get("order_id")} - {primary}


async def confirm_shipped(
    session: AsyncSession, waybill_number: str, actor: Actor, now: datetime, *, ip: str | None = None
) -> ShipConfirmation:
    """Confirm that the parcel with this waybill number has left its warehouse (see the module). Raises
    :class:`ShipmentRefused` before changing anything when it cannot be confirmed."""
    waybill_no = waybill_number.strip()
    if not waybill_no:
        raise ShipmentRefused("waybill_required", field="waybill_no")
    found = await _shipment_of(session, waybill_no)
    if found is None:
        raise ShipmentRefused("unknown_waybill", waybill=excerpt(waybill_no), status=404)
    # The order first, then its parcels: the lock order processing keeps.
    order = await locked_order(session, found.order_id)
    parcels = await _locked_shipments(session, found.order_id)
    shipment = next(s for s in parcels if s.id == found.id)
    shown = excerpt(waybill_no)
    if shipment.status in LEFT:
        return ShipConfirmation(waybill_no, Confirmed.already_shipped, shipment.ref, order.id or 0, order.status, 0)
    if await _intercepted(session, shipment.ref):
        raise ShipmentRefused("intercepted", waybill=shown, status=409)
    if order.status == OrderStatus.cancelled:
        raise ShipmentRefused("order_cancelled", waybill=shown, status=409)
    if order.status == OrderStatus.on_hold:
        raise ShipmentRefused("order_held", waybill=shown, status=409)
    if shipment.status == "cancelled":
        raise ShipmentRefused("shipment_cancelled", waybill=shown, status=409)
    if shipment.status != "waybilled" or shipment.waybill_no != waybill_no:
        raise ShipmentRefused("not_waybilled", waybill=shown, status=409)
    assert order.id is not None
    deducted = await inventory.ship(
        session, inventory.order_key(order.id), actor, line_keys={str(line["line_id"]) for line in shipment.lines}
    )
    units = sum(row.qty for row in deducted)
    shipment.status = "shipped"
    shipment.updated_at = shipment.shipped_at = now
    session.add(shipment)
    await shipment_rollups.record_shipped(session, order, shipment)
    await notifications.release_shipped(session, order, shipment)
    detail = {"shipment": shipment.ref, "waybill_no": waybill_no, "units": units}
    await orders.add_event(session, order, "parcel_shipped", detail, actor=actor.name)
    if all(s.status in LEFT for s in parcels if s.status != "cancelled"):
        for merged_id in sorted(_merged_order_ids(parcels, order.id)):
            merged = await locked_order(session, merged_id)
            if merged.status in BEFORE_SHIPPED:
                await orders.set_status(session, merged, OrderStatus.shipped, actor=actor.name)
        if order.status in BEFORE_SHIPPED:
            await orders.set_status(session, order, OrderStatus.shipped, actor=actor.name)
    await outbox.stage(session, WRITEBACK_JOB, shipment.ref, dedupe_key=f"writeback:{shipment.ref}")
    await audit(
        session,
        actor,
        "shipment.shipped",
        target_type="shipment",
        target_id=shipment.ref,
        before={"status": "waybilled"},
        after={"status": "shipped", "waybill_no": waybill_no, "units": units, "order_status": order.status.value},
        ip=ip,
    )
    return ShipConfirmation(waybill_no, Confirmed.shipped, shipment.ref, order.id, order.status, units)


async def confirm_delivered(session: AsyncSession, shipment_id: int, actor: str, at: datetime) -> bool:
    """The parcel was signed for at ``at`` (its carrier's word): a shipped parcel becomes delivered, with an entry
    on its order's timeline, and the order and those merged into it are delivered once all their parcels that
    were not cancelled are. A parcel not shipped (or delivered already) changes nothing: False."""
    found = await session.get(Shipment, shipment_id)
    if found is None:
        return False
    order = await locked_order(session, found.order_id)
    parcels = await _locked_shipments(session, found.order_id)
    shipment = next(s for s in parcels if s.id == shipment_id)
    if shipment.status != "shipped":
        return False
    shipment.status = "delivered"
    shipment.updated_at = shipment.delivered_at = at
    session.add(shipment)
    await shipment_rollups.record_delivered(session, order, shipment)
    detail = {"shipment": shipment.ref, "waybill_no": shipment.waybill_no or "", "carrier": shipment.carrier_code or ""}
    await orders.add_event(session, order, "parcel_delivered", detail, actor=actor)
    assert order.id is not None
    if all(s.status == "delivered" for s in parcels if s.status != "cancelled"):
        for merged_id in sorted(_merged_order_ids(parcels, order.id)):
            merged = await locked_order(session, merged_id)
            if merged.status in BEFORE_DELIVERED:
                await orders.set_status(session, merged, OrderStatus.delivered, actor=actor)
        if order.status in BEFORE_DELIVERED:
            await orders.set_status(session, order, OrderStatus.delivered, actor=actor)
    return True


async def confirm_many(
    session: AsyncSession, waybill_numbers: object, actor: Actor, now: datetime, *, ip: str | None = None
) -> list[dict[str, Any]]:
    """Confirm a list of waybill numbers in the caller's transaction, each in a savepoint of its own: one answer
    per number, in the order given (``shipped``, ``already_shipped`` or ``refused`` with the message)."""
    if not isinstance(waybill_numbers, list) or not waybill_numbers:
        raise ShipmentRefused("waybills_required")
    if len(waybill_numbers) > MAX_WAYBILLS:
        raise ShipmentRefused("too_many_waybills", limit=MAX_WAYBILLS)
    answers: list[dict[str, Any]] = []
    for number in waybill_numbers:
        shown = number if isinstance(number, str) else ""
        try:
            async with session.begin_nested():
                done = await confirm_shipped(session, shown, actor, now, ip=ip)
        except ShipmentRefused as refused:
            answers.append(
                {"waybill_no": excerpt(shown), "outcome": "refused", "error": refused.code, "message": refused.message}
            )
            continue
        answers.append({**asdict(done), "outcome": done.outcome.value})
    return answers


__all__ = [
    "MAX_WAYBILLS",
    "Confirmed",
    "ShipConfirmation",
    "ShipmentRefused",
    "confirm_delivered",
    "confirm_many",
    "confirm_shipped",
]

"""Interception (拦截): an order cancelled (or refunded in full) on its platform after its parcel got a waybill.

A parcel without a waybill is simply cancelled and its stock given back. A waybilled one may already be picked,
packed and labelled, so cancelling it is a request to the warehouse: :func:`cancel_parcels` opens an
:class:`Interception`, stages the voiding of its waybill at the carrier (the ``void_waybill`` job, once, retried),
takes it off the wave documents nobody printed yet and leaves it flagged on the printed ones, and keeps its
reservation: the units are on a packing table, not on the shelf. The scan station refuses its waybill with 拦截.
When the warehouse confirms the parcel back on the shelf (:func:`confirm_pulled`), its stock is released, with
ledger rows, in that one transaction.

A parcel that had already left cannot be pulled: its interception is ``left``, it stays shipped, and the
``order.intercept_failed`` event says a return in transit is needed. That event (and the ``left`` rows
:func:`open_interceptions` does not list) is where the after-sales cases will attach when they are built.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import outbox
from app.domain.accounts.services import Actor, audit
from app.domain.fulfillment import services
from app.domain.fulfillment.confirmation import locked_order
from app.domain.fulfillment.models import (
    Interception,
    InterceptionStatus,
    Shipment,
    ShippingDocument,
    ShippingDocumentEntry,
    VoidStatus,
)
from app.domain.inventory import services as inventory
from app.domain.orders import services as orders
from app.domain.orders.models import Order
from app.errors import DomainError
from app.events import EventType
from app.i18n import N_

#: The outbox job that voids an intercepted parcel's waybill at its carrier.
VOID_JOB = "void_waybill"
#: Parcel statuses past the warehouse's door: too late to pull (delivered: signed for, per the carrier's tracking).
LEFT = frozenset({"shipped", "delivered"})
#: The most open interceptions a page lists.
PAGE_LIMIT = 200
#: How pages name the states (English message ids).
STATUS_LABELS: Mapping[str, str] = {
    InterceptionStatus.requested.value: N_("To pull"),
    InterceptionStatus.pulled.value: N_("Intercepted, back on the shelf"),
    InterceptionStatus.left.value: N_("Already left: return interception needed"),
}
VOID_LABELS: Mapping[str, str] = {
    VoidStatus.pending.value: N_("Voiding at the carrier"),
    VoidStatus.voided.value: N_("Voided at the carrier"),
    VoidStatus.refused.value: N_("The carrier refused the void"),
    VoidStatus.not_needed.value: N_("Not voided (in use)"),
}


class InterceptionRefused(DomainError):
    """An interception that cannot be confirmed as pulled; nothing was changed."""

    messages: ClassVar[Mapping[str, str]] = {
        "interception_not_found": N_("There is no interception %(interception)s."),
        "interception_left": N_(
            "Parcel %(shipment)s had already left the warehouse: it needs a return in transit, not a pull."
        ),
    }


@dataclass
class CancelledParcels:
    """What cancelling an order's parcels did."""

    #: Parcels without a waybill, cancelled at once (their stock is the caller's to release).
    cancelled: list[Shipment] = field(default_factory=list)
    #: Interceptions opened now: parcels to pull (requested) and parcels that had left (left).
    intercepted: list[Interception] = field(default_factory=list)
    left: list[Interception] = field(default_factory=list)
    #: The order's line keys whose stock stays reserved until the warehouse pulls their parcels.
    held_lines: set[str] = field(default_factory=set)


async def interceptions_for(session: AsyncSession, refs: Iterable[str]) -> dict[str, Interception]:
    """The interceptions of these shipments, by shipment reference."""
    wanted = list(refs)
    if not wanted:
        return {}
    query = select(Interception).where(col(Interception.shipment_ref).in_(wanted))
    return {row.shipment_ref: row for row in (await session.exec(query)).all()}


async def interceptions_of_order(session: AsyncSession, order_id: int) -> dict[str, Interception]:
    """An order's interceptions, by shipment reference."""
    query = select(Interception).where(Interception.order_id == order_id)
    return {row.shipment_ref: row for row in (await session.exec(query)).all()}


def _event_detail(shipment: Shipment) -> dict[str, Any]:
    return {
        "shipment": {
            "ref": shipment.ref,
            "warehouse": shipment.warehouse_code,
            "carrier": shipment.carrier_code,
            "waybill_no": shipment.waybill_no,
            "lines": [{"sku": line["sku"], "qty": line["qty"]} for line in shipment.lines],
        }
    }


async def cancel_parcels(
    session: AsyncSession, order: Order, shipments: list[Shipment], reason: str, now: datetime
) -> CancelledParcels:
    """Cancel an order's parcels (see the module): not waybilled, cancelled; waybilled, intercepted; shipped,
    recorded as left. A parcel already intercepted or cancelled is left as it is, so cancelling twice does the
    work once."""
    done = CancelledParcels()
    known = await interceptions_for(session, [s.ref for s in shipments])
    plain: list[Shipment] = []
    for shipment in shipments:
        if shipment.status == "cancelled" or shipment.ref in known:
            continue
        if shipment.status in LEFT:
            done.left.append(await _record_left(session, order, shipment, reason, now))
        elif shipment.waybill_no:
            done.intercepted.append(await _intercept(session, order, shipment, reason, now))
        else:
            plain.append(shipment)
    done.cancelled = await services.cancel_shipments(session, plain)
    done.held_lines = {str(line["line_id"]) for s in shipments if s.status == "intercepted" for line in s.lines}
    return done


def _opened(
    session: AsyncSession,
    shipment: Shipment,
    reason: str,
    now: datetime,
    *,
    status: InterceptionStatus = InterceptionStatus.requested,
    void: VoidStatus = VoidStatus.pending,
) -> Interception:
    row = Interception(
        shipment_ref=shipment.ref,
        order_id=shipment.order_id,
        warehouse_code=shipment.warehouse_code,
        carrier_code=shipment.carrier_code or "",
        waybill_no=shipment.waybill_no or "",
        status=status.value,
        void_status=void.value,
        reason=reason[:200],
        requested_at=now,
        updated_at=now,
    )
    session.add(row)
    return row


async def _intercept(
    session: AsyncSession, order: Order, shipment: Shipment, reason: str, now: datetime
) -> Interception:
    row = _opened(session, shipment, reason, now)
    shipment.status = "intercepted"
    shipment.updated_at = now
    session.add(shipment)
    kept = await off_unprinted_documents(session, shipment.ref)
    await services.withdraw_shipped_messages(session, [shipment.ref])
    await outbox.stage(session, VOID_JOB, shipment.ref, dedupe_key=f"{VOID_JOB}:{shipment.ref}")
    detail = {"shipment": shipment.ref, "waybill_no": shipment.waybill_no, "reason": reason, "printed_documents": kept}
    await orders.add_event(session, order, "intercept_requested", detail)
    await orders.record_order_event(
        session, order, EventType.order_intercepted, change=shipment.ref, extra=_event_detail(shipment)
    )
    return row


async def _record_left(
    session: AsyncSession, order: Order, shipment: Shipment, reason: str, now: datetime
) -> Interception:
    row = _opened(session, shipment, reason, now, status=InterceptionStatus.left, void=VoidStatus.not_needed)
    await orders.add_event(
        session, order, "intercept_failed", {"shipment": shipment.ref, "waybill_no": shipment.waybill_no}
    )
    # After-sales opens its return-in-transit case from this event (see the module).
    await orders.record_order_event(
        session,
        order,
        EventType.order_intercept_failed,
        change=shipment.ref,
        extra={**_event_detail(shipment), "reason": reason[:200]},
    )
    return row


async def off_unprinted_documents(session: AsyncSession, ref: str) -> int:
    """Take an intercepted parcel off the documents not printed yet; it stays (flagged) on the printed ones, whose
    paper is already in the warehouse. Returns how many printed documents keep it."""
    query = (
        select(ShippingDocumentEntry, ShippingDocument)
        .join(ShippingDocument, col(ShippingDocument.id) == col(ShippingDocumentEntry.document_id))
        .where(ShippingDocumentEntry.order_ref == ref)
    )
    kept = 0
    for entry, document in (await session.exec(query)).all():
        if document.printed_at is None:
            await session.delete(entry)
        else:
            kept += 1
    await session.flush()
    return kept


async def record_void(session: AsyncSession, ref: str, status: VoidStatus, note: str, now: datetime) -> bool:
    """Keep what the carrier said to the void of a parcel's waybill, once (a void already recorded is left as it
    is); returns whether this call recorded it. The order's timeline says so."""
    changed = await session.exec(
        update(Interception)
        .where(col(Interception.shipment_ref) == ref, col(Interception.void_status) == VoidStatus.pending.value)
        .values(void_status=status.value, void_note=note[:300], voided_at=now, updated_at=now)
        .returning(col(Interception.order_id))
    )
    order_id = changed.scalars().first()
    if order_id is None:
        return False
    order = await session.get(Order, order_id)
    assert order is not None
    kind = "waybill_voided" if status == VoidStatus.voided else "waybill_void_refused"
    await orders.add_event(session, order, kind, {"shipment": ref, "note": note[:300]})
    return True


@dataclass(frozen=True)
class Pulled:
    """A confirmed pull: the parcel, and the units given back to the shelf (0 when it was confirmed before)."""

    interception: Interception
    units: int
    already: bool


async def confirm_pulled(
    session: AsyncSession, interception_id: int, actor: Actor, now: datetime, *, ip: str | None = None
) -> Pulled:
    """The warehouse confirms an intercepted parcel back on the shelf (已拦截，已放回货架), in the caller's
    transaction: its stock is released (ledger rows), the parcel is cancelled, and it is audited. Confirming it
    again changes nothing; a parcel that had left is refused."""
    found = await session.get(Interception, interception_id)
    if found is None:
        raise InterceptionRefused("interception_not_found", interception=interception_id, status=404)
    # The order first, then its parcel, then the interception: the lock order processing keeps.
    order = await locked_order(session, found.order_id)
    shipment = (
        await session.exec(
            select(Shipment)
            .where(Shipment.ref == found.shipment_ref)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()
    row = (
        await session.exec(
            select(Interception)
            .where(Interception.id == interception_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()
    if row.status == InterceptionStatus.left:
        raise InterceptionRefused("interception_left", shipment=row.shipment_ref, status=409)
    if row.status == InterceptionStatus.pulled:
        return Pulled(row, 0, already=True)
    released = await inventory.release(
        session,
        inventory.order_key(found.order_id),
        actor,
        line_keys={str(line["line_id"]) for line in shipment.lines},
        note=f"拦截件 {row.shipment_ref} 已放回货架",
    )
    units = sum(r.qty for r in released)
    shipment.status = "cancelled"
    shipment.updated_at = now
    session.add(shipment)
    row.status = InterceptionStatus.pulled.value
    row.confirmed_at = now
    row.confirmed_by = actor.name[:100]
    row.updated_at = now
    session.add(row)
    await orders.add_event(
        session, order, "intercept_pulled", {"shipment": row.shipment_ref, "units": units}, actor=actor.name
    )
    await audit(
        session,
        actor,
        "interception.pulled",
        target_type="shipment",
        target_id=row.shipment_ref,
        before={"status": InterceptionStatus.requested.value},
        after={"status": InterceptionStatus.pulled.value, "units_released": units},
        ip=ip,
    )
    return Pulled(row, units, already=False)


async def open_interceptions(session: AsyncSession, warehouse_code: str = "") -> list[Interception]:
    """The parcels a warehouse (every one when none is named) is still to pull, oldest first."""
    query = select(Interception).where(Interception.status == InterceptionStatus.requested.value)
    if warehouse_code:
        query = query.where(Interception.warehouse_code == warehouse_code)
    return list((await session.exec(query.order_by(col(Interception.id)).limit(PAGE_LIMIT))).all())


__all__ = [
    "LEFT",
    "PAGE_LIMIT",
    "STATUS_LABELS",
    "VOID_JOB",
    "VOID_LABELS",
    "CancelledParcels",
    "InterceptionRefused",
    "Pulled",
    "cancel_parcels",
    "confirm_pulled",
    "interceptions_for",
    "interceptions_of_order",
    "off_unprinted_documents",
    "open_interceptions",
    "record_void",
]

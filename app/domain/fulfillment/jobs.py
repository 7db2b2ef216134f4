"""Fulfillment jobs: deliver buyer notifications after commit; ask a shipment's carrier for its waybill number, and
void the waybill of a parcel intercepted before it left.

The waybill job itself (``processing.jobs.request_waybill``) sequences the order around :func:`fetch_waybill`:
the number moves the order on, a refusal puts it in the review queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

import httpx
from sqlalchemy import and_, or_, update
from sqlmodel import col, select

from app.db import Database, utcnow
from app.domain.fulfillment import carrier_master, interceptions
from app.domain.fulfillment import services as fulfillment
from app.domain.fulfillment.carriers import (
    CarrierClient,
    CarrierError,
    HttpCarrierClient,
    WaybillRequest,
    WaybillResult,
    WaybillVoid,
)
from app.domain.fulfillment.models import BuyerNotification, Carrier, Interception, Shipment, VoidStatus, Waybill
from app.domain.fulfillment.notifications import sender_for
from app.domain.inventory.models import Warehouse
from app.domain.orders import pii
from app.domain.orders.models import Order
from app.settings import Settings

#: A send that started this long ago and never finished is tried again (its worker died mid-send).
STALE_SEND = timedelta(minutes=5)


def carrier_client(settings: Settings, http: httpx.AsyncClient | None = None) -> HttpCarrierClient:
    """The carrier API client of these settings; a worker passes its one pooled ``http`` client."""
    return HttpCarrierClient(settings.carrier_api_url, settings.carrier_api_key, settings.carrier_api_secret, http=http)


def client_for(carrier: Carrier | None, settings: Settings, ctx: dict[str, Any]) -> CarrierClient:
    """Who issues the carrier's waybills: its own API when an admin set one (设置 → 快递公司), else the one of the
    settings (CARRIER_API_URL), through the worker's pooled client either way."""
    if carrier is not None and carrier.api_base_url:
        secret = carrier_master.api_secret_of(carrier, settings.secret_key)
        return HttpCarrierClient(carrier.api_base_url, carrier.api_key, secret, http=ctx.get("http"))
    client: CarrierClient = ctx.get("carrier_client") or carrier_client(settings)
    return client


async def send_notification(ctx: dict[str, Any], notification_id: int) -> dict[str, Any]:
    """Send one buyer message (see :func:`send_notifications`)."""
    return (await send_notifications(ctx, [notification_id]))[0]


SKIPPED: Final = {"skipped": "already sent or being sent"}


async def send_notifications(ctx: dict[str, Any], notification_ids: list[int]) -> list[dict[str, Any]]:
    """Send buyer messages. They are claimed atomically first (one UPDATE), so two deliveries send each once,
    then sent one after the other and marked sent together. If a send fails, the messages not sent yet are
    given back before the error is raised, so that a retry sends them."""
    db: Database = ctx["db"]
    settings: Settings = ctx["settings"]
    now = utcnow()
    async with db.transaction() as session:
        claimed = await session.exec(
            update(BuyerNotification)
            .where(
                col(BuyerNotification.id).in_(notification_ids),
                or_(
                    col(BuyerNotification.status) == "pending",
                    and_(col(BuyerNotification.status) == "sending", col(BuyerNotification.sent_at) < now - STALE_SEND),
                ),
            )
            .values(status="sending", sent_at=now)
            .returning(col(BuyerNotification.id))
        )
        claimed_ids = set(claimed.scalars().all())
        notifications = {
            n.id: n
            for n in (
                await session.exec(select(BuyerNotification).where(col(BuyerNotification.id).in_(claimed_ids)))
            ).all()
        }
    sent: dict[int, str] = {}
    try:
        for notification_id in notification_ids:
            notification = notifications.get(notification_id)
            if notification is None or notification_id in sent:
                continue
            recipient = pii.decrypt(settings.secret_key, notification.recipient_cipher)
            sent[notification_id] = await sender_for(notification.via).send(notification, recipient)
    finally:
        async with db.transaction() as session:
            for notification_id, provider_id in sent.items():
                await session.exec(
                    update(BuyerNotification)
                    .where(col(BuyerNotification.id) == notification_id)
                    .values(status="sent", provider_message_id=provider_id, sent_at=utcnow())
                )
            unsent = claimed_ids - set(sent)
            if unsent:  # only when a send failed: they go back to wait for the retry
                await session.exec(
                    update(BuyerNotification)
                    .where(col(BuyerNotification.id).in_(unsent))
                    .values(status="pending", sent_at=None)
                )
    answers: list[dict[str, Any]] = []
    for notification_id in notification_ids:  # a message delivered twice in one batch is sent by the first
        answers.append({"provider_message_id": sent.pop(notification_id)} if notification_id in sent else SKIPPED)
    return answers


@dataclass(frozen=True)
class WaybillFetch:
    """What asking a shipment's carrier came to: a number (new, or issued before for the same request), a
    refusal (with the receiver masked), or a reason the shipment needs none (``skipped``, the job's answer)."""

    order_id: int = 0
    request: WaybillRequest | None = None
    existing: Waybill | None = None
    result: WaybillResult | None = None
    refusal: str | None = None
    skipped: dict[str, Any] | None = None


async def fetch_waybill(ctx: dict[str, Any], shipment_id: int) -> WaybillFetch:
    """Get the shipment's waybill number from its carrier (a retried request gets the same number); writes
    nothing: :func:`services.record_shipment_waybill` keeps the number. Transient carrier errors are raised."""
    db: Database = ctx["db"]
    settings: Settings = ctx["settings"]
    async with db.reading() as session:
        shipment = await session.get(Shipment, shipment_id)
        if shipment is None or shipment.status == "cancelled" or shipment.carrier_code is None:
            return WaybillFetch(skipped={"skipped": "no such shipment, cancelled, or no carrier"})
        if shipment.waybill_no:
            return WaybillFetch(skipped={"waybill_no": shipment.waybill_no, "skipped": "already has a waybill"})
        order = await session.get(Order, shipment.order_id)
        warehouse = (await session.exec(select(Warehouse).where(Warehouse.code == shipment.warehouse_code))).one()
        carrier = (await session.exec(select(Carrier).where(Carrier.code == shipment.carrier_code))).first()
        assert order is not None
        request = WaybillRequest(
            request_key=f"waybill:{shipment.ref}",
            order_ref=shipment.ref,
            carrier_code=shipment.carrier_code,
            warehouse_code=shipment.warehouse_code,
            origin_province=warehouse.province,
            dest_province=order.province,
            dest_city=order.city,
            receiver_masked=f"{pii.mask_name(order.receiver_name)} {order.phone_masked}",
            weight_g=shipment.weight_g,
            customer_code=carrier.customer_code if carrier else "",
            receiver_name=order.receiver_name,
            receiver_phone=pii.decrypt(settings.secret_key, order.phone_cipher) or order.phone_masked,
            receiver_address=" ".join(
                part
                for part in (
                    order.province,
                    order.city,
                    order.district,
                    order.town,
                    pii.decrypt(settings.secret_key, order.address_cipher) or order.address_masked,
                )
                if part
            ),
        )
        existing = await fulfillment.waybill_for(session, request.request_key)
    client = client_for(carrier, settings, ctx)
    try:
        result = None if existing is not None else await client.create_waybill(request)
    except CarrierError as exc:
        if exc.transient:
            raise
        # A refusal may quote the request back: keep it with the receiver masked.
        refusal = pii.redact_text(str(exc), fulfillment.receiver_of(request), limit=300)
        return WaybillFetch(order_id=shipment.order_id, request=request, refusal=refusal)
    return WaybillFetch(order_id=shipment.order_id, request=request, existing=existing, result=result)


async def void_waybill(ctx: dict[str, Any], shipment_ref: str) -> dict[str, Any]:
    """Void an intercepted parcel's waybill at its carrier (staged by ``interceptions.cancel_parcels``).

    Safe to run twice: once the carrier's answer is kept the job does nothing, and the void's request key is the
    carrier's idempotency key for a delivery that raced. A transient carrier error is raised for the outbox to
    retry; a refusal is kept with the interception (the warehouse pulls the parcel all the same)."""
    db: Database = ctx["db"]
    settings: Settings = ctx["settings"]
    async with db.reading() as session:
        row = (await session.exec(select(Interception).where(Interception.shipment_ref == shipment_ref))).first()
        if row is None or row.void_status != VoidStatus.pending or not row.waybill_no:
            return {"skipped": "no interception, or its void is settled"}
        carrier = (await session.exec(select(Carrier).where(Carrier.code == row.carrier_code))).first()
        request = WaybillVoid(
            request_key=f"void:{row.shipment_ref}",
            waybill_no=row.waybill_no,
            carrier_code=row.carrier_code,
            order_ref=row.shipment_ref,
            customer_code=carrier.customer_code if carrier else "",
            reason="订单已取消，包裹拦截",
        )
    try:
        answer = await client_for(carrier, settings, ctx).cancel_waybill(request)
    except CarrierError as exc:
        if exc.transient:
            raise
        status, note = VoidStatus.refused, str(exc)
    else:
        status, note = VoidStatus.voided, "已作废" if not answer.already else "快递此前已作废"
    async with db.transaction() as session:
        recorded = await interceptions.record_void(session, shipment_ref, status, note, utcnow())
    return {"waybill_no": request.waybill_no, "void": status.value, "recorded": recorded}

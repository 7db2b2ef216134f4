"""Buyer messages: staging the messages a flow decided, releasing the 已发货 ones when their parcel ships, and
sending them. Their texts are the templates an admin can edit (``message_templates``). The sender is pluggable;
the demo's sandbox sender only records the message."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

import ruleflows
from app import outbox
from app.db import deferred_of, insert_rows, utcnow
from app.domain.fulfillment import message_templates, routing
from app.domain.fulfillment import services as fulfillment
from app.domain.fulfillment.models import BuyerNotification, Carrier, Shipment, order_ref
from app.domain.inventory import services as inventory
from app.domain.orders.models import Order
from app.domain.shops import services as shop_readers
from app.i18n import N_

#: What a buyer message's status is called on the messages page.
STATUS_LABELS = {
    "waiting": N_("Waiting for its parcel to ship"),
    "pending": N_("Queued to send"),
    "sending": N_("Sending"),
    "sent": N_("Sent to the gateway"),
    "failed": N_("Failed"),
    "withdrawn": N_("Withdrawn"),
}


async def stage_messages(
    session: AsyncSession,
    order: Order,
    shop_name: str,
    shipments: list[Shipment],
    notifications: Sequence[ruleflows.Notification],
    network: routing.Network,
    *,
    balance_due_at: datetime | None = None,
    texts: message_templates.Texts | None = None,
) -> None:
    """Stage each decided buyer message about the order and its shipments; the outbox sends it after commit, once.
    A 已发货 message (``message_templates.AT_SHIPMENT``) is not sent now: one per parcel waits for the parcel to
    be confirmed shipped (:func:`release_shipped`), since the buyer should hear it with the waybill number.
    In a processing batch the messages are recorded together with the batch's others, at its end.
    ``balance_due_at`` is the presale's due time the flow decided (the platform's, or the shop's default term);
    ``texts`` the templates' texts (read here when the caller has not read them for its batch). A message sent
    now is written now, with the text an admin left at this moment: what the buyer got is what the outbox shows."""
    assert order.id is not None
    if not notifications:
        return
    texts = texts or await message_templates.load_texts(session)
    carriers = {c.code: c.name for c in network.couriers}
    warehouses = {site.code: site.name for site in network.sites}
    first = shipments[0] if shipments else None
    due = balance_due_at or order.balance_due_at
    values = {
        "shop": shop_name,
        "external_id": order.external_id,
        "warehouse": warehouses.get(first.warehouse_code, first.warehouse_code) if first else "仓库",
        "carrier": carriers.get(first.carrier_code or "", "待定") if first else "待定",
        "due": _china(due) if due else "尾款截止日",
    }
    rows: list[dict[str, Any]] = []
    waiting: list[dict[str, Any]] = []
    for note in notifications:
        if note.template in message_templates.AT_SHIPMENT:
            parcels = [shipment for shipment in shipments if shipment.status != "cancelled"]
            waiting.extend(_row(order, note, "", shipment_ref=shipment.ref) for shipment in parcels)
        else:
            rows.append(_row(order, note, texts.message(note.template, note.via, values)))
    await insert_rows(session, BuyerNotification, waiting, skip_duplicates_of=("dedupe_key",))
    later = deferred_of(session)
    if later is None:
        await fulfillment.send_after_commit(session, rows)
    else:
        for row in rows:
            later.step(fulfillment.send_after_commit, row)


def _row(order: Order, note: ruleflows.Notification, body: str, *, shipment_ref: str | None = None) -> dict[str, Any]:
    assert order.id is not None
    return fulfillment.notification_row(
        order_ref=order_ref(order.id),
        template=note.template,
        via=note.via,
        recipient_masked=order.phone_masked if note.via == "sms" else (order.buyer_nick or order.receiver_name),
        recipient_cipher=order.phone_cipher if note.via == "sms" else None,
        body=body,
        shipment_ref=shipment_ref,
    )


async def release_shipped(session: AsyncSession, order: Order, shipment: Shipment) -> int:
    """The parcel has been confirmed shipped: write its waiting messages with the carrier's name and the waybill
    number, from the templates' texts of this moment, and stage their sending (in the caller's transaction).
    Each waiting message is released once (a guarded UPDATE; its send is keyed by its id), so a second
    confirmation or a repeated job sends nothing more. Returns how many were released."""
    query = select(BuyerNotification).where(
        BuyerNotification.shipment_ref == shipment.ref, BuyerNotification.status == "waiting"
    )
    waiting = list((await session.exec(query)).all())
    if not waiting:
        return 0
    shop = await shop_readers.shop_of(session, order.shop_id)
    carrier = (await session.exec(select(Carrier).where(Carrier.code == (shipment.carrier_code or "")))).first()
    warehouse = await inventory.get_warehouse(session, shipment.warehouse_code)
    values = {
        "shop": shop.name if shop else "",
        "external_id": order.external_id,
        "warehouse": warehouse.name if warehouse else shipment.warehouse_code,
        "carrier": carrier.name if carrier else (shipment.carrier_code or ""),
        "waybill_no": shipment.waybill_no or "",
    }
    texts = await message_templates.load_texts(session)
    released = 0
    for note in waiting:
        claimed = await session.exec(
            update(BuyerNotification)
            .where(col(BuyerNotification.id) == note.id, col(BuyerNotification.status) == "waiting")
            .values(status="pending", body=texts.message(note.template, note.via, values), created_at=utcnow())
            .returning(col(BuyerNotification.id))
        )
        for notification_id in claimed.scalars().all():
            await outbox.stage(
                session, "send_notification", notification_id, dedupe_key=f"send_notification:{notification_id}"
            )
            released += 1
    return released


def _china(moment: datetime) -> str:
    return moment.astimezone(fulfillment.CHINA).strftime("%Y-%m-%d %H:%M")


class NotificationSender(Protocol):
    async def send(self, notification: BuyerNotification, recipient: str | None) -> str:
        """Deliver the message to ``recipient`` (the opened phone number or account; None when unknown);
        return the provider's message id."""
        ...


class SandboxSender:
    """Delivers nothing: the message shows up in the sandbox outbox viewer, as a real gateway would see it."""

    async def send(self, notification: BuyerNotification, recipient: str | None) -> str:
        return f"sandbox-{notification.via}-{notification.id}"


def sender_for(via: str) -> NotificationSender:
    """The sender per channel (sms | wechat); real gateways plug in here."""
    return SandboxSender()

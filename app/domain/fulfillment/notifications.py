"""Buyer messages: staging the messages a flow decided, and sending them. The sender is pluggable; the demo's
sandbox sender only records the message."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

import ruleflows
from app.db import deferred_of
from app.domain.fulfillment import routing
from app.domain.fulfillment import services as fulfillment
from app.domain.fulfillment.models import BuyerNotification, Shipment, order_ref
from app.domain.orders.models import Order
from app.i18n import N_

#: Messages to buyers, by template; unknown templates get the generic text.
MESSAGE_TEMPLATES = {
    "order_processed": "【{shop}】您的订单 {external_id} 已安排从{warehouse}发出，快递：{carrier}。",
    "presale_balance_reminder": "【{shop}】您预订的商品尾款将于 {due} 截止，请及时支付尾款。",
    "order_shipped": "【{shop}】您的订单 {external_id} 已发货，快递：{carrier}。",
}
#: What each template is called in the flow editor's template picker (English message ids).
TEMPLATE_LABELS = {
    "order_processed": N_("Order arranged for shipping"),
    "presale_balance_reminder": N_("Presale balance reminder"),
    "order_shipped": N_("Order shipped"),
}
assert set(TEMPLATE_LABELS) == set(MESSAGE_TEMPLATES)
GENERIC_MESSAGE = "【{shop}】您的订单 {external_id} 有新进展，请留意。"


async def stage_messages(
    session: AsyncSession,
    order: Order,
    shop_name: str,
    shipments: list[Shipment],
    notifications: Sequence[ruleflows.Notification],
    network: routing.Network,
    *,
    balance_due_at: datetime | None = None,
) -> None:
    """Stage each decided buyer message about the order and its shipments; the outbox sends it after commit, once.
    In a processing batch the messages are recorded together with the batch's others, at its end.
    ``balance_due_at`` is the presale's due time the flow decided (the platform's, or the shop's default term)."""
    assert order.id is not None
    if not notifications:
        return
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
    rows = [
        fulfillment.notification_row(
            order_ref=order_ref(order.id),
            template=note.template,
            via=note.via,
            recipient_masked=order.phone_masked if note.via == "sms" else (order.buyer_nick or order.receiver_name),
            recipient_cipher=order.phone_cipher if note.via == "sms" else None,
            body=MESSAGE_TEMPLATES.get(note.template, GENERIC_MESSAGE).format(**values),
        )
        for note in notifications
    ]
    later = deferred_of(session)
    if later is None:
        await fulfillment.send_after_commit(session, rows)
    else:
        for row in rows:
            later.step(fulfillment.send_after_commit, row)


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

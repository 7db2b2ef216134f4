"""Fulfillment jobs: deliver buyer notifications after commit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, update
from sqlmodel import col

from app.db import Database, utcnow
from app.domain.fulfillment.models import BuyerNotification
from app.domain.fulfillment.notifications import sender_for
from app.domain.orders import pii
from app.settings import Settings

#: A send that started this long ago and never finished is tried again (its worker died mid-send).
STALE_SEND = timedelta(minutes=5)


async def send_notification(ctx: dict[str, Any], notification_id: int) -> dict[str, Any]:
    """Send one buyer message. The message is claimed atomically first, so two deliveries send it once."""
    db: Database = ctx["db"]
    now = utcnow()
    async with db.transaction() as session:
        claimed = await session.exec(
            update(BuyerNotification)
            .where(
                col(BuyerNotification.id) == notification_id,
                or_(
                    col(BuyerNotification.status) == "pending",
                    and_(col(BuyerNotification.status) == "sending", col(BuyerNotification.sent_at) < now - STALE_SEND),
                ),
            )
            .values(status="sending", sent_at=now)
        )
        if not claimed.rowcount:
            return {"skipped": "already sent or being sent"}
        notification = await session.get(BuyerNotification, notification_id)
    assert notification is not None
    settings: Settings = ctx["settings"]
    recipient = pii.decrypt(settings.secret_key, notification.recipient_cipher)
    provider_id = await sender_for(notification.via).send(notification, recipient)
    async with db.transaction() as session:
        row = await session.get(BuyerNotification, notification_id)
        assert row is not None
        row.status = "sent"
        row.provider_message_id = provider_id
        row.sent_at = utcnow()
        session.add(row)
    return {"provider_message_id": provider_id}

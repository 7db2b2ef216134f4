"""Sending buyer messages. The sender is pluggable; the demo's sandbox sender only records the message."""

from __future__ import annotations

from typing import Protocol

from app.domain.fulfillment.models import BuyerNotification


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

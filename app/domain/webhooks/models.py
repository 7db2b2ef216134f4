"""Outbound webhooks: the subscriptions an admin makes (an integrator's URL, or a 钉钉 / 企业微信 group robot) and
each delivery of an event to one of them, with every attempt's answer."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.dbtypes import json_field, utc_field


class SubscriptionKind(StrEnum):
    webhook = "webhook"  # an integrator's endpoint: the event JSON, signed with the subscription's secret
    dingtalk = "dingtalk"  # 钉钉群自定义机器人: a short Chinese text, optionally 加签
    wecom = "wecom"  # 企业微信群机器人: a short Chinese text


class DeliveryStatus(StrEnum):
    pending = "pending"  # waiting for its first attempt
    sending = "sending"  # an attempt is under way
    retrying = "retrying"  # an attempt failed; the next one is due at ``next_attempt_at``
    succeeded = "succeeded"
    failed = "failed"  # the last attempt failed: given up (an admin may try again)


class EventSubscription(SQLModel, table=True):
    """One subscriber and the events it wants."""

    __tablename__ = "event_subscriptions"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    kind: SubscriptionKind = Field(default=SubscriptionKind.webhook, max_length=16)
    #: The URL, encrypted under SECRET_KEY: a robot's carries its access token or key.
    url_cipher: str = Field(sa_column=Column(Text, nullable=False))
    #: The URL as pages show it: the values of its query parameters masked.
    url_shown: str = Field(max_length=300)
    #: The signing secret, encrypted: generated for a webhook (shown once), a 钉钉 robot's 加签 secret, or empty.
    secret_cipher: str = Field(default="", max_length=512)
    #: The event types it receives (``app.events.EventType`` values).
    events: list[str] = json_field(nullable=False, default_factory=list)
    is_enabled: bool = True
    #: ``review.backlog``: raised when more than this many orders wait in the review queue.
    held_threshold: int = 20
    #: The backlog alert is raised and not yet over (the queue has not been seen at or below the threshold since).
    backlog_alerted: bool = False
    created_by: str = Field(default="", max_length=100)
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()


class EventDelivery(SQLModel, table=True):
    """One event for one subscription: what is sent (the same body on every attempt) and how it went."""

    __tablename__ = "event_deliveries"
    __table_args__ = (UniqueConstraint("subscription_id", "event_id", name="uq_event_delivery_subscription_event"),)

    id: int | None = Field(default=None, primary_key=True)
    #: Sent as X-Ruleflow-Delivery, the same on every attempt: a receiver drops a delivery it has taken before.
    delivery_id: str = Field(max_length=36, unique=True)
    subscription_id: int = Field(foreign_key="event_subscriptions.id", index=True)
    event_id: str = Field(max_length=36)
    event_type: str = Field(max_length=32)
    #: The event, ``{id, type, occurred_at, data}``, with personal data masked.
    body: dict[str, Any] = json_field(nullable=False, default_factory=dict)
    status: DeliveryStatus = Field(default=DeliveryStatus.pending, max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime | None = utc_field(nullable=True)
    claimed_at: datetime | None = utc_field(nullable=True)
    last_status_code: int | None = None
    #: The start of the last answer (cut), or why there was none.
    last_response: str = Field(default="", max_length=600)
    #: Every attempt: ``[{at, status_code, response, error}]``, oldest first, the last ten kept.
    attempt_log: list[dict[str, Any]] = json_field(nullable=False, default_factory=list)
    created_at: datetime = utc_field(index=True)
    delivered_at: datetime | None = utc_field(nullable=True)

"""Outbound events: what integrators can subscribe to, and the one way any domain records that one happened.

An event is an outbox message (``publish_event``) staged in the transaction of the change that causes it, so
an event exists exactly when its change was committed; after commit the webhooks domain fans it out to the
subscriptions that want it (``app/domain/webhooks``). The domains that record events import only this module,
never the webhooks domain, which sits above them all.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app import outbox
from app.db import iso_utc, utcnow

#: The outbox job that fans a recorded event out to its subscriptions.
PUBLISH_JOB = "publish_event"
#: The outbox job that books an event finance takes (``app/domain/finance/jobs.py``).
FINANCE_JOB = "book_finance_event"
#: Event ids are derived from the event's key, so a change carried out twice records one event with one id.
EVENT_NAMESPACE = uuid.UUID("6f1c1f55-3f0e-4f55-9a43-2b7d0c1e6a11")


class EventType(StrEnum):
    """Every event a subscription may choose (the ``type`` of the delivered JSON)."""

    order_received = "order.received"
    order_held = "order.held"
    order_routed = "order.routed"
    order_shipped = "order.shipped"
    #: Every parcel signed for (the carrier's tracking), or the platform says the buyer received it.
    order_delivered = "order.delivered"
    #: Finished: the platform says so, or its shop's days after delivery passed (the sweeper).
    order_completed = "order.completed"
    order_cancelled = "order.cancelled"
    #: A waybilled parcel of a cancelled order is to be pulled by its warehouse (拦截).
    order_intercepted = "order.intercepted"
    #: A cancelled order's parcel had already left: a return in transit is needed (where after-sales attaches).
    order_intercept_failed = "order.intercept_failed"
    #: A shipped parcel was written back to its platform (发货回传), or the platform refused it for good.
    shipment_written_back = "shipment.written_back"
    shipment_write_back_failed = "shipment.write_back_failed"
    stock_low = "stock.low"
    #: An after-sales refund was made (its amounts per line, shipping refunded, who approved): finance's red letter.
    aftersale_refunded = "aftersale.refunded"
    #: An after-sales case was carried out to its end (refunded, received back, or sent again).
    aftersale_completed = "aftersale.completed"
    #: Raised by the webhooks domain itself when the review queue grows past a subscription's threshold.
    review_backlog = "review.backlog"


#: What finance books: a sale when an order is delivered or completed, a red-letter voucher when money went back.
FINANCE_EVENTS = frozenset({EventType.order_delivered, EventType.order_completed, EventType.aftersale_refunded})


def event_id_for(key: str) -> str:
    """The event id of an event key (``order.routed:42:v3:r1``): the same key, the same id."""
    return str(uuid.uuid5(EVENT_NAMESPACE, key))


def event_body(kind: EventType, data: dict[str, Any], *, key: str, at: datetime | None = None) -> dict[str, Any]:
    """The JSON every subscriber receives: ``{id, type, occurred_at, data}``."""
    return {"id": event_id_for(key), "type": kind.value, "occurred_at": iso_utc(at or utcnow()), "data": data}


async def record(session: AsyncSession, kind: EventType, data: dict[str, Any], *, key: str) -> None:
    """Record an event in the caller's transaction. ``key`` names the change (an order's version, a crossing of a
    threshold): recording the same key again is a no-op. ``data`` must hold no personal data in clear."""
    body = event_body(kind, data, key=key)
    await outbox.stage(session, PUBLISH_JOB, body, dedupe_key=f"event:{key}"[:200])
    if kind in FINANCE_EVENTS:
        await outbox.stage(session, FINANCE_JOB, body, dedupe_key=f"finance:{key}"[:200])


__all__ = [
    "EVENT_NAMESPACE",
    "FINANCE_EVENTS",
    "FINANCE_JOB",
    "PUBLISH_JOB",
    "EventType",
    "event_body",
    "event_id_for",
    "record",
]

"""Webhook services: subscriptions (made, switched on and off, their secret rotated), the fan-out of recorded
events into deliveries, and each delivery's bookkeeping: due, claimed, answered, retried with back-off, given up.

Events are recorded by the domains where they happen (``app.events.record``, an outbox row in the change's own
transaction); :func:`fan_out` turns each into one delivery per subscription that wants it, in one transaction
with the staging of their first attempts. A delivery is attempted by the ``deliver_webhook`` job, which claims it
first (so two workers never both post it) and posts nothing once it has succeeded.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final

from sqlalchemy import and_, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import outbox
from app.db import insert_new, iso_utc, utcnow
from app.domain.accounts.services import Actor, audit
from app.domain.orders import pii
from app.domain.processing import queries as processing_queries
from app.domain.processing.models import ProcessingState
from app.domain.webhooks import sending
from app.domain.webhooks.models import DeliveryStatus, EventDelivery, EventSubscription, SubscriptionKind
from app.errors import DomainError, excerpt
from app.events import EventType, event_body
from app.i18n import N_, label_of
from app.params import ParameterError, parse_id
from app.settings import Settings

DELIVER_JOB: Final = "deliver_webhook"
#: The waits after the first, second… failed attempt; after the last one the delivery is given up.
BACKOFF: Final = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)
MAX_ATTEMPTS: Final = len(BACKOFF) + 1
#: A claim older than this was lost with its worker (an attempt takes at most a few seconds): claimed again.
STALE_CLAIM: Final = timedelta(minutes=2)
#: The events each kind of subscriber may choose; robots post alerts to a group, not every order.
ALERT_EVENTS: Final = (EventType.review_backlog, EventType.stock_low)
CHOICES: Final = {
    SubscriptionKind.webhook: tuple(EventType),
    SubscriptionKind.dingtalk: ALERT_EVENTS,
    SubscriptionKind.wecom: ALERT_EVENTS,
}
EVENT_LABELS: Final = {
    EventType.order_received.value: N_("Order received"),
    EventType.order_held.value: N_("Order held for review"),
    EventType.order_routed.value: N_("Order routed (warehouse and carrier)"),
    EventType.order_shipped.value: N_("Order marked shipped"),
    EventType.order_delivered.value: N_("Order delivered (signed for)"),
    EventType.order_completed.value: N_("Order completed"),
    EventType.order_cancelled.value: N_("Order cancelled"),
    EventType.shipment_written_back.value: N_("Shipment written back to the platform"),
    EventType.shipment_write_back_failed.value: N_("Shipment write-back failed"),
    EventType.order_intercepted.value: N_("Parcel intercepted (cancelled after its waybill)"),
    EventType.order_intercept_failed.value: N_("Parcel already left when cancelled (return needed)"),
    EventType.stock_low.value: N_("Stock low"),
    EventType.aftersale_refunded.value: N_("After-sales refund made"),
    EventType.aftersale_completed.value: N_("After-sales case completed"),
    EventType.review_backlog.value: N_("Review queue piling up"),
}
KIND_LABELS: Final = {
    SubscriptionKind.webhook.value: N_("Webhook"),
    SubscriptionKind.dingtalk.value: N_("DingTalk robot"),
    SubscriptionKind.wecom.value: N_("WeCom robot"),
}
STATUS_LABELS: Final = {
    DeliveryStatus.pending.value: N_("Waiting"),
    DeliveryStatus.sending.value: N_("Sending"),
    DeliveryStatus.retrying.value: N_("Will retry"),
    DeliveryStatus.succeeded.value: N_("Delivery succeeded"),
    DeliveryStatus.failed.value: N_("Failed"),
}
MAX_THRESHOLD: Final = 100_000
ATTEMPTS_KEPT: Final = 10


class WebhookError(DomainError):
    """A refused change to a subscription or a delivery."""

    messages: ClassVar[Mapping[str, str]] = {
        "bad_name": N_("Give the subscription a name (at most 100 characters)"),
        "bad_kind": N_("Choose the kind of subscriber"),
        "no_events": N_("Choose at least one event"),
        "bad_event": N_("%(kind)s cannot receive the event %(event)s"),
        "bad_threshold": N_("The review backlog threshold must be a whole number from 1 to %(max)s"),
        "bad_secret": N_("The signing secret is at most 200 characters"),
        "not_found": N_("There is no such subscription"),
        "delivery_not_found": N_("There is no such delivery"),
        "not_failed": N_("Only a failed delivery can be sent again"),
        "no_secret": N_("Only a webhook has a signing secret to rotate"),
        "unknown_subscription": N_("There is no subscription %(value)s"),
        "unknown_status": N_("There is no delivery status %(value)s"),
    }
    fields: ClassVar[Mapping[str, str]] = {
        "bad_name": "name",
        "bad_kind": "kind",
        "no_events": "events",
        "bad_event": "events",
        "bad_threshold": "held_threshold",
        "bad_secret": "secret",
        "unknown_subscription": "subscription",
        "unknown_status": "status",
    }
    statuses: ClassVar[Mapping[str, int]] = {"not_found": 404, "delivery_not_found": 404}


# --- subscriptions -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionForm:
    """What the form (or an API client) asks for."""

    name: str
    kind: str
    url: str
    events: Sequence[str]
    secret: str = ""
    held_threshold: str = "20"


def _checked(form: SubscriptionForm, settings: Settings) -> tuple[SubscriptionKind, str, list[str], int]:
    name = form.name.strip()
    if not name or len(name) > 100:
        raise WebhookError("bad_name")
    if form.kind not in SubscriptionKind.__members__:
        raise WebhookError("bad_kind")
    kind = SubscriptionKind(form.kind)
    url = sending.check_url(form.url, kind, allow_private=settings.webhook_allow_private)
    chosen = list(dict.fromkeys(form.events))
    if not chosen:
        raise WebhookError("no_events")
    allowed = {event.value for event in CHOICES[kind]}
    for event in chosen:
        if event not in allowed:
            raise WebhookError("bad_event", kind=KindLabel(kind.value), event=event[:60])
    raw = form.held_threshold.strip() or "20"
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_THRESHOLD:
        raise WebhookError("bad_threshold", max=MAX_THRESHOLD)
    if len(form.secret.strip()) > 200:
        raise WebhookError("bad_secret")
    return kind, url, chosen, int(raw)


@dataclass(frozen=True)
class KindLabel:
    """A subscriber kind named in a refusal, in the reader's language when the message is shown."""

    kind: str

    def __str__(self) -> str:
        return label_of(KIND_LABELS, self.kind)


async def create_subscription(
    session: AsyncSession, settings: Settings, form: SubscriptionForm, actor: Actor
) -> tuple[EventSubscription, str | None]:
    """A new subscription, and for a webhook its signing secret in clear (shown once, kept encrypted)."""
    kind, url, chosen, threshold = _checked(form, settings)
    if kind == SubscriptionKind.webhook:
        secret: str | None = "whsec_" + secrets.token_hex(24)
    else:
        secret = form.secret.strip() or None  # a 钉钉 robot's 加签 secret is the robot's, typed in
    now = utcnow()
    subscription = EventSubscription(
        name=form.name.strip(),
        kind=kind,
        url_cipher=pii.encrypt(settings.secret_key, url) or "",
        url_shown=sending.shown_url(url),
        secret_cipher=pii.encrypt(settings.secret_key, secret) or "",
        events=chosen,
        held_threshold=threshold,
        created_by=actor.name,
        created_at=now,
        updated_at=now,
    )
    session.add(subscription)
    await session.flush()
    await audit(
        session,
        actor,
        "webhook.subscription_created",
        target_type="event_subscription",
        target_id=subscription.id,
        after=_snapshot(subscription),
    )
    return subscription, secret if kind == SubscriptionKind.webhook else None


def _snapshot(subscription: EventSubscription) -> dict[str, Any]:
    """What the audit log keeps of a subscription (never its secret or the URL's credentials)."""
    return {
        "name": subscription.name,
        "kind": subscription.kind.value,
        "url": subscription.url_shown,
        "events": list(subscription.events),
        "enabled": subscription.is_enabled,
        "held_threshold": subscription.held_threshold,
    }


async def _subscription(session: AsyncSession, subscription_id: int) -> EventSubscription:
    found = await session.get(EventSubscription, subscription_id)
    if found is None:
        raise WebhookError("not_found")
    return found


async def set_enabled(session: AsyncSession, subscription_id: int, enabled: bool, actor: Actor) -> EventSubscription:
    """Switch a subscription on or off; off, it gets no new deliveries (those under way still go)."""
    subscription = await _subscription(session, subscription_id)
    before = _snapshot(subscription)
    subscription.is_enabled = enabled
    subscription.updated_at = utcnow()
    session.add(subscription)
    await audit(
        session,
        actor,
        "webhook.subscription_enabled" if enabled else "webhook.subscription_disabled",
        target_type="event_subscription",
        target_id=subscription_id,
        before=before,
        after=_snapshot(subscription),
    )
    return subscription


async def rotate_secret(session: AsyncSession, settings: Settings, subscription_id: int, actor: Actor) -> str:
    """A new signing secret for a webhook, shown once; deliveries from now on are signed with it."""
    subscription = await _subscription(session, subscription_id)
    if subscription.kind != SubscriptionKind.webhook:
        raise WebhookError("no_secret")
    secret = "whsec_" + secrets.token_hex(24)
    subscription.secret_cipher = pii.encrypt(settings.secret_key, secret) or ""
    subscription.updated_at = utcnow()
    session.add(subscription)
    await audit(session, actor, "webhook.secret_rotated", target_type="event_subscription", target_id=subscription_id)
    return secret


async def list_subscriptions(session: AsyncSession) -> list[EventSubscription]:
    """Every subscription, oldest first."""
    return list((await session.exec(select(EventSubscription).order_by(col(EventSubscription.id)))).all())


# --- fan-out ----------------------------------------------------------------------------------------------


def delivery_id_for(subscription_id: int, event_id: str) -> str:
    """One delivery per subscription and event, with the same id however often the fan-out runs."""
    return str(uuid.uuid5(uuid.UUID(event_id), f"subscription:{subscription_id}"))


async def fan_out(session: AsyncSession, events: Sequence[dict[str, Any]]) -> int:
    """Turn recorded events into deliveries for the enabled subscriptions that want them, and stage the first
    attempt of each, in the caller's transaction. Held orders also check the review queue against each
    ``review.backlog`` subscription's threshold. Safe to run twice: returns how many deliveries are new."""
    subscriptions = [
        s for s in (await session.exec(select(EventSubscription).where(col(EventSubscription.is_enabled)))).all()
    ]
    if not subscriptions:
        return 0
    made = 0
    for event in events:
        for subscription in subscriptions:
            if event.get("type") in subscription.events:
                made += await _deliver_later(session, subscription, event)
    if any(event.get("type") == EventType.order_held for event in events):
        made += await _check_backlog(session, subscriptions, events)
    return made


async def _deliver_later(session: AsyncSession, subscription: EventSubscription, event: dict[str, Any]) -> int:
    assert subscription.id is not None
    now = utcnow()
    delivery_id = delivery_id_for(subscription.id, str(event["id"]))
    row = {
        "delivery_id": delivery_id,
        "subscription_id": subscription.id,
        "event_id": str(event["id"]),
        "event_type": str(event["type"])[:32],
        "body": event,
        "status": DeliveryStatus.pending,
        "attempts": 0,
        "next_attempt_at": now,
        "last_response": "",
        "attempt_log": [],
        "created_at": now,
    }
    new_id = await insert_new(session, EventDelivery, row, unique=("subscription_id", "event_id"))
    if new_id is None:
        return 0
    await outbox.stage(session, DELIVER_JOB, new_id, dedupe_key=f"{DELIVER_JOB}:{new_id}:1")
    return 1


async def _check_backlog(
    session: AsyncSession, subscriptions: list[EventSubscription], events: Sequence[dict[str, Any]]
) -> int:
    """After orders were held: raise ``review.backlog`` for each subscription whose threshold the queue is now
    past, once per crossing; a queue seen at or below the threshold again re-arms it."""
    watching = [s for s in subscriptions if EventType.review_backlog in s.events]
    if not watching:
        return 0
    # Held orders only: a presale waiting for its balance sits in the queue too, but nobody has to act on it.
    groups = await processing_queries.held_by_code(session, states=(ProcessingState.held, ProcessingState.out_of_stock))
    held = sum(group.count for group in groups)
    trigger = next(str(e["id"]) for e in events if e.get("type") == EventType.order_held)
    made = 0
    for subscription in watching:
        if held > subscription.held_threshold and not subscription.backlog_alerted:
            data = {
                "held": held,
                "threshold": subscription.held_threshold,
                "by_reason": [
                    {"code": g.code, "label": processing_queries.hold_code_label(g.code), "count": g.count}
                    for g in groups
                ],
            }
            event = event_body(EventType.review_backlog, data, key=f"review.backlog:{subscription.id}:{trigger}")
            made += await _deliver_later(session, subscription, event)
            subscription.backlog_alerted = True
        elif held <= subscription.held_threshold and subscription.backlog_alerted:
            subscription.backlog_alerted = False
        session.add(subscription)
    return made


# --- deliveries -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """A claimed delivery with what its attempt needs: the subscriber's kind, URL and secret in clear."""

    delivery: EventDelivery
    kind: SubscriptionKind
    url: str
    secret: str


async def claim(session: AsyncSession, settings: Settings, delivery_ids: Iterable[int], now: datetime) -> list[Due]:
    """Claim the deliveries among these that are due (or whose claim went stale) in one UPDATE, so that two
    workers never attempt one at once; one that succeeded, failed for good or is not due is left alone."""
    ids = sorted(set(delivery_ids))
    if not ids:
        return []
    result = await session.exec(
        update(EventDelivery)
        .where(
            col(EventDelivery.id).in_(ids),
            or_(
                and_(
                    col(EventDelivery.status).in_([DeliveryStatus.pending, DeliveryStatus.retrying]),
                    col(EventDelivery.next_attempt_at) <= now,
                ),
                and_(
                    col(EventDelivery.status) == DeliveryStatus.sending,
                    col(EventDelivery.claimed_at) < now - STALE_CLAIM,
                ),
            ),
        )
        .values(status=DeliveryStatus.sending, claimed_at=now)
        .returning(col(EventDelivery.id))
    )
    claimed = list(result.scalars().all())
    if not claimed:
        return []
    rows = (
        await session.exec(
            select(EventDelivery, EventSubscription)
            .join(EventSubscription, col(EventSubscription.id) == col(EventDelivery.subscription_id))
            .where(col(EventDelivery.id).in_(claimed))
            .order_by(col(EventDelivery.id))
            .execution_options(populate_existing=True)
        )
    ).all()
    return [
        Due(
            delivery,
            subscription.kind,
            pii.decrypt(settings.secret_key, subscription.url_cipher) or "",
            pii.decrypt(settings.secret_key, subscription.secret_cipher) or "",
        )
        for delivery, subscription in rows
    ]


def outgoing_of(due: Due) -> sending.Outgoing:
    """The request of a claimed delivery's attempt."""
    if due.kind == SubscriptionKind.webhook:
        return sending.webhook_request(due.url, due.secret, due.delivery.delivery_id, due.delivery.body)
    return sending.robot_request(due.kind, due.url, due.secret, due.delivery.body)


async def record_answer(
    session: AsyncSession, delivery_id: int, answer: sending.Answer, now: datetime
) -> DeliveryStatus:
    """Keep how an attempt went: delivered; or the next attempt scheduled after its wait (and staged in the
    outbox); or, after the last, failed for good."""
    delivery = await session.get(EventDelivery, delivery_id)
    assert delivery is not None
    delivery.attempts += 1
    delivery.last_status_code = answer.status_code
    delivery.last_response = (answer.response or answer.error)[:600]
    delivery.attempt_log = [*delivery.attempt_log, answer.log_entry()][-ATTEMPTS_KEPT:]
    delivery.claimed_at = None
    if answer.ok:
        delivery.status = DeliveryStatus.succeeded
        delivery.delivered_at = answer.at
        delivery.next_attempt_at = None
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = DeliveryStatus.failed
        delivery.next_attempt_at = None
    else:
        wait = BACKOFF[delivery.attempts - 1]
        delivery.status = DeliveryStatus.retrying
        delivery.next_attempt_at = now + wait
        await outbox.stage(
            session,
            DELIVER_JOB,
            delivery_id,
            dedupe_key=f"{DELIVER_JOB}:{delivery_id}:{delivery.attempts + 1}",
            delay=wait,
        )
    session.add(delivery)
    return delivery.status


async def retry_delivery(session: AsyncSession, delivery_id: int, actor: Actor) -> EventDelivery:
    """重试: a failed delivery is attempted once more, now."""
    delivery = await session.get(EventDelivery, delivery_id)
    if delivery is None:
        raise WebhookError("delivery_not_found")
    if delivery.status != DeliveryStatus.failed:
        raise WebhookError("not_failed")
    now = utcnow()
    delivery.status = DeliveryStatus.pending
    delivery.next_attempt_at = now
    session.add(delivery)
    await outbox.stage(
        session, DELIVER_JOB, delivery_id, dedupe_key=f"{DELIVER_JOB}:{delivery_id}:again{delivery.attempts}"
    )
    await audit(
        session,
        actor,
        "webhook.delivery_retried",
        target_type="event_delivery",
        target_id=delivery.delivery_id,
        after={"event": delivery.event_type, "attempts": delivery.attempts},
    )
    return delivery


@dataclass(frozen=True)
class DeliveryRow:
    """A delivery as the page lists it, with its subscription's name."""

    delivery: EventDelivery
    subscription: str


async def recent_deliveries(
    session: AsyncSession,
    *,
    subscription_id: int | None = None,
    status: str = "",
    limit: int = 50,
    before_id: int | None = None,
) -> list[DeliveryRow]:
    """The newest deliveries (older than ``before_id`` when given), of one subscription or all, in one status or any."""
    query = (
        select(EventDelivery, EventSubscription.name)
        .join(EventSubscription, col(EventSubscription.id) == col(EventDelivery.subscription_id))
        .order_by(col(EventDelivery.id).desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(col(EventDelivery.id) < before_id)
    if subscription_id is not None:
        query = query.where(col(EventDelivery.subscription_id) == subscription_id)
    if status in DeliveryStatus.__members__:
        query = query.where(col(EventDelivery.status) == DeliveryStatus(status))
    return [DeliveryRow(delivery, name) for delivery, name in (await session.exec(query)).all()]


# --- the API -----------------------------------------------------------------------------------------------

#: The most deliveries one page of the API gives, and how many when not asked.
API_DELIVERY_LIMIT: Final = 200
API_DELIVERY_PAGE: Final = 50


def api_subscription(subscription: EventSubscription) -> dict[str, Any]:
    """A subscription as the API gives it: what the audit log keeps of it (never its secret, the URL's query values
    masked), with its id and when it was made."""
    return {"id": subscription.id, **_snapshot(subscription), "created_at": iso_utc(subscription.created_at)}


async def api_deliveries(
    session: AsyncSession, *, subscription: str, status: str, cursor: str, limit: int
) -> dict[str, Any]:
    """One page of deliveries, newest first, with each attempt's answer; ``next_cursor`` pages on."""
    subscription_id = None
    if subscription.strip():
        subscription_id = parse_id(subscription)
        if subscription_id is None or await session.get(EventSubscription, subscription_id) is None:
            raise WebhookError("unknown_subscription", value=excerpt(subscription))
    if status.strip() and status.strip() not in DeliveryStatus.__members__:
        raise WebhookError("unknown_status", value=excerpt(status))
    before_id = None
    if cursor.strip():
        before_id = parse_id(cursor)
        if before_id is None:
            raise ParameterError("stale_page", field="cursor")
    rows = await recent_deliveries(
        session, subscription_id=subscription_id, status=status.strip(), limit=limit, before_id=before_id
    )
    items = [
        {
            "delivery_id": row.delivery.delivery_id,
            "subscription_id": row.delivery.subscription_id,
            "event_id": row.delivery.event_id,
            "type": row.delivery.event_type,
            "status": row.delivery.status.value,
            "attempts": row.delivery.attempts,
            "next_attempt_at": iso_utc(row.delivery.next_attempt_at),
            "last_status_code": row.delivery.last_status_code,
            "last_response": row.delivery.last_response,
            "attempt_log": row.delivery.attempt_log,
            "created_at": iso_utc(row.delivery.created_at),
            "delivered_at": iso_utc(row.delivery.delivered_at),
        }
        for row in rows
    ]
    last = rows[-1].delivery.id if len(rows) == limit else None
    return {"items": items, "next_cursor": str(last) if last is not None else None}

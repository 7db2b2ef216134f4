"""Carrier tracking (物流轨迹): the events a carrier pushes for a waybill, and what a signed-for parcel does.

A carrier POSTs the events of one waybill to ``/api/v1/carriers/{code}/tracking``, signed the way our client
signs its waybill requests (``X-App-Key`` and ``X-Sign``, the HMAC-SHA256 of the raw body), with the carrier's
own API key and secret when an admin set its API (设置 → 快递公司), else the CARRIER_API_* ones. The body::

    {"waybill_no": "SF000000000001",
     "events": [{"event_id": "E1", "status": "delivered", "occurred_at": "2026-12-01T15:04:05+08:00",
                 "description": "已签收，本人签收", "location": "上海市浦东新区"}]}

``status`` is collected / in_transit / out_for_delivery / delivered / exception (or 揽收, 运输中, 派送中, 已签收,
异常); ``occurred_at`` an ISO time with its zone, or ``yyyy-MM-dd HH:mm:ss`` China time. Each event is stored
once (by the carrier's ``event_id``, else by what it says), so a push repeated changes nothing. A delivered event
for a shipped parcel delivers it (``confirmation.confirm_delivered``). Refusals change nothing: an unknown carrier
or waybill is a 404, a bad signature a 401, a body we cannot read a 400.

The sandbox carrier (demo and tests) pushes a parcel's whole journey to this endpoint over HTTP:
:func:`sandbox_deliver`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import CHINA, Database, insert_new, iso_utc
from app.domain.fulfillment import carrier_master, confirmation
from app.domain.fulfillment.carriers import sandbox_journey, sign
from app.domain.fulfillment.models import Carrier, Shipment, TrackingEvent, TrackingStatus, Waybill
from app.domain.orders import pii
from app.domain.orders import services as orders
from app.domain.orders.models import Order
from app.errors import DomainError, excerpt
from app.i18n import N_
from app.json_input import parse_json
from app.settings import Settings

#: The largest push taken (a parcel's whole journey is a few KB).
MAX_BODY_BYTES = 256 * 1024
#: The most events one push may carry.
MAX_EVENTS = 200
#: The carriers' words for each status, as well as our own.
STATUS_WORDS: Mapping[str, TrackingStatus] = {
    **{status.value: status for status in TrackingStatus},
    "揽收": TrackingStatus.collected,
    "已揽收": TrackingStatus.collected,
    "运输中": TrackingStatus.in_transit,
    "派送中": TrackingStatus.out_for_delivery,
    "签收": TrackingStatus.delivered,
    "已签收": TrackingStatus.delivered,
    "异常": TrackingStatus.exception,
}
STATUS_LABELS = {
    TrackingStatus.collected.value: N_("Collected"),
    TrackingStatus.in_transit.value: N_("In transit"),
    TrackingStatus.out_for_delivery.value: N_("Out for delivery"),
    TrackingStatus.delivered.value: N_("Signed for"),
    TrackingStatus.exception.value: N_("Exception"),
}


class TrackingRefused(DomainError):
    """A tracking push that is not taken; nothing was stored or changed."""

    messages: ClassVar[Mapping[str, str]] = {
        "unknown_carrier": N_("There is no carrier with the code %(carrier)s."),
        "bad_signature": N_(
            "The push is not signed with the carrier's app key and secret (X-App-Key, and X-Sign: the hex "
            "HMAC-SHA256 of the body)."
        ),
        "bad_body": N_(
            "The push must be a JSON object with waybill_no and a list of events (at least one, at most %(limit)s)."
        ),
        "bad_body.json": N_("The push is not valid JSON: %(problem)s"),
        "bad_event": N_("Event %(n)s must be an object with status and occurred_at."),
        "bad_event.status": N_(
            "Event %(n)s: the status must be collected, in_transit, out_for_delivery, delivered or exception "
            "(or 揽收, 运输中, 派送中, 已签收, 异常)."
        ),
        "bad_event.occurred_at": N_(
            "Event %(n)s: occurred_at must be a time with its zone (2026-12-01T15:04:05+08:00) or a China time "
            "(2026-12-01 15:04:05)."
        ),
        "unknown_waybill": N_("No parcel of carrier %(carrier)s has the waybill number %(waybill)s."),
    }
    statuses: ClassVar[Mapping[str, int]] = {"unknown_carrier": 404, "bad_signature": 401, "unknown_waybill": 404}


@dataclass(frozen=True)
class PushedEvent:
    """One event of a push, read and checked."""

    key: str
    status: TrackingStatus
    occurred_at: datetime
    description: str
    location: str


@dataclass(frozen=True)
class PushResult:
    """What a push did: how many of its events were new, and where the parcel and its order stand now."""

    waybill_no: str
    shipment: str
    received: int
    stored: int
    shipment_status: str
    order_status: str


def credentials_of(carrier: Carrier, settings: Settings) -> tuple[str, str]:
    """The app key and secret the carrier signs with: those of its own API when an admin set one (as the waybill
    client uses), else CARRIER_API_KEY and CARRIER_API_SECRET."""
    if carrier.api_base_url:
        return carrier.api_key, carrier_master.api_secret_of(carrier, settings.secret_key)
    return settings.carrier_api_key, settings.carrier_api_secret


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=CHINA)).astimezone(UTC)


def _text(value: object, limit: int) -> str:
    return pii.cut(value.strip(), limit) if isinstance(value, str) else ""


def read_push(body: bytes) -> tuple[str, list[PushedEvent]]:
    """The waybill number and the events of a push; :class:`TrackingRefused` (400) when it cannot be read."""
    try:
        data = parse_json(body)
    except ValueError as exc:
        raise TrackingRefused("bad_body", "json", problem=excerpt(exc)) from None
    waybill = data.get("waybill_no") if isinstance(data, dict) else None
    events = data.get("events") if isinstance(data, dict) else None
    if not isinstance(waybill, str) or not waybill.strip() or len(waybill) > 64:
        raise TrackingRefused("bad_body", limit=MAX_EVENTS)
    if not isinstance(events, list) or not 0 < len(events) <= MAX_EVENTS:
        raise TrackingRefused("bad_body", limit=MAX_EVENTS)
    pushed = []
    for n, event in enumerate(events, start=1):
        if not isinstance(event, dict):
            raise TrackingRefused("bad_event", n=n)
        word = event.get("status")
        status = STATUS_WORDS.get(word.strip()) if isinstance(word, str) else None
        if status is None:
            raise TrackingRefused("bad_event", "status", n=n)
        occurred = _moment(event.get("occurred_at"))
        if occurred is None:
            raise TrackingRefused("bad_event", "occurred_at", n=n)
        description, location = _text(event.get("description"), 500), _text(event.get("location"), 100)
        given = event.get("event_id")
        given = _text(str(given), 80) if isinstance(given, str | int) and not isinstance(given, bool) else ""
        # Without the carrier's id, an event is what it says: the same words at the same time are one event.
        said = f"{status.value}|{iso_utc(occurred)}|{description}|{location}"
        key = f"{waybill.strip()}:{given or hashlib.sha256(said.encode()).hexdigest()[:40]}"
        pushed.append(PushedEvent(key[:128], status, occurred, description, location))
    return waybill.strip(), pushed


async def receive_push(
    session: AsyncSession,
    settings: Settings,
    carrier_code: str,
    body: bytes,
    app_key: str,
    signature: str,
    now: datetime,
) -> PushResult:
    """Take one push of a carrier's tracking events (see the module), in the caller's transaction."""
    carrier = (await session.exec(select(Carrier).where(Carrier.code == carrier_code))).first()
    if carrier is None:
        raise TrackingRefused("unknown_carrier", carrier=excerpt(carrier_code))
    key, secret = credentials_of(carrier, settings)
    if not secret or not hmac.compare_digest(app_key.encode(), key.encode()):
        raise TrackingRefused("bad_signature")
    if not hmac.compare_digest(signature.strip().lower().encode(), sign(secret, body).encode()):
        raise TrackingRefused("bad_signature")
    waybill_no, events = read_push(body)
    waybill = (
        await session.exec(
            select(Waybill).where(Waybill.waybill_no == waybill_no, Waybill.carrier_code == carrier.code)
        )
    ).first()
    shipment = None
    if waybill is not None:
        shipment = (await session.exec(select(Shipment).where(Shipment.ref == waybill.order_ref))).first()
    if shipment is None or shipment.id is None:
        raise TrackingRefused("unknown_waybill", carrier=carrier.code, waybill=excerpt(waybill_no))
    order = await session.get(Order, shipment.order_id)
    assert order is not None
    # A signer's or courier's phone in the carrier's text is masked, and so is the receiver's name.
    known = pii.Known.of(names=[order.receiver_name])
    actor = f"carrier:{carrier.code}"
    stored = 0
    for event in events:
        description = pii.redact_text(event.description, known, limit=500)
        row = {
            "carrier_code": carrier.code,
            "event_key": event.key,
            "waybill_no": waybill_no,
            "shipment_ref": shipment.ref,
            "order_id": shipment.order_id,
            "status": event.status.value,
            "description": description,
            "location": pii.redact_text(event.location, known, limit=100),
            "occurred_at": event.occurred_at,
            "received_at": now,
        }
        if await insert_new(session, TrackingEvent, row, unique=("carrier_code", "event_key")) is None:
            continue
        stored += 1
        if event.status is TrackingStatus.exception:
            detail = {"shipment": shipment.ref, "waybill_no": waybill_no, "description": description}
            await orders.add_event(session, order, "parcel_exception", detail, actor=actor)
    delivered = [e for e in events if e.status is TrackingStatus.delivered]
    if delivered:
        # Whether new or pushed again: a parcel signed for before its shipping was confirmed is delivered now.
        await confirmation.confirm_delivered(session, shipment.id, actor, min(e.occurred_at for e in delivered))
    return PushResult(waybill_no, shipment.ref, len(events), stored, shipment.status, order.status.value)


async def events_of_order(session: AsyncSession, order_id: int) -> dict[str, list[TrackingEvent]]:
    """The tracking timeline of each of the order's parcels (by shipment ref), earliest first."""
    rows = (
        await session.exec(
            select(TrackingEvent)
            .where(TrackingEvent.order_id == order_id)
            .order_by(col(TrackingEvent.occurred_at), col(TrackingEvent.id))
        )
    ).all()
    found: dict[str, list[TrackingEvent]] = {}
    for row in rows:
        found.setdefault(row.shipment_ref, []).append(row)
    return found


# --- the sandbox carrier's pushes ------------------------------------------------------------------------


def tracking_url(settings: Settings, carrier_code: str) -> str:
    """Where the sandbox carrier pushes: this app's own tracking endpoint, on the address it serves."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104 - any address
    return f"http://{host}:{settings.port}/api/v1/carriers/{carrier_code}/tracking"


@dataclass(frozen=True)
class SandboxPush:
    """One parcel the sandbox carrier pushed the journey of, and the webhook's answer."""

    waybill_no: str
    status_code: int
    answer: dict[str, Any]


async def sandbox_deliver(db: Database, settings: Settings, order_id: int, now: datetime) -> list[SandboxPush]:
    """模拟签收: the sandbox carrier pushes the journey (collected → delivered) of each shipped parcel of the order
    to the tracking endpoint over HTTP, signed as a carrier would. The parcels are read in a transaction of their
    own that ends before any push, so the endpoint never waits for it."""
    async with db.reading() as session:
        found = (
            await session.exec(
                select(Shipment, Carrier)
                .join(Carrier, col(Carrier.code) == col(Shipment.carrier_code))
                .where(Shipment.order_id == order_id, Shipment.status == "shipped")
                .order_by(col(Shipment.seq))
            )
        ).all()
        parcels = [(s.waybill_no or "", c.code, *credentials_of(c, settings)) for s, c in found]
    pushes = []
    async with httpx.AsyncClient(timeout=10.0) as http:
        for waybill_no, code, key, secret in parcels:
            body = sandbox_journey(waybill_no, now - timedelta(days=2), now)
            headers = {"Content-Type": "application/json", "X-App-Key": key, "X-Sign": sign(secret, body)}
            response = await http.post(tracking_url(settings, code), content=body, headers=headers)
            try:
                answer = response.json()
            except ValueError:
                answer = {}
            pushes.append(SandboxPush(waybill_no, response.status_code, answer if isinstance(answer, dict) else {}))
    return pushes


__all__ = [
    "MAX_BODY_BYTES",
    "MAX_EVENTS",
    "STATUS_LABELS",
    "PushResult",
    "PushedEvent",
    "SandboxPush",
    "TrackingRefused",
    "credentials_of",
    "events_of_order",
    "read_push",
    "receive_push",
    "sandbox_deliver",
    "tracking_url",
]

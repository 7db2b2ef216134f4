"""Each platform's own signed message push (抖店 消息推送, 有赞 消息推送): the platform signs with the shop's app
secret, not with our webhook secret, so this checks the platform's signature, refuses a push outside the time
window, answers a message already taken as a duplicate, and unwraps the platform's envelope into the order payload
the shop's adapter reads. The order then goes through the one ingest pipeline like any webhook delivery.

Formulas (the platforms' open docs and their public SDKs):
- 抖店: headers ``app-id`` (the app key) and ``event-sign`` = hex MD5 of ``app_key + raw body + app_secret``
  (``sign-method: hmac-sha256`` instead: hex HMAC-SHA256 of the same text keyed with the app secret). The body is a
  JSON list of messages ``{"tag", "msg_id", "data"}``, ``data`` a JSON string; tag ``"0"`` is the check 抖店 sends
  when the push URL is saved.
- 有赞: headers ``Client-Id``, ``Event-Type`` and ``Event-Sign`` = hex MD5 of ``client_id + raw body +
  client_secret``. The body is one message ``{"id", "type", "msg", "version", "msg_id", ...}``, ``msg`` the
  URL-encoded JSON of the event (a trade event carries ``full_order_info``), ``version`` its Unix time.

Replays: a signed push is only as fresh as the time it carries. One whose time is more than ``PUSH_WINDOW`` from now
is refused (401), and one whose message id was taken before is answered 200 as a duplicate without touching
anything — 200 and not a refusal, because the platforms redeliver a message until it is acknowledged, and the
order inbox would dedupe its content anyway (``services.event_id_for``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from sqlalchemy import delete
from sqlmodel import col, select

from app import outbox
from app.db import Database, insert_new, utcnow
from app.domain.channels import services
from app.domain.channels.adapters import PULLABLE
from app.domain.channels.adapters.base import NormalizeError, load_json
from app.domain.channels.models import IngestSource, PushMessage
from app.domain.orders.pii import decrypt
from app.domain.shops.models import Channel, Shop
from app.i18n import N_, gettext
from app.settings import Settings

#: How far a push's own time may be from ours, either way.
PUSH_WINDOW = timedelta(minutes=5)
#: How long a taken message id is remembered: far longer than the window, so no replay within it gets through.
SEEN_KEEP = timedelta(days=1)
#: The longest message id kept (the column's size).
MAX_MSG_ID = 200

REFUSALS = {
    "no_push": N_("This platform has no signed push here; use the webhook with our signature or an ingest token."),
    "shop": N_("Unknown or inactive shop for this platform."),
    "not_configured": N_("The shop has no app key and app secret for its platform's push."),
    "signature": N_("The platform's push signature is missing or does not match the shop's app secret."),
    "body": N_("The push is not a message of this platform."),
    "stale": N_("The push's time is missing or more than 5 minutes from now: refused as a possible replay."),
}


def refused(status: int, reason: str) -> services.WebhookRefused:
    """A refusal with its message in the reader's language (Chinese by default)."""
    return services.WebhookRefused(status, gettext(REFUSALS[reason]))


def douyin_sign(app_key: str, body: bytes, app_secret: str, method: str = "md5") -> str:
    """抖店's ``event-sign``: MD5 (or, with ``sign-method: hmac-sha256``, HMAC-SHA256 keyed with the app
    secret) of app key + raw body + app secret, hex."""
    text = app_key.encode() + body + app_secret.encode()
    if method.lower().replace("_", "-") == "hmac-sha256":
        return hmac.new(app_secret.encode(), text, hashlib.sha256).hexdigest()
    return hashlib.md5(text).hexdigest()  # noqa: S324 - the platform's own formula


def youzan_sign(client_id: str, body: bytes, client_secret: str) -> str:
    """有赞's ``Event-Sign``: MD5 of client id + raw body + client secret, hex."""
    return hashlib.md5(client_id.encode() + body + client_secret.encode()).hexdigest()  # noqa: S324


@dataclass
class Message:
    """One message of a push: its id, its own time, and the order payload it carries (None: only a notice)."""

    msg_id: str
    sent_at: datetime | None
    order: dict[str, Any] | None = None
    #: The platform's check when the push URL is saved: answered, nothing stored.
    check: bool = False


@dataclass
class PushResult:
    """What a push did, message by message; ``invalid`` when a carried order went to the error queue."""

    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def invalid(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["outcome"] == "invalid"]


def _header(headers: Mapping[str, str], name: str) -> str:
    return (headers.get(name) or "").strip()


def _json(text: Any) -> Any:
    """A JSON value of the push (text, or already parsed inside its envelope), within the bounds of every payload."""
    if isinstance(text, (dict, list)):
        return text
    if not isinstance(text, (str, bytes)):
        raise refused(400, "body")
    try:
        return load_json(text)
    except NormalizeError as exc:
        raise refused(400, "body") from exc


def _unix(value: Any) -> datetime | None:
    """A Unix time in seconds or milliseconds, or None when there is none to read."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if number > 10**11:
        number /= 1000
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _matches(expected: str, presented: str) -> bool:
    return bool(presented) and hmac.compare_digest(expected.lower(), presented.lower())


def read_douyin(shop: Shop, app_secret: str, headers: Mapping[str, str], body: bytes) -> list[Message]:
    """抖店's push: check ``app-id`` and ``event-sign``, then read its messages."""
    if _header(headers, "app-id") != shop.app_key:
        raise refused(401, "signature")
    expected = douyin_sign(shop.app_key, body, app_secret, _header(headers, "sign-method") or "md5")
    if not _matches(expected, _header(headers, "event-sign")):
        raise refused(401, "signature")
    items = _json(body)
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise refused(400, "body")
    messages = []
    for item in items:
        if str(item.get("tag")) == "0":
            messages.append(Message(str(item.get("msg_id") or "0"), None, check=True))
            continue
        data = _json(item.get("data") or "{}")
        if not isinstance(data, dict):
            raise refused(400, "body")
        # The order detail, when the message carries it, is where 抖店's order reader finds it.
        detail = data["shop_order_detail"] if isinstance(data.get("shop_order_detail"), dict) else data
        times = (_unix(detail.get(key)) for key in ("update_time", "pay_time", "create_time"))
        sent_at = next((t for t in times if t is not None), None)
        carries_order = "sku_order_list" in detail
        messages.append(Message(str(item.get("msg_id") or ""), sent_at, data if carries_order else None))
    return messages


def read_youzan(shop: Shop, app_secret: str, headers: Mapping[str, str], body: bytes) -> list[Message]:
    """有赞's push: check ``Client-Id`` and ``Event-Sign``, then read its one message."""
    if _header(headers, "Client-Id") != shop.app_key:
        raise refused(401, "signature")
    if not _matches(youzan_sign(shop.app_key, body, app_secret), _header(headers, "Event-Sign")):
        raise refused(401, "signature")
    envelope = _json(body)
    if not isinstance(envelope, dict):
        raise refused(400, "body")
    raw = envelope.get("msg")
    event = _json(unquote(raw) if isinstance(raw, str) else raw or "{}")
    if not isinstance(event, dict):
        raise refused(400, "body")
    msg_id = str(envelope.get("msg_id") or "")
    if not msg_id:
        # Older pushes carry no msg_id: the business id, the event type and the version name one message.
        msg_id = ":".join(str(envelope.get(key) or "") for key in ("id", "type", "version"))
    carries_order = isinstance(event.get("full_order_info"), dict)
    return [Message(msg_id, _unix(envelope.get("version")), event if carries_order else None)]


#: The platforms whose own signed push is verified here, and how each is read.
READERS: dict[Channel, Callable[[Shop, str, Mapping[str, str], bytes], list[Message]]] = {
    Channel.douyin: read_douyin,
    Channel.youzan: read_youzan,
}


async def receive_push(
    db: Database, settings: Settings, channel: str, shop_code: str, headers: Mapping[str, str], body: bytes
) -> PushResult:
    """The platform push: authenticate with the platform's own signature, refuse replays, ingest each order.

    Raises WebhookRefused (400/401/404) before anything is stored.
    """
    reader = READERS.get(Channel(channel)) if channel in Channel.__members__ else None
    if reader is None:
        raise refused(404, "no_push")
    found = await services.webhook_shop(db, settings.secret_key, shop_code) if shop_code else None
    if found is None or not found.shop.is_active or found.shop.channel.value != channel:
        raise refused(401, "shop")
    shop = found.shop
    app_secret = decrypt(settings.secret_key, shop.app_secret_cipher) or ""
    if not shop.app_key or not app_secret:
        raise refused(401, "not_configured")
    messages = reader(shop, app_secret, headers, body)
    now = utcnow()
    for message in messages:
        if message.check:
            continue
        if not message.msg_id or message.sent_at is None or abs(message.sent_at - now) > PUSH_WINDOW:
            raise refused(401, "stale")
    result = PushResult()
    for message in messages:
        msg_id = message.msg_id[:MAX_MSG_ID]
        if message.check:
            result.messages.append({"msg_id": msg_id, "outcome": "checked"})
        elif await _seen(db, channel, msg_id):
            result.messages.append({"msg_id": msg_id, "outcome": "duplicate"})
        else:
            result.messages.append({"msg_id": msg_id, **await _take(db, settings, shop, message)})
            await _remember(db, shop, msg_id)
    return result


async def _seen(db: Database, channel: str, msg_id: str) -> bool:
    async with db.reading() as session:
        query = select(PushMessage.id).where(PushMessage.channel == channel, PushMessage.msg_id == msg_id)
        return (await session.exec(query)).first() is not None


async def _take(db: Database, settings: Settings, shop: Shop, message: Message) -> dict[str, Any]:
    """Ingest the order a message carries; a notice without one asks for a pull, which fetches the order."""
    if message.order is None:
        if shop.channel not in PULLABLE or not shop.api_base_url:
            return {"outcome": "ignored"}
        assert shop.id is not None
        async with db.transaction() as session:
            minute = utcnow().strftime("%Y%m%d%H%M")
            await outbox.stage(session, "pull_shop_orders", shop.id, dedupe_key=f"pull_push:{shop.id}:{minute}")
        return {"outcome": "pull_requested"}
    ingested = await services.ingest(db, settings, shop, message.order, IngestSource.webhook)
    taken: dict[str, Any] = {"outcome": ingested.outcome, "order_id": ingested.order_id}
    if not ingested.ok:
        taken.update(error_id=ingested.error_id, field=ingested.field, detail=ingested.message)
    return taken


async def _remember(db: Database, shop: Shop, msg_id: str) -> None:
    """Keep the message id (a copy racing this one is a no-op), and forget the ones past ``SEEN_KEEP``."""
    now = utcnow()
    async with db.transaction() as session:
        await insert_new(
            session,
            PushMessage,
            {"channel": shop.channel.value, "msg_id": msg_id, "shop_id": shop.id, "received_at": now},
            unique=("channel", "msg_id"),
        )
        await session.exec(delete(PushMessage).where(col(PushMessage.received_at) < now - SEEN_KEEP))

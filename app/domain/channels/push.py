"""Each platform's own message push (抖店 消息推送, 有赞 消息推送, 快手 消息推送): the platform signs with the shop's
app secret (快手 encrypts with its message key instead), not with our webhook secret, so this checks the platform's
signature or opens its encryption, refuses a push outside the time window, answers a message already taken as a
duplicate, and unwraps the platform's envelope into the order payload the shop's adapter reads. The order then goes
through the one ingest pipeline like any webhook delivery.

Formulas (the platforms' open docs and their public SDKs):
- 抖店: headers ``app-id`` (the app key) and ``event-sign`` = hex MD5 of ``app_key + raw body + app_secret``
  (``sign-method: hmac-sha256`` instead: hex HMAC-SHA256 of the same text keyed with the app secret). The body is a
  JSON list of messages ``{"tag", "msg_id", "data"}``, ``data`` a JSON string; tag ``"0"`` is the check 抖店 sends
  when the push URL is saved.
- 有赞: headers ``Client-Id``, ``Event-Type`` and ``Event-Sign`` = hex MD5 of ``client_id + raw body +
  client_secret``. The body is one message ``{"id", "type", "msg", "version", "msg_id", ...}``, ``msg`` the
  URL-encoded JSON of the event (a trade event carries ``full_order_info``), ``version`` its Unix time.
- 快手 (电商开放平台 消息推送): not signed but encrypted with the app's 消息密钥, a key of its own (not the app
  secret): the body is base64 of AES-CBC (PKCS#5 padding, a zero IV) under the base64-decoded key, as its Java SDK
  and go-kwai decrypt it. The clear text is one message ``{"eventId", "msgId", "bizId", "appKey", "event", "info",
  "createTime", ...}``, ``info`` the event as JSON, ``createTime`` its Unix time in milliseconds; ``appKey`` must be
  the shop's. A body that does not open under the shop's key is refused like a bad signature (401, one answer for
  every way it fails, so that nothing is learnt about the key).

Replays: a signed push is only as fresh as the time it carries. One whose time is more than ``PUSH_WINDOW`` from now
is refused (401), and one whose message id was taken before is answered 200 as a duplicate without touching
anything — 200 and not a refusal, because the platforms redeliver a message until it is acknowledged, and the
order inbox would dedupe its content anyway (``services.event_id_for``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import unquote

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import outbox
from app.db import Database, insert_new, utcnow
from app.domain.accounts.services import Actor, audit
from app.domain.channels import aftersale_messages, services
from app.domain.channels.adapters import PULLABLE
from app.domain.channels.adapters.base import NormalizeError, load_json
from app.domain.channels.models import IngestSource, PushMessage
from app.domain.orders.pii import decrypt, encrypt
from app.domain.shops import services as shop_readers
from app.domain.shops.models import Channel, Shop
from app.errors import DomainError
from app.forms import one
from app.i18n import N_, gettext
from app.settings import Settings

#: How far a push's own time may be from ours, either way.
PUSH_WINDOW = timedelta(minutes=5)
#: How long a taken message id is remembered: far longer than the window, so no replay within it gets through.
SEEN_KEEP = timedelta(days=1)
#: Where 抖店's after-sale messages carry their time (each tag its own: applied, agreed, refused, refunded, closed).
DOUYIN_AFTERSALE_TIMES = (
    "update_time",
    "modify_time",
    "apply_time",
    "agree_time",
    "refuse_time",
    "success_time",
    "close_time",
)
#: The longest message id kept (the column's size).
MAX_MSG_ID = 200

REFUSALS = {
    "no_push": N_("This platform has no signed push here; use the webhook with our signature or an ingest token."),
    "shop": N_("Unknown or inactive shop for this platform."),
    "not_configured": N_("The shop has no app key and app secret for its platform's push."),
    "signature": N_("The platform's push signature is missing or does not match the shop's app secret."),
    "body": N_("The push is not a message of this platform."),
    "stale": N_("The push's time is missing or more than 5 minutes from now: refused as a possible replay."),
    "no_message_key": N_("The shop has no app key and 快手 message key for its platform's push."),
    "decrypt": N_("The push does not open with the shop's 快手 message key, or is not for the shop's app key."),
}
#: The 快手 消息密钥: base64 of an AES key (16, 24 or 32 bytes); a longer text is not one.
MAX_MESSAGE_KEY = 64


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


def aes_key(message_key: str) -> bytes | None:
    """The AES key a 快手 消息密钥 (base64 text, as the platform shows it) stands for; None if it is not one."""
    text = message_key.strip()
    if not text or len(text) > MAX_MESSAGE_KEY:
        return None
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return key if len(key) in (16, 24, 32) else None


def kuaishou_decrypt(message_key: str, body: bytes) -> bytes:
    """快手's push body opened: base64, then AES-CBC with a zero IV under the decoded 消息密钥, PKCS#5 unpadded.
    ValueError when it does not open (not base64, not whole blocks, bad padding, not a key)."""
    key = aes_key(message_key)
    if key is None:
        raise ValueError("not a 快手 message key")
    try:
        sealed = base64.b64decode(body.strip(), validate=True)
    except binascii.Error as exc:
        raise ValueError("not base64") from exc
    if not sealed or len(sealed) % 16:
        raise ValueError("not whole AES blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).decryptor()
    padded = decryptor.update(sealed) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()  # ValueError on bad padding


@dataclass
class Message:
    """One message of a push: its id, its own time, and the order payload it carries (None: only a notice)."""

    msg_id: str
    sent_at: datetime | None
    order: dict[str, Any] | None = None
    #: The platform's check when the push URL is saved: answered, nothing stored.
    check: bool = False
    #: A refund / after-sale message (``channels.aftersale_messages``) instead of an order.
    aftersale: dict[str, Any] | None = None


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
        tag = str(item.get("tag"))
        if tag in aftersale_messages.DOUYIN_TAGS:
            times = (_unix(data.get(key)) for key in DOUYIN_AFTERSALE_TIMES)
            sent = next((t for t in times if t is not None), None)
            messages.append(Message(str(item.get("msg_id") or ""), sent, aftersale={**data, "tag": tag}))
            continue
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
    if event.get("refund_id"):
        # A refund event: its own version (what the agree call takes back), else the push's.
        refund = {**event, "version": event.get("version") or envelope.get("version")}
        return [Message(msg_id, _unix(envelope.get("version")), aftersale=refund)]
    carries_order = isinstance(event.get("full_order_info"), dict)
    return [Message(msg_id, _unix(envelope.get("version")), event if carries_order else None)]


def read_kuaishou(shop: Shop, message_key: str, headers: Mapping[str, str], body: bytes) -> list[Message]:
    """快手's push: open it with the shop's 消息密钥, check its ``appKey``, then read its one message."""
    try:
        event = load_json(kuaishou_decrypt(message_key, body))
    except (ValueError, NormalizeError) as exc:
        raise refused(401, "decrypt") from exc
    if not isinstance(event, dict) or str(event.get("appKey") or "") != shop.app_key:
        raise refused(401, "decrypt")
    info = _json(event.get("info") or "{}")
    if not isinstance(info, dict):
        raise refused(400, "body")
    msg_id = str(event.get("msgId") or event.get("eventId") or "")
    name = str(event.get("event") or "")
    if name.startswith("kwaishop_aftersales"):
        return [Message(msg_id, _unix(event.get("createTime")), aftersale={**info, "event": name})]
    # An order event names the order (oid, status); should one carry the whole order, it is taken as it is.
    carries_order = isinstance(info.get("orderBaseInfo"), dict)
    return [Message(msg_id, _unix(event.get("createTime")), info if carries_order else None)]


@dataclass(frozen=True)
class PushFormat:
    """How one platform's push is verified and read: with which of the shop's secrets, refused how without it."""

    read: Callable[[Shop, str, Mapping[str, str], bytes], list[Message]]
    secret: Callable[[Shop, str], str | None]
    not_configured: str


def app_secret_of(shop: Shop, secret_key: str) -> str | None:
    """The shop's app secret in clear (what 抖店 and 有赞 sign their push with)."""
    return decrypt(secret_key, shop.app_secret_cipher)


def message_key_of(shop: Shop, secret_key: str) -> str | None:
    """The shop's push message key in clear (快手's 消息密钥), or None when none is set."""
    return decrypt(secret_key, shop.push_message_key_cipher)


#: The platforms whose own push is verified here, and how each is read.
READERS: dict[Channel, PushFormat] = {
    Channel.douyin: PushFormat(read_douyin, app_secret_of, "not_configured"),
    Channel.youzan: PushFormat(read_youzan, app_secret_of, "not_configured"),
    Channel.kuaishou: PushFormat(read_kuaishou, message_key_of, "no_message_key"),
}
#: The channels whose push needs a message key of its own, set on the shop's card.
MESSAGE_KEYED = frozenset(channel for channel, push in READERS.items() if push.secret is message_key_of)


class MessageKeyError(DomainError, ValueError):
    """A push message key that cannot be saved."""

    messages: ClassVar[Mapping[str, str]] = {
        "bad_message_key": N_(
            "The 快手 message key is the base64 text shown under 消息推送 in 快手's open platform (a 16, 24 or 32 "
            "byte key)."
        ),
        "no_message_key": N_("This shop's platform has no push message key."),
    }
    fields: ClassVar[Mapping[str, str]] = {"bad_message_key": "push_message_key"}


async def save_message_key(
    session: AsyncSession, secret_key: str, shop_id: int, form: Mapping[str, Any], actor: Actor, ip: str | None
) -> Shop:
    """Keep the shop's push message key (快手's 消息密钥) encrypted, once it is checked to be one; a blank field
    keeps the stored key (it is never shown back)."""
    shop = await shop_readers.shop_of(session, shop_id)
    if shop is None:
        raise services.ShopNotFound(shop_id)
    if shop.channel not in MESSAGE_KEYED:
        raise MessageKeyError("no_message_key")
    text = one(dict(form), "push_message_key").strip()
    if not text:
        return shop
    if aes_key(text) is None:
        raise MessageKeyError("bad_message_key")
    shop.push_message_key_cipher = encrypt(secret_key, text) or ""
    session.add(shop)
    await session.flush()
    services.forget_webhook_shops()
    await audit(session, actor, "shop.push_message_key_set", target_type="shop", target_id=shop_id, ip=ip)
    return shop


async def receive_push(
    db: Database, settings: Settings, channel: str, shop_code: str, headers: Mapping[str, str], body: bytes
) -> PushResult:
    """The platform push: authenticate with the platform's own signature, refuse replays, ingest each order.

    Raises WebhookRefused (400/401/404) before anything is stored.
    """
    push = READERS.get(Channel(channel)) if channel in Channel.__members__ else None
    if push is None:
        raise refused(404, "no_push")
    found = await services.webhook_shop(db, settings.secret_key, shop_code) if shop_code else None
    if found is None or not found.shop.is_active or found.shop.channel.value != channel:
        raise refused(401, "shop")
    shop = found.shop
    secret = push.secret(shop, settings.secret_key) or ""
    if not shop.app_key or not secret:
        raise refused(401, push.not_configured)
    messages = push.read(shop, secret, headers, body)
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
    """Ingest the order a message carries, or the after-sale case; a notice without one asks for a pull, which
    fetches the order."""
    if message.aftersale is not None:
        case = await aftersale_messages.take(db, settings, shop, message.aftersale)
        told: dict[str, Any] = {"outcome": case.outcome, "order_id": case.order_id, "case_id": case.case_id}
        if not case.ok:
            told.update(error_id=case.error_id, field=case.field, detail=case.message)
        return told
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

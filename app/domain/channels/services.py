"""Channel services: the one ingest pipeline behind webhooks, pulls, imports and replays; webhook
authentication; the ingest-error queue; shop settings; the pull of a shop's order list.

Every accepted payload goes inbox row (unique channel + event id) -> adapter -> order upsert -> outbox row,
in ONE transaction. A payload that cannot be read is kept in the error queue and nothing else changes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar
from weakref import WeakKeyDictionary

import httpx
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import outbox
from app.db import Database, deferring, insert_new, utcnow
from app.domain.accounts.services import Actor, audit
from app.domain.channels.adapters import PULLABLE, Adapter, adapter_for
from app.domain.channels.adapters.base import (
    Credentials,
    NormalizeError,
    PullError,
    as_object,
    check_order,
    compact_json,
)
from app.domain.channels.adapters.generic import GenericAdapter
from app.domain.channels.models import CHANNEL_LENGTH, InboxEvent, IngestError, IngestErrorStatus, IngestSource
from app.domain.inventory import services as inventory
from app.domain.inventory.models import WarehouseKind
from app.domain.orders import pii
from app.domain.orders import services as orders
from app.domain.orders.pii import decrypt, encrypt
from app.domain.orders.schemas import NormalizedOrder, safe_text
from app.domain.processing import services as processing
from app.domain.shops import services as shop_readers
from app.domain.shops.models import (
    MAX_COMPLETE_AFTER_DAYS,
    MAX_PRESALE_BALANCE_HOURS,
    PRESALE_OVERDUE_ACTIONS,
    Channel,
    Shop,
)
from app.errors import DomainError, Labels
from app.forms import one
from app.i18n import N_, gettext
from app.outbox import OutboxMessage, OutboxStatus
from app.params import parse_int
from app.settings import Settings

#: Webhook headers. The signature is HMAC-SHA256 of the raw request body with the shop's webhook secret, hex.
SHOP_HEADER = "X-Ruleflow-Shop"
SIGNATURE_HEADER = "X-Ruleflow-Signature"
EVENT_HEADER = "X-Ruleflow-Event-Id"
#: Why the masked copy of a body that was not JSON cannot be replayed (every value in it is a mask).
BROKEN_BODY_MASKED = (
    "这条消息不是有效的 JSON，显示的副本遮盖了所有取值，无法据此重放：请有权限的人查看原始内容后修改，或让平台重新推送"
)
#: How far back the first pull of a shop looks.
FIRST_PULL_WINDOW = timedelta(days=1)
MAX_PULL_PAGES = 200
#: The largest webhook body taken: a real order of several hundred lines is a few hundred KB.
WEBHOOK_MAX_BYTES = 2 * 1024 * 1024
GENERIC = GenericAdapter()


class WebhookRefused(Exception):
    """The caller could not prove it speaks for the shop: nothing is read or stored."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ShopNotFound(DomainError, LookupError):
    """No shop has this id."""

    messages: ClassVar[Mapping[str, str]] = {"shop_not_found": N_("There is no such shop.")}
    default_status: ClassVar[int] = 404

    def __init__(self, shop_id: object) -> None:
        super().__init__("shop_not_found", shop_id=shop_id)


@dataclass
class IngestResult:
    """What happened to one payload."""

    #: created | updated | stale | duplicate | invalid
    outcome: str
    order_id: int | None = None
    error_id: int | None = None
    field: str = ""
    message: str = ""
    #: The after-sales case a platform's after-sale message opened or moved on.
    case_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.outcome != "invalid"


#: Work a caller wants done in the very transaction that files a payload (an import counts its progress there).
Checkpoint = Callable[[AsyncSession, IngestResult], Awaitable[None]]


def sign_body(secret: str, body: bytes) -> str:
    """The webhook signature a sender puts in X-Ruleflow-Signature: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def event_id_for(external_id: str, payload: dict[str, Any]) -> str:
    """Same order, same content -> same event id, so a redelivery is recognised whatever its source."""
    digest = hashlib.sha256(compact_json(payload).encode()).hexdigest()[:32]
    return f"{external_id[:64]}:{digest}"


#: The longest clear value each pull-settings field takes (what its column, or its ciphertext's, can hold).
SHOP_SETTING_LIMITS = {"api_base_url": 300, "app_key": 128, "app_secret": 256, "access_token": 512}


def credentials_of(shop: Shop, secret_key: str) -> Credentials:
    """What the pull job signs and authenticates with, the secrets decrypted."""
    return Credentials(
        shop.api_base_url,
        shop.app_key,
        decrypt(secret_key, shop.app_secret_cipher) or "",
        decrypt(secret_key, shop.access_token_cipher) or "",
    )


def set_credentials(
    shop: Shop, secret_key: str, *, app_secret: str | None = None, access_token: str | None = None
) -> None:
    """Store the pull job's app secret and/or access token encrypted (None leaves one as it is)."""
    if app_secret is not None:
        shop.app_secret_cipher = encrypt(secret_key, app_secret) or ""
    if access_token is not None:
        shop.access_token_cipher = encrypt(secret_key, access_token) or ""


def webhook_secret_of(shop: Shop, secret_key: str) -> str | None:
    """The shop's webhook secret in clear, or None when none is set (or SECRET_KEY no longer opens it)."""
    return decrypt(secret_key, shop.webhook_secret_cipher)


def set_webhook_secret(shop: Shop, secret_key: str, secret: str) -> None:
    """Keep a webhook secret encrypted: a copy of the database alone must not let anyone sign orders."""
    shop.webhook_secret_cipher = encrypt(secret_key, secret) or ""
    forget_webhook_shops()


#: How long one process keeps a shop the webhook read (with its secret in clear) before reading it again.
#: An edit made in the process takes effect there at once, one made in another process within this time.
WEBHOOK_SHOP_SECONDS = 5.0


@dataclass(frozen=True)
class WebhookShop:
    """A shop as the webhook authenticates against it: the row (detached, only read) and its secret."""

    shop: Shop
    secret: str | None
    until: float


#: Per database: a test suite or a CLI command may hold several in one process, each with its own shops.
_WEBHOOK_SHOPS: WeakKeyDictionary[Database, dict[str, WebhookShop]] = WeakKeyDictionary()


async def webhook_shop(db: Database, secret_key: str, code: str) -> WebhookShop | None:
    """The shop of this code as the webhook sees it, read at most once every ``WEBHOOK_SHOP_SECONDS``."""
    kept = _WEBHOOK_SHOPS.setdefault(db, {})
    now = time.monotonic()
    found = kept.get(code)
    if found is not None and found.until > now:
        return found
    async with db.reading() as session:
        shop = await shop_readers.shop_by_code(session, code)
    if shop is None:
        # Not kept: a shop connected a moment later is served at once.
        kept.pop(code, None)
        return None
    found = WebhookShop(shop, webhook_secret_of(shop, secret_key), now + WEBHOOK_SHOP_SECONDS)
    kept[code] = found
    return found


def forget_webhook_shops() -> None:
    """A shop was edited: the webhook reads every shop again."""
    _WEBHOOK_SHOPS.clear()


async def authenticate_webhook(
    db: Database, secret_key: str, channel: str, shop_code: str, body: bytes, signature: str | None, actor: Actor
) -> Shop:
    """Who may deliver orders for a shop: an ``ingest`` (or ``admin``) API token, or a valid HMAC signature.

    Raises WebhookRefused (401/404) otherwise. The webhook route is public, so this is the only gate.
    """
    if channel not in Channel.__members__:
        raise WebhookRefused(404, f"unknown channel {channel!r}")
    found = await webhook_shop(db, secret_key, shop_code) if shop_code else None
    if found is None or found.shop.channel.value != channel:
        # Same answer for "no such shop" and "wrong channel": do not help someone probe shop codes.
        raise WebhookRefused(401, "unknown or inactive shop for this channel")
    if not _speaks_for(found, actor, body, signature):
        raise WebhookRefused(401, "missing or invalid signature or token")
    if not found.shop.is_active:
        # Said only to a caller who proved it speaks for the shop: nobody else learns what is switched off.
        raise WebhookRefused(403, gettext(SHOP_DISABLED))
    return found.shop


#: Why a disabled shop's delivery is refused.
SHOP_DISABLED = N_("This shop is disabled: its orders are not taken until an administrator enables it again.")


def _speaks_for(found: WebhookShop, actor: Actor, body: bytes, signature: str | None) -> bool:
    """Whether the caller holds an ``ingest`` (or ``admin``) token or signed the body with the shop's secret."""
    if actor.kind == "token" and ({"ingest", "admin"} & actor.scopes):
        return True
    if not signature or not found.secret:
        return False
    presented = signature.strip()
    if not presented.startswith("sha256="):
        presented = "sha256=" + presented
    return hmac.compare_digest(sign_body(found.secret, body), presented)


async def receive_webhook(
    db: Database,
    settings: Settings,
    channel: str,
    shop_code: str,
    body: bytes,
    signature: str | None,
    actor: Actor,
    *,
    taker: Taker | None = None,
) -> IngestResult:
    """The webhook: authenticate first (always), then ingest the body: as an order, or as ``taker`` takes it (the
    after-sales webhook takes an after-sale message)."""
    shop = await authenticate_webhook(db, settings.secret_key, channel, shop_code, body, signature, actor)
    if taker is not None:
        return await taker(db, settings, shop, body)
    return await ingest(db, settings, shop, body, IngestSource.webhook)


#: What takes a delivered body of an authenticated shop other than as an order.
Taker = Callable[[Database, Settings, Shop, bytes], Awaitable[IngestResult]]


async def ingest(
    db: Database,
    settings: Settings,
    shop: Shop,
    body: bytes | str | dict[str, Any],
    source: IngestSource,
    *,
    import_id: int | None = None,
    checkpoint: Checkpoint | None = None,
) -> IngestResult:
    """Turn one delivered payload into an order (or a kept error). Safe to call any number of times.

    Imports use the generic format whatever the shop's platform; everything else the platform's own.
    ``checkpoint`` runs inside the transaction that files the order or the error, and can veto it by raising.
    """
    adapter = _adapter_of(shop, source)
    try:
        payload, data = read_order(adapter, body)
    except NormalizeError as exc:
        return await record_error(
            db,
            shop,
            body,
            source,
            exc.field,
            exc.message,
            import_id=import_id,
            checkpoint=checkpoint,
            secret_key=settings.secret_key,
        )
    event_id = event_id_for(data.external_id, payload)

    async def once(session: AsyncSession) -> IngestResult:
        result = await _ingest_once(session, settings, shop, data, event_id, source, adapter)
        if checkpoint is not None:
            await checkpoint(session, result)
        return result

    return await racing(db, once)


async def racing(db: Database, work: Callable[[AsyncSession], Awaitable[IngestResult]]) -> IngestResult:
    """``work`` in one transaction, run again when it lost a race: two new deliveries of one order (or one after-sale
    message) inserting it at once (PostgreSQL), the loser then finds it and updates it."""
    for attempt in range(3):
        try:
            async with db.transaction() as session:
                return await work(session)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def read_order(adapter: Adapter, body: bytes | str | dict[str, Any]) -> tuple[dict[str, Any], NormalizedOrder]:
    """The payload and the order it describes, within the bounds every order keeps; else NormalizeError."""
    payload = adapter.unwrap(body)
    return payload, check_order(adapter.normalize(payload))


async def _ingest_once(
    session: AsyncSession,
    settings: Settings,
    shop: Shop,
    data: Any,
    event_id: str,
    source: IngestSource,
    adapter: Adapter,
) -> IngestResult:
    assert shop.id is not None
    inbox_id = await insert_new(
        session,
        InboxEvent,
        {
            "channel": shop.channel.value,
            "event_id": event_id,
            "shop_id": shop.id,
            "source": source.value,
            "received_at": utcnow(),
            "outcome": "",
        },
        unique=("channel", "event_id"),
    )
    if inbox_id is None:
        earlier = (
            await session.exec(
                select(InboxEvent).where(InboxEvent.channel == shop.channel.value, InboxEvent.event_id == event_id)
            )
        ).first()
        return IngestResult("duplicate", order_id=earlier.order_id if earlier else None)
    # The order's lines, tags, timeline entry and outbox message are written at the end, one INSERT each.
    async with deferring(session):
        result = await orders.upsert_order(
            session,
            shop,
            data,
            settings.secret_key,
            lock=not settings.is_sqlite,
            personal_fields=adapter.personal_fields,
        )
        order = result.order
        assert order.id is not None
        if result.finished_unshipped:
            await processing.hold_platform_finished(session, order)
        elif result.outcome in ("created", "updated"):
            await processing.queue(session, order, new=result.outcome == "created")
    if result.outcome in ("created", "updated"):  # its lines are written now
        await processing.book_till_sale(session, shop, order)
    await session.exec(
        update(InboxEvent)
        .where(col(InboxEvent.id) == inbox_id)
        .values(order_id=order.id, outcome=result.outcome)
        .execution_options(synchronize_session=False)
    )
    return IngestResult(result.outcome, order_id=order.id)


def _payload_text(body: bytes | str | dict[str, Any]) -> str:
    """The payload as text someone can fix: a lone surrogate or NUL stays as its JSON escape, so it can be stored."""
    if isinstance(body, bytes):
        return safe_text(body.decode("utf-8", errors="replace"))
    if isinstance(body, str):
        return safe_text(body)
    return safe_text(json.dumps(body, ensure_ascii=False, indent=2))


def _channel_named_in(body: bytes | str | dict[str, Any]) -> str:
    """The channel a payload of no known shop names, as text that fits its column (whatever was sent)."""
    named = body.get("channel", "") if isinstance(body, dict) else ""
    return safe_text(named if isinstance(named, str) else json.dumps(named, ensure_ascii=False))[:CHANNEL_LENGTH]


async def record_error(
    db: Database,
    shop: Shop | None,
    body: bytes | str | dict[str, Any],
    source: IngestSource,
    field: str,
    message: str,
    *,
    import_id: int | None = None,
    checkpoint: Checkpoint | None = None,
    secret_key: str,
) -> IngestResult:
    """Keep a payload that could not become an order, for someone to fix and replay: sealed as received,
    and redacted for the queue's pages (the reason too, since it may quote a value)."""
    kept = pii.redact_payload_text(_payload_text(body), _adapter_of(shop, source).personal_fields)
    message = pii.redact_text(safe_text(message), kept.known, limit=1000)
    async with db.transaction() as session:
        error = IngestError(
            channel=shop.channel.value if shop else _channel_named_in(body),
            shop_id=shop.id if shop else None,
            source=source.value,
            payload=kept.shown,
            payload_cipher=pii.seal_text(secret_key, kept.original),
            field=safe_text(field)[:200],
            message=message,
            created_at=utcnow(),
            import_id=import_id,
        )
        session.add(error)
        await session.flush()
        result = IngestResult("invalid", error_id=error.id, field=field, message=message)
        if checkpoint is not None:
            await checkpoint(session, result)
        return result


def _adapter_of(shop: Shop | None, source: IngestSource | str) -> Adapter:
    """The adapter that reads a payload: imports (and payloads of no known shop) use the generic format."""
    if shop is None or source in (IngestSource.csv_import, IngestSource.csv_import.value):
        return GENERIC
    return adapter_for(shop.channel)


# --- the error queue -------------------------------------------------------------------------------------


async def list_errors(session: AsyncSession, status: str = "open", *, limit: int = 100) -> list[IngestError]:
    query = select(IngestError).order_by(col(IngestError.id).desc()).limit(limit)
    if status:
        query = query.where(IngestError.status == status)
    return list((await session.exec(query)).all())


async def replay_error(
    db: Database,
    settings: Settings,
    error_id: int,
    payload_text: str,
    actor: Actor,
    ip: str | None,
    *,
    taker: Taker | None = None,
) -> IngestResult:
    """Run a (possibly corrected) payload from the error queue through the pipeline again.

    The payload is edited in its redacted form: wherever the edit left a masked (or cut) value as shown, the
    sealed original's value is put back, so an operator fixes a broken field without seeing the buyer's
    phone and the order still gets it. Someone who revealed the original may edit that directly.
    Success marks the error replayed and links the order; a payload that still fails updates the error's
    reason and keeps it open, so the queue never grows with copies of one problem. A platform's after-sale message
    (kept with the source ``aftersale``) is taken again by ``taker`` instead, e.g. once the order it names is in.
    """
    async with db.reading() as session:
        error = await session.get(IngestError, error_id)
        if error is None or error.status != IngestErrorStatus.open:
            raise LookupError(error_id)
        generic = error.source == IngestSource.csv_import.value
        taking = error.source == IngestSource.aftersale.value
        if taking and taker is None:
            raise LookupError(error_id)
        error_shop = await shop_readers.shop_of(session, error.shop_id) if error.shop_id else None
        fields = _adapter_of(error_shop, error.source).personal_fields
        original = pii.unseal_text(settings.secret_key, error.payload_cipher)
        if pii.masks_left(payload_text, error.payload, original):
            # Refused before anything is written: the sealed original stays the one to fix.
            return IngestResult("invalid", error_id=error_id, field="payload", message=BROKEN_BODY_MASKED)
        payload_text = pii.restore_payload_text(payload_text, error.payload, original)
        try:
            shop = await _replay_shop(session, error, payload_text, generic)
            if not taking:
                read_order(GENERIC if generic else adapter_for(shop.channel), payload_text)
        except NormalizeError as exc:
            problem: NormalizeError | None = exc
        else:
            problem = None
    kept = pii.redact_payload_text(_payload_text(payload_text), fields)
    if problem is not None:
        message = pii.redact_text(safe_text(problem.message), kept.known, limit=1000)
        async with db.transaction() as session:
            row = await session.get(IngestError, error_id)
            assert row is not None
            row.payload, row.payload_cipher = kept.shown, pii.seal_text(settings.secret_key, kept.original)
            row.field, row.message = safe_text(problem.field)[:200], message
            session.add(row)
        return IngestResult("invalid", error_id=error_id, field=problem.field, message=message)
    if taker is not None and taking:
        result = await taker(db, settings, shop, payload_text.encode())
        if not result.ok:
            return await _fold_error(db, result, error_id)
    else:
        source = IngestSource.csv_import if generic else IngestSource.replay
        result = await ingest(db, settings, shop, payload_text, source)
    async with db.transaction() as session:
        row = await session.get(IngestError, error_id)
        assert row is not None
        row.payload, row.payload_cipher = kept.shown, pii.seal_text(settings.secret_key, kept.original)
        row.status, row.resolved_at, row.order_id = IngestErrorStatus.replayed, utcnow(), result.order_id
        session.add(row)
        await audit(
            session,
            actor,
            "ingest_error.replayed",
            target_type="ingest_error",
            target_id=error_id,
            after={"order_id": result.order_id, "outcome": result.outcome},
            ip=ip,
        )
    return result


async def _fold_error(db: Database, result: IngestResult, error_id: int) -> IngestResult:
    """A replay that failed again kept its payload as a new error: the one replayed takes its payload and reason
    instead, so that the queue does not grow with copies of one problem."""
    async with db.transaction() as session:
        row = await session.get(IngestError, error_id)
        again = await session.get(IngestError, result.error_id) if result.error_id else None
        assert row is not None
        if again is not None and again.id != row.id:
            row.payload, row.payload_cipher = again.payload, again.payload_cipher
            row.field, row.message = again.field, again.message
            session.add(row)
            await session.delete(again)
    return replace(result, error_id=error_id)


async def _replay_shop(session: AsyncSession, error: IngestError, payload_text: str, generic: bool) -> Shop:
    """The shop a replayed payload belongs to: the error's, or for an import row the one its ``shop`` names."""
    if generic:
        code = str(as_object(payload_text).get("shop") or "")
        shop = await shop_readers.shop_by_code(session, code) if code else None
        if shop is None:
            raise NormalizeError("shop", gettext("no shop has the code %(code)s") % {"code": code[:64]})
    else:
        shop = await shop_readers.shop_of(session, error.shop_id) if error.shop_id else None
        if shop is None:
            raise NormalizeError("shop", gettext("the shop of this payload no longer exists"))
    if not shop.is_active:
        # As its webhook would: a disabled shop's orders are not taken, by whatever way they come.
        raise NormalizeError("shop", gettext(SHOP_DISABLED))
    return shop


async def reveal_error_payload(
    session: AsyncSession, secret_key: str, error_id: int, actor: Actor, ip: str | None
) -> str:
    """The error's payload as received, for someone allowed to see personal data; audited every time.

    Falls back to the redacted copy when no original is kept (or the key no longer opens it).
    """
    error = await session.get(IngestError, error_id)
    if error is None:
        raise LookupError(error_id)
    original = pii.unseal_text(secret_key, error.payload_cipher)
    await audit(
        session,
        actor,
        "pii.reveal_payload",
        target_type="ingest_error",
        target_id=error_id,
        after={"found": original is not None},
        ip=ip,
    )
    return error.payload if original is None else original


async def discard_error(session: AsyncSession, error_id: int, actor: Actor, ip: str | None) -> None:
    error = await session.get(IngestError, error_id)
    if error is None or error.status != IngestErrorStatus.open:
        raise LookupError(error_id)
    error.status = IngestErrorStatus.discarded
    error.resolved_at = utcnow()
    session.add(error)
    await audit(session, actor, "ingest_error.discarded", target_type="ingest_error", target_id=error_id, ip=ip)


# --- shop settings ---------------------------------------------------------------------------------------


class ShopSettingsError(DomainError, ValueError):
    """A shop setting that cannot be saved; ``field`` names it."""

    messages: ClassVar[Mapping[str, str]] = {
        "bad_setting": N_("Please check this field: %(field)s"),
        "bad_setting.api_base_url": N_("The API address must start with http:// or https://."),
        "bad_setting.pull_interval_minutes": N_("Pull every: a whole number of minutes from 0 to 1440."),
        "bad_setting.too_long": N_("%(label)s may be at most %(limit)s characters."),
        "bad_setting.disabled": N_("The shop is disabled: enable it before pulling its orders."),
        "bad_setting.presale_balance_hours": N_(
            "The default balance term is a whole number of hours from 1 to %(max)s."
        ),
        "bad_setting.presale_overdue_action": N_(
            "When the balance is overdue: choose cancel the order or send it to review."
        ),
        "bad_setting.store_warehouse_code": N_("The till's store warehouse must be the code of a store warehouse."),
        "bad_setting.complete_after_days": N_(
            "Complete delivered orders after: a whole number of days from 0 to %(max)s."
        ),
    }

    def __init__(self, field: str, variant: str | None = None, **params: Any) -> None:
        super().__init__("bad_setting", variant or field, field=field, **params)


#: How the refusals name the pull settings.
SHOP_SETTING_LABELS = {
    "api_base_url": N_("API address"),
    "app_key": "App key",
    "app_secret": "App secret",
    "access_token": "Access token",
}


@dataclass(frozen=True)
class PullSettings:
    """A shop's pull settings as typed: blank secrets keep the stored ones (they are never shown back)."""

    api_base_url: str
    app_key: str
    app_secret: str
    access_token: str
    pull_interval_minutes: int


def read_pull_settings(form: Mapping[str, Any]) -> PullSettings:
    """The pull settings of a form (or an API body), each checked; else ShopSettingsError naming the field."""
    values = {name: one(dict(form), name) for name in SHOP_SETTING_LIMITS}
    for name, limit in SHOP_SETTING_LIMITS.items():
        if len(values[name]) > limit:
            raise ShopSettingsError(name, "too_long", label=Labels((SHOP_SETTING_LABELS[name],)), limit=limit)
    url = values["api_base_url"]
    if url and not url.startswith(("http://", "https://")):
        raise ShopSettingsError("api_base_url")
    interval = parse_int(one(dict(form), "pull_interval_minutes") or "0", minimum=0, maximum=1440)
    if interval is None:
        raise ShopSettingsError("pull_interval_minutes")
    return PullSettings(url, values["app_key"], values["app_secret"], values["access_token"], interval)


def apply_pull_settings(shop: Shop, secret_key: str, wanted: PullSettings) -> list[str]:
    """Put the pull settings on the shop (secrets encrypted, blank ones kept); the names of those that changed."""
    changed = []
    for name, value in (("api_base_url", wanted.api_base_url), ("app_key", wanted.app_key)):
        if getattr(shop, name) != value:
            setattr(shop, name, value)
            changed.append(name)
    if wanted.app_secret:
        set_credentials(shop, secret_key, app_secret=wanted.app_secret)
        changed.append("app_secret")
    if wanted.access_token:
        set_credentials(shop, secret_key, access_token=wanted.access_token)
        changed.append("access_token")
    if shop.pull_interval_minutes != wanted.pull_interval_minutes:
        shop.pull_interval_minutes = wanted.pull_interval_minutes
        changed.append("pull_interval_minutes")
    return changed


async def _store_warehouse_of(session: AsyncSession, shop: Shop, form: dict[str, Any]) -> str:
    """The store warehouse (门店仓) a POS shop's till sells from, as typed (blank: none; not in the form: kept)."""
    if shop.channel != Channel.pos or "store_warehouse_code" not in form:
        return shop.store_warehouse_code
    code = one(form, "store_warehouse_code").strip()
    if code:
        warehouse = await inventory.get_warehouse(session, code)
        if warehouse is None or warehouse.kind != WarehouseKind.store:
            raise ShopSettingsError("store_warehouse_code")
    return code


async def update_shop_settings(
    session: AsyncSession, secret_key: str, shop_id: int, form: dict[str, Any], actor: Actor, ip: str | None
) -> Shop:
    """Save the pull settings, the 预售尾款默认期限, 逾期未付尾款, the days until 自动完成 and a till's store warehouse,
    all checked before any is set. Blank secret fields keep the stored secret (they are never shown back); a form
    without the term, the overdue action, the days or the store warehouse keeps it."""
    shop = await shop_readers.shop_of(session, shop_id)
    if shop is None:
        raise ShopNotFound(shop_id)
    wanted = read_pull_settings(form)
    term = one(form, "presale_balance_hours")
    hours = shop.presale_balance_hours if not term else parse_int(term, minimum=1, maximum=MAX_PRESALE_BALANCE_HOURS)
    if hours is None:
        raise ShopSettingsError("presale_balance_hours", max=MAX_PRESALE_BALANCE_HOURS)
    overdue = one(form, "presale_overdue_action") or shop.presale_overdue_action
    if overdue not in PRESALE_OVERDUE_ACTIONS:
        raise ShopSettingsError("presale_overdue_action")
    typed_days = one(form, "complete_after_days")
    days = (
        shop.complete_after_days
        if not typed_days
        else parse_int(typed_days, minimum=0, maximum=MAX_COMPLETE_AFTER_DAYS)
    )
    if days is None:
        raise ShopSettingsError("complete_after_days", max=MAX_COMPLETE_AFTER_DAYS)
    store = await _store_warehouse_of(session, shop, form)
    changed = apply_pull_settings(shop, secret_key, wanted)
    if shop.store_warehouse_code != store:
        shop.store_warehouse_code = store
        changed.append("store_warehouse_code")
    if shop.presale_balance_hours != hours:
        shop.presale_balance_hours = hours
        changed.append("presale_balance_hours")
    if shop.presale_overdue_action != overdue:
        shop.presale_overdue_action = overdue
        changed.append("presale_overdue_action")
    if shop.complete_after_days != days:
        shop.complete_after_days = days
        changed.append("complete_after_days")
    session.add(shop)
    await session.flush()
    forget_webhook_shops()
    await schedule_next_pull(session, shop_id)
    await audit(
        session,
        actor,
        "shop.settings_changed",
        target_type="shop",
        target_id=shop_id,
        after={"changed": changed},
        ip=ip,
    )
    return shop


async def rotate_webhook_secret(
    session: AsyncSession, secret_key: str, shop_id: int, actor: Actor, ip: str | None
) -> str:
    """A new webhook secret, shown once."""
    shop = await shop_readers.shop_of(session, shop_id)
    if shop is None:
        raise ShopNotFound(shop_id)
    secret = secrets.token_hex(24)
    set_webhook_secret(shop, secret_key, secret)
    session.add(shop)
    await audit(session, actor, "shop.webhook_secret_rotated", target_type="shop", target_id=shop_id, ip=ip)
    return secret


async def request_pull(session: AsyncSession, shop_id: int, actor: Actor, ip: str | None) -> None:
    """ "Pull now": stage the pull job (one at a time per shop and minute); a disabled shop is not pulled."""
    shop = await shop_readers.shop_of(session, shop_id)
    if shop is None:
        raise ShopNotFound(shop_id)
    if not shop.is_active:
        raise ShopSettingsError("is_active", "disabled")
    minute = utcnow().strftime("%Y%m%d%H%M")
    await outbox.stage(session, "pull_shop_orders", shop_id, dedupe_key=f"pull_shop_orders:{shop_id}:{minute}")
    await audit(session, actor, "shop.pull_requested", target_type="shop", target_id=shop_id, ip=ip)


# --- pulling a shop's order list -------------------------------------------------------------------------


@dataclass
class PullSummary:
    pages: int = 0
    orders: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    invalid: int = 0
    cursor: str = ""


async def pull_shop(db: Database, settings: Settings, shop_id: int, *, now: datetime | None = None) -> PullSummary:
    """Page through the platform's order list from the saved cursor to now; ingest every order; save the cursor.

    The cursor only moves when the whole window was read, so a failed pull is simply repeated next time
    (every order it already ingested is then a duplicate, which changes nothing).
    """
    async with db.reading() as session:
        shop = await shop_readers.shop_of(session, shop_id)
    if shop is None:
        raise ShopNotFound(shop_id)
    if not shop.is_active:
        # A pull staged before the shop was disabled: nothing is read, and no next one is scheduled.
        return PullSummary(cursor=shop.pull_cursor)
    if shop.channel not in PULLABLE or not shop.api_base_url:
        raise PullError(f"shop {shop.code} has no order-list API configured")
    until = now or utcnow()
    since = datetime.fromisoformat(shop.pull_cursor) if shop.pull_cursor else until - FIRST_PULL_WINDOW
    creds = credentials_of(shop, settings.secret_key)
    adapter = adapter_for(shop.channel)
    summary = PullSummary(cursor=until.isoformat())
    token: str | None = None
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            while summary.pages < MAX_PULL_PAGES:
                page = await adapter.pull_page(client, creds, since, until, token)
                summary.pages += 1
                for payload in page.orders:
                    result = await ingest(db, settings, shop, payload, IngestSource.pull)
                    summary.orders += 1
                    if result.outcome in ("created", "updated"):
                        setattr(summary, result.outcome, getattr(summary, result.outcome) + 1)
                    elif result.outcome == "invalid":
                        summary.invalid += 1
                    else:
                        summary.unchanged += 1
                token = page.next_token
                if token is None:
                    break
    except (httpx.HTTPError, PullError, ValueError) as exc:
        async with db.transaction() as session:
            row = await shop_readers.shop_of(session, shop_id)
            assert row is not None
            row.last_pull_error = f"{type(exc).__name__}: {exc}"[:1000]
            row.last_pulled_at = utcnow()
            session.add(row)
        raise
    async with db.transaction() as session:
        row = await shop_readers.shop_of(session, shop_id)
        assert row is not None
        row.pull_cursor = until.isoformat()
        row.last_pulled_at = utcnow()
        row.last_pull_error = None
        session.add(row)
    return summary


async def schedule_next_pull(session: AsyncSession, shop_id: int) -> OutboxMessage | None:
    """Stage the shop's next scheduled pull, ``pull_interval_minutes`` from now, unless one is already waiting.

    The schedule is a chain of delayed outbox rows (each pull stages the next), so it runs the same under the
    embedded worker and under arq, and survives restarts because it lives in the database.
    """
    shop = await shop_readers.shop_of(session, shop_id)
    if shop is None or not shop.is_active or shop.pull_interval_minutes <= 0 or not shop.api_base_url:
        return None
    waiting = await session.exec(
        select(OutboxMessage).where(
            OutboxMessage.job == "pull_shop_orders",
            col(OutboxMessage.status).in_([OutboxStatus.pending, OutboxStatus.queued]),
            col(OutboxMessage.dedupe_key).startswith(f"pull_schedule:{shop_id}:"),
        )
    )
    if waiting.first() is not None:
        return None
    delay = timedelta(minutes=shop.pull_interval_minutes)
    due = utcnow() + delay
    return await outbox.stage(
        session,
        "pull_shop_orders",
        shop_id,
        dedupe_key=f"pull_schedule:{shop_id}:{due:%Y%m%d%H%M%S}:{secrets.token_hex(4)}",
        delay=delay,
    )

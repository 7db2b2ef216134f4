"""Order services: write a normalised order (idempotent, ordered by the platform's modification time), the
canonical order the rule flows read, the keyset-paginated list, the detail view and revealing personal data.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final, NamedTuple

from sqlalchemy import and_, exists, insert, or_
from sqlalchemy import select as select_columns
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import events
from app.db import CHINA, deferred_of, insert_rows, iso_utc, utcnow
from app.domain.accounts.services import Actor, audit
from app.domain.inventory import sku_mappings
from app.domain.inventory.sku_mappings import PlatformSku
from app.domain.orders import changes, pii
from app.domain.orders.models import Customer, CustomerIdentity, Order, OrderEvent, OrderLine, OrderStatus, OrderTag
from app.domain.orders.schemas import REFUND_SUCCESS_STATUSES, NormalizedLine, NormalizedOrder
from app.domain.shops import services as shop_readers
from app.domain.shops.models import Channel, Shop
from app.errors import DomainError, excerpt
from app.i18n import N_
from app.params import ParameterError, parse_day, parse_id, parse_moment, start_of_day
from ruleflows import short_province

#: Tags the adapters set from the platform's data; an update replaces these and keeps every other tag.
PLATFORM_TAGS = frozenset({"unpaid", "partially_refunded", "refunded", "presale", "unknown_sku"})
_RANK = {
    OrderStatus.received: 0,
    OrderStatus.audited: 1,
    OrderStatus.on_hold: 1,
    OrderStatus.routed: 2,
    OrderStatus.waybilled: 3,
    OrderStatus.shipped: 4,
    OrderStatus.delivered: 5,
    OrderStatus.completed: 6,
    OrderStatus.cancelled: 7,
}
PAGE_SIZE = 50
#: The most orders one page of the read API gives.
API_PAGE_LIMIT = 200
#: The buyer message and seller memo are cut to this many characters (with the truncation marker); the
#: sealed payload keeps up to pii.MAX_PAYLOAD_STRING of them for an audited look.
NOTE_LIMIT = 1000


class OrderNotFound(DomainError, LookupError):
    """No order has this id."""

    messages: ClassVar[Mapping[str, str]] = {"order_not_found": N_("There is no order %(order_id)s.")}
    default_status: ClassVar[int] = 404

    def __init__(self, order_id: object) -> None:
        super().__init__("order_not_found", order_id=order_id)


@dataclass
class UpsertResult:
    order: Order
    #: created | updated | stale
    outcome: str
    #: The update said delivered or completed of an order we never shipped (its status was kept).
    finished_unshipped: bool = False


#: What a platform says when the buyer has the goods (签收 / 交易成功): an order moves there only from shipped on.
FINISHED_BY_PLATFORM = frozenset({OrderStatus.delivered, OrderStatus.completed})


def merged_status(current: OrderStatus, incoming: OrderStatus, *, till: bool = False) -> OrderStatus:
    """The platform may move an order forward or cancel it, never back behind our own processing; it may say
    delivered or completed only of an order we shipped (see :func:`finished_unshipped`), except a store till,
    whose sale is finished at the counter."""
    if finished_unshipped(current, incoming, till=till):
        return current
    if incoming is OrderStatus.cancelled or _RANK[incoming] > _RANK[current]:
        return incoming
    return current


def finished_unshipped(current: OrderStatus, incoming: OrderStatus, *, till: bool = False) -> bool:
    """The platform says an order is delivered or completed that never left our warehouses (nor is cancelled):
    it stays where it is and goes to review, for a person to find out where the goods went."""
    return (
        not till
        and incoming in FINISHED_BY_PLATFORM
        and current is not OrderStatus.cancelled
        and _RANK[current] < _RANK[OrderStatus.shipped]
    )


def _mark_delivered(order: Order, now: datetime) -> None:
    """Remember when the order was first delivered (or beyond): the sweeper completes it some days later."""
    if order.delivered_at is None and order.status in FINISHED_BY_PLATFORM:
        order.delivered_at = now


def platform_sku(shop_id: int, line: NormalizedLine | OrderLine | LineRow) -> PlatformSku:
    """The line's SKU as its shop's platform names it (sku id and outer id)."""
    return PlatformSku(shop_id, line.channel_sku_id, line.seller_sku)


async def resolve_skus(session: AsyncSession, shop_id: int, data: NormalizedOrder) -> dict[PlatformSku, str]:
    """Our SKU of each of the order's lines that is ours: by its outer id, else the shop's mapping."""
    return await sku_mappings.resolve(session, [platform_sku(shop_id, line) for line in data.lines])


async def resolve_unmatched_lines(session: AsyncSession, batch: Sequence[tuple[Order, Sequence[OrderLine]]]) -> int:
    """Give the lines without our SKU the one the SKU master or their shop's mapping says now (one query for the
    whole batch); an order left with no such line loses its ``unknown_sku`` tag. Returns the lines resolved."""
    unmatched = [(order, line) for order, lines in batch for line in lines if not line.sku]
    if not unmatched:
        return 0
    found = await sku_mappings.resolve(session, [platform_sku(order.shop_id, line) for order, line in unmatched])
    resolved = 0
    for order, lines in batch:
        given = {
            line.position: code
            for line in lines
            if not line.sku and (code := found.get(platform_sku(order.shop_id, line))) is not None
        }
        if given:
            await give_skus(session, order, lines, given)
            resolved += len(given)
    return resolved


async def give_skus(
    session: AsyncSession,
    order: Order,
    lines: Sequence[OrderLine],
    given: Mapping[int, str],
    *,
    actor: str = "system",
) -> None:
    """Give the order's lines (by position) our SKU codes, keeping the platform's ids on them, and put it on the
    timeline; an order left with no line without our SKU loses its ``unknown_sku`` tag."""
    changed = [line for line in lines if line.position in given and line.sku != given[line.position]]
    for line in changed:
        line.sku = given[line.position]
        session.add(line)
    if not changed:
        return
    detail = {"lines": [{"line_id": line.line_id, "sku": line.sku} for line in changed]}
    await add_event(session, order, "skus_resolved", detail, actor=actor)
    if all(line.sku for line in lines) and "unknown_sku" in order.tags:
        order.tags = [tag for tag in order.tags if tag != "unknown_sku"]
        session.add(order)
        await session.exec(
            delete(OrderTag).where(col(OrderTag.order_id) == order.id, col(OrderTag.tag) == "unknown_sku")
        )


async def resolve_customer(session: AsyncSession, secret_key: str, data: NormalizedOrder) -> int | None:
    """The customer this order's buyer is, by WeChat unionid or clear phone (never Taobao's oaid)."""
    identities: list[tuple[str, str]] = []
    if data.unionid:
        identities.append(("unionid", data.unionid))
    if data.phone and pii.is_clear_mobile(data.phone):
        identities.append(("phone_hash", pii.phone_hash(secret_key, data.phone)))
    if not identities:
        return None
    conditions = [
        and_(col(CustomerIdentity.kind) == kind, col(CustomerIdentity.value) == value) for kind, value in identities
    ]
    found = list((await session.exec(select(CustomerIdentity).where(or_(*conditions)))).all())
    if found:
        customer_id = found[0].customer_id
    else:
        new = insert(Customer).values(display_name=data.receiver_name or data.buyer_nick, created_at=utcnow())
        customer_id = (await session.exec(new.returning(col(Customer.id)))).scalar_one()
    have = {(row.kind, row.value) for row in found}
    # An identity another order claimed at the same moment is left out; the customer stays as found.
    await insert_rows(
        session,
        CustomerIdentity,
        [
            {"customer_id": customer_id, "kind": kind, "value": value}
            for kind, value in identities
            if (kind, value) not in have
        ],
        skip_duplicates_of=("kind", "value"),
    )
    return customer_id


def _receiver_known(data: NormalizedOrder) -> pii.Known:
    """The receiver's phone, street and name, to mask them wherever free text repeats them."""
    return pii.Known.of(phones=[data.phone], streets=[data.address], names=[data.receiver_name])


def _apply_fields(order: Order, data: NormalizedOrder, secret_key: str, personal_fields: Mapping[str, str]) -> None:
    """Copy the normalised order onto the row, encrypting personal data and keeping the masked copy.

    The payload itself is kept twice: sealed as received, and redacted (what pages and the API show). Notes are
    searched for the receiver's phone, street and name (buyers type them into messages) and cut.
    """
    known = _receiver_known(data)
    order.raw_status = data.raw_status
    order.placed_at = data.created_at
    order.paid_at = data.paid_at
    order.source_updated_at = data.updated_at
    order.channel_buyer_id = data.channel_buyer_id[:128]
    order.buyer_nick = pii.redact_text(data.buyer_nick, known, limit=100)
    order.receiver_name = data.receiver_name[:100]
    if data.phone and "*" not in data.phone:
        order.phone_cipher = pii.encrypt(secret_key, data.phone)
        order.phone_masked = pii.mask_phone(data.phone)
    else:
        # Only a masked copy came (JD and Douyin often send just that): keep it, there is nothing to encrypt.
        order.phone_cipher = None
        order.phone_masked = (data.phone_masked or data.phone or "")[:32]
    order.phone_suffix = pii.phone_suffix(order.phone_masked)
    order.province = short_province(data.province) or data.province[:32]
    order.city = data.city[:64]
    order.district = data.district[:64]
    order.town = data.town[:64]
    if data.address and "*" not in data.address:
        order.address_cipher = pii.encrypt(secret_key, data.address)
        order.address_masked = pii.mask_address(data.address)
    else:
        order.address_cipher = None
        order.address_masked = (data.address_masked or data.address or "")[:300]
    order.items_fen = data.items_fen
    order.shipping_fen = data.shipping_fen
    order.discount_fen = data.discount_fen
    order.paid_fen = data.paid_fen
    order.is_presale = data.is_presale
    order.deposit_paid = data.deposit_paid
    order.deposit_fen = data.deposit_fen
    order.community = asdict(data.community) if data.community else None
    order.balance_paid = data.balance_paid
    order.balance_due_at = data.balance_due_at
    order.receiver_protected = data.receiver_protected
    order.receiver_tokens_cipher = pii.seal_json(secret_key, data.receiver_tokens) if data.receiver_tokens else None
    order.address_key = same_address_key(secret_key, order, data.address, data.address_token)
    order.buyer_message = pii.redact_text(data.buyer_message, known, limit=NOTE_LIMIT)
    order.seller_memo = pii.redact_text(data.seller_memo, known, limit=NOTE_LIMIT)
    order.raw = pii.redact(data.raw, personal_fields, known)
    order.raw_cipher = pii.seal_json(secret_key, pii.cut_strings(data.raw))


def same_address_key(secret_key: str, order: Order, street: str | None, token: str = "") -> str:
    """The order's same-address key: from its clear street and the area on the row, or else from the platform's
    address token (``oaid``); empty when neither is known (a masked street says nothing about the door), and for
    a community-group order, which is collected at its pickup point with its neighbours' and sent to no door."""
    if order.community:
        return ""
    if street and "*" not in street:
        key = pii.address_key(secret_key, (order.province, order.city, order.district, order.town), street)
        if key:
            return key
    return pii.address_token_key(secret_key, token)


def _tags_of(shop_id: int, data: NormalizedOrder, tags: list[str], ours: Mapping[PlatformSku, str]) -> list[str]:
    """The order's tags: ``tags``, with ``unknown_sku`` when a line's SKU is not ours, phones masked."""
    if any(platform_sku(shop_id, line) not in ours for line in data.lines):
        tags = [*tags, "unknown_sku"]
    # Tags are free text too: a buyer's phone in one is masked before it is kept.
    known = _receiver_known(data)
    return sorted({pii.redact_text(tag, known, limit=64) for tag in tags})


async def _write_lines_and_tags(
    session: AsyncSession, order: Order, data: NormalizedOrder, ours: Mapping[PlatformSku, str]
) -> None:
    """Insert the order's lines (each with our SKU where it resolves, the platform's ids kept) and its tag rows
    (``order.tags``), one INSERT each."""
    assert order.id is not None
    # Titles are free text too: a buyer's phone in an engraving (刻字 139…) is masked before it is kept.
    known = _receiver_known(data)
    lines = [
        {
            "order_id": order.id,
            "position": position,
            "line_id": line.line_id[:64],
            "sku": ours.get(platform_sku(order.shop_id, line), ""),
            "seller_sku": line.seller_sku[:64],
            "channel_sku_id": line.channel_sku_id[:64],
            "title": pii.redact_text(line.title, known, limit=300),
            "qty": line.qty,
            "unit_price_fen": line.unit_price_fen,
            "paid_fen": line.paid_fen,
            "is_gift": line.is_gift,
            "bundle_of": line.bundle_of[:100] if line.bundle_of else None,
            "refund_status": line.refund_status[:32],
        }
        for position, line in enumerate(data.lines)
    ]
    await insert_rows(session, OrderLine, lines)
    await insert_rows(session, OrderTag, [{"order_id": order.id, "tag": tag} for tag in order.tags])


def _platform_tags(data: NormalizedOrder) -> list[str]:
    return [*data.tags, *(["presale"] if data.is_presale else [])]


async def upsert_order(
    session: AsyncSession,
    shop: Shop,
    data: NormalizedOrder,
    secret_key: str,
    *,
    lock: bool,
    personal_fields: Mapping[str, str] | None = None,
) -> UpsertResult:
    """Create the order, or update it when this version is newer than the one kept; an older one changes nothing.

    ``lock`` takes a row lock on the existing order (PostgreSQL), so two updates of one order apply in turn.
    ``personal_fields`` is the adapter's map of where its payload carries personal data (for the redacted copy).
    """
    fields = personal_fields or {}
    assert shop.id is not None
    query = select(Order).where(
        Order.channel == shop.channel.value, Order.shop_id == shop.id, Order.external_id == data.external_id
    )
    if lock:
        query = query.with_for_update()
    order = (await session.exec(query)).first()
    now = utcnow()
    if order is None:
        order = Order(
            channel=shop.channel.value,
            shop_id=shop.id,
            external_id=data.external_id[:64],
            status=OrderStatus(data.status),
            placed_at=data.created_at,
            source_updated_at=data.updated_at,
            received_at=now,
            updated_at=now,
        )
        _apply_fields(order, data, secret_key, fields)
        _mark_delivered(order, now)
        order.customer_id = await resolve_customer(session, secret_key, data)
        ours = await resolve_skus(session, shop.id, data)
        order.tags = _tags_of(shop.id, data, _platform_tags(data), ours)
        # The one flush: the order's id, for its lines, tags and timeline (a new order has none to replace).
        session.add(order)
        await session.flush()
        await _write_lines_and_tags(session, order, data, ours)
        await changes.mark_order(session, order)
        await add_event(session, order, "received", {"status": order.status.value, "raw_status": data.raw_status})
        await record_order_event(session, order, events.EventType.order_received, shop_code=shop.code)
        return UpsertResult(order, "created")
    if data.updated_at <= order.source_updated_at:
        return UpsertResult(order, "stale")
    before = {"status": order.status.value, "raw_status": order.raw_status, "paid_fen": order.paid_fen}
    placed_before = order.placed_at
    _apply_fields(order, data, secret_key, fields)
    till = shop.channel == Channel.pos
    unshipped = finished_unshipped(order.status, OrderStatus(data.status), till=till)
    order.status = merged_status(order.status, OrderStatus(data.status), till=till)
    _mark_delivered(order, now)
    if order.customer_id is None:
        order.customer_id = await resolve_customer(session, secret_key, data)
    kept = [tag for tag in order.tags if tag not in PLATFORM_TAGS]
    ours = await resolve_skus(session, shop.id, data)
    order.tags = _tags_of(shop.id, data, [*kept, *_platform_tags(data)], ours)
    order.version += 1
    order.updated_at = now
    session.add(order)
    await session.exec(delete(OrderLine).where(col(OrderLine.order_id) == order.id))
    await session.exec(delete(OrderTag).where(col(OrderTag.order_id) == order.id))
    await _write_lines_and_tags(session, order, data, ours)
    await changes.mark_order(session, order, placed_before=placed_before)
    after = {"status": order.status.value, "raw_status": order.raw_status, "paid_fen": order.paid_fen}
    await add_event(session, order, "updated", {"before": before, "after": after, "version": order.version})
    if after["status"] != before["status"] and order.status in STATUS_EVENTS:
        await record_order_event(session, order, STATUS_EVENTS[order.status], shop_code=shop.code)
    return UpsertResult(order, "updated", finished_unshipped=unshipped)


async def add_event(
    session: AsyncSession, order: Order, kind: str, detail: dict[str, Any] | None = None, actor: str = "system"
) -> None:
    """Append one entry to the order's timeline (written with the transaction's next flush: a timeline entry is
    never read back in the same transaction). A processing batch or an ingest writes its entries with one INSERT."""
    assert order.id is not None
    at = utcnow()
    later = deferred_of(session)
    if later is not None:
        later.add(OrderEvent, {"order_id": order.id, "at": at, "kind": kind, "actor": actor, "detail": detail})
    else:
        session.add(OrderEvent(order_id=order.id, at=at, kind=kind, actor=actor, detail=detail))


async def set_status(session: AsyncSession, order: Order, status: OrderStatus, *, actor: str = "system") -> None:
    """Change the order's status and put the change on its timeline."""
    if order.status == status:
        return
    before = order.status
    order.status = status
    order.updated_at = utcnow()
    _mark_delivered(order, order.updated_at)
    session.add(order)
    await changes.mark_order(session, order)
    await add_event(session, order, "status_changed", {"from": before.value, "to": status.value}, actor=actor)
    if status in STATUS_EVENTS:
        await record_order_event(session, order, STATUS_EVENTS[status])


#: The statuses whose reaching is an outbound event of its own, once per order (held and routed are recorded by
#: processing, which knows why and where).
STATUS_EVENTS: Final = {
    OrderStatus.shipped: events.EventType.order_shipped,
    OrderStatus.delivered: events.EventType.order_delivered,
    OrderStatus.completed: events.EventType.order_completed,
    OrderStatus.cancelled: events.EventType.order_cancelled,
}


def event_order(order: Order, shop_code: str) -> dict[str, Any]:
    """The order as every outbound event carries it: what finds it again and where it goes, personal data masked."""
    return {
        "id": order.id,
        "channel": order.channel,
        "shop": shop_code,
        "external_id": order.external_id,
        "status": order.status.value,
        "version": order.version,
        "placed_at": iso_utc(order.placed_at),
        "paid_at": iso_utc(order.paid_at),
        "paid_fen": order.paid_fen,
        "receiver": {
            "name": pii.mask_name(order.receiver_name),
            "phone": order.phone_masked,
            "province": order.province,
            "city": order.city,
            "district": order.district,
        },
    }


async def record_order_event(
    session: AsyncSession,
    order: Order,
    kind: events.EventType,
    *,
    change: str = "",
    extra: Mapping[str, Any] | None = None,
    shop_code: str | None = None,
) -> None:
    """Record an outbound event about the order in the caller's transaction. ``change`` tells apart the changes
    one order has more than one of (a version's hold); without it the event happens once per order."""
    assert order.id is not None
    if shop_code is None:
        shop = await shop_readers.shop_of(session, order.shop_id)
        shop_code = shop.code if shop is not None else ""
    key = f"{kind.value}:{order.id}" + (f":{change}" if change else "")
    await events.record(session, kind, {"order": event_order(order, shop_code), **(extra or {})}, key=key)


async def add_tags(session: AsyncSession, order: Order, tags: list[str]) -> None:
    """Add the tags the order does not have yet (each cut to 64 characters)."""
    assert order.id is not None
    new = [tag[:64] for tag in tags if tag and tag[:64] not in order.tags]
    if not new:
        return
    order.tags = [*order.tags, *new]
    session.add(order)
    for tag in new:
        session.add(OrderTag(order_id=order.id, tag=tag))


#: Orders the sweeper completes in one transaction (自动完成).
COMPLETE_BATCH = 200


async def complete_delivered(session: AsyncSession, now: datetime, *, limit: int = COMPLETE_BATCH) -> int:
    """自动完成: delivered orders whose shop's ``complete_after_days`` have passed since delivery at ``now`` become
    completed (timeline entry and ``order.completed``), at most ``limit`` of them, those delivered longest ago
    first; how many. A completed order is no longer delivered, so a second run finds nothing to do."""
    shops = (await session.exec(select(Shop.id, Shop.complete_after_days).order_by(col(Shop.id)))).all()
    done = 0
    for shop_id, days in shops:
        if done >= limit:
            break
        due = (
            await session.exec(
                select(Order.id)
                .where(
                    Order.shop_id == shop_id,
                    Order.status == OrderStatus.delivered,
                    col(Order.delivered_at).is_not(None),
                    col(Order.delivered_at) <= now - timedelta(days=days),
                )
                .order_by(col(Order.delivered_at), col(Order.id))
                .limit(limit - done)
            )
        ).all()
        for order_id in due:
            query = select(Order).where(Order.id == order_id).with_for_update()
            order = (await session.exec(query.execution_options(populate_existing=True))).one()
            if order.status != OrderStatus.delivered:
                continue  # the platform or a person moved it since the query
            await set_status(session, order, OrderStatus.completed)
            await add_event(session, order, "auto_completed", {"days_after_delivery": days})
            done += 1
    return done


# --- the canonical order ---------------------------------------------------------------------------------


@dataclass
class OrderView:
    """An order with what belongs to it, as pages and the canonical order need it."""

    order: Order
    lines: list[OrderLine]
    shop: Shop
    events: list[OrderEvent] = field(default_factory=list)


class OrderRow(NamedTuple):
    """An order's columns that its flow context reads, read as a plain row: no payload, no ORM object (a backtest
    reads a hundred thousand). The phone's and street's ciphertext are for the features builder to check the
    real values; they never reach the context."""

    id: int
    channel: str
    shop_id: int
    external_id: str
    raw_status: str
    status: OrderStatus
    placed_at: datetime
    paid_at: datetime | None
    channel_buyer_id: str
    buyer_nick: str
    customer_id: int | None
    receiver_name: str
    phone_masked: str
    phone_cipher: str | None
    receiver_protected: bool
    province: str
    city: str
    district: str
    town: str
    address_masked: str
    address_cipher: str | None
    address_key: str
    items_fen: int
    shipping_fen: int
    discount_fen: int
    paid_fen: int
    is_presale: bool
    deposit_paid: bool
    deposit_fen: int
    balance_paid: bool
    balance_due_at: datetime | None
    buyer_message: str
    seller_memo: str
    tags: list[str]
    community: dict[str, str] | None


class LineRow(NamedTuple):
    """An order line's columns that the flow context and routing read, as a plain row."""

    order_id: int
    line_id: str
    sku: str
    seller_sku: str
    channel_sku_id: str
    title: str
    qty: int
    unit_price_fen: int
    paid_fen: int
    is_gift: bool
    bundle_of: str | None
    refund_status: str

    @property
    def is_refunded(self) -> bool:
        """The line's money went back to the buyer: it is not shipped."""
        return self.refund_status in REFUND_SUCCESS_STATUSES


@dataclass(frozen=True, slots=True)
class StoredOrder:
    """An order read as rows with its lines and shop: what its flow context is built from."""

    order: OrderRow
    lines: list[LineRow]
    shop: Shop


_ORDER_COLUMNS: Final = [getattr(Order, name) for name in OrderRow._fields]
_LINE_COLUMNS: Final = [getattr(OrderLine, name) for name in LineRow._fields]


async def load_order_rows(session: AsyncSession, order_ids: Sequence[int]) -> dict[int, StoredOrder]:
    """Many orders as rows with their lines and shops, in three queries, by id (ids that do not exist are
    left out): Core selects of the columns the flow context reads, so that reading many costs no ORM objects.

    A line kept without our SKU is read with the one its shop's mapping gives now (one query more when there are
    such lines), as processing would resolve it."""
    if not order_ids:
        return {}
    connection = await session.connection()
    found = {
        row.id: row
        for row in map(
            OrderRow._make,
            await connection.execute(select_columns(*_ORDER_COLUMNS).where(col(Order.id).in_(order_ids))),
        )
    }
    lines: dict[int, list[LineRow]] = {order_id: [] for order_id in found}
    query = (
        select_columns(*_LINE_COLUMNS)
        .where(col(OrderLine.order_id).in_(lines))
        .order_by(col(OrderLine.position), col(OrderLine.id))
    )
    for line in map(LineRow._make, await connection.execute(query)):
        lines[line.order_id].append(line)
    await _resolve_rows(session, found, lines)
    shop_ids = {o.shop_id for o in found.values()}
    shops = await shop_readers.shops_by_id(session, shop_ids)
    return {order_id: StoredOrder(o, lines[order_id], shops[o.shop_id]) for order_id, o in found.items()}


async def _resolve_rows(session: AsyncSession, found: dict[int, OrderRow], lines: dict[int, list[LineRow]]) -> None:
    """Lines read without our SKU, with the one the SKU master or the shop's mapping gives now (as
    :func:`resolve_unmatched_lines` would write it); an order left with none loses its ``unknown_sku`` tag."""
    unmatched = {platform_sku(found[o].shop_id, line) for o, rows in lines.items() for line in rows if not line.sku}
    if not unmatched:
        return
    codes = await sku_mappings.resolve(session, unmatched)
    for order_id, rows in lines.items():
        shop_id = found[order_id].shop_id
        rows[:] = [line if line.sku else line._replace(sku=codes.get(platform_sku(shop_id, line), "")) for line in rows]
        if all(line.sku for line in rows) and "unknown_sku" in found[order_id].tags:
            found[order_id] = found[order_id]._replace(
                tags=[tag for tag in found[order_id].tags if tag != "unknown_sku"]
            )


def canonical_order(view: OrderView | StoredOrder) -> dict[str, Any]:
    """The canonical order of DESIGN.md without its payload, exactly as the rule-flow context reads it under
    ``order`` (:func:`canonical_order_by_id` adds ``raw``, the redacted copy of the payload).

    JSON-ready: ISO-8601 UTC times, fen integers, ids as strings (``shop_id`` is the shop's code). Lines
    carry ``category`` and ``weight_g`` as None, for the processing job to fill from the SKU master. Personal
    data only masked: no ciphertext.
    """
    order = view.order
    return {
        "id": str(order.id),
        "channel": order.channel,
        "shop_id": view.shop.code,
        "external_id": order.external_id,
        "raw_status": order.raw_status,
        "status": order.status.value,
        "created_at": iso_utc(order.placed_at),
        "paid_at": iso_utc(order.paid_at),
        "buyer": {
            "channel_buyer_id": order.channel_buyer_id,
            "nick": order.buyer_nick,
            "customer_id": str(order.customer_id) if order.customer_id is not None else None,
        },
        "receiver": {
            "name": order.receiver_name,
            "phone_masked": order.phone_masked,
            "protected": order.receiver_protected,
            "province": order.province,
            "city": order.city,
            "district": order.district,
            "town": order.town,
            "address": order.address_masked,
        },
        "amounts": {
            "items_fen": order.items_fen,
            "shipping_fen": order.shipping_fen,
            "discount_fen": order.discount_fen,
            "paid_fen": order.paid_fen,
        },
        "lines": [
            {
                "line_id": line.line_id,
                "sku": line.sku or None,
                "channel_sku_id": line.channel_sku_id,
                "title": line.title,
                "qty": line.qty,
                "unit_price_fen": line.unit_price_fen,
                "paid_fen": line.paid_fen,
                "is_gift": line.is_gift,
                "bundle_of": line.bundle_of,
                "category": None,
                "weight_g": None,
            }
            for line in view.lines
        ],
        "presale": {
            "is_presale": order.is_presale,
            "deposit_paid": order.deposit_paid,
            "deposit_fen": order.deposit_fen,
            "balance_paid": order.balance_paid,
            "balance_due_at": iso_utc(order.balance_due_at),
        },
        "buyer_message": order.buyer_message,
        "seller_memo": order.seller_memo,
        "tags": list(order.tags),
        "community": dict(order.community) if order.community else None,
    }


async def load_order_view(session: AsyncSession, order_id: int, *, with_events: bool = False) -> OrderView:
    """The order, its lines and shop (and timeline); OrderNotFound if there is no such order."""
    order = await session.get(Order, order_id)
    if order is None:
        raise OrderNotFound(order_id)
    lines = list(
        await session.exec(select(OrderLine).where(OrderLine.order_id == order_id).order_by(col(OrderLine.position)))
    )
    shop = await shop_readers.shop_of(session, order.shop_id)
    assert shop is not None
    events: list[OrderEvent] = []
    if with_events:
        events = list(
            (
                await session.exec(
                    select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(col(OrderEvent.id).desc())
                )
            ).all()
        )
    return OrderView(order, lines, shop, events)


async def canonical_order_by_id(session: AsyncSession, order_id: int) -> dict[str, Any]:
    """The canonical order of DESIGN.md for an order id, with ``raw``, the redacted copy of the payload."""
    view = await load_order_view(session, order_id)
    return {**canonical_order(view), "raw": view.order.raw}


def _masked_for_api(canonical: dict[str, Any]) -> dict[str, Any]:
    """The canonical order as API tokens see it: the receiver's name masked as well (no token reveals)."""
    canonical["receiver"]["name"] = pii.mask_name(canonical["receiver"]["name"])
    return canonical


async def api_order(session: AsyncSession, order_id: int) -> dict[str, Any]:
    """The canonical order as the read API gives it: masked values only (the receiver's name too)."""
    return _masked_for_api(await canonical_order_by_id(session, order_id))


# --- the list --------------------------------------------------------------------------------------------


@dataclass
class OrderFilters:
    """What the order list is narrowed by; empty values mean "any"."""

    channel: str = ""
    shop_id: int | None = None
    status: str = ""
    date_from: datetime | None = None
    date_to: datetime | None = None
    province: str = ""
    tag: str = ""
    sku: str = ""
    q: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str], *, strict: bool = False) -> OrderFilters:
        """The filters from the list's query string (by parameter name; a missing one means "any"). Unknown
        channels and statuses mean "any" too (a ParameterError when ``strict``, as the API asks: a program's typo
        must not widen its answer); a shop that is not an id, or a day that is not a day we keep, is a
        ParameterError. Days are China days: ``date_to`` includes the whole of its day."""
        channel, shop, status = query.get("channel", ""), query.get("shop", ""), query.get("status", "")
        date_from, date_to = query.get("date_from", ""), query.get("date_to", "")
        if strict:
            for name, value, known in (
                ("channel", channel, Channel.__members__),
                ("status", status, OrderStatus.__members__),
            ):
                if value and value not in known:
                    raise ParameterError(f"unknown_{name}", field=name, value=excerpt(value))
        shop_id = parse_id(shop) if shop.strip() else None
        if shop.strip() and shop_id is None:
            raise ParameterError("unknown_shop", field="shop")
        first, last = parse_day(date_from, "date_from"), parse_day(date_to, "date_to")
        return cls(
            channel=channel if channel in Channel.__members__ else "",
            shop_id=shop_id,
            status=status if status in OrderStatus.__members__ else "",
            date_from=start_of_day(first, CHINA) if first else None,
            date_to=start_of_day(last, CHINA) + timedelta(days=1) if last else None,
            province=query.get("province", "").strip(),
            tag=query.get("tag", "").strip(),
            sku=query.get("sku", "").strip(),
            q=query.get("q", "").strip(),
        )

    def as_query(self) -> dict[str, str]:
        """The filters as query parameters, for links that keep them."""
        values = {
            "channel": self.channel,
            "shop": str(self.shop_id or ""),
            "status": self.status,
            "province": self.province,
            "tag": self.tag,
            "sku": self.sku,
            "q": self.q,
        }
        return {key: value for key, value in values.items() if value}


def encode_cursor(order: Order) -> str:
    """An opaque "after this row" cursor: the row's (placed_at, id)."""
    raw = f"{order.placed_at.astimezone(UTC).isoformat()}|{order.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, field: str = "after") -> tuple[datetime, int] | None:
    """The (placed_at, id) a cursor names; None when there is none (the first page). A cursor we did not write
    is a ParameterError: answering with the first page would repeat rows under the ones already shown."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        placed, order_id = raw.split("|")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        placed, order_id = "", ""
    moment, last_id = parse_moment(placed), parse_id(order_id)
    if moment is None or last_id is None:
        raise ParameterError("stale_page", field=field)
    return moment, last_id


async def list_orders(
    session: AsyncSession,
    filters: OrderFilters,
    *,
    after: str | None = None,
    limit: int = PAGE_SIZE,
    cursor_field: str = "after",
) -> tuple[list[Order], str | None]:
    """Newest first, keyset-paginated on (placed_at, id) so a deep page costs what the first one does.

    Returns the page and the cursor of the next page (None on the last page). ``cursor_field`` names the
    parameter that carried ``after``, for the refusal of a cursor we did not write.
    """
    query = select(Order)
    if filters.channel:
        query = query.where(Order.channel == filters.channel)
    if filters.shop_id:
        query = query.where(Order.shop_id == filters.shop_id)
    if filters.status:
        query = query.where(Order.status == filters.status)
    if filters.province:
        query = query.where(Order.province == (short_province(filters.province) or filters.province))
    if filters.date_from:
        query = query.where(Order.placed_at >= filters.date_from)
    if filters.date_to:
        query = query.where(Order.placed_at < filters.date_to)
    if filters.tag:
        query = query.where(exists().where(col(OrderTag.order_id) == col(Order.id), col(OrderTag.tag) == filters.tag))
    if filters.sku:
        sku = filters.sku.strip()
        query = query.where(
            exists().where(
                col(OrderLine.order_id) == col(Order.id),
                or_(col(OrderLine.sku) == sku, col(OrderLine.seller_sku) == sku),
            )
        )
    if filters.q:
        term = filters.q.strip()
        conditions = [col(Order.external_id) == term, col(Order.buyer_nick) == term]
        if len(term) == 4 and term.isascii() and term.isdigit():
            conditions.append(col(Order.phone_suffix) == term)
        query = query.where(or_(*conditions))
    position = decode_cursor(after, cursor_field)
    if position is not None:
        placed, last_id = position
        query = query.where(
            or_(col(Order.placed_at) < placed, and_(col(Order.placed_at) == placed, col(Order.id) < last_id))
        )
    query = query.order_by(col(Order.placed_at).desc(), col(Order.id).desc()).limit(limit + 1)
    rows = list((await session.exec(query)).all())
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


async def api_orders(session: AsyncSession, filters: OrderFilters, *, cursor: str | None, limit: int) -> dict[str, Any]:
    """One page of the order list as the read API gives it: each order canonical and masked (without its
    payload), newest first, and the cursor of the next page (None on the last)."""
    rows, next_cursor = await list_orders(session, filters, after=cursor, limit=limit, cursor_field="cursor")
    stored = await load_order_rows(session, [row.id for row in rows if row.id is not None])
    return {
        "items": [_masked_for_api(canonical_order(stored[row.id])) for row in rows if row.id in stored],
        "next_cursor": next_cursor,
    }


async def customer_orders(session: AsyncSession, customer_id: int, *, limit: int = 50) -> list[Order]:
    """The customer's orders on every channel, newest first."""
    query = (
        select(Order)
        .where(Order.customer_id == customer_id)
        .order_by(col(Order.placed_at).desc(), col(Order.id).desc())
        .limit(limit)
    )
    return list((await session.exec(query)).all())


# --- personal data ---------------------------------------------------------------------------------------


@dataclass
class Revealed:
    phone: str | None
    address: str | None
    name: str | None = None


async def reveal_personal_data(
    session: AsyncSession, secret_key: str, order_id: int, actor: Actor, ip: str | None
) -> Revealed:
    """Decrypt the receiver's phone and address (and show the full name) for someone allowed to; audited every time."""
    order = await session.get(Order, order_id)
    if order is None:
        raise OrderNotFound(order_id)
    revealed = Revealed(
        pii.decrypt(secret_key, order.phone_cipher),
        pii.decrypt(secret_key, order.address_cipher),
        order.receiver_name or None,
    )
    await audit(
        session,
        actor,
        "pii.reveal",
        target_type="order",
        target_id=order_id,
        after={"fields": [name for name in ("phone", "address", "name") if getattr(revealed, name)]},
        ip=ip,
    )
    await add_event(session, order, "pii_revealed", None, actor=actor.name)
    return revealed


async def reveal_original_payload(
    session: AsyncSession, secret_key: str, order_id: int, actor: Actor, ip: str | None
) -> Any:
    """The platform's payload as received, for someone allowed to see personal data; audited every time.

    None when no original is kept (or the key no longer opens it): the redacted copy is all there is.
    """
    order = await session.get(Order, order_id)
    if order is None:
        raise OrderNotFound(order_id)
    original = pii.unseal_json(secret_key, order.raw_cipher)
    await audit(
        session,
        actor,
        "pii.reveal_payload",
        target_type="order",
        target_id=order_id,
        after={"found": original is not None},
        ip=ip,
    )
    await add_event(session, order, "payload_revealed", None, actor=actor.name)
    return original

"""What a flow reads: the canonical order and its features. One builder for production, simulation and backtest.

:func:`build_features` is pure: from the canonical order (lines enriched from the SKU master), the buyer's
history, the stock and the clock. :func:`context_of` builds the context the processing job, the simulator and
the backtest all give the flows to a stored order (:func:`read_contexts` reads what many need, set-based); the
built-in samples call :func:`build_features` with the history they describe.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import iso_utc
from app.domain.inventory import services as inventory
from app.domain.inventory.models import Sku
from app.domain.inventory.pool import StockPool
from app.domain.orders import pii, receivers
from app.domain.orders.models import Order
from app.domain.orders.services import OrderRow, OrderView, StoredOrder, canonical_order
from app.domain.shops.models import DEFAULT_PRESALE_BALANCE_HOURS
from ruleflows import region_of

URGENT_TAGS = frozenset({"urgent", "加急"})


class SkuMaster(Protocol):
    """What features read of a SKU master row."""

    @property
    def category(self) -> str: ...

    @property
    def weight_g(self) -> int: ...

    @property
    def volume_cm3(self) -> int: ...


@dataclass(frozen=True, slots=True)
class History:
    """What the hub knows of the buyer and the address before this order."""

    #: The customer's other orders in the hub.
    customer_order_count: int = 0
    #: Orders to the same address within 24 hours up to this one, this one included.
    same_address_24h: int = 1


def hours_before(moment: datetime, hours: int) -> datetime:
    """``hours`` before ``moment``, or the first moment datetime holds: an order kept before its times were
    bounded may be placed on the calendar's first day, and a feature must not fail on it."""
    try:
        return moment - timedelta(hours=hours)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


def enrich_lines(canonical: dict[str, Any], skus: Mapping[str, SkuMaster]) -> None:
    """Fill each canonical line's category and weight from the SKU master (left None when unknown)."""
    for line in canonical["lines"]:
        sku = skus.get(line.get("sku") or "")
        if sku is not None:
            line["category"] = sku.category or None
            line["weight_g"] = sku.weight_g


def _number(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def hours_after(moment: datetime | None, hours: int) -> datetime | None:
    """``hours`` after ``moment`` (None without one, or past the last moment datetime holds)."""
    if moment is None:
        return None
    try:
        return moment + timedelta(hours=hours)
    except OverflowError:
        return None


def phone_valid(phone: str | None, *, protected: bool) -> bool:
    """The receiver can be called: the real number (clear, as decrypted) is a mainland mobile or a platform's
    virtual number, or there is none in clear because the platform protects the receiver (it hands the courier
    a virtual number through its own waybill service)."""
    if phone:
        return receivers.phone_kind(phone) != ""
    return protected


def address_complete(receiver: Mapping[str, Any], street: str | None, *, protected: bool) -> bool:
    """The parcel can reach a door: a receiver's name, a province and a city, and a street that names more than
    its area when it is given in clear ("上海" alone does not). A protected receiver's street is the platform's
    to give the courier: the district and the platform's (masked or encrypted) detail are enough, and its name
    may be the platform's alone."""
    name, province, city, district, town, masked = (
        str(receiver.get(key) or "").strip() for key in ("name", "province", "city", "district", "town", "address")
    )
    if not (province and city) or not (name or protected):
        return False
    if street:
        return receivers.has_street_detail(street, (province, city, district, town))
    return protected and bool(district) and bool(masked)


def build_features(
    order: Mapping[str, Any],
    *,
    now: datetime,
    phone: str | None = None,
    street: str | None = None,
    history: History | None = None,
    stock_by_warehouse: Mapping[str, Mapping[str, int]] | None = None,
    skus: Mapping[str, SkuMaster] | None = None,
    review_approved: bool = False,
    urgent: bool | None = None,
    presale_balance_hours: int = DEFAULT_PRESALE_BALANCE_HOURS,
) -> dict[str, Any]:
    """The ``features`` object of the flow context (ORDER_CONTEXT_SCHEMA lists each field).

    Weight and categories come from the order's lines as enriched from the SKU master (lines without a
    SKU code ship nothing), volume from ``skus``; ``urgent`` defaults to the order's 加急 tags.
    ``stock_by_warehouse`` goes into the features as it is given. ``presale_balance_hours`` is the shop's
    预售尾款默认期限: the default balance due time is that long after payment (or after the order, if unpaid).
    ``phone`` and ``street`` are the receiver's real phone and street in clear (None when the platform gave
    none): only whether they are valid goes in.
    """
    history = history or History()
    found = order.get("receiver")
    receiver: Mapping[str, Any] = found if isinstance(found, dict) else {}
    province = str(receiver.get("province") or "")
    protected = receiver.get("protected") is True
    lines = [line for line in order.get("lines") or [] if isinstance(line, dict) and line.get("sku")]
    master = skus or {}
    tags = {tag for tag in order.get("tags") or [] if isinstance(tag, str)}
    paid_at = _moment(order.get("paid_at"))
    default_due = hours_after(paid_at or _moment(order.get("created_at")), presale_balance_hours)
    return {
        "region": region_of(province) if province else None,
        "weight_g": sum(_number(line.get("weight_g")) * _number(line.get("qty")) for line in lines),
        "volume_cm3": sum(
            master[line["sku"]].volume_cm3 * _number(line.get("qty")) for line in lines if line["sku"] in master
        ),
        "categories": sorted({line["category"] for line in lines if isinstance(line.get("category"), str)}),
        "customer_order_count": history.customer_order_count,
        "same_address_24h": history.same_address_24h,
        # Shared, not copied: the orders of a read with the same SKUs share one (nothing writes to a context).
        "stock_by_warehouse": stock_by_warehouse if stock_by_warehouse is not None else {},
        "is_urgent": bool(URGENT_TAGS & tags) if urgent is None else urgent,
        "hours_since_paid": round((now - paid_at).total_seconds() / 3600, 2) if paid_at is not None else None,
        "review_approved": review_approved,
        "presale_default_due_at": iso_utc(default_due),
        "phone_valid": phone_valid(phone, protected=protected),
        "address_complete": address_complete(receiver, street, protected=protected),
    }


async def history_of(session: AsyncSession, order: Order) -> History:
    """The buyer's other orders and the orders to the same address in the 24 hours up to this one (counted
    against the order's own time, so that processing it again gives the same number)."""
    assert order.id is not None
    return (await history_of_many(session, [order]))[order.id]


def same_buyer(order: Order) -> Any:
    """A filter on orders: those of the same buyer as ``order`` (the same customer; without one, the same
    platform buyer in the same shop; without either, only the order itself)."""
    if order.customer_id is not None:
        return col(Order.customer_id) == order.customer_id
    if order.channel_buyer_id:
        return (col(Order.shop_id) == order.shop_id) & (col(Order.channel_buyer_id) == order.channel_buyer_id)
    return col(Order.id) == order.id


async def buyer_orders_since(session: AsyncSession, order: Order, since: datetime) -> int:
    """How many orders the buyer of ``order`` placed from ``since`` on (this one included when it is that recent)."""
    query = select(func.count()).select_from(Order).where(same_buyer(order), col(Order.placed_at) >= since)
    return int((await session.exec(query)).one())


async def history_of_many(session: AsyncSession, orders: Sequence[Order | OrderRow]) -> dict[int, History]:
    """:func:`history_of` for many orders in two queries (a batch)."""
    customers = {o.customer_id for o in orders if o.customer_id is not None}
    per_customer: dict[int, int] = {}
    if customers:
        rows = await session.exec(
            select(Order.customer_id, func.count())
            .where(col(Order.customer_id).in_(customers))
            .group_by(col(Order.customer_id))
        )
        per_customer = {int(customer): int(count) for customer, count in rows.all() if customer is not None}
    keyed = [o for o in orders if o.address_key]
    placed: dict[str, list[datetime]] = defaultdict(list)
    if keyed:
        earliest = hours_before(min(o.placed_at for o in keyed), 24)
        moments = await session.exec(
            select(Order.address_key, Order.placed_at).where(
                col(Order.address_key).in_({o.address_key for o in keyed}),
                col(Order.placed_at) > earliest,
                col(Order.placed_at) <= max(o.placed_at for o in keyed),
            )
        )
        for key, moment in moments.all():
            placed[key].append(moment)
    found = {}
    for order in orders:
        assert order.id is not None
        # The customer's other orders: all of theirs but this one.
        others = per_customer.get(order.customer_id, 1) - 1 if order.customer_id is not None else 0
        same = 1
        if order.address_key:
            since = hours_before(order.placed_at, 24)
            same = sum(1 for moment in placed[order.address_key] if since < moment <= order.placed_at)
        found[order.id] = History(customer_order_count=others, same_address_24h=same)
    return found


def context_of(
    view: OrderView | StoredOrder,
    skus: Mapping[str, Sku],
    *,
    secret_key: str,
    now: datetime,
    history: History,
    stock_by_warehouse: Mapping[str, Mapping[str, int]],
    review_approved: bool = False,
) -> dict[str, Any]:
    """The flow context of a stored order from what was read for it: the canonical order (no ciphertext, no
    raw payload) with its lines enriched from the SKU master, the features, and no decisions yet. The phone and
    street are decrypted here, for the features to check, and go no further."""
    canonical = canonical_order(view)
    enrich_lines(canonical, skus)
    features = build_features(
        canonical,
        now=now,
        phone=pii.decrypt(secret_key, view.order.phone_cipher),
        street=pii.decrypt(secret_key, view.order.address_cipher),
        history=history,
        stock_by_warehouse=stock_by_warehouse,
        skus=skus,
        review_approved=review_approved,
        presale_balance_hours=view.shop.presale_balance_hours,
    )
    return {"order": canonical, "features": features, "decisions": {}}


@dataclass(frozen=True, slots=True)
class StoredContexts:
    """Stored orders with what their features need, read set-based (:func:`read_contexts`): building their flow
    contexts from it is CPU work only, which a backtest does in a worker thread."""

    views: Sequence[StoredOrder]
    skus: Mapping[str, Sku]
    histories: Mapping[int, History]
    stock: StockPool
    #: Opens the phones and streets for the features builder.
    secret_key: str

    def build(self, now: datetime) -> Iterator[dict[str, Any]]:
        """The flow contexts (:func:`context_of`), one at a time as they are asked for, in the order of the views
        (a backtest replays each before building the next, so that none outlives its turn in memory). Orders
        with the same SKUs share one stock by warehouse: the stock read does not change while they are built."""
        warehouses = list(self.stock.available)
        shared: dict[frozenset[str], dict[str, dict[str, int]]] = {}
        for view in self.views:
            own = frozenset(line.sku for line in view.lines if line.sku)
            stock = shared.get(own)
            if stock is None:
                stock = shared[own] = self.stock.by_warehouse(own, warehouses) if own else {}
            yield context_of(
                view,
                self.skus,
                secret_key=self.secret_key,
                now=now,
                history=self.histories[view.order.id],
                stock_by_warehouse=stock,
            )


async def read_contexts(session: AsyncSession, views: Sequence[StoredOrder], *, secret_key: str) -> StoredContexts:
    """What the flow contexts of these stored orders need: one SKU master read, one history read, one stock
    read (and the key that opens their phones and streets)."""
    codes = {line.sku for view in views for line in view.lines if line.sku}
    return StoredContexts(
        views=views,
        skus=await inventory.skus_by_code(session, codes),
        histories=await history_of_many(session, [view.order for view in views]),
        stock=await inventory.load_pool(session, codes),
        secret_key=secret_key,
    )

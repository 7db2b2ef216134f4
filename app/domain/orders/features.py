"""What a flow reads: the canonical order and its features. One builder for production, simulation and backtest.

:func:`build_features` is pure: from the canonical order (lines enriched from the SKU master), the buyer's
history, the stock and the clock. :func:`flow_context` gathers those for a stored order and builds the
context the processing job, the simulator and the backtest all give the flows; the built-in samples call
:func:`build_features` with the history they describe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.inventory import services as inventory
from app.domain.inventory.models import Sku
from app.domain.orders.models import Order
from app.domain.orders.services import OrderView, canonical_order
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


def build_features(
    order: Mapping[str, Any],
    *,
    now: datetime,
    history: History | None = None,
    stock_by_warehouse: Mapping[str, Mapping[str, int]] | None = None,
    skus: Mapping[str, SkuMaster] | None = None,
    review_approved: bool = False,
    urgent: bool | None = None,
) -> dict[str, Any]:
    """The ``features`` object of the flow context (ORDER_CONTEXT_SCHEMA lists each field).

    Weight and categories come from the order's lines as enriched from the SKU master (lines without a
    SKU code ship nothing), volume from ``skus``; ``urgent`` defaults to the order's 加急 tags.
    """
    history = history or History()
    receiver = order.get("receiver") if isinstance(order.get("receiver"), dict) else {}
    province = str((receiver or {}).get("province") or "")
    lines = [line for line in order.get("lines") or [] if isinstance(line, dict) and line.get("sku")]
    master = skus or {}
    tags = {tag for tag in order.get("tags") or [] if isinstance(tag, str)}
    paid_at = _moment(order.get("paid_at"))
    return {
        "region": region_of(province) if province else None,
        "weight_g": sum(_number(line.get("weight_g")) * _number(line.get("qty")) for line in lines),
        "volume_cm3": sum(
            master[line["sku"]].volume_cm3 * _number(line.get("qty")) for line in lines if line["sku"] in master
        ),
        "categories": sorted({line["category"] for line in lines if isinstance(line.get("category"), str)}),
        "customer_order_count": history.customer_order_count,
        "same_address_24h": history.same_address_24h,
        "stock_by_warehouse": {code: dict(units) for code, units in (stock_by_warehouse or {}).items()},
        "is_urgent": bool(URGENT_TAGS & tags) if urgent is None else urgent,
        "hours_since_paid": round((now - paid_at).total_seconds() / 3600, 2) if paid_at is not None else None,
        "review_approved": review_approved,
    }


async def history_of(session: AsyncSession, order: Order) -> History:
    """The buyer's other orders and the orders to the same address in the 24 hours up to this one."""
    customer_orders = 0
    if order.customer_id is not None:
        customer_orders = (
            await session.exec(
                select(func.count()).where(Order.customer_id == order.customer_id, col(Order.id) != order.id)
            )
        ).one()
    same_address = 1
    if order.address_key:
        # Counted against the order's own time, so that processing it again gives the same number.
        same_address = (
            await session.exec(
                select(func.count()).where(
                    Order.address_key == order.address_key,
                    col(Order.placed_at) > hours_before(order.placed_at, 24),
                    col(Order.placed_at) <= order.placed_at,
                )
            )
        ).one()
    return History(customer_order_count=int(customer_orders), same_address_24h=int(same_address))


async def flow_context(
    session: AsyncSession,
    view: OrderView,
    skus: Mapping[str, Sku] | None = None,
    *,
    now: datetime,
    review_approved: bool = False,
) -> dict[str, Any]:
    """What a flow reads for a stored order: the canonical order (no ciphertext, no raw payload) with its
    lines enriched from the SKU master, the features, and no decisions yet. The processing job, the
    simulator and the backtest all take it from here."""
    if skus is None:
        skus = await inventory.skus_by_code(session, {line.sku for line in view.lines if line.sku})
    order = view.order
    canonical = canonical_order(view)
    canonical.pop("raw", None)
    enrich_lines(canonical, skus)
    codes = {line["sku"] for line in canonical["lines"] if line.get("sku")}
    features = build_features(
        canonical,
        now=now,
        history=await history_of(session, order),
        stock_by_warehouse=await inventory.stock_by_warehouse(session, codes),
        skus=skus,
        review_approved=review_approved,
    )
    return {"order": canonical, "features": features, "decisions": {}}

"""What a flow reads besides the order: features computed from the order, the SKU master, history and stock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.inventory import services as inventory
from app.domain.inventory.models import Sku
from app.domain.orders.models import Order, OrderLine
from ruleflows import region_of

URGENT_TAGS = frozenset({"urgent", "加急"})
ZONE_RANK = {"ambient": 0, "chilled": 1, "frozen": 2}


def hours_before(moment: datetime, hours: int) -> datetime:
    """``hours`` before ``moment``, or the first moment datetime holds: an order kept before its times were
    bounded may be placed on the calendar's first day, and a feature must not fail on it."""
    try:
        return moment - timedelta(hours=hours)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


async def skus_for(session: AsyncSession, codes: set[str]) -> dict[str, Sku]:
    """The SKU master rows of these codes, by code."""
    if not codes:
        return {}
    return {sku.code: sku for sku in (await session.exec(select(Sku).where(col(Sku.code).in_(codes)))).all()}


def enrich_lines(canonical: dict[str, Any], skus: dict[str, Sku]) -> None:
    """Fill each canonical line's category and weight from the SKU master (left None when unknown)."""
    for line in canonical["lines"]:
        sku = skus.get(line.get("sku") or "")
        if sku is not None:
            line["category"] = sku.category or None
            line["weight_g"] = sku.weight_g


def parcel_weight(lines: list[tuple[str, int]], skus: dict[str, Sku]) -> int:
    """Total weight in grams of (SKU, qty) pairs; unknown SKUs weigh nothing."""
    return sum(skus[code].weight_g * qty for code, qty in lines if code in skus)


def temperature_zone(codes: list[str], skus: dict[str, Sku]) -> str:
    """The coldest zone any of these SKUs needs (a chilled item makes the parcel chilled)."""
    zones = [str(skus[code].temperature_zone) for code in codes if code in skus]
    return max(zones, key=lambda zone: ZONE_RANK.get(zone, 0), default="ambient")


async def compute_features(
    session: AsyncSession,
    order: Order,
    lines: list[OrderLine],
    skus: dict[str, Sku],
    *,
    now: datetime,
    review_approved: bool,
) -> dict[str, Any]:
    """The ``features`` object of the flow context (ORDER_CONTEXT_SCHEMA lists each field)."""
    assert order.id is not None
    shippable = [(line.sku, line.qty) for line in lines if line.sku]
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
    hours_since_paid = None
    if order.paid_at is not None:
        hours_since_paid = round((now - order.paid_at).total_seconds() / 3600, 2)
    return {
        "region": region_of(order.province),
        "weight_g": parcel_weight(shippable, skus),
        "volume_cm3": sum(skus[code].volume_cm3 * qty for code, qty in shippable if code in skus),
        "categories": sorted({skus[code].category for code, _ in shippable if code in skus and skus[code].category}),
        "customer_order_count": int(customer_orders),
        "same_address_24h": int(same_address),
        "stock_by_warehouse": await inventory.stock_by_warehouse(session, {code for code, _ in shippable}),
        "is_urgent": bool(URGENT_TAGS & set(order.tags)),
        "hours_since_paid": hours_since_paid,
        "review_approved": review_approved,
    }

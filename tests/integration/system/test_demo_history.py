"""The demo's living history: a small one made through the real ingest, processing, shipping, tracking and
after-sales paths, spread over thirty days at the moments it happened, and made once."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from statistics import median

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from app import demo_history
from app.db import Database
from app.domain.accounts.models import AuditEntry
from app.domain.aftersales.models import AfterSaleCase
from app.domain.channels.adapters.base import CHINA
from app.domain.fulfillment.models import Shipment, TrackingEvent
from app.domain.orders.models import Order, OrderStatus
from app.domain.processing.models import OrderProcessing, ProcessingState
from app.domain.shops.models import Channel
from app.settings import Settings
from tests.integration.conftest import seed_demo_data, with_settings

ORDERS = 300


async def counts(db: Database) -> dict[str, int]:
    async with db.reading() as session:
        return {
            "orders": (await session.exec(select(func.count()).select_from(Order))).one(),
            "shipments": (await session.exec(select(func.count()).select_from(Shipment))).one(),
            "tracking": (await session.exec(select(func.count()).select_from(TrackingEvent))).one(),
            "cases": (await session.exec(select(func.count()).select_from(AfterSaleCase))).one(),
            "audit": (await session.exec(select(func.count()).select_from(AuditEntry))).one(),
        }


async def test_a_small_history_is_alive_across_every_channel_and_thirty_days_and_is_made_once(
    db: Database, settings: Settings
) -> None:
    await seed_demo_data(db)
    now = datetime.now(UTC)

    made = await demo_history.make_history(db, settings, orders=ORDERS, now=now)

    assert made is not None and made.ingested == ORDERS
    async with db.reading() as session:
        orders = list((await session.exec(select(Order))).all())
        states = Counter(proc.state for proc in (await session.exec(select(OrderProcessing))).all())
        refunded = (
            await session.exec(
                select(func.count()).select_from(AfterSaleCase).where(AfterSaleCase.refund_status == "refunded")
            )
        ).one()
        finished = [at for at in (await session.exec(select(OrderProcessing.finished_at))).all() if at is not None]
    assert len(orders) == ORDERS
    assert {o.channel for o in orders} == set(Channel)
    statuses = Counter(o.status for o in orders)
    for status in (OrderStatus.shipped, OrderStatus.delivered, OrderStatus.completed, OrderStatus.cancelled):
        assert statuses[status] > 0, status
    assert states[ProcessingState.held] > 0
    assert refunded > 0

    # Placed over the past thirty days (China days), one of them the sale's spike, and processed at those times.
    days = Counter(o.placed_at.astimezone(CHINA).date() for o in orders)
    assert len(days) >= 28
    assert min(o.placed_at for o in orders) < now - timedelta(days=28)
    assert max(o.placed_at for o in orders) <= now
    busiest = max(days.values())
    assert busiest >= 4 * median(days.values())
    spike = max(days, key=lambda day: days[day])
    assert spike == (now - timedelta(days=demo_history.SPIKE_AGE_DAYS)).astimezone(CHINA).date()
    assert min(finished) < now - timedelta(days=25)
    assert all(at <= now for at in finished)
    assert min(o.received_at for o in orders) < now - timedelta(days=28)

    before = await counts(db)
    assert await demo_history.make_history(db, settings, orders=ORDERS, now=now) is None
    assert await counts(db) == before
    async with db.reading() as session:
        marks = (await session.exec(select(AuditEntry).where(col(AuditEntry.action) == demo_history.MADE_ACTION))).all()
    assert len(marks) == 1


async def test_it_refuses_to_make_a_history_in_production(db: Database, settings: Settings) -> None:
    await seed_demo_data(db)

    with pytest.raises(demo_history.HistoryRefused, match="production"):
        await demo_history.make_history(db, with_settings(settings, env="production"), orders=10)

    assert (await counts(db))["orders"] == 0

"""The demo's living history: a small one made through the real ingest, processing, shipping, tracking and
after-sales paths, spread over thirty days at the moments it happened, and made once."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from statistics import median

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import col, select

from app import demo_history
from app.db import CHINA, Database
from app.domain.accounts.models import AuditEntry
from app.domain.aftersales.models import AfterSaleCase
from app.domain.fulfillment.models import Shipment, TrackingEvent
from app.domain.orders.models import Order, OrderStatus
from app.domain.processing.models import OrderProcessing, ProcessingState
from app.domain.shops.models import Channel
from app.seed import DEMO_USERS
from app.settings import Settings
from tests.integration.conftest import free_port, seed_demo_data, serving, with_settings
from tests.integration.forms import csrf_from

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
    assert spike == (now - timedelta(days=demo_history.spike_age(now))).astimezone(CHINA).date()
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


async def test_seed_demo_in_the_background_makes_the_last_two_days_first_and_the_server_makes_the_rest(
    db: Database, settings: Settings
) -> None:
    """`dev.py run`: `seed-demo --background` makes the last two days in outline, so the dashboard has today's
    orders when the server starts; the server makes the rest of the month beside its embedded worker, its progress
    on the home page, and the history is then made once, with every planned order."""
    await seed_demo_data(db)
    now = datetime.now(UTC)
    orders = 120
    recent = demo_history.in_passes(demo_history.plan(orders, now), now)[0]

    first = await demo_history.make_history(db, settings, orders=orders, now=now, passes=1)

    assert first is not None and not first.done and first.ingested == len(recent) > 0
    async with db.reading() as session:
        placed = list((await session.exec(select(Order.placed_at))).all())
    assert len(placed) == len(recent)
    assert min(placed) >= now - timedelta(days=demo_history.RECENT_DAYS)
    assert await demo_history.is_planned(db) and not await demo_history.is_made(db)

    port = free_port()
    served = with_settings(
        settings, port=port, carrier_api_url=f"http://127.0.0.1:{port}/sandbox/carrier", redis_url=None
    )
    seen_progress: list[tuple[int, int]] = []
    async with serving(served) as base, httpx.AsyncClient(base_url=base, timeout=30) as browser:
        login_page = await browser.get("/login")
        password = next(p for name, _, _, p in DEMO_USERS if name == "operator")
        await browser.post(
            "/login", data={"_csrf_token": csrf_from(login_page.text), "username": "operator", "password": password}
        )
        deadline = time.monotonic() + 300
        while not await demo_history.is_made(db):
            assert time.monotonic() < deadline, "the server did not finish the history"
            card = re.search(
                r'data-testid="dash-demo-history" data-made="(\d+)" data-planned="(\d+)"', (await browser.get("/")).text
            )
            if card:
                seen_progress.append((int(card.group(1)), int(card.group(2))))
            await asyncio.sleep(0.5)
        home = await browser.get("/")

    assert seen_progress, "the home page never showed the history's progress"
    assert all(planned == orders and len(recent) <= made <= orders for made, planned in seen_progress)
    assert 'data-testid="dash-demo-history"' not in home.text
    async with db.reading() as session:
        made_orders = (await session.exec(select(func.count()).select_from(Order))).one()
        passes = (
            await session.exec(select(AuditEntry).where(col(AuditEntry.action) == demo_history.PASS_ACTION))
        ).all()
    assert made_orders == orders
    assert sorted(int((entry.after or {})["pass"]) for entry in passes) == [0, 1, 2]
    assert await demo_history.make_history(db, settings, orders=orders) is None

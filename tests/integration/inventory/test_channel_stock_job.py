"""What the shops may sell (channel stock) is published by a job from the marks stock changes leave: many
reservations of a hot SKU cost one recompute, a change made while the job runs is not lost, two passes at
once publish the same figures, and the stock page says how old the published figures are."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, func, select, update

from app.db import Database, utcnow
from app.domain.accounts.models import Role
from app.domain.accounts.services import SYSTEM
from app.domain.inventory import services as inventory
from app.domain.inventory.models import ChannelStock, ChannelStockMark
from app.domain.inventory.services import ReservationLine, ReservationResult
from app.worker import EmbeddedWorker
from tests.integration.forms import login
from tests.integration.inventory.conftest import Receive, publish_channel_stock

Client = AsyncTestClient[Litestar]


async def reserve_one(db: Database, order_key: str, sku: str = "A") -> ReservationResult:
    async with db.transaction() as session:
        return await inventory.reserve(session, order_key, [ReservationLine("1", sku, 1)], "SH01", SYSTEM)


async def published(db: Database, sku: str) -> ChannelStock:
    async with db.reading() as session:
        return (await session.exec(select(ChannelStock).where(ChannelStock.sku_code == sku))).one()


async def marks_waiting(db: Database) -> int:
    async with db.reading() as session:
        return int((await session.exec(select(func.count()).select_from(ChannelStockMark))).one())


async def test_200_concurrent_reservations_of_a_hot_sku_are_published_by_one_recompute(
    pool: Database, receive: Receive
) -> None:
    await receive("SH01", "A", 300)
    await publish_channel_stock(pool)

    results = await asyncio.gather(*(reserve_one(pool, f"order:{n}") for n in range(200)))

    assert all(r.ok for r in results)
    assert (await published(pool, "A")).quantity == 300  # the reservations themselves publish nothing
    assert await marks_waiting(pool) == 200
    done = await publish_channel_stock(pool)
    assert done == {"marks": 200, "skus": 1}  # one recompute for the SKU, not one per reservation
    row = await published(pool, "A")
    assert (row.available, row.quantity, row.shortfall) == (100, 100, 0)
    assert await marks_waiting(pool) == 0
    assert await publish_channel_stock(pool) == {"marks": 0, "skus": 0}


async def test_a_reservation_made_while_the_job_recomputes_is_published_by_the_next_pass(
    pool: Database, receive: Receive
) -> None:
    await receive("SH01", "A", 10)
    await publish_channel_stock(pool)
    await reserve_one(pool, "order:before")

    async with pool.transaction() as session:
        first = await inventory.refresh_marked_channel_stock(session)
        # Meanwhile another order reserves: on PostgreSQL it commits while this pass is open; on SQLite it
        # waits for this pass's write lock. Either way its mark is its own row, not the one being consumed.
        during = asyncio.create_task(reserve_one(pool, "order:during"))
        await asyncio.sleep(0.2)
    assert (await during).ok

    assert first.marks == 1
    assert await marks_waiting(pool) == 1
    assert await publish_channel_stock(pool) == {"marks": 1, "skus": 1}
    assert (await published(pool, "A")).quantity == 8


async def test_two_passes_at_once_each_take_their_own_marks_and_publish_the_same_figures(
    pool: Database, receive: Receive
) -> None:
    await receive("SH01", "A", 50)
    await receive("SH01", "SERUM-30", 20)
    await receive("SH01", "MASK-10", 20)
    await asyncio.gather(
        *(reserve_one(pool, f"order:{n}", sku) for n, sku in enumerate(["A", "SERUM-30", "SET-SKIN"] * 5))
    )
    waiting = await marks_waiting(pool)

    passes = await asyncio.gather(publish_channel_stock(pool), publish_channel_stock(pool))

    assert sum(p["marks"] for p in passes) == waiting  # every mark consumed once, by one pass or the other
    assert await marks_waiting(pool) == 0
    assert (await published(pool, "A")).quantity == 45
    assert (await published(pool, "SERUM-30")).quantity == 10  # 20 − 5 − 5 taken by the sets
    assert (await published(pool, "MASK-10")).quantity == 10  # 20 − 2 × 5
    assert (await published(pool, "SET-SKIN")).quantity == 5  # min(10 serum, 10 masks ÷ 2)


@pytest.fixture
def stalled_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's embedded worker runs no every-second jobs (as if it were stuck); taken before the app starts."""

    async def stalled(self: EmbeddedWorker) -> None:
        return None

    monkeypatch.setattr(EmbeddedWorker, "run_clock_jobs", stalled)


async def test_the_stock_page_shows_how_old_the_channel_stock_is_and_flags_it_when_late(
    stalled_worker: None, client: Client, pool: Database, receive: Receive, make_user: Any
) -> None:
    await receive("SH01", "A", 10)
    await publish_channel_stock(pool)
    await make_user(Role.viewer)
    await login(client, "viewer-user")

    page = await client.get("/inventory/")
    assert 'data-testid="channel-age-A"' in page.text
    assert "秒前更新" in page.text.split('data-testid="channel-age-A"')[1].split("</td>")[0]
    assert 'data-testid="channel-late-A"' not in page.text
    sku_page = await client.get("/inventory/sku/A")
    assert "渠道库存" in sku_page.text and 'data-testid="channel-age-tmall-test"' in sku_page.text

    # No worker runs the job: a reservation's change has waited 5 s for it.
    await reserve_one(pool, "order:1")
    async with pool.transaction() as session:
        await session.exec(
            update(ChannelStockMark)
            .where(col(ChannelStockMark.sku_code) == "A")
            .values(marked_at=utcnow() - timedelta(seconds=5))
        )
    late = await client.get("/inventory/")
    assert 'data-testid="channel-late-A"' in late.text and "同步滞后" in late.text
    assert 'data-testid="channel-late"' in (await client.get("/inventory/sku/A")).text

    english = await client.get("/inventory/", headers={"Accept-Language": "en"})
    assert "updated" in english.text.split('data-testid="channel-age-A"')[1].split("</td>")[0]

    await publish_channel_stock(pool)
    assert 'data-testid="channel-late-A"' not in (await client.get("/inventory/")).text

"""Many orders reserving the same stock at once, each in its own transaction and connection: never oversold."""

from __future__ import annotations

import asyncio
import random

from sqlmodel import func, select

from app.db import Database
from app.domain.accounts.services import SYSTEM
from app.domain.inventory import services as inventory
from app.domain.inventory.models import Reservation, Stock
from app.domain.inventory.services import LineOutcome, ReservationLine, ReservationResult
from tests.integration.inventory.conftest import Receive, assert_ledger_matches, publish_channel_stock, stock_of


async def reserve_in_own_transaction(
    db: Database, order_key: str, lines: list[ReservationLine], warehouse: str
) -> ReservationResult:
    async with db.transaction() as session:
        return await inventory.reserve(session, order_key, lines, warehouse, SYSTEM)


async def test_200_concurrent_orders_for_50_units_reserve_exactly_50(pool: Database, receive: Receive) -> None:
    await receive("SH01", "A", 50)

    results = await asyncio.gather(
        *(reserve_in_own_transaction(pool, f"order:{n}", [ReservationLine("1", "A", 1)], "SH01") for n in range(200))
    )

    reserved = [r for r in results if r.ok]
    refused = [r for r in results if not r.ok]
    assert len(reserved) == 50
    assert len(refused) == 150
    assert all(r.lines[0].outcome == LineOutcome.out_of_stock and r.lines[0].reason == "缺货" for r in refused)
    stock = await stock_of(pool, "SH01", "A")
    assert (stock.on_hand, stock.reserved, stock.available) == (50, 50, 0)
    await assert_ledger_matches(pool)
    await publish_channel_stock(pool)  # what the shops see, within the job's 2 s
    async with pool.reading() as session:
        held = (await session.exec(select(func.count()).select_from(Reservation))).one()
        channel = await inventory.channel_stock(session, (await inventory.find_shop(session, "tmall-test")).id)  # type: ignore[union-attr]
    assert held == 50
    assert {c.sku_code: c.quantity for c in channel}["A"] == 0


async def test_concurrent_multi_line_orders_in_random_line_order_never_oversell_or_deadlock(
    pool: Database, receive: Receive
) -> None:
    skus = ["A", "B", "C", "D", "E"]
    for sku in skus:
        await receive("SH01", sku, 40)
    rng = random.Random(5)
    orders = []
    for _ in range(200):
        picked = rng.sample(skus, rng.randint(2, 5))  # random subset, random order
        orders.append([ReservationLine(f"L{i}", sku, rng.randint(1, 3)) for i, sku in enumerate(picked)])

    results = await asyncio.gather(
        *(reserve_in_own_transaction(pool, f"order:{n}", lines, "SH01") for n, lines in enumerate(orders))
    )

    wanted = {sku: 0 for sku in skus}
    for result, lines in zip(results, orders, strict=True):
        if result.ok:
            for line in lines:
                wanted[line.sku_code] += line.qty
        else:  # all or nothing: a refused order holds nothing
            assert all(not line.ok for line in result.lines)
    assert any(r.ok for r in results) and any(not r.ok for r in results)
    async with pool.reading() as session:
        rows = {s.sku_code: s for s in (await session.exec(select(Stock))).all()}
    for sku in skus:
        assert rows[sku].reserved == wanted[sku]
        assert 0 <= rows[sku].reserved <= rows[sku].on_hand == 40
    await assert_ledger_matches(pool)


async def test_a_bundle_and_its_component_compete_for_the_same_units_without_overselling(
    pool: Database, receive: Receive
) -> None:
    await receive("SH01", "SERUM-30", 20)
    await receive("SH01", "MASK-10", 1000)

    results = await asyncio.gather(
        *(
            reserve_in_own_transaction(
                pool, f"order:{n}", [ReservationLine("1", "SET-SKIN" if n % 2 else "SERUM-30", 1)], "SH01"
            )
            for n in range(60)
        )
    )

    assert sum(1 for r in results if r.ok) == 20
    serum = await stock_of(pool, "SH01", "SERUM-30")
    mask = await stock_of(pool, "SH01", "MASK-10")
    bundles = sum(1 for n, r in enumerate(results) if r.ok and n % 2)
    assert serum.reserved == 20
    assert mask.reserved == 2 * bundles
    await assert_ledger_matches(pool)

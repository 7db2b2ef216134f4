"""Reserve, cancel, ship and return: each step once, each step in the ledger, the stock table its sum."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.db import Database
from app.domain.accounts.services import SYSTEM
from app.domain.inventory import services as inventory
from app.domain.inventory.models import MoveKind
from app.domain.inventory.services import InventoryError, LineOutcome, ReservationLine
from tests.integration.inventory.conftest import Receive, assert_ledger_matches, stock_of


async def moves_of(db: Database, order_key: str) -> list[tuple[str, str, int, int]]:
    async with db.reading() as session:
        rows = await inventory.ledger(session, order_key=order_key)
    return [(m.kind.value, m.sku_code, m.on_hand_delta, m.reserved_delta) for m in reversed(rows)]


async def test_reserving_the_same_order_twice_reserves_once(pool: Database, receive: Receive) -> None:
    await receive("SH01", "A", 10)
    lines = [ReservationLine("1", "A", 3)]

    async with pool.transaction() as session:
        first = await inventory.reserve(session, "order:1", lines, "SH01", SYSTEM)
    async with pool.transaction() as session:
        second = await inventory.reserve(session, "order:1", lines, "SH01", SYSTEM)

    assert first.lines[0].outcome == LineOutcome.reserved
    assert second.lines[0].outcome == LineOutcome.already_reserved and second.ok
    assert (await stock_of(pool, "SH01", "A")).reserved == 3
    assert await moves_of(pool, "order:1") == [("reservation", "A", 0, 3)]


async def test_cancel_releases_ship_deducts_and_a_return_that_passes_qc_restocks(
    pool: Database, receive: Receive
) -> None:
    await receive("SH01", "A", 10)
    await receive("SH01", "B", 10)
    async with pool.transaction() as session:
        await inventory.reserve(
            session, "order:7", [ReservationLine("1", "A", 2), ReservationLine("2", "B", 1)], "SH01", SYSTEM
        )
        await inventory.reserve(session, "order:8", [ReservationLine("1", "A", 4)], "SH01", SYSTEM)
    assert (await stock_of(pool, "SH01", "A")).available == 4

    async with pool.transaction() as session:  # order 8 is cancelled, twice
        assert len(await inventory.release(session, "order:8", SYSTEM, note="买家取消")) == 1
        assert await inventory.release(session, "order:8", SYSTEM) == []
    a = await stock_of(pool, "SH01", "A")
    assert (a.on_hand, a.reserved, a.available) == (10, 2, 8)

    async with pool.transaction() as session:  # order 7 ships, twice
        assert len(await inventory.ship(session, "order:7", SYSTEM)) == 2
        assert await inventory.ship(session, "order:7", SYSTEM) == []
    a, b = await stock_of(pool, "SH01", "A"), await stock_of(pool, "SH01", "B")
    assert (a.on_hand, a.reserved, b.on_hand, b.reserved) == (8, 0, 9, 0)

    async with pool.transaction() as session:  # one A comes back fine, the other fails quality check
        await inventory.restock_return(session, "order:7", "1", 1, True, SYSTEM, ref="RMA-1")
        await inventory.restock_return(session, "order:7", "1", 1, True, SYSTEM, ref="RMA-1")  # a retry
        await inventory.restock_return(session, "order:7", "1", 1, False, SYSTEM, ref="RMA-2")
    a = await stock_of(pool, "SH01", "A")
    assert (a.on_hand, a.reserved) == (9, 0)

    assert await moves_of(pool, "order:7") == [
        ("reservation", "A", 0, 2),
        ("reservation", "B", 0, 1),
        ("shipment", "A", -2, -2),
        ("shipment", "B", -1, -1),
        ("returned", "A", 1, 0),
        ("returned", "A", 0, 0),
    ]
    assert await moves_of(pool, "order:8") == [("reservation", "A", 0, 4), ("release", "A", 0, -4)]
    async with pool.transaction() as session:
        with pytest.raises(InventoryError) as refused:
            await inventory.restock_return(session, "order:7", "1", 1, True, SYSTEM, ref="RMA-3")
    assert refused.value.field == "qty"
    await assert_ledger_matches(pool)


async def test_an_order_that_does_not_fit_reserves_nothing_unless_partial_reservation_is_asked_for(
    pool: Database, receive: Receive
) -> None:
    await receive("SH01", "A", 5)
    await receive("SH01", "B", 1)
    lines = [ReservationLine("1", "A", 2), ReservationLine("2", "B", 3)]

    async with pool.transaction() as session:
        whole = await inventory.reserve(session, "order:1", lines, "SH01", SYSTEM)
    assert [line.outcome for line in whole.lines] == [LineOutcome.not_attempted, LineOutcome.out_of_stock]
    assert whole.lines[1].short == ("B",)
    assert (await stock_of(pool, "SH01", "A")).reserved == 0

    async with pool.transaction() as session:
        partial = await inventory.reserve(session, "order:1", lines, "SH01", SYSTEM, all_or_nothing=False)
    assert [line.outcome for line in partial.lines] == [LineOutcome.reserved, LineOutcome.out_of_stock]
    assert (await stock_of(pool, "SH01", "A")).reserved == 2
    await assert_ledger_matches(pool)


async def test_an_order_split_across_warehouses_reserves_each_line_where_the_plan_says(
    pool: Database, receive: Receive
) -> None:
    await receive("SH01", "A", 5)
    await receive("BJ01", "B", 5)

    async with pool.transaction() as session:
        result = await inventory.reserve(
            session,
            "order:3",
            [ReservationLine("1", "A", 1), ReservationLine("2", "B", 2)],
            {"1": "SH01", "2": "BJ01"},
            SYSTEM,
        )
    assert result.ok
    assert (await stock_of(pool, "SH01", "A")).reserved == 1
    assert (await stock_of(pool, "BJ01", "B")).reserved == 2


async def test_a_bundle_line_reserves_ships_and_returns_its_components(pool: Database, receive: Receive) -> None:
    await receive("SH01", "SERUM-30", 3)
    await receive("SH01", "MASK-10", 10)
    async with pool.reading() as session:
        assert (await inventory.stock_by_warehouse(session, ["SET-SKIN"]))["SH01"]["SET-SKIN"] == 3

    async with pool.transaction() as session:
        result = await inventory.reserve(session, "order:9", [ReservationLine("1", "SET-SKIN", 2)], "SH01", SYSTEM)
        await inventory.ship(session, "order:9", SYSTEM)
        await inventory.restock_return(session, "order:9", "1", 1, True, SYSTEM)
    assert result.ok
    assert (await stock_of(pool, "SH01", "SERUM-30")).on_hand == 2
    assert (await stock_of(pool, "SH01", "MASK-10")).on_hand == 8
    await assert_ledger_matches(pool)


async def test_routing_helpers_report_stock_per_warehouse_and_who_can_fill_an_order(
    pool: Database, receive: Receive
) -> None:
    await receive("SH01", "A", 5)
    await receive("BJ01", "A", 1)
    await receive("SH-S01", "A", 9)
    async with pool.reading() as session:
        by_warehouse = await inventory.stock_by_warehouse(session, ["A"])
        east = await inventory.warehouses_that_can_fill(session, [ReservationLine("1", "A", 3)], "华东")
        north = await inventory.warehouses_that_can_fill(session, [ReservationLine("1", "A", 3)], "华北")
    assert by_warehouse == {"SH01": {"A": 5}, "BJ01": {"A": 1}, "SH-S01": {"A": 9}}
    assert east == ["SH01", "SH-S01"]  # by priority; the store serves everywhere
    assert north == ["SH-S01"]


async def test_bad_input_is_refused_with_the_field_named_and_nothing_changes(pool: Database, receive: Receive) -> None:
    await receive("SH01", "A", 5)
    async with pool.transaction() as session:
        for lines, warehouse, field in (
            ([ReservationLine("1", "NOPE", 1)], "SH01", "sku"),
            ([ReservationLine("1", "A", 1)], "XX99", "warehouse"),
            ([ReservationLine("1", "A", 0)], "SH01", "qty"),
        ):
            with pytest.raises(InventoryError) as refused:
                await inventory.reserve(session, "order:1", lines, warehouse, SYSTEM)
            assert refused.value.field == field
    assert (await stock_of(pool, "SH01", "A")).reserved == 0


async def test_the_ledger_is_append_only_and_the_database_refuses_reserving_beyond_on_hand(
    pool: Database, receive: Receive
) -> None:
    await receive("SH01", "A", 5)
    with pytest.raises(DBAPIError):
        async with pool.transaction() as session:
            await session.exec(text("UPDATE stock_ledger SET on_hand_delta = 500"))  # type: ignore[call-overload]
    with pytest.raises(DBAPIError):
        async with pool.transaction() as session:
            await session.exec(text("DELETE FROM stock_ledger"))  # type: ignore[call-overload]
    with pytest.raises(IntegrityError):
        async with pool.transaction() as session:
            await session.exec(text("UPDATE stock SET reserved = 6 WHERE sku_code = 'A'"))  # type: ignore[call-overload]
    async with pool.reading() as session:
        assert [m.kind for m in await inventory.ledger(session, sku_code="A")] == [MoveKind.receipt]


async def test_a_cancelled_order_that_is_reopened_can_reserve_again(pool: Database, receive: Receive) -> None:
    await receive("SH01", "A", 5)
    lines = [ReservationLine("1", "A", 2)]
    async with pool.transaction() as session:
        await inventory.reserve(session, "order:4", lines, "SH01", SYSTEM)
        await inventory.release(session, "order:4", SYSTEM)
    async with pool.transaction() as session:
        again = await inventory.reserve(session, "order:4", lines, "SH01", SYSTEM)

    assert again.lines[0].outcome == LineOutcome.reserved
    assert (await stock_of(pool, "SH01", "A")).reserved == 2
    assert [kind for kind, *_ in await moves_of(pool, "order:4")] == ["reservation", "release", "reservation"]
    await assert_ledger_matches(pool)

"""The rollups the reports read stay equal to the orders: as orders arrive, change state, are refunded or moved, when
a refresh runs twice, and while orders change during refreshes."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from app.db import Database
from app.domain.orders import services as orders
from app.domain.orders.changes import OrderHourMark
from app.domain.orders.models import Order, OrderStatus
from app.domain.reports import rollups
from app.domain.reports.jobs import refresh_report_rollups
from app.domain.reports.models import OrderHourRollup
from tests.integration.orders.test_order_api import land
from tests.integration.reports.conftest import (
    ELEVEN_ELEVEN,
    Counted,
    change_while_refreshing,
    count_directly,
    normalized,
)


async def kept_rollups(db: Database) -> dict[tuple, Counted]:
    async with db.reading() as session:
        rows = (await session.exec(select(OrderHourRollup))).all()
    return {
        (row.day, row.hour, row.channel, row.shop_id): Counted(row.orders, row.paid_orders, row.gmv_fen, row.refund_fen)
        for row in rows
    }


async def marks_left(db: Database) -> int:
    async with db.reading() as session:
        return len((await session.exec(select(OrderHourMark))).all())


async def test_the_rollups_count_each_hour_of_each_shop_as_the_orders_do(db, data_set):
    assert await kept_rollups(db) == await count_directly(db)
    assert await marks_left(db) == 0


async def test_a_second_refresh_changes_nothing(db, data_set):
    before = await kept_rollups(db)
    assert (await rollups.refresh_order_rollups(db)).hours == 0
    assert await refresh_report_rollups({"db": db}) == {"hours": 0}
    assert await kept_rollups(db) == before


async def test_the_rollups_follow_an_order_cancelled_refunded_or_moved_to_another_hour(db, settings, shops, data_set):
    at = ELEVEN_ELEVEN
    async with db.transaction() as session:
        a1 = await session.get(Order, data_set["tmall-a"][0])
        assert a1 is not None
        await orders.set_status(session, a1, OrderStatus.cancelled)
    # The platform says one line of B1's was refunded, and J1's buyer paid later than first told: a new placed time.
    await land(
        db,
        settings,
        shops["tmall-b"],
        normalized(
            "B1", at + timedelta(hours=9, minutes=30), lines=(7700,), refunded=(0,), updated_at=at + timedelta(days=3)
        ),
    )
    await land(
        db,
        settings,
        shops["jd"],
        normalized("J1", at + timedelta(hours=14), lines=(12900,), updated_at=at + timedelta(days=3)),
    )
    stale = await kept_rollups(db)
    assert stale != await count_directly(db), "the changes must matter to the rollups for this test to mean anything"
    assert await marks_left(db) > 0

    assert await refresh_report_rollups({"db": db}) == {"hours": 4}
    assert await kept_rollups(db) == await count_directly(db)
    assert await marks_left(db) == 0


async def test_orders_changing_while_refreshes_run_are_all_counted_in_the_end(db, settings, shops, data_set):
    await change_while_refreshing(
        db,
        settings,
        shops["tmall-a"],
        lambda index: normalized(
            f"N{index}", ELEVEN_ELEVEN + timedelta(hours=index % 4, minutes=index), lines=(100 * (index + 1),)
        ),
    )
    assert await kept_rollups(db) == await count_directly(db)


async def test_a_rebuild_from_all_orders_gives_the_rollups_the_refreshes_kept(db, data_set):
    kept = await kept_rollups(db)
    async with db.transaction() as session:
        await rollups.rebuild_order_rollups(session)
    assert await kept_rollups(db) == kept

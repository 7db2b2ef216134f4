"""Reports fixtures: three shops on two channels, and a small fixed set of orders landed through ingest, with the
counting the reports must agree with done directly over the stored orders."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from click.testing import CliRunner, Result
from sqlmodel import col, select

from app.cli import main as ruleflow
from app.db import CHINA, Database
from app.domain.orders import services as orders
from app.domain.orders.models import Order, OrderLine, OrderStatus
from app.domain.orders.schemas import REFUND_SUCCESS_STATUSES, NormalizedLine, NormalizedOrder
from app.domain.reports import rollups
from app.domain.reports.jobs import refresh_report_rollups
from app.domain.shops.models import Channel, Shop
from app.settings import Settings, get_settings
from tests.integration.orders.test_order_api import land

#: 2026-11-11 00:00 in China: the data set's first orders fall either side of its midnight.
ELEVEN_ELEVEN = datetime(2026, 11, 10, 16, 0, tzinfo=UTC)


@pytest.fixture
async def shops(db: Database) -> dict[str, Shop]:
    """Two Tmall shops and a JD shop."""
    async with db.transaction() as session:
        rows = {
            "tmall-a": Shop(channel=Channel.tmall, code="tmall-a", name="天猫旗舰店"),
            "tmall-b": Shop(channel=Channel.tmall, code="tmall-b", name="天猫专卖店"),
            "jd": Shop(channel=Channel.jd, code="jd", name="京东自营店"),
        }
        for shop in rows.values():
            session.add(shop)
    return rows


@pytest.fixture
def reports_rebuild(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Callable[[], Awaitable[Result]]:
    """Run ``ruleflow reports rebuild`` on the test database, as an admin would after an upgrade."""

    async def run() -> Result:
        monkeypatch.setenv("DATABASE_URL", settings.database_url)
        monkeypatch.setenv("SECRET_KEY", settings.secret_key)
        get_settings.cache_clear()
        try:
            done = await asyncio.to_thread(CliRunner().invoke, ruleflow, ["reports", "rebuild"])
        finally:
            get_settings.cache_clear()
        assert done.exit_code == 0, done.output
        return done

    return run


def normalized(
    external_id: str,
    placed_at: datetime,
    *,
    status: str = "received",
    paid: bool = True,
    lines: tuple[int, ...] = (1000,),
    refunded: tuple[int, ...] = (),
    updated_at: datetime | None = None,
) -> NormalizedOrder:
    """An order of one line per amount (in fen); the lines at the ``refunded`` positions were refunded."""
    return NormalizedOrder(
        external_id=external_id,
        raw_status=status.upper(),
        status=status,
        created_at=placed_at,
        updated_at=updated_at or placed_at,
        paid_at=placed_at + timedelta(minutes=2) if paid else None,
        buyer_nick=f"买家{external_id}",
        receiver_name="王小明",
        phone="13912345678",
        province="浙江",
        city="杭州市",
        district="西湖区",
        address="文三路 100 号",
        items_fen=sum(lines),
        paid_fen=sum(lines) if paid else 0,
        lines=[
            NormalizedLine(
                str(index), "PHONE-X1", "", "手机", 1, fen, fen, refund_status="SUCCESS" if index in refunded else ""
            )
            for index, fen in enumerate(lines)
        ],
    )


@pytest.fixture
async def data_set(db: Database, settings: Settings, shops: dict[str, Shop]) -> dict[str, list[int]]:
    """Orders over three China days and both sides of 11-11's midnight: paid, unpaid, cancelled after paying,
    with a refunded line, in every shop; and the same day a year before."""
    at = ELEVEN_ELEVEN
    ids = {
        "tmall-a": await land(
            db,
            settings,
            shops["tmall-a"],
            normalized("A1", at - timedelta(minutes=20), lines=(19900,)),
            normalized("A2", at + timedelta(minutes=5), lines=(5000, 2500), refunded=(1,)),
            normalized("A3", at + timedelta(hours=9, minutes=1), status="cancelled", lines=(8800,)),
            # A moment's fraction of a second never carries it into the next hour.
            normalized("A4", at + timedelta(hours=9, minutes=59, seconds=59.7), paid=False, lines=(1200,)),
            normalized("A5", at + timedelta(days=1, hours=3), lines=(30000, 100, 100)),
            normalized("A6", at - timedelta(days=365) + timedelta(hours=9), lines=(4500,)),
        ),
        "tmall-b": await land(
            db,
            settings,
            shops["tmall-b"],
            normalized("B1", at + timedelta(hours=9, minutes=30), lines=(7700,)),
            normalized("B2", at + timedelta(hours=23, minutes=59), lines=(1000, 1000), refunded=(0, 1)),
        ),
        "jd": await land(
            db,
            settings,
            shops["jd"],
            normalized("J1", at + timedelta(hours=9, minutes=10), lines=(12900,)),
            normalized("J2", at + timedelta(days=2, hours=20), status="cancelled", paid=False, lines=(600,)),
            normalized("J3", at - timedelta(days=365) + timedelta(hours=21), lines=(990,)),
        ),
    }
    await rollups.refresh_order_rollups(db)
    return ids


@dataclass
class Counted:
    orders: int = 0
    paid_orders: int = 0
    gmv_fen: int = 0
    refund_fen: int = 0


async def count_directly(db: Database) -> dict[tuple[date, int, str, int], Counted]:
    """Each China day and hour, channel and shop's orders counted straight from the stored orders and lines."""
    async with db.reading() as session:
        stored = (await session.exec(select(Order).where(col(Order.reissue_of).is_(None)))).all()
        lines = (await session.exec(select(OrderLine))).all()
    refunded: dict[int, int] = defaultdict(int)
    for line in lines:
        if line.refund_status in REFUND_SUCCESS_STATUSES:
            refunded[line.order_id] += line.paid_fen
    counted: dict[tuple[date, int, str, int], Counted] = defaultdict(Counted)
    for order in stored:
        assert order.id is not None
        local = order.placed_at.astimezone(CHINA)
        cell = counted[(local.date(), local.hour, order.channel, order.shop_id)]
        cell.orders += 1
        if order.paid_at is not None:
            cell.paid_orders += 1
            cell.gmv_fen += order.paid_fen
            cell.refund_fen += order.paid_fen if order.status == OrderStatus.cancelled else refunded[order.id]
    return counted


async def change_while_refreshing(
    db: Database, settings: Settings, shop: Shop, made: Callable[[int], NormalizedOrder]
) -> None:
    """Land twelve orders (``made`` of 0 to 11), every third cancelled just after, while two refreshes run over and
    over; then refresh until no hour is left marked."""

    async def changes() -> None:
        for index in range(12):
            data = made(index)
            await land(db, settings, shop, data)
            if index % 3 == 0:
                async with db.transaction() as session:
                    order = (await session.exec(select(Order).where(Order.external_id == data.external_id))).one()
                    await orders.set_status(session, order, OrderStatus.cancelled)
            await asyncio.sleep(0)

    async def refreshes() -> None:
        for _ in range(12):
            await rollups.refresh_order_rollups(db)
            await asyncio.sleep(0)

    await asyncio.gather(changes(), refreshes(), refreshes())
    await refresh_report_rollups({"db": db})

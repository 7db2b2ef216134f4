"""An order's whole life, 100 times, with the worker killed on the way: what a merchant would notice is that every
order of Tmall, JD, 抖店, 快手, 有赞 and 视频号 that came in through the webhook was routed and waybilled by the
published four-stage flow, shipped by the WMS in a few calls, told to its platform exactly once (发货回传) although
the worker died (SIGKILL) while the platform was still answering, signed for by the carrier's tracking push, and
completed by the sweeper after the shop's days; and that the stock is right at the end: on hand fell by exactly
what left each warehouse, nothing is reserved any more, and the ledger adds up to the stock table.

On SQLite the worker is embedded in the web process, so that process is the one killed and started again; on
PostgreSQL the web process relays to Redis and the arq worker process is killed and replaced (as in
``test_recovery``). The fake platform holds its answers once a first share of the deliveries was accepted, so the
kill surely lands while write-backs are in flight: those deliveries reached the platform but the worker never heard
so, and their job, run again, must be answered "already shipped" rather than ship the order twice."""

from __future__ import annotations

import asyncio
import copy
import subprocess
from collections import Counter
from collections.abc import Awaitable, Iterable
from datetime import timedelta
from typing import Any, TypeVar

from sqlmodel import col, func, select

from app.db import Database, utcnow
from app.domain.accounts.models import TokenScope
from app.domain.fulfillment.models import PlatformWriteback, WritebackStatus
from app.domain.inventory import services as inventory
from app.domain.inventory.models import Reservation, ReservationStatus
from app.domain.orders.models import Order, OrderStatus
from app.domain.processing import jobs
from app.domain.shops.models import Shop
from app.settings import Settings
from tests.integration.conftest import BACKEND, start_arq_worker, stop_process
from tests.integration.fulfillment.fake_delivery import FakeDelivery
from tests.integration.processing.conftest import deliver, kill, serve_process, wait_for_http
from tests.integration.processing.test_delivery_writeback import (
    PLATFORM,
    SHOPS,
    platform_orders,
    point_shops_at,
    settled,
    waybilled,
)
from tests.integration.processing.test_shipment_confirmation import confirm, stock_table
from tests.integration.processing.test_tracking import push, push_body, signed

T = TypeVar("T")

ORDERS = 100
#: How many deliveries the fake answers at once before it holds its answers (the worker is then mid-write-back).
ANSWERED_BEFORE_THE_KILL = 30
#: The WMS confirms its waybills in calls of this many.
WMS_CALL = 25


def nth_order(channel: str, n: int) -> dict[str, Any]:
    """The platform's sample order as the ``n``-th of its kind: its own order and line ids, and its own door (so
    that the flow's 同一地址 check sees different buyers)."""
    order = copy.deepcopy(platform_orders()[channel])
    door = f"幸福路 {n + 1} 号"
    if channel == "tmall":
        order["tid"] = 3958201746200000000 + n * 10
        for i, line in enumerate(order["orders"]["order"], start=1):
            line["oid"] = order["tid"] + i
        order["receiver_address"] = door
    elif channel == "jd":
        order["orderId"] = str(285019300000 + n)
        for coupon in order["couponDetailList"]:
            coupon["orderId"] = order["orderId"]
        order["consigneeInfo"]["fullAddress"] = f"北京朝阳区{door}"
    elif channel == "douyin":
        parent = 6921234567800000000 + n * 10
        order["order_id"] = str(parent)
        for i, line in enumerate(order["sku_order_list"], start=1):
            line.update({"order_id": str(parent + i), "parent_order_id": str(parent)})
        order["post_addr"]["detail"] = f"#encrypted-detail-{n}#"
    elif channel == "kuaishou":
        order["orderBaseInfo"]["oid"] = 2411110012300000 + n * 10
        order["orderItemInfo"]["orderItemId"] = order["orderBaseInfo"]["oid"] + 1
    elif channel == "youzan":
        info = order["full_order_info"]
        info["order_info"]["tid"] = f"E2026111108300{n:07d}"
        for i, line in enumerate(info["orders"], start=1):
            line["oid"] = f"{1468000 + n * 10 + i}"
        info["address_info"]["delivery_address"] = f"$中山路{n}$1$ZW5j$1$"
    else:
        order["order_id"] = str(3712345678900000000 + n)
        order["order_detail"]["delivery_info"]["address_info"]["detail_info"] = door
    return order


def orders() -> dict[str, tuple[str, dict[str, Any]]]:
    """ORDERS orders, round the six platforms: name -> (channel, the platform's payload)."""
    channels = list(SHOPS)
    return {
        f"{channels[n % len(channels)]}-{n}": (channels[n % len(channels)], nth_order(channels[n % len(channels)], n))
        for n in range(ORDERS)
    }


async def sent_count(db: Database) -> int:
    async with db.reading() as session:
        query = (
            select(func.count()).select_from(PlatformWriteback).where(PlatformWriteback.status == WritebackStatus.sent)
        )
        return int((await session.exec(query)).one())


async def held_answer(fake: FakeDelivery, *, within: float = 90) -> None:
    """Wait until the fake is holding the answer to at least one accepted delivery."""
    deadline = asyncio.get_running_loop().time() + within
    while not fake.held:
        assert asyncio.get_running_loop().time() < deadline, f"{len(fake.accepted)} deliveries, none held"
        await asyncio.sleep(0.05)


async def at_once(calls: Iterable[Awaitable[T]], *, width: int = 4) -> list[T]:
    """Await the calls a few at a time, as a platform's or a carrier's pushes arrive; their results in order."""
    gate = asyncio.Semaphore(width)

    async def one(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    return list(await asyncio.gather(*(one(call) for call in calls)))


def start_web(settings: Settings) -> subprocess.Popen[bytes]:
    """The web process: on PostgreSQL it relays to Redis; on SQLite it carries the embedded worker."""
    if BACKEND == "postgres":
        return serve_process(settings, REDIS_URL=settings.redis_url or "")
    return serve_process(settings)


def start_worker(settings: Settings) -> subprocess.Popen[bytes] | None:
    return start_arq_worker(settings, PROCESSING_STUCK_SECONDS="3") if BACKEND == "postgres" else None


async def test_a_hundred_orders_are_shipped_written_back_once_delivered_and_completed_with_the_worker_killed(
    settings, demo, db, fake, make_token
):
    await point_shops_at(db, settings, fake.base_url)
    fake.hold_after = ANSWERED_BEFORE_THE_KILL
    server = f"http://127.0.0.1:{settings.port}"
    initial = await stock_table(db)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(start_web(settings))
        await wait_for_http(server)
        worker = start_worker(settings)
        victim = worker or processes[0]
        if worker is not None:
            processes.append(worker)

        # Delivered through each shop's signed webhook, routed and waybilled by the four-stage flow.
        payloads = orders()
        answers = await at_once(deliver(server, channel, SHOPS[channel], body) for channel, body in payloads.values())
        ids = {name: answer["order_id"] for name, answer in zip(payloads, answers, strict=True)}
        parcels = await waybilled(db, ids)
        assert all(len(found) == 1 for found in parcels.values()), {
            k: len(v) for k, v in parcels.items() if len(v) != 1
        }

        # The WMS confirms every waybill, a few calls of 25.
        token = await make_token(TokenScope.shipments, name="WMS")
        numbers = [found[0].waybill_no for found in parcels.values()]
        for start in range(0, len(numbers), WMS_CALL):
            call = numbers[start : start + WMS_CALL]
            answer = await confirm(server, token, call)
            assert [i["outcome"] for i in answer.json()["items"]] == ["shipped"] * len(call), answer.text

        # The platform has taken ANSWERED_BEFORE_THE_KILL deliveries and is still answering the next: kill.
        await held_answer(fake)
        kill(victim)
        held_at_kill = list(fake.held)
        sent_at_kill = await sent_count(db)
        assert held_at_kill and sent_at_kill < ORDERS, "the write-backs finished before the kill: nothing was tested"
        fake.hold_after = None
        fake.release.set()
        if worker is not None:
            processes.append(start_arq_worker(settings, PROCESSING_STUCK_SECONDS="3"))
        else:
            processes.append(start_web(settings))
            await wait_for_http(server)

        rows = await settled(db, ORDERS)
        assert {row.status for row in rows} == {WritebackStatus.sent}
        # Each order reached its platform exactly once, with its parcel's waybill: none missing, none twice.
        async with db.reading() as session:
            external = {o.id: o.external_id for o in (await session.exec(select(Order)))}
        expected = {(PLATFORM[payloads[name][0]], external[order_id]): 1 for name, order_id in ids.items()}
        assert Counter((d.platform, d.order_id) for d in fake.accepted) == expected
        waybills = {(PLATFORM[payloads[n][0]], external[i]): parcels[n][0].waybill_no for n, i in ids.items()}
        assert {(d.platform, d.order_id): d.waybill for d in fake.accepted} == waybills
        assert fake.refused == []
        # The deliveries in flight at the kill were sent again by the new worker and answered "already shipped".
        assert {(d.platform, d.order_id) for d in held_at_kill} <= set(fake.answered_already)

        # The carrier signs for every parcel (its signed tracking push): every order is delivered.
        bodies = {
            name: push_body(parcel.waybill_no or "", ("delivered", "2026-12-03T10:30:00+08:00", "已签收"))
            for name, (parcel,) in parcels.items()
        }
        pushed = await at_once(
            push(server, parcels[name][0].carrier_code or "", body, signed(settings, body))
            for name, body in bodies.items()
        )
        assert [(a.status_code, a.json()["order_status"]) for a in pushed] == [(200, "delivered")] * ORDERS
    finally:
        fake.release.set()
        for process in processes:
            if process.poll() is None:
                stop_process(process)

    # The sweeper, run past every shop's days, completes them all, once.
    async with db.reading() as session:
        days = max(shop.complete_after_days for shop in (await session.exec(select(Shop))).all())
    later = utcnow() + timedelta(days=days, minutes=1)
    assert (await jobs.sweep_processing(db, settings, now=later))["completed"] == ORDERS
    assert (await jobs.sweep_processing(db, settings, now=later))["completed"] == 0
    async with db.reading() as session:
        statuses = {o.id: o.status for o in (await session.exec(select(Order).where(col(Order.id).in_(ids.values()))))}
    assert set(statuses.values()) == {OrderStatus.completed}

    # Stock: on hand fell by exactly what left each warehouse, nothing is reserved, the ledger adds up.
    leaving: Counter[tuple[str, str]] = Counter()
    for (parcel,) in parcels.values():
        for line in parcel.lines:
            leaving[(parcel.warehouse_code, line["sku"])] += line["qty"]
    final = await stock_table(db)
    assert {key: initial[key][0] - final[key][0] for key in initial} == {key: leaving.get(key, 0) for key in initial}
    assert {reserved for _, reserved in final.values()} == {0}
    async with db.reading() as session:
        held = (await session.exec(select(Reservation).where(Reservation.status == ReservationStatus.reserved))).all()
        assert await inventory.ledger_mismatches(session) == []
    assert held == []

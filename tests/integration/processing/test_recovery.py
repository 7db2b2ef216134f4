"""Nothing lost, nothing done twice: the worker killed with SIGKILL mid-batch, and Redis stopped mid-run."""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter
from dataclasses import replace

from sqlalchemy import func
from sqlmodel import col, select

from app.db import Database
from app.domain.channels import services as channels
from app.domain.channels.models import IngestSource
from app.domain.inventory.models import Reservation
from app.domain.orders.models import OrderEvent, OrderLine
from app.domain.processing.models import OrderProcessing, ProcessingState
from app.domain.shops.models import Shop
from app.settings import Settings
from tests.integration.conftest import BACKEND, free_port, start_arq_worker, stop_process
from tests.integration.processing.conftest import (
    generic_order,
    kill,
    processed_count,
    serve_process,
    wait_for_http,
    wait_until_settled,
)
from tests.integration.processing.test_batch import assert_stock_matches_reservations

BATCH = 120
PROVINCES = [("浙江", "杭州市"), ("广东", "广州市"), ("北京", "北京市"), ("湖北", "武汉市"), ("四川", "成都市")]
SKUS = [("CABLE-C1", 2900), ("EARBUD-P2", 49900), ("MASK-10", 9900), ("TEE-BLK-L", 7900)]


async def ingest_batch(db: Database, settings: Settings) -> list[int]:
    """Land BATCH orders through the same ingest path as the webhook; their processing waits in the outbox."""
    async with db.reading() as session:
        shop = (await session.exec(select(Shop).where(Shop.code == "webshop"))).one()
    ids = []
    for n in range(BATCH):
        province, city = PROVINCES[n % len(PROVINCES)]
        sku, price = SKUS[n % len(SKUS)]
        payload = generic_order(
            f"K{n:04d}",
            lines=[(sku, 1 + n % 2, price)],
            province=province,
            city=city,
            address=f"幸福路 {n} 号",
            phone=f"139{n:08d}",
            buyer=f"k-{n}",
        )
        result = await channels.ingest(db, settings, shop, payload, IngestSource.webhook)
        assert result.order_id is not None
        ids.append(result.order_id)
    return ids


async def wait_for_some_progress(db: Database, at_least: int, *, within: float = 60) -> int:
    deadline = asyncio.get_running_loop().time() + within
    while (done := await processed_count(db)) < at_least:
        assert asyncio.get_running_loop().time() < deadline, f"only {done} orders processed"
        await asyncio.sleep(0.02)
    return done


async def assert_each_order_processed_exactly_once(db: Database, ids: list[int]) -> None:
    async with db.reading() as session:
        procs = {p.order_id: p for p in (await session.exec(select(OrderProcessing))).all()}
        runs = Counter(
            order_id
            for order_id in (
                await session.exec(select(OrderEvent.order_id).where(OrderEvent.kind == "flows_ran"))
            ).all()
        )
        lines = Counter()
        for line in (await session.exec(select(OrderLine).where(col(OrderLine.order_id).in_(ids)))).all():
            lines[(f"order:{line.order_id}", line.line_id, line.sku)] += line.qty
        held = Counter()
        for r in (await session.exec(select(Reservation).where(Reservation.status == "reserved"))).all():
            if not r.line_key.startswith("gift:"):
                held[(r.order_key, r.line_key, r.sku_code)] += r.qty
    assert {procs[i].state for i in ids} == {ProcessingState.processed}
    # One committed run per order: a run cut off by the kill rolled back and left no trace.
    assert {i: runs[i] for i in ids} == {i: 1 for i in ids}
    assert {i: procs[i].runs for i in ids} == {i: 1 for i in ids}
    # Every line holds exactly its quantity: no double reservation, no missing one.
    assert held == lines
    await assert_stock_matches_reservations(db)


async def test_a_worker_killed_mid_batch_loses_no_order_and_reserves_none_twice(settings, demo, db):
    served = replace(settings, port=free_port())
    served = replace(served, carrier_api_url=f"http://127.0.0.1:{served.port}/sandbox/carrier")
    ids = await ingest_batch(db, served)
    base = f"http://127.0.0.1:{served.port}"
    again: subprocess.Popen[bytes] | None = None
    if BACKEND == "postgres":
        # The web process relays to Redis; the arq worker process does the work and is the one killed.
        web = serve_process(served, REDIS_URL=served.redis_url or "")
        await wait_for_http(base)
        victim = start_arq_worker(served, PROCESSING_STUCK_SECONDS="3")
    else:
        # Without Redis the worker is embedded in the web process: that process is the one killed.
        web = victim = serve_process(served)
    try:
        done = await wait_for_some_progress(db, BATCH // 5)
        kill(victim)
        at_kill = await processed_count(db)
        assert done <= at_kill < BATCH, "the batch finished before the kill: nothing was tested"
        if BACKEND == "postgres":
            again = start_arq_worker(served, PROCESSING_STUCK_SECONDS="3")
        else:
            web = again = serve_process(served)
        await wait_until_settled(db, BATCH, within=120)
        await assert_each_order_processed_exactly_once(db, ids)
    finally:
        for process in (web, again):
            if process is not None and process.poll() is None:
                stop_process(process)


async def supervise(workers: list[subprocess.Popen[bytes]], settings: Settings, redis_url: str) -> None:
    """What a process supervisor does: start the worker again whenever it has exited. arq gives up when Redis
    goes away, but only after finishing the jobs in hand, which on a busy machine takes a while."""
    while True:
        if workers[-1].poll() is not None:
            workers.append(
                await asyncio.to_thread(start_arq_worker, settings, REDIS_URL=redis_url, PROCESSING_STUCK_SECONDS="3")
            )
        await asyncio.sleep(0.2)


async def test_redis_stopped_mid_run_and_started_again_the_sweeper_recovers_every_order(settings, demo, db, tmp_path):
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"

    def start_redis() -> subprocess.Popen[bytes]:
        # A Redis of this test's own, so stopping it disturbs nothing else; like the shared one it keeps nothing.
        return subprocess.Popen(
            ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )

    served = replace(settings, port=free_port(), redis_url=redis_url)
    served = replace(served, carrier_api_url=f"http://127.0.0.1:{served.port}/sandbox/carrier")
    redis = start_redis()
    await asyncio.sleep(0.3)
    ids = await ingest_batch(db, served)
    web = serve_process(served, REDIS_URL=redis_url)
    workers: list[subprocess.Popen[bytes]] = []
    supervisor: asyncio.Task[None] | None = None
    try:
        await wait_for_http(f"http://127.0.0.1:{served.port}")
        workers.append(start_arq_worker(served, REDIS_URL=redis_url, PROCESSING_STUCK_SECONDS="3"))
        await wait_for_some_progress(db, BATCH // 5)
        kill(redis)  # every job waiting in Redis is gone with it
        at_stop = await processed_count(db)
        assert at_stop < BATCH, "the batch finished before Redis stopped: nothing was tested"
        await asyncio.sleep(2)
        redis = start_redis()
        supervisor = asyncio.create_task(supervise(workers, served, redis_url))
        await wait_until_settled(db, BATCH, within=120)
        await assert_each_order_processed_exactly_once(db, ids)
        async with db.reading() as session:
            stuck = (
                await session.exec(
                    select(func.count())
                    .select_from(OrderProcessing)
                    .where(OrderProcessing.state == ProcessingState.queued)
                )
            ).one()
        assert stuck == 0
    finally:
        if supervisor is not None:
            supervisor.cancel()
        for process in [web, *workers]:
            if process.poll() is None:
                stop_process(process)
        redis.kill()
        redis.wait()

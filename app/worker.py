"""Background work: the job table, the arq worker settings, the relay and the embedded worker.

Jobs are plain ``async def job(ctx, *ids)`` functions listed explicitly in :data:`JOBS`. Both ways of
running them go through :func:`run_outbox_job`, so a job behaves the same under ``arq`` on Redis and
under the embedded worker that runs inside the web process when ``REDIS_URL`` is unset.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, cast

import httpx
from arq import cron
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.typing import WorkerCoroutine
from arq.worker import func

from app import outbox
from app.db import Database, is_transient
from app.domain.aftersales import jobs as aftersales_jobs
from app.domain.channels import jobs as channels_jobs
from app.domain.finance import jobs as finance_jobs
from app.domain.flows import jobs as flows_jobs
from app.domain.fulfillment import jobs as fulfillment_jobs
from app.domain.inventory import jobs as inventory_jobs
from app.domain.processing import jobs as processing_jobs
from app.domain.reports import jobs as reports_jobs
from app.domain.webhooks import jobs as webhooks_jobs
from app.outbox import OutboxStatus
from app.settings import Settings, get_settings

log = logging.getLogger(__name__)

JobFunction = Callable[..., Awaitable[Any]]


async def ping(ctx: dict[str, Any], message: str = "ping") -> dict[str, Any]:
    """Prove the plumbing: answer with who ran the job."""
    return {
        "reply": "pong",
        "message": message,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "runner": ctx.get("runner", "arq"),
    }


#: Every job the workers run, by name. Add new jobs here, nowhere else.
JOBS: dict[str, JobFunction] = {
    "ping": ping,
    "flow_backtest": flows_jobs.flow_backtest,
    "send_notification": fulfillment_jobs.send_notification,
    "process_order": processing_jobs.process_order,
    "request_waybill": processing_jobs.request_waybill,
    "void_waybill": fulfillment_jobs.void_waybill,
    "import_orders": channels_jobs.import_orders,
    "pull_shop_orders": channels_jobs.pull_shop_orders,
    "push_channel_stock": channels_jobs.push_channel_stock,
    "write_back_delivery": channels_jobs.write_back_delivery,
    "write_back_refund": channels_jobs.write_back_refund,
    "refresh_channel_stock": inventory_jobs.refresh_channel_stock,
    "refresh_report_rollups": reports_jobs.refresh_report_rollups,
    "publish_event": webhooks_jobs.publish_event,
    "deliver_webhook": webhooks_jobs.deliver_webhook,
    "decide_case": aftersales_jobs.decide_case,
    "book_finance_event": finance_jobs.book_finance_event,
    "write_export_file": finance_jobs.write_export_file,
}

#: Jobs that also run on a clock, every second, without an outbox row (by the arq cron and the embedded worker).
EVERY_SECOND = ("refresh_channel_stock", "refresh_report_rollups")


#: Outbox jobs whose messages a worker takes many at a time, by the job that does a batch of them: the
#: relay hands a batch to Redis as one job, the embedded worker runs it as one.
BATCH_JOBS: dict[str, JobFunction] = {
    "process_order": processing_jobs.process_orders,
    "request_waybill": processing_jobs.request_waybills,
    "send_notification": fulfillment_jobs.send_notifications,
    "publish_event": webhooks_jobs.publish_events,
    "deliver_webhook": webhooks_jobs.deliver_webhooks,
    "push_channel_stock": channels_jobs.push_channel_stocks,
    "book_finance_event": finance_jobs.book_finance_events,
}
BATCH_RUNNER = "outbox_batch"


async def run_outbox_batch(ctx: dict[str, Any], message_ids: list[int], *, job: str) -> list[Any]:
    """Run a batch of one job's outbox messages with the job's batch function; messages already finished
    are skipped. A batch that fails as a whole is run again message by message, so one bad message cannot
    hold back the others; a transient failure (the database went away) puts them all back for a retry."""
    db: Database = ctx["db"]
    messages = await outbox.start_many(db, message_ids)
    if not messages:
        return []
    try:
        results = await BATCH_JOBS[job](ctx, [message.args[0] for message in messages])
    except Exception as exc:
        if is_transient(exc):
            for message in messages:
                assert message.id is not None
                await outbox.fail(db, message.id, f"{type(exc).__name__}: {exc}")
            raise
        log.exception("batch of %s %s failed; running them one by one", len(messages), job)
        results = []
        for message in messages:
            assert message.id is not None
            results.append(await run_outbox_job(ctx, *message.args, outbox_id=message.id, job=job))
        return results
    await outbox.finish_many(db, {m.id: result for m, result in zip(messages, results, strict=True) if m.id})
    return list(results)


async def run_outbox_job(ctx: dict[str, Any], *args: Any, outbox_id: int, job: str) -> Any:
    """Run one outbox message's job and record the outcome; a message already finished is skipped."""
    db: Database = ctx["db"]
    message = await outbox.start(db, outbox_id)
    if message is None:
        return None
    try:
        result = await JOBS[job](ctx, *args)
    except Exception as exc:
        status = await outbox.fail(db, outbox_id, f"{type(exc).__name__}: {exc}")
        log.warning("job %s (outbox %s) failed, now %s: %s", job, outbox_id, status, exc)
        raise
    await outbox.finish(db, outbox_id, result)
    return result


def _arq_batch_function() -> Any:
    async def runner(ctx: dict[str, Any], message_ids: list[int], *, job: str) -> Any:
        return await run_outbox_batch(ctx, message_ids, job=job)

    runner.__qualname__ = runner.__name__ = BATCH_RUNNER
    return func(runner, name=BATCH_RUNNER)


def batches(
    rows: list[outbox.OutboxMessage], size: int
) -> tuple[list[list[outbox.OutboxMessage]], list[outbox.OutboxMessage]]:
    """Claimed rows split into batches of a batch job (at most ``size`` each) and the rest, one by one."""
    grouped: dict[str, list[outbox.OutboxMessage]] = {}
    single = []
    for row in rows:
        if row.job in BATCH_JOBS:
            grouped.setdefault(row.job, []).append(row)
        else:
            single.append(row)
    chunks = [group[i : i + size] for group in grouped.values() for i in range(0, len(group), size)]
    return chunks, single


def _arq_function(name: str) -> Any:
    async def runner(ctx: dict[str, Any], *args: Any, outbox_id: int) -> Any:
        return await run_outbox_job(ctx, *args, outbox_id=outbox_id, job=name)

    runner.__qualname__ = runner.__name__ = name
    return func(runner, name=name)


async def relay(db: Database, redis: ArqRedis, *, limit: int = 1000, batch_size: int = 50) -> int:
    """Hand due outbox rows to Redis, a batch job's rows as batches; the job id carries the attempt so a
    re-run is never deduplicated."""
    rows = await outbox.claim_due(db, status=OutboxStatus.queued, limit=limit)
    chunks, single = batches(rows, batch_size)
    handed: set[int] = set()
    try:
        for chunk in chunks:
            ids = [r.id for r in chunk if r.id is not None]
            job_id = f"outbox-batch:{ids[0]}-{ids[-1]}:{max(r.attempts for r in chunk)}"
            await redis.enqueue_job(BATCH_RUNNER, ids, job=chunk[0].job, _job_id=job_id)
            handed.update(ids)
        for row in single:
            assert row.id is not None
            await redis.enqueue_job(row.job, *row.args, outbox_id=row.id, _job_id=f"outbox:{row.id}:{row.attempts}")
            handed.add(row.id)
    except Exception:
        # Redis went away mid-way: what was not handed over goes straight back to pending.
        await outbox.release(db, [r.id for r in rows if r.id is not None and r.id not in handed])
        raise
    return len(rows)


async def sweep(ctx: dict[str, Any]) -> int:
    """Cron: put back stuck rows, then relay what is due. Returns how many rows were put back."""
    settings: Settings = ctx["settings"]
    swept = await outbox.sweep_stuck(ctx["db"], timedelta(seconds=settings.outbox_stuck_seconds))
    if swept:
        log.warning("sweeper put back %s stuck outbox message(s)", swept)
    await processing_jobs.sweep_processing(ctx["db"], settings)
    await relay(ctx["db"], ctx["redis"], batch_size=settings.processing_batch_size)
    return swept


async def startup(ctx: dict[str, Any]) -> None:
    settings = get_settings()
    ctx["settings"] = settings
    ctx["db"] = Database(settings)
    ctx["runner"] = "arq"
    ctx["http"] = httpx.AsyncClient()
    ctx["carrier_client"] = fulfillment_jobs.carrier_client(settings, ctx["http"])
    # A worker that starts after an outage drains what piled up without waiting for the first tick.
    await relay(ctx["db"], ctx["redis"], batch_size=settings.processing_batch_size)


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["http"].aclose()
    await ctx["db"].dispose()


def redis_settings() -> RedisSettings:
    url = get_settings().redis_url or "redis://127.0.0.1:6379/0"
    return RedisSettings.from_dsn(url)


class WorkerSettings:
    """Settings for ``arq app.worker.WorkerSettings``: the jobs, listed explicitly, and the sweeper."""

    functions = [*(_arq_function(name) for name in JOBS), _arq_batch_function()]  # noqa: RUF012
    cron_jobs = [  # noqa: RUF012
        cron(sweep, second={0, 10, 20, 30, 40, 50}, run_at_startup=False),
        # arq enqueues each tick under one job id, so however many workers run, a tick runs once.
        *(
            cron(
                cast("WorkerCoroutine", JOBS[name]),
                name=f"cron:{name}",
                second=set(range(60)),
                run_at_startup=True,
                keep_result=5,
            )
            for name in EVERY_SECOND
        ),
    ]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings()
    max_jobs = 20
    keep_result = 3600
    job_timeout = 300


class EmbeddedWorker:
    """Runs outbox jobs inside the web process when there is no Redis: same jobs, same bookkeeping."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        concurrency: int = 4,
        tick: float = 1.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.concurrency = concurrency
        self.tick = tick
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._clock: asyncio.Task[None] | None = None
        self._last_sweep = 0.0
        self._stopping = False
        self.mode = "embedded"
        #: One pooled HTTP client for the jobs' outside calls (the carrier API) while the worker runs; one given
        #: by the caller (the demo history's, which reaches the sandbox carrier in process) is the caller's to close.
        self._http: httpx.AsyncClient | None = http
        self._own_http = http is None
        #: Held by whoever drains: the worker's own loop, or the demo history between its steps, so that the loop
        #: never runs a job the history staged at its own moment (it drains those itself, at that moment).
        self.turn = asyncio.Lock()
        #: Set while a demo history is made beside the loop: its sweeps run at the history's own moments, and one
        #: at today's would take its orders for stuck, its presales for overdue, its deliveries for a week old.
        self.sweeps_paused = False

    def kick(self) -> None:
        """Something was committed to the outbox: look now rather than at the next tick."""
        self._wake.set()

    def start(self) -> None:
        if self._own_http:
            self._http = httpx.AsyncClient()
        self._task = asyncio.create_task(self._loop(), name="embedded-worker")
        # Its own task, so that a long batch of orders in the outbox loop never delays it past its promise.
        self._clock = asyncio.create_task(self._every_second(), name="embedded-worker-clock")

    async def stop(self, grace: float = 15.0) -> None:
        """Let the jobs in hand finish (up to ``grace`` seconds), then stop; what is left waits in the outbox."""
        self._stopping = True
        self._wake.set()
        if self._clock is not None:
            self._clock.cancel()
            try:
                await self._clock
            except asyncio.CancelledError:
                pass
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=grace)
            except TimeoutError:
                self._task.cancel()
                try:
                    await self._task
                except asyncio.CancelledError:
                    pass
        if self._http is not None and self._own_http:
            await self._http.aclose()
            self._http = None

    def _ctx(self) -> dict[str, Any]:
        ctx: dict[str, Any] = {"db": self.db, "settings": self.settings, "runner": "embedded"}
        if self._http is not None:
            ctx["http"] = self._http
            ctx["carrier_client"] = fulfillment_jobs.carrier_client(self.settings, self._http)
        return ctx

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def drain(self) -> int:
        """Run everything that is due now; returns how many jobs ran."""
        ctx = self._ctx()
        ran = 0
        size = self.settings.processing_batch_size
        while not self._stopping:
            rows = await outbox.claim_due(self.db, status=OutboxStatus.running, limit=size * 2)
            if not rows:
                return ran
            chunks, single = batches(rows, size)
            for chunk in chunks:  # one writer: batches one after the other
                await self._run_batch(ctx, chunk)
            for start in range(0, len(single), self.concurrency):
                await asyncio.gather(*(self._run(ctx, row) for row in single[start : start + self.concurrency]))
            ran += len(rows)
        return ran

    async def run_clock_jobs(self) -> None:
        """Run each of the every-second jobs once (the clock task calls this; tests may too)."""
        ctx = self._ctx()
        for name in EVERY_SECOND:
            try:
                await JOBS[name](ctx)
            except Exception:  # a database hiccup: the next tick tries again, nothing is lost
                log.exception("embedded clock job %s failed", name)

    async def _every_second(self) -> None:
        while not self._stopping:
            await self.run_clock_jobs()
            await asyncio.sleep(1.0)

    async def _run_batch(self, ctx: dict[str, Any], chunk: list[outbox.OutboxMessage]) -> None:
        try:
            await run_outbox_batch(ctx, [r.id for r in chunk if r.id is not None], job=chunk[0].job)
        except Exception:  # recorded on the rows by run_outbox_batch; the loop carries on
            log.exception("embedded batch of %s failed", chunk[0].job)

    async def _run(self, ctx: dict[str, Any], row: outbox.OutboxMessage) -> None:
        assert row.id is not None
        try:
            await run_outbox_job(ctx, *row.args, outbox_id=row.id, job=row.job)
        except Exception:  # recorded on the row by run_outbox_job; the loop carries on
            log.exception("embedded job %s failed", row.job)

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            try:
                async with self.turn:
                    if loop.time() - self._last_sweep > 10 and not self.sweeps_paused:
                        self._last_sweep = loop.time()
                        await outbox.sweep_stuck(self.db, timedelta(seconds=self.settings.outbox_stuck_seconds))
                        await processing_jobs.sweep_processing(self.db, self.settings)
                    await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not kill the worker for good
                log.exception("embedded worker tick failed")
            await wait_for_work(self._wake, self.tick)


#: After a commit wakes the relay (or the embedded worker), what else is committed within this many seconds
#: goes along: at a steady trickle of orders, batches of several instead of a job per order.
GATHER_SECONDS = 0.1


async def wait_for_work(wake: asyncio.Event, tick: float) -> None:
    """Until something was committed to the outbox (then a moment more, to gather what follows) or a tick."""
    try:
        await asyncio.wait_for(wake.wait(), timeout=tick)
        await asyncio.sleep(GATHER_SECONDS)
    except TimeoutError:
        pass
    wake.clear()


class RedisRelay:
    """In the web process when Redis is configured: hands committed outbox rows to arq right away."""

    def __init__(self, db: Database, settings: Settings, *, tick: float = 2.0) -> None:
        self.db = db
        self.settings = settings
        self.tick = tick
        self.redis: ArqRedis | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.mode = "arq"

    def kick(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="outbox-relay")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop relaying; a relay or a Redis connection that does not let go within ``grace`` seconds is left
        behind rather than holding up the process's shutdown (what it had not handed over waits in the outbox)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await asyncio.wait_for(self._task, timeout=grace)
            except (asyncio.CancelledError, TimeoutError):
                pass
        if self.redis is not None:
            try:
                await asyncio.wait_for(self.redis.aclose(), timeout=grace)
            except TimeoutError:
                log.warning("the relay's Redis connection did not close within %s s", grace)

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def ping_redis(self) -> bool:
        try:
            if self.redis is None:
                self.redis = await create_pool(RedisSettings.from_dsn(self.settings.redis_url or ""))
            return bool(await self.redis.ping())
        except Exception:
            return False

    async def _loop(self) -> None:
        while True:
            try:
                if self.redis is None:
                    self.redis = await create_pool(RedisSettings.from_dsn(self.settings.redis_url or ""))
                await relay(self.db, self.redis, batch_size=self.settings.processing_batch_size)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis down: rows stay pending; the relay or the worker's sweeper retries
                log.warning("outbox relay could not reach Redis; will retry", exc_info=True)
            await wait_for_work(self._wake, self.tick)


def background_for(db: Database, settings: Settings) -> EmbeddedWorker | RedisRelay:
    """The embedded worker without Redis, the relay with it."""
    return RedisRelay(db, settings) if settings.uses_redis else EmbeddedWorker(db, settings)

"""Webhook jobs: fan recorded events out into deliveries, and attempt deliveries.

Both take many at once: the relay hands the outbox messages of each to a worker in batches, so a burst of
orders is a few jobs, and the attempts of a batch go out side by side (a subscriber that does not answer holds
its batch for at most the 5 s timeout, never the worker's other jobs behind one another).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx

from app.db import Database, utcnow
from app.domain.webhooks import sending, services
from app.settings import Settings

#: Attempts of one batch in flight at once.
PARALLEL = 10


async def publish_event(ctx: dict[str, Any], event: dict[str, Any]) -> dict[str, int]:
    """Fan one recorded event out (see :func:`publish_events`)."""
    return (await publish_events(ctx, [event]))[0]


async def publish_events(ctx: dict[str, Any], events: list[dict[str, Any]]) -> list[dict[str, int]]:
    """Fan recorded events out into deliveries, in one transaction (safe to run twice)."""
    db: Database = ctx["db"]
    async with db.transaction() as session:
        made = await services.fan_out(session, events)
    return [{"deliveries": made} for _ in events]


async def deliver_webhook(ctx: dict[str, Any], delivery_id: int, *, now: datetime | None = None) -> dict[str, Any]:
    """Attempt one delivery (see :func:`deliver_webhooks`)."""
    return (await deliver_webhooks(ctx, [delivery_id], now=now))[0]


async def deliver_webhooks(
    ctx: dict[str, Any], delivery_ids: list[int], *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Attempt the deliveries among these that are due at ``now`` (the clock, unless a test moves it): each is
    claimed, posted, and its answer kept with the next attempt scheduled; one already delivered, given up or not
    yet due is not posted again. A failing subscriber is the delivery's own retry, never the job's error."""
    db: Database = ctx["db"]
    settings: Settings = ctx["settings"]
    now = now or utcnow()
    async with db.transaction() as session:
        due = await services.claim(session, settings, delivery_ids, now)
    answers: dict[int, sending.Answer] = {}
    if due:
        http: httpx.AsyncClient | None = ctx.get("http")
        own = http is None
        client = http or httpx.AsyncClient()
        gate = asyncio.Semaphore(PARALLEL)

        async def attempt(item: services.Due) -> None:
            assert item.delivery.id is not None
            async with gate:
                try:
                    answer = await sending.attempt(
                        client, item.kind, services.outgoing_of(item), allow_private=settings.webhook_allow_private
                    )
                except Exception as exc:  # whatever it was, it is this attempt's failure, kept and retried
                    answer = sending.Answer(False, None, "", f"{type(exc).__name__}: {exc}"[:300], utcnow())
            answers[item.delivery.id] = answer

        try:
            await asyncio.gather(*(attempt(item) for item in due))
        finally:
            if own:
                await client.aclose()
        async with db.transaction() as session:
            statuses = {
                delivery_id: await services.record_answer(session, delivery_id, answer, now)
                for delivery_id, answer in answers.items()
            }
    else:
        statuses = {}
    return [
        {"status": statuses[i].value} if i in statuses else {"skipped": "delivered, given up, not due or in hand"}
        for i in delivery_ids
    ]

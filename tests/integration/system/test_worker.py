"""The background plumbing: outbox, relay, worker (embedded or a real arq process), sweeper, health."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

from app import outbox
from app.db import utcnow
from app.domain.accounts.models import TokenScope
from app.outbox import OutboxMessage, OutboxStatus
from tests.integration.conftest import BACKEND, SUMMARY


async def wait_for_status(db, message_id: int, status: OutboxStatus, within: float = 30) -> OutboxMessage:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        async with db.reading() as session:
            row = await session.get(OutboxMessage, message_id)
        assert row is not None
        if row.status == status:
            return row
        assert asyncio.get_running_loop().time() < deadline, f"message stayed {row.status}: {row.last_error}"
        await asyncio.sleep(0.1)


async def test_the_ping_job_round_trips_through_the_worker(client, make_token, db, arq_worker):
    secret = await make_token(TokenScope.admin)
    headers = {"Authorization": f"Bearer {secret}"}
    accepted = await client.post("/api/v1/system/ping?message=双十一", headers=headers)
    assert accepted.status_code == 202
    message_id = accepted.json()["outbox_id"]
    await wait_for_status(db, message_id, OutboxStatus.done)
    answer = (await client.get(f"/api/v1/system/outbox/{message_id}", headers=headers)).json()
    assert answer["status"] == "done"
    assert answer["result"]["reply"] == "pong"
    assert answer["result"]["message"] == "双十一"
    if BACKEND == "postgres":
        # Ran in the separate arq worker process, not in this one.
        assert answer["result"]["runner"] == "arq"
        assert answer["result"]["pid"] == arq_worker.pid
        SUMMARY.append(f"ping job round-tripped through a separate arq worker process (pid {arq_worker.pid})")
    else:
        assert answer["result"]["runner"] == "embedded"
        assert answer["result"]["pid"] == os.getpid()
        SUMMARY.append("ping job round-tripped through the embedded worker in the web process")


async def test_a_job_staged_in_a_rolled_back_transaction_never_runs(app, client, db, arq_worker):
    try:
        async with db.transaction() as session:
            message = await outbox.stage(session, "ping", "never")
            message_id = message.id
            raise RuntimeError("the business change failed")
    except RuntimeError:
        pass
    app.state.background.kick()
    await asyncio.sleep(1.5)
    async with db.reading() as session:
        assert await session.get(OutboxMessage, message_id) is None


async def test_the_sweeper_reruns_a_job_that_was_handed_over_and_lost(client, db, arq_worker, settings):
    # A row that a worker claimed long ago and never finished, as if its process had died.
    async with db.transaction() as session:
        message = await outbox.stage(session, "ping", "lost")
        message.status = OutboxStatus.queued if BACKEND == "postgres" else OutboxStatus.running
        message.claimed_at = utcnow() - timedelta(hours=1)
        message.attempts = 1
        session.add(message)
    assert message.id is not None
    if BACKEND != "postgres":
        await outbox.sweep_stuck(db, timedelta(seconds=settings.outbox_stuck_seconds))
        client.app.state.background.kick()
    row = await wait_for_status(db, message.id, OutboxStatus.done, within=40)
    assert row.result["message"] == "lost"
    assert row.attempts == 2


async def test_a_repeated_dedupe_key_stages_one_job(db):
    async with db.transaction() as session:
        first = await outbox.stage(session, "ping", "a", dedupe_key="order:1:processed")
        second = await outbox.stage(session, "ping", "a", dedupe_key="order:1:processed")
    assert first.id == second.id


async def test_health_reports_database_and_queue(client, arq_worker):
    response = await client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == {"backend": "postgresql" if BACKEND == "postgres" else "sqlite", "ok": True}
    assert body["queue"]["mode"] == ("arq" if BACKEND == "postgres" else "embedded")
    assert body["queue"]["ok"] is True
    assert set(body["outbox"]) == {"pending", "queued", "running", "done", "failed"}

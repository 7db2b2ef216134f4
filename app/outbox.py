"""The transactional outbox.

Work for the background is never enqueued inside an open transaction: it is staged here as a row in the
same transaction as the change that causes it, and handed to a worker only after commit. The database,
not Redis, is the source of truth: a row that was claimed or enqueued and never finished is put back by
the sweeper, so a lost Redis or a killed worker loses no work.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, or_, update
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import Database, deferred_of, insert_rows, utcnow
from app.dbtypes import json_field, utc_field


class OutboxStatus(StrEnum):
    pending = "pending"  # waiting to be handed to a worker
    queued = "queued"  # handed to Redis, not yet picked up
    running = "running"  # a worker is on it
    done = "done"
    failed = "failed"  # gave up after max_attempts; visible on the monitor


class OutboxMessage(SQLModel, table=True):
    """One job to run after commit: the job's name and its (JSON) arguments."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=64, index=True)
    args: list[Any] = json_field(nullable=False, default_factory=list)
    dedupe_key: str | None = Field(default=None, max_length=200, unique=True)
    status: OutboxStatus = Field(default=OutboxStatus.pending, max_length=16, index=True)
    attempts: int = 0
    max_attempts: int = 5
    available_at: datetime = utc_field(index=True)
    claimed_at: datetime | None = utc_field(nullable=True)
    finished_at: datetime | None = utc_field(nullable=True)
    last_error: str | None = Field(default=None, max_length=2000)
    result: Any = json_field()
    created_at: datetime = utc_field()


async def stage(
    session: AsyncSession,
    job: str,
    *args: Any,
    dedupe_key: str | None = None,
    delay: timedelta | None = None,
) -> OutboxMessage:
    """Add a job to the outbox inside the caller's transaction. A repeated ``dedupe_key`` is a no-op.

    In a processing batch the message is written with the batch's others at its end, and the returned
    message has no id yet."""
    now = utcnow()
    later = deferred_of(session)
    if later is not None:
        message = OutboxMessage(
            job=job, args=list(args), dedupe_key=dedupe_key, available_at=now + (delay or timedelta()), created_at=now
        )
        later.add(OutboxMessage, message.model_dump(exclude={"id"}), skip_duplicates_of=("dedupe_key",))
        return message
    if dedupe_key is not None:
        existing = (await session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key))).first()
        if existing is not None:
            return existing
    message = OutboxMessage(
        job=job, args=list(args), dedupe_key=dedupe_key, available_at=now + (delay or timedelta()), created_at=now
    )
    session.add(message)
    await session.flush()
    return message


async def stage_many(session: AsyncSession, job: str, keyed: list[tuple[list[Any], str]]) -> None:
    """Add many messages of one job in the caller's transaction, each ``(args, dedupe_key)``, in one statement:
    a key that is already taken (by a row of any status) adds nothing."""
    if not keyed:
        return
    now = utcnow()
    rows = [
        OutboxMessage(job=job, args=list(args), dedupe_key=key, available_at=now, created_at=now).model_dump(
            exclude={"id"}
        )
        for args, key in keyed
    ]
    await insert_rows(session, OutboxMessage, rows, skip_duplicates_of=("dedupe_key",))


async def claim_due(db: Database, *, status: OutboxStatus, limit: int = 50) -> list[OutboxMessage]:
    """Atomically take pending rows that are due and mark them ``status`` (running or queued)."""
    async with db.transaction() as session:
        now = utcnow()
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.pending, OutboxMessage.available_at <= now)
            .order_by(col(OutboxMessage.id))
            .limit(limit)
        )
        if not db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        rows = list((await session.exec(query)).all())
        for row in rows:
            row.status = status
            row.claimed_at = now
            row.attempts += 1
            session.add(row)
        return rows


async def release(db: Database, message_ids: list[int]) -> None:
    """Give claimed rows back, as if never claimed (their handing-over failed)."""
    async with db.transaction() as session:
        await session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.id).in_(message_ids), col(OutboxMessage.status) == OutboxStatus.queued)
            .values(status=OutboxStatus.pending, attempts=OutboxMessage.attempts - 1)
        )


async def start(db: Database, message_id: int) -> OutboxMessage | None:
    """Mark a message as being worked on; None when it is already finished (a duplicate delivery)."""
    async with db.transaction() as session:
        row = await session.get(OutboxMessage, message_id)
        if row is None or row.status in (OutboxStatus.done, OutboxStatus.failed):
            return None
        row.status = OutboxStatus.running
        row.claimed_at = utcnow()
        session.add(row)
        return row


async def start_many(db: Database, message_ids: list[int]) -> list[OutboxMessage]:
    """:func:`start` for a batch: the messages not yet finished, now marked as being worked on."""
    async with db.transaction() as session:
        rows = (
            await session.exec(
                select(OutboxMessage)
                .where(
                    col(OutboxMessage.id).in_(message_ids),
                    col(OutboxMessage.status).not_in([OutboxStatus.done, OutboxStatus.failed]),
                )
                .order_by(col(OutboxMessage.id))
            )
        ).all()
        now = utcnow()
        for row in rows:
            row.status = OutboxStatus.running
            row.claimed_at = now
            session.add(row)
        return list(rows)


async def finish_many(db: Database, results: dict[int, Any]) -> None:
    """:func:`finish` for a batch, in one transaction: message id → its job's result."""
    async with db.transaction() as session:
        now = utcnow()
        for message_id, result in results.items():
            await session.exec(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == message_id)
                .values(status=OutboxStatus.done, finished_at=now, result=result, last_error=None)
            )


async def finish(db: Database, message_id: int, result: Any) -> None:
    """Record that a message's job completed."""
    async with db.transaction() as session:
        await session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == message_id)
            .values(status=OutboxStatus.done, finished_at=utcnow(), result=result, last_error=None)
        )


async def fail(db: Database, message_id: int, error: str) -> OutboxStatus:
    """Record a failed attempt: back to pending with back-off, or failed for good after max attempts."""
    async with db.transaction() as session:
        row = await session.get(OutboxMessage, message_id)
        if row is None:
            return OutboxStatus.failed
        row.last_error = error[:2000]
        if row.attempts >= row.max_attempts:
            row.status = OutboxStatus.failed
            row.finished_at = utcnow()
        else:
            row.status = OutboxStatus.pending
            row.available_at = utcnow() + timedelta(seconds=min(300, 2**row.attempts))
        session.add(row)
        return row.status


async def sweep_stuck(db: Database, stuck_after: timedelta) -> int:
    """Put back rows that were claimed or enqueued long ago and never finished. Returns how many."""
    async with db.transaction() as session:
        cutoff = utcnow() - stuck_after
        result = await session.exec(
            update(OutboxMessage)
            .where(
                col(OutboxMessage.status).in_([OutboxStatus.queued, OutboxStatus.running]),
                or_(col(OutboxMessage.claimed_at).is_(None), col(OutboxMessage.claimed_at) < cutoff),
            )
            .values(status=OutboxStatus.pending, available_at=utcnow())
        )
        return int(result.rowcount or 0)


async def counts(session: AsyncSession) -> dict[str, int]:
    """How many messages are in each status."""
    rows = (await session.exec(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))).all()
    found = {str(status): int(n) for status, n in rows}
    return {s.value: found.get(s.value, 0) for s in OutboxStatus}

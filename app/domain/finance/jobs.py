"""Finance jobs: book an event finance takes (``events.FINANCE_EVENTS``) into its voucher; write an export batch's file.

An error is raised, never swallowed, so the outbox retries it with back-off and shows it failed at the end: a
sale or a refund left unbooked is money finance would not see.
"""

from __future__ import annotations

from typing import Any

from app.db import Database
from app.domain.finance import exports, posting


async def book_finance_event(ctx: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """Book one recorded event in one transaction (safe to run twice: an event id is booked once)."""
    db: Database = ctx["db"]
    async with db.transaction() as session:
        booked = await posting.book_event(session, event)
        return {"event": booked.event_id, "outcome": booked.outcome, "voucher_id": booked.voucher_id}


async def book_finance_events(ctx: dict[str, Any], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`book_finance_event` for a batch of messages, in one transaction, in the order they were staged (an
    order's delivered before its completed). One that raises fails the batch, which the worker then runs again
    message by message, so only that one waits for its retry."""
    db: Database = ctx["db"]
    async with db.transaction() as session:
        booked = [await posting.book_event(session, event) for event in events]
    return [{"event": b.event_id, "outcome": b.outcome, "voucher_id": b.voucher_id} for b in booked]


async def write_export_file(ctx: dict[str, Any], batch_id: int) -> dict[str, Any]:
    """Write an export batch's file (a Kingdee or U8 sheet, or JSON), counting its rows; safe to run twice."""
    return {"batch": batch_id, "rows": await exports.write_batch_file(ctx["db"], batch_id)}

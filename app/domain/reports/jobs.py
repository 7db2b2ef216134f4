"""Reports' background work: keeping the rollups current (on the worker's every-second clock)."""

from __future__ import annotations

from typing import Any

from app.db import Database
from app.domain.reports import rollups


async def refresh_report_rollups(ctx: dict[str, Any]) -> dict[str, int]:
    """Count again the hours whose orders changed, batch after batch until none is left waiting. Safe to run twice
    and on two workers at once (see :mod:`app.domain.reports.rollups`)."""
    db: Database = ctx["db"]
    async with db.reading() as session:
        if not await rollups.marks_pending(session):  # idle: no write lock taken on SQLite
            return {"hours": 0}
    hours = 0
    while True:
        counted = await rollups.refresh_order_rollups(db)
        hours += counted.hours
        if counted.marks < rollups.REFRESH_MARKS:
            return {"hours": hours}

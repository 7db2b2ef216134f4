"""Inventory jobs: publishing what each shop may sell (channel stock) from the marks stock changes leave.

``refresh_channel_stock`` runs every second: as an arq cron job on every worker (arq runs each tick once
across workers) and on the embedded worker's own one-second timer, so a stock change reaches the published
channel stock within about a second and a half (tick + pick-up + the pass itself), inside the promised 2 s.
"""

from __future__ import annotations

from typing import Any

from app.db import Database
from app.domain.inventory import services


async def refresh_channel_stock(ctx: dict[str, Any]) -> dict[str, int]:
    """Recompute each SKU whose stock changed since the last pass, once, in short transactions of at most
    ``CHANNEL_MARK_BATCH`` marks. Safe to run twice and on two workers at once: a pass claims the marks it
    recomputes, a second one finds them claimed or gone, and a recompute only rewrites current figures."""
    db: Database = ctx["db"]
    async with db.reading() as session:
        if not await services.channel_marks_pending(session):  # idle: no write lock taken on SQLite
            return {"marks": 0, "skus": 0}
    done = services.ChannelRefresh()
    while True:
        async with db.transaction() as session:
            step = await services.refresh_marked_channel_stock(session)
        done += step
        # A full batch means more were waiting; a hot SKU still changing is left for the next tick.
        if step.marks < services.CHANNEL_MARK_BATCH:
            return {"marks": done.marks, "skus": done.skus}

"""Channel jobs: read an uploaded order file, and pull a shop's order list from its platform."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from app.db import Database
from app.domain.channels import imports, services
from app.settings import Settings


async def import_orders(ctx: dict[str, Any], import_id: int) -> dict[str, int]:
    """Ingest every order of an uploaded CSV/Excel file (idempotent: a re-run finds only duplicates)."""
    db: Database = ctx["db"]
    settings: Settings = ctx["settings"]
    return await imports.run_import(db, settings, int(import_id))


async def pull_shop_orders(ctx: dict[str, Any], shop_id: int) -> dict[str, Any]:
    """Page through the shop's order list since the saved cursor (idempotent: pulled orders dedupe).

    Whatever the outcome, the shop's next scheduled pull is staged, so a failing platform does not end the schedule.
    """
    db: Database = ctx["db"]
    settings: Settings = ctx["settings"]
    try:
        return asdict(await services.pull_shop(db, settings, int(shop_id)))
    finally:
        async with db.transaction() as session:
            await services.schedule_next_pull(session, int(shop_id))

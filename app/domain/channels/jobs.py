"""Channel jobs: read an uploaded order file, pull a shop's order list from its platform, and push the shops'
channel stock to their platforms."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from app.db import Database
from app.domain.channels import delivery, imports, refunds, services, stock_push
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


async def push_channel_stock(ctx: dict[str, Any], target: list[Any]) -> dict[str, int]:
    """Tell one shop's platform its current figure for one SKU (``[shop_id, sku_code]``); safe to run twice: the
    full quantity is sent, never a difference."""
    return await stock_push.push_channel_stock(ctx["db"], ctx["settings"], [target], client=ctx.get("http"))


async def push_channel_stocks(ctx: dict[str, Any], targets: list[list[Any]]) -> list[dict[str, int]]:
    """:func:`push_channel_stock` for a batch of messages: one read, one write and one HTTP client for them all."""
    done = await stock_push.push_channel_stock(ctx["db"], ctx["settings"], targets, client=ctx.get("http"))
    return [done for _ in targets]


async def write_back_delivery(ctx: dict[str, Any], shipment_ref: str) -> dict[str, Any]:
    """发货回传: tell a shipped parcel's platform (idempotent: a write-back already sent is skipped; transient
    failures are raised for the outbox to retry)."""
    return await delivery.write_back(ctx["db"], ctx["settings"], str(shipment_ref), ctx.get("http"))


async def write_back_refund(ctx: dict[str, Any], case_id: int) -> dict[str, Any]:
    """退款回传: tell an after-sales case's platform its refund is agreed (idempotent: a refund no longer pending is
    skipped; transient failures are raised for the outbox to retry)."""
    return await refunds.write_back_refund(ctx["db"], ctx["settings"], int(case_id), ctx.get("http"))

"""Background jobs of the flows area (listed in app.worker.JOBS)."""

from __future__ import annotations

import logging
from typing import Any

from app.db import Database, utcnow
from app.domain.flows import services
from app.domain.flows.models import BacktestStatus, FlowBacktest
from app.settings import Settings

log = logging.getLogger(__name__)


async def flow_backtest(ctx: dict[str, Any], backtest_id: int) -> dict[str, Any]:
    """Replay a backtest's draft and baseline over recent orders. Safe to run twice.

    A backtest is a pure computation, so trying again would fail the same way: a failure is recorded on the
    backtest (the page shows it and stops polling) instead of being retried.
    """
    db: Database = ctx["db"]
    settings: Settings = ctx["settings"]
    try:
        return await services.run_backtest(
            db, backtest_id, secret_key=settings.secret_key, time_limit=settings.backtest_seconds
        )
    except Exception as exc:
        log.exception("backtest %s failed", backtest_id)
        async with db.transaction() as session:
            run = await session.get(FlowBacktest, backtest_id)
            if run is not None:
                run.status = BacktestStatus.failed
                run.error = f"{type(exc).__name__}: {exc}"[:2000]
                run.finished_at = utcnow()
                session.add(run)
        return {"backtest_id": backtest_id, "failed": True}

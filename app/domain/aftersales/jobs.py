"""After-sales jobs: the published after-sales flows decide a case that just opened.

Only transient errors (the database briefly unreachable, a lock conflict) are raised, so that the outbox retries
them with back-off; anything else leaves the case waiting for a person, as if no flow had decided.
"""

from __future__ import annotations

import logging
from typing import Any

from app.db import Database, is_transient
from app.domain.aftersales import rules

log = logging.getLogger(__name__)


async def decide_case(ctx: dict[str, Any], case_id: int) -> dict[str, Any]:
    """Run the live ``return.requested`` flows on one case and carry out what they decide (idempotent: a case
    decided already is left alone)."""
    db: Database = ctx["db"]
    try:
        async with db.transaction() as session:
            return (await rules.decide(session, int(case_id))).as_dict()
    except Exception as exc:
        if is_transient(exc):
            raise
        log.exception("the after-sales flows could not decide case %s", case_id)
        return {"case_id": case_id, "outcome": "waiting", "reason": f"{type(exc).__name__}: {str(exc)[:300]}"}

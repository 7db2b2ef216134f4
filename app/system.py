"""The home page, the health check and the machine API's system endpoints (whoami, ping)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Response, Template
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from app import demo_history, outbox
from app.domain.accounts.services import Actor
from app.domain.orders import presentation
from app.domain.processing import queries as processing_queries
from app.domain.reports import dashboard
from app.i18n import labeller
from app.outbox import OutboxMessage
from app.templating import navigation_for
from app.web import page


class HomeController(Controller):
    tags = ["system"]  # noqa: RUF012

    @get("/", name="home", opt={"any_user": True})
    async def home(self, request: HTMXRequest, actor: Actor, db_session: AsyncSession) -> Template | Redirect:
        """工作台: the dashboard of what this role decides from, then the areas it may open."""
        history = request.app.state.get("demo_history")
        return page(
            request,
            "home.html",
            "_dashboard.html",
            items=navigation_for(actor),
            board=await dashboard.dashboard_for(db_session, actor),
            channel_label=presentation.helpers()["channel_label"],
            hold_code_label=processing_queries.hold_code_label,
            attention_label=labeller(dashboard.ATTENTION_LABELS),
            demo=history.showing if history is not None else None,
            demo_pass_label=labeller(demo_history.PASS_LABELS),
        )


class HealthController(Controller):
    tags = ["system"]  # noqa: RUF012

    @get("/healthz", name="healthz", opt={"public": True}, cache=False)
    async def healthz(self, state: State) -> Response[dict[str, Any]]:
        """Database and queue state; 503 when either is down."""
        db = state.db
        body: dict[str, Any] = {"database": {"backend": db.backend, "ok": False}}
        try:
            async with db.reading() as session:
                await session.exec(text("SELECT 1"))
                body["database"]["ok"] = True
                body["outbox"] = await outbox.counts(session)
        except Exception as exc:
            body["database"]["error"] = type(exc).__name__
        background = state.background
        queue: dict[str, Any] = {"mode": background.mode, "running": background.alive}
        queue["ok"] = background.alive and (await background.ping_redis() if background.mode == "arq" else True)
        body["queue"] = queue
        ok = body["database"]["ok"] and queue["ok"]
        body["status"] = "ok" if ok else "degraded"
        return Response(body, status_code=200 if ok else 503)


class SystemApiController(Controller):
    """Machine API: who am I, and a ping job that round-trips through the worker."""

    path = "/api/v1"
    tags = ["system"]  # noqa: RUF012

    # A WMS's shipments-only token may check itself too.
    @get("/whoami", name="api:whoami", opt={"scope": ("read", "shipments")})
    async def whoami(self, actor: Actor) -> dict[str, Any]:
        return {"name": actor.name, "kind": actor.kind, "scopes": sorted(actor.scopes)}

    @post("/system/ping", name="api:ping", opt={"scope": "admin"}, status_code=202)
    async def ping(self, request: Request[Any, Any, Any], db_session: AsyncSession) -> dict[str, Any]:
        message = await outbox.stage(db_session, "ping", request.query_params.get("message", "ping"))
        return {"outbox_id": message.id, "status": str(message.status)}

    @get("/system/outbox/{message_id:int}", name="api:outbox_message", opt={"scope": "admin"})
    async def outbox_message(self, message_id: int, db_session: AsyncSession) -> dict[str, Any]:
        row = await db_session.get(OutboxMessage, message_id)
        if row is None:
            raise NotFoundException(f"outbox message {message_id} not found")
        return {
            "id": row.id,
            "job": row.job,
            "status": str(row.status),
            "attempts": row.attempts,
            "result": row.result,
            "last_error": row.last_error,
        }

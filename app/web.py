"""Helpers every controller uses: the per-request DB session, the current actor, page rendering."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.plugins.htmx import HTMXRequest, HTMXTemplate
from litestar.response import Template
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import actor_of, client_ip, may
from app.domain.accounts.services import Actor

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def provide_db_session(request: Request[Any, Any, Any], state: State) -> AsyncGenerator[AsyncSession]:
    """One session per request; unsafe methods write (and on SQLite take the lock at BEGIN).

    Committed when the handler succeeds; then the background worker is told there may be new outbox rows.
    A POST that only reads (a simulation) says so with ``opt={"read_only": True}``: its work then never holds
    SQLite's write lock, which would make every other write wait for it.
    """
    write = request.method not in SAFE_METHODS and not request.route_handler.opt.get("read_only")
    session = state.db.session(write=write)
    try:
        yield session
        if write:
            await session.commit()
            state.background.kick()
    except BaseException:
        await session.rollback()
        raise
    finally:
        await session.close()


def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    return actor_of(request)


def page(request: HTMXRequest, template: str, fragment: str | None = None, **context: Any) -> Template:
    """Render a page, or only its fragment when htmx asks for it (same handler, same markup)."""
    context.setdefault("actor", actor_of(request))
    if fragment is not None and request.htmx and not request.htmx.boosted:
        return HTMXTemplate(template_name=fragment, context=context)
    return Template(template_name=template, context=context)


__all__ = ["SAFE_METHODS", "client_ip", "may", "page", "provide_actor", "provide_db_session"]

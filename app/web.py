"""Helpers every controller uses: the per-request DB session (committed only on success), the current actor,
page rendering."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast

from litestar import Request, Response
from litestar.datastructures import State
from litestar.plugins.htmx import HTMXRequest, HTMXTemplate
from litestar.response import Template
from litestar.types import Receive, Scope, Send
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import actor_of, client_ip, may
from app.domain.accounts.services import Actor
from app.errors import DomainError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class RequestTransaction:
    """The request's session, held from the dependency until the response's status is known."""

    session: AsyncSession | None = None
    write: bool = False
    background: Any = None


_request_transaction: ContextVar[RequestTransaction | None] = ContextVar("request_transaction", default=None)


def open_request_transaction(request: Request[Any, Any, Any]) -> None:
    """A ``before_request`` hook: a fresh holder for this request's session (the dependency fills it in).

    It is set in the request's own task, so the dependency (which Litestar may resolve in a child task) and
    :func:`end_request_transaction` (which runs in this task) see the same holder.
    """
    _request_transaction.set(RequestTransaction())


async def end_request_transaction(response: Any) -> Any:
    """An ``after_request`` hook: commit the request's writes when the response succeeds, else roll back.

    A refusal re-rendered by its controller (a 400 page) and one raised to the error handler leave the
    database as it was, without a rollback written in the controller. It runs before the response is sent,
    so a commit that fails becomes a 500 (and the client never sees a success that was not stored).
    """
    held = _request_transaction.get()
    if held is None or held.session is None or not held.write:
        return response
    session, held.session = held.session, None
    if int(getattr(response, "status_code", 200)) < 400:
        await session.commit()
        held.background.kick()
    else:
        await session.rollback()
    return response


async def provide_db_session(request: Request[Any, Any, Any], state: State) -> AsyncGenerator[AsyncSession]:
    """One session per request; unsafe methods write (and on SQLite take the lock at BEGIN).

    Committed by :func:`end_request_transaction` when the handler's response is not an error, then the
    background worker is told there may be new outbox rows; rolled back on a 4xx/5xx response or when the
    handler raises (a DomainError included), so controllers never roll back by hand.
    A POST that only reads (a simulation) says so with ``opt={"read_only": True}``: its work then never holds
    SQLite's write lock, which would make every other write wait for it.
    """
    write = request.method not in SAFE_METHODS and not request.route_handler.opt.get("read_only")
    session = state.db.session(write=write)
    held = _request_transaction.get()
    if held is not None:
        held.session, held.write, held.background = session, write, state.background
    try:
        yield session
        if held is None and write:  # no request hook ran (a layer with its own before_request): commit here
            await session.commit()
            state.background.kick()
    except BaseException:
        await session.rollback()
        raise
    finally:
        if held is not None:
            held.session = None
        await session.close()


#: The ``opt`` key naming the view that shows a route's refusals in its page (see :func:`refusals_shown_by`).
REFUSAL_VIEW = "refusal_view"

#: A page that shows a refusal in place: given the request, a read session and the refusal, the response.
RefusalView = Callable[[HTMXRequest, AsyncSession, DomainError], Awaitable[Response[Any]]]


def refusals_shown_by(view: RefusalView) -> dict[str, Any]:
    """The ``opt`` of a route whose refusals its page shows in place (the form again, with the reason)."""
    return {REFUSAL_VIEW: view}


class RefusalPage(Response[Any]):
    """A refusal shown by its route's view, rendered when the response is sent.

    Exception handlers are synchronous and the view reads the database, so the reading is deferred to the
    response itself. It reads through a fresh session: the request's own was rolled back when it raised.
    """

    def __init__(self, view: RefusalView, request: Request[Any, Any, Any], error: DomainError) -> None:
        super().__init__(content=None, status_code=error.status)
        self.view = view
        # The application's request class (app.json_input.AppRequest) is an HTMXRequest.
        self.request = cast(HTMXRequest, request)
        self.error = error

    def to_asgi_response(self, app: Any, request: Request[Any, Any, Any], **kwargs: Any) -> Any:
        async def send_page(scope: Scope, receive: Receive, send: Send) -> None:
            async with request.app.state.db.reading() as session:
                response = await self.view(self.request, session, self.error)
            response.status_code = self.error.status
            asgi = response.to_asgi_response(None, request, type_encoders=kwargs.get("type_encoders"))
            await asgi(scope, receive, send)

        return send_page


def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    return actor_of(request)


def page(request: HTMXRequest, template: str, fragment: str | None = None, **context: Any) -> Template:
    """Render a page, or only its fragment when htmx asks for it (same handler, same markup)."""
    context.setdefault("actor", actor_of(request))
    if fragment is not None and request.htmx and not request.htmx.boosted:
        return HTMXTemplate(template_name=fragment, context=context)
    return Template(template_name=template, context=context)


__all__ = [
    "REFUSAL_VIEW",
    "SAFE_METHODS",
    "RefusalPage",
    "RefusalView",
    "RequestTransaction",
    "client_ip",
    "end_request_transaction",
    "may",
    "open_request_transaction",
    "page",
    "provide_actor",
    "provide_db_session",
    "refusals_shown_by",
]

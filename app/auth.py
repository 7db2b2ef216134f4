"""Who is calling, and what they may do.

The middleware resolves the caller once per request — a browser session cookie for pages, a bearer API
token for ``/api/`` — and the app-wide guard checks each route's declared need. A route that declares
nothing is refused: access fails closed.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from app.db import Database
from app.domain.accounts import services as accounts
from app.domain.accounts.models import Role
from app.domain.accounts.services import ANONYMOUS, Actor
from app.i18n import current_locale, pick_locale
from app.settings import Network, Settings

SESSION_COOKIE = "rf_session"
LANG_COOKIE = "lang"
#: Scope state key under which the middleware leaves the server-side id of a live session (CSRF binds to it).
SESSION_ID_STATE = "session_id"

_VIEWER = {"orders.read", "inventory.read", "reports.read"}
#: What each role may do. Routes name one of these in ``opt={"permission": ...}``.
PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.viewer: frozenset(_VIEWER),
    Role.operator: frozenset(
        _VIEWER | {"review.work", "returns.work", "orders.import", "inventory.adjust", "shipments.confirm"}
    ),
    Role.designer: frozenset(_VIEWER | {"flows.edit"}),
    Role.finance: frozenset(_VIEWER | {"finance.read", "finance.manage"}),
    Role.admin: frozenset(
        _VIEWER
        | {
            "review.work",
            "returns.work",
            "flows.edit",
            "flows.publish",
            "finance.read",
            "finance.manage",
            "settings.manage",
            "audit.read",
            "pii.reveal",
            "orders.import",
            "inventory.adjust",
            "inventory.manage",
            "shipments.confirm",
        }
    ),
}


def may(actor: Actor, permission: str) -> bool:
    """Whether a logged-in person may do something."""
    return actor.kind == "user" and actor.role is not None and permission in PERMISSIONS[actor.role]


def host_cookie(settings: Settings, name: str) -> str:
    """The name a cookie of ours goes by: ``__Host-`` prefixed in production.

    Browsers accept a ``__Host-`` cookie only from this exact host over HTTPS, so neither a sibling
    subdomain nor a plain-http man in the middle can plant one (their own session, say). Development on
    http://127.0.0.1 has no HTTPS and keeps the plain name.
    """
    return name if settings.is_development else f"__Host-{name}"


def is_api_path(path: str) -> bool:
    return path.startswith("/api/")


class CallerMiddleware(ASGIMiddleware):
    """Sets ``scope["auth"]`` (an Actor), ``scope["user"]`` and the request's language."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        app = scope["litestar_app"]
        db: Database = app.state.db
        settings: Settings = app.state.settings
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        cookies = _parse_cookies(headers.get("cookie", ""))
        current_locale.set(pick_locale(cookies.get(LANG_COOKIE), headers.get("accept-language")))
        actor, user = ANONYMOUS, None
        path: str = scope["path"]
        if not path.startswith("/static/"):
            if is_api_path(path):
                auth = headers.get("authorization", "")
                if auth.lower().startswith("bearer "):
                    async with db.reading() as session:
                        token = await accounts.resolve_token(session, auth[7:].strip())
                        if token is not None:
                            actor = Actor.of_token(token)
            elif host_cookie(settings, SESSION_COOKIE) in cookies:
                cookie = cookies[host_cookie(settings, SESSION_COOKIE)]
                async with db.reading() as session:
                    user, state = await accounts.resolve_session(session, settings, cookie)
                    if user is not None:
                        session.expunge(user)  # keep its loaded fields usable after the read ends
                if state in ("touch", "expired"):
                    async with db.transaction() as session:
                        await accounts.touch_session(session, cookie, expired=state == "expired")
                if user is not None:
                    actor = Actor.of_user(user)
                    scope.setdefault("state", {})[SESSION_ID_STATE] = accounts.digest(cookie)
        scope["auth"] = actor
        scope["user"] = user
        await next_app(scope, receive, send)


def _parse_cookies(raw: str) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for part in raw.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            cookies[name] = value
    return cookies


def session_id_of(scope: Scope) -> str | None:
    """The stored id of the request's live session, or None before login."""
    value = scope.get("state", {}).get(SESSION_ID_STATE)
    return value if isinstance(value, str) else None


def actor_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Actor:
    actor = connection.scope.get("auth")
    return actor if isinstance(actor, Actor) else ANONYMOUS


async def access_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """App-wide guard: every route says who may call it (``public``, ``permission`` or ``scope``)."""
    opt = handler.opt
    if opt.get("public"):
        return
    actor = actor_of(connection)
    path = connection.scope["path"]
    if is_api_path(path):
        if actor.kind != "token":
            raise NotAuthorizedException("an API token is required")
        # A route names the scope it needs, or a tuple of scopes any of which will do; admin will do for all.
        needed = opt.get("scope")
        accepted = {needed} if isinstance(needed, str) else set(needed or ())
        if accepted and (accepted & actor.scopes or "admin" in actor.scopes):
            return
        await _deny(connection, actor, f"scope:{'|'.join(sorted(accepted)) or None}")
    if actor.kind != "user":
        raise NotAuthorizedException("login required")
    if path.startswith("/schema") or opt.get("any_user"):
        return
    permission = opt.get("permission")
    if permission is not None and may(actor, permission):
        return
    await _deny(connection, actor, f"permission:{permission}")


async def _deny(connection: ASGIConnection[Any, Any, Any, Any], actor: Actor, need: str) -> None:
    db: Database = connection.app.state.db
    async with db.transaction() as session:
        await accounts.audit(
            session,
            actor,
            "access.denied",
            target_type="route",
            target_id=f"{connection.scope.get('method', '')} {connection.scope['path']}"[:100],
            after={"needed": need},
            ip=client_ip(connection),
        )
    raise PermissionDeniedException("not allowed")


def client_ip(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The caller's address: the peer, or what a configured proxy says in X-Forwarded-For."""
    settings: Settings = connection.app.state.settings
    peer = connection.client.host if connection.client else None
    return forwarded_client(peer, connection.headers.getall("x-forwarded-for", []), settings.trusted_networks)


def forwarded_client(peer: str | None, forwarded_for: list[str], trusted: tuple[Network, ...]) -> str | None:
    """Walk X-Forwarded-For from the nearest hop back while each hop is a trusted proxy.

    Anyone can send the header, so it counts only when the peer is a trusted proxy, and only up to the
    first hop that is not one: what lies to its left was written by the client and proves nothing.
    """
    if not _is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # a hop that is no address was not written by a proxy of ours
        client = hop
        if not _is_trusted(hop, trusted):
            break
    return client


def _is_trusted(address: str | None, trusted: tuple[Network, ...]) -> bool:
    if address is None or not trusted:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)

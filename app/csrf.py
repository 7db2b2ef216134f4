"""CSRF protection bound to what the attacker cannot plant.

Litestar's double-submit cookie only proves that the cookie and the form carry the same value, so anyone
who can write a cookie for this site (a sibling subdomain, a plain-http hop) plants a pair of their own and
the victim's browser then posts with it. Here the token is an HMAC under ``SECRET_KEY``:

- with a live session, of that session's server-side id: a token from another session, or any token
  planted beside the victim's own session cookie, does not match;
- before login (the login form, the language switch), of a random pre-session cookie. In production that
  cookie is ``__Host-`` prefixed, which browsers accept only from this exact host over HTTPS, so neither a
  sibling subdomain nor a plain-http man in the middle can plant it. On top of that every unsafe request a
  browser marks as coming from another site (``Sec-Fetch-Site: cross-site`` or ``same-site``) is refused,
  whatever it carries.

``/api/`` uses bearer tokens, which a browser never sends by itself, and stays exempt; so do routes that
set ``exclude_from_csrf`` (machine endpoints with their own signature).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import RequestEncodingType, ScopeType
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from app.auth import host_cookie, is_api_path, session_id_of
from app.settings import Settings

CSRF_HEADER = "x-csrftoken"
CSRF_FIELD = "_csrf_token"
PRESESSION_COOKIE = "rf_presession"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Browsers set Sec-Fetch-Site themselves; a page cannot forge it. These values mean "not our own page".
FOREIGN_SITES = frozenset({"cross-site", "same-site"})


def presession_cookie_name(settings: Settings) -> str:
    return host_cookie(settings, PRESESSION_COOKIE)


def session_csrf_token(secret_key: str, session_id: str) -> str:
    """The CSRF token of a logged-in session (``session_id`` is the stored id, not the cookie)."""
    return hmac.new(secret_key.encode(), f"csrf:session:{session_id}".encode(), hashlib.sha256).hexdigest()


def presession_csrf_token(secret_key: str, presession: str) -> str:
    """The CSRF token of a visitor who has not logged in yet, bound to their pre-session cookie."""
    return hmac.new(secret_key.encode(), f"csrf:presession:{presession}".encode(), hashlib.sha256).hexdigest()


def exempt(scope: Scope) -> bool:
    """Bearer-token API calls and static files need no CSRF token."""
    path: str = scope["path"]
    return is_api_path(path) or path.startswith("/static/")


class CsrfMiddleware(ASGIMiddleware):
    """Gives every page its token (``csrf_token()`` / ``csrf_input`` in templates) and checks unsafe requests.

    Runs after the caller middleware, which resolves the session.
    """

    scopes = (ScopeType.HTTP,)
    should_bypass_for_scope = staticmethod(exempt)
    exclude_opt_key = "exclude_from_csrf"

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        app = scope["litestar_app"]
        settings: Settings = app.state.settings
        request = app.request_class(scope=scope, receive=receive)
        cookie_name = presession_cookie_name(settings)
        session_id = session_id_of(scope)
        presession = request.cookies.get(cookie_name) or None
        new_presession: str | None = None
        if session_id is not None:
            expected = session_csrf_token(settings.secret_key, session_id)
        else:
            if presession is None:
                presession = new_presession = secrets.token_urlsafe(32)
            expected = presession_csrf_token(settings.secret_key, presession)
        if request.method not in SAFE_METHODS:
            if request.headers.get("sec-fetch-site", "").lower() in FOREIGN_SITES:
                raise PermissionDeniedException("CSRF: the request came from another site")
            presented = request.headers.get(CSRF_HEADER)
            content_type, _ = request.content_type
            if not presented and content_type in {RequestEncodingType.URL_ENCODED, RequestEncodingType.MULTI_PART}:
                value = (await request.form()).get(CSRF_FIELD)
                presented = value if isinstance(value, str) else None
            # A token minted for a pre-session cookie the request did not bring proves nothing.
            if new_presession is not None or not presented or not hmac.compare_digest(presented, expected):
                if session_id is None and not scope["route_handler"].opt.get("public"):
                    # The session ended while the form was open: refused either way, but "log in again"
                    # is what helps, not "form expired".
                    raise NotAuthorizedException("login required")
                raise PermissionDeniedException("CSRF token verification failed")
        ScopeState.from_scope(scope).csrf_token = expected
        if new_presession is None:
            await next_app(scope, receive, send)
            return
        cookie = Cookie(
            key=cookie_name,
            value=new_presession,
            path="/",
            httponly=True,
            secure=not settings.is_development,
            samesite="lax",
        )

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message).add("set-cookie", cookie.to_header(header=""))
            await send(message)

        await next_app(scope, receive, send_with_cookie)


__all__: list[str] = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "CsrfMiddleware",
    "presession_cookie_name",
    "presession_csrf_token",
    "session_csrf_token",
]

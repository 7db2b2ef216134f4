"""Security headers on every response: pages, fragments, the API, static files, error pages and redirects.

The Content-Security-Policy only lets the browser run script files served by us: no inline ``<script>``, no
``onclick=``, no ``eval`` (htmx's ``js:`` values and ``hx-on`` are off too, see ``base.html``), so text that
slipped through escaping still cannot run. Styles are files as well; Drawflow and our editor only position
things through the DOM's style properties, which the policy allows.
"""

from __future__ import annotations

from typing import Final

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # Older browsers ignore frame-ancestors; this keeps every page out of someone else's frame there too.
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


async def add_security_headers(message: Message, scope: Scope) -> None:
    """A ``before_send`` hook: it sees every response the application sends, whichever part answered."""
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    for name, value in SECURITY_HEADERS.items():
        headers[name] = value

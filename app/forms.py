"""Reading submitted forms: the body types controllers take, the two ways of reading a field, body limits.

A urlencoded body may repeat any field (``next=/a&next=/b``); Litestar then hands a list where a single value
was expected. Every single-valued field is read with :func:`one` (the first value wins, as in most web
frameworks), every multi-valued one (checkboxes, builder rows) with :func:`many`.

A request body is refused with 413 before it is parsed when it is bigger than its route takes (Litestar's
``request_max_body_size``: FORM_MAX_BYTES by default, less for the public forms, more for uploads and
webhooks), or when a form has more than MAX_FORM_FIELDS fields.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from litestar import Request
from litestar.enums import RequestEncodingType, ScopeType
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.middleware import ASGIMiddleware
from litestar.params import Body
from litestar.types import ASGIApp, Receive, Scope, Send

from app.i18n import gettext

#: A urlencoded form body, field name to a value or (for a repeated field) a list of values.
Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
#: A multipart body (file uploads).
Upload = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]


def one(data: dict[str, Any], name: str, default: str = "", *, strip: bool = True) -> str:
    """The field's value as text (the first one when it was sent more than once), stripped unless asked not to."""
    value = data.get(name, default)
    if isinstance(value, list):
        value = value[0] if value else default
    text = str(value)
    return text.strip() if strip else text


def many(data: dict[str, Any], name: str) -> list[str]:
    """Every value sent for the field, stripped, blanks left out."""
    value = data.get(name, [])
    values = value if isinstance(value, list) else [value]
    return [text for text in (str(v).strip() for v in values) if text]


# --------------------------------------------------------------------------------------------- body limits

#: The public forms (login, language): a username, a password and a path fit many times over.
PUBLIC_FORM_MAX_BYTES: Final = 64 * 1024
#: Every other form, and the default for any request body (JSON API calls included).
FORM_MAX_BYTES: Final = 1024 * 1024
#: A form with more fields than this is refused before it is parsed (the largest rule builder has a few hundred).
MAX_FORM_FIELDS: Final = 10_000
#: Room for a multipart envelope around an uploaded file.
MULTIPART_OVERHEAD_BYTES: Final = 64 * 1024


class BodyTooLarge(RequestEntityTooLarge):
    """413: the body is bigger than its route takes, or a form has too many fields. Nothing was parsed."""


def too_large_message(limit: int | None) -> str:
    """What the sender is told: the route's limit in KB or MB."""
    if limit is None:
        return gettext("The request is too large.")
    size = f"{limit // 1024 // 1024} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"
    return gettext("The request is too large: this page takes at most %(size)s.") % {"size": size}


class FormLimitMiddleware(ASGIMiddleware):
    """Count a urlencoded form's fields on the raw bytes before anything (the CSRF check, the handler) parses it.

    Parsing millions of tiny fields would stall every other request; counting them is cheap. Reading the body
    here is held to the route's ``request_max_body_size`` by Litestar, which refuses a body announced or
    streamed past it before it is read in full.
    """

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request: Request[Any, Any, Any] = Request(scope, receive)
        if (
            request.method not in {"GET", "HEAD", "OPTIONS"}
            and request.content_type[0] == RequestEncodingType.URL_ENCODED
        ):
            body = await request.body()  # kept in the scope: the CSRF check and the handler read it from there
            if body.count(b"&") >= MAX_FORM_FIELDS:
                raise BodyTooLarge(
                    gettext("The form has too many fields (at most %(max)s).") % {"max": f"{MAX_FORM_FIELDS:,}"}
                )
        await next_app(scope, receive, send)

"""One error model: every refusal a user can meet is a :class:`DomainError`.

A refusal carries a stable ``code`` (what callers and API clients test), keyword ``params`` (the data the
message names), an HTTP status and, where it applies, the form ``field`` at fault. Its text is looked up by
code in the domain's ``messages`` table (English message ids, marked with ``N_`` for extraction) and
translated only when it is shown, in the language of the request being served; the params are formatted
into the translated text, so data never passes through the translation function as a message id.

One handler in ``app.main`` turns any DomainError into the response the request expects, and the request's
transaction (``app.web``) is rolled back whenever the response is a refusal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from app.i18n import N_, gettext

#: Between the items of a list in a message (Chinese lists take 、).
LIST_SEPARATOR = N_(", ")
#: The most characters of a user's own text that a refusal repeats: enough to recognise it, never a page of it.
SHOWN_CHARS = 60
#: Shown when a code has no registered message (a bug, but the user still learns that it was refused).
UNKNOWN_MESSAGE = N_("This could not be done (%(code)s).")


@dataclass(frozen=True)
class Labels:
    """A param that names things by their English message ids (form fields): shown as a list in the
    reader's language when the message is formatted, not when the refusal is raised."""

    msgids: tuple[str, ...]

    def __str__(self) -> str:
        return gettext(LIST_SEPARATOR).join(gettext(msgid) for msgid in self.msgids)


def excerpt(text: object, limit: int = SHOWN_CHARS) -> str:
    """``text`` as a refusal repeats it: at most ``limit`` characters, a longer one cut and ended with …"""
    shown = str(text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


class DomainError(Exception):
    """A refusal: ``code`` picks the message, ``params`` fill it in, ``status`` is the HTTP status.

    Subclasses register their messages once, in ``messages`` (key -> English message id). The key is the
    code, or ``code.variant`` where one code has several texts (``InventoryError("bad_qty", "negative")``).
    ``statuses`` and ``fields`` give the status and field of a code where they differ from the defaults.
    """

    #: key -> English message id; the one place a domain's refusal texts live.
    messages: ClassVar[Mapping[str, str]] = {}
    #: code -> HTTP status, where it is not ``default_status``.
    statuses: ClassVar[Mapping[str, int]] = {}
    #: code -> the form field or parameter at fault, where the raise does not name it.
    fields: ClassVar[Mapping[str, str]] = {}
    default_status: ClassVar[int] = 400
    #: The heading of the error page that shows the refusal when its page has no place for it.
    title: ClassVar[str] = N_("Not done")
    #: Whether a page may show the refusal in place (its form again, or an htmx fragment); else the error page.
    in_place: ClassVar[bool] = True

    def __init__(
        self,
        code: str,
        variant: str | None = None,
        /,
        *,
        field: str | None = None,
        status: int | None = None,
        **params: Any,
    ) -> None:
        super().__init__(code)
        self.code = code
        self.variant = variant
        self.params = params
        self.field = field if field is not None else self.fields.get(code)
        self.status = status or self.statuses.get(code, self.default_status)

    @property
    def key(self) -> str:
        """The entry of ``messages`` this refusal shows."""
        return f"{self.code}.{self.variant}" if self.variant else self.code

    @property
    def message(self) -> str:
        """The refusal in the current request's language, with its params filled in."""
        msgid = self.messages.get(self.key) or self.messages.get(self.code)
        if msgid is None:
            return gettext(UNKNOWN_MESSAGE) % {"code": self.code}
        text = gettext(msgid)
        try:
            # A message may name the field at fault as ``%(field)s``.
            return text % {"field": self.field, **self.params}
        except (KeyError, TypeError, ValueError):
            return text

    def __str__(self) -> str:
        return self.message

    def extra(self) -> dict[str, Any]:
        """More of the refusal for an API client (a flow's problems); nothing by default."""
        return {}

    def body(self) -> dict[str, Any]:
        """The JSON an API client gets: the code to test, the message to show, the field at fault."""
        message = self.message
        return {
            "status_code": self.status,
            "error": self.code,
            "message": message,
            # ``detail`` is the key Litestar's own errors and the earlier API used for the text.
            "detail": message,
            "field": self.field,
            **self.extra(),
        }


__all__ = ["LIST_SEPARATOR", "SHOWN_CHARS", "UNKNOWN_MESSAGE", "DomainError", "Labels", "excerpt"]

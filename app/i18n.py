"""Translations. Message ids are English; Simplified Chinese is the default locale.

The locale of the request being served lives in a context variable set by the request middleware, so
templates and Python code translate with the same ``gettext`` without passing the request around.
"""

from __future__ import annotations

import gettext as gettext_module
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from functools import lru_cache, partial
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DEFAULT_LOCALE = "zh_Hans"
SUPPORTED = {"zh_Hans": "简体中文", "en": "English"}

current_locale: ContextVar[str] = ContextVar("current_locale", default=DEFAULT_LOCALE)


def compile_catalogs() -> None:
    """Compile every .po file next to its .mo when the .mo is missing or older."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po_path in LOCALE_DIR.glob("*/LC_MESSAGES/*.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as fh:
            catalog = read_po(fh)
        with mo_path.open("wb") as fh:
            write_mo(fh, catalog)
    translations.cache_clear()


@lru_cache(maxsize=8)
def translations(locale: str) -> gettext_module.NullTranslations:
    if locale == "en":
        return gettext_module.NullTranslations()
    return gettext_module.translation("messages", localedir=LOCALE_DIR, languages=[locale], fallback=True)


def gettext(message: str) -> str:
    """Translate into the current request's language."""
    return translations(current_locale.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_locale.get()).ngettext(singular, plural, n)


_ = gettext


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


def label_of(labels: Mapping[str, str], value: object) -> str:
    """The translated label of a value ``labels`` knows (value -> English message id); any other value as itself.

    Templates show data through these helpers and never through ``_()``: Jinja's i18n ``_()`` marks what it
    returns as safe markup and %-formats it, so a tag like ``<img onerror=…>`` or ``50%off`` would come out
    unescaped or crash the page. The result here is a plain ``str`` that the template escapes.
    """
    key = "" if value is None else str(value)
    message = labels.get(key)
    return gettext(message) if message is not None else key


def labeller(labels: Mapping[str, str]) -> Callable[[object], str]:
    """A one-argument :func:`label_of` for a template: ``{{ channel_label(o.channel) }}``."""
    return partial(label_of, labels)


def pick_locale(cookie: str | None, accept_language: str | None) -> str:
    """The cookie wins; then a browser that asks for English first; else Chinese."""
    if cookie in SUPPORTED:
        return cookie
    if accept_language and accept_language.lower().startswith("en"):
        return "en"
    return DEFAULT_LOCALE

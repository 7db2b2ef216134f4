"""Reading a rendered page the way a browser would, to find anything that would run that is not a script file."""

from __future__ import annotations

from html.parser import HTMLParser

#: <script> types a browser does not execute: data blocks the page's own JS reads.
DATA_SCRIPT_TYPES = frozenset({"application/json"})


class _InlineCode(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script" and not named.get("src") and named.get("type") not in DATA_SCRIPT_TYPES:
            self.found.append(f"inline <script> at line {self.getpos()[0]}")
        if tag == "style":
            self.found.append(f"inline <style> at line {self.getpos()[0]}")
        for name, value in attrs:
            if name.startswith("on") or name.startswith("hx-on") or name == "style":
                self.found.append(f"<{tag} {name}=…> at line {self.getpos()[0]}")
            if name == "hx-vals" and (value or "").lstrip().startswith(("js:", "javascript:")):
                self.found.append(f"<{tag} hx-vals=js:…> at line {self.getpos()[0]}")
            url = (value or "").strip().lower()
            if name in {"href", "src", "action", "formaction"} and url.startswith("javascript:"):
                self.found.append(f"<{tag} {name}=javascript:…> at line {self.getpos()[0]}")


def inline_code(html: str) -> list[str]:
    """Every inline script, inline style, event-handler attribute or javascript: URL in a page."""
    parser = _InlineCode()
    parser.feed(html)
    parser.close()
    return parser.found

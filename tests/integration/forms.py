"""Acting like a browser in integration tests: logging in and posting forms with their CSRF token."""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

PASSWORD = "correct-horse-battery"


def csrf_from(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


async def login(client: AsyncTestClient[Litestar], username: str, password: str = PASSWORD) -> Any:
    page = await client.get("/login")
    return await client.post(
        "/login",
        data={"_csrf_token": csrf_from(page.text), "username": username, "password": password},
        follow_redirects=False,
    )


async def post_form(client: AsyncTestClient[Litestar], page_url: str, url: str, data: dict[str, Any]) -> Any:
    """Post a form the way a browser does: fetch the page, send its CSRF token back."""
    page = await client.get(page_url)
    return await client.post(url, data={"_csrf_token": csrf_from(page.text), **data}, follow_redirects=False)


async def upload_form(
    client: AsyncTestClient[Litestar], page_url: str, url: str, filename: str, content: bytes, **fields: str
) -> Any:
    """Upload a file through a page's form (``file``) with its other fields and the page's CSRF token."""
    page = await client.get(page_url)
    return await client.post(
        url,
        data={"_csrf_token": csrf_from(page.text), **fields},
        files={"file": (filename, content, "application/octet-stream")},
        follow_redirects=False,
    )


def sheet_problems(html: str) -> list[str]:
    """The refused rows a sheet import lists, as shown (第 N 行 · 字段: 原因)."""
    return [part.split(">", 1)[1].split("<", 1)[0] for part in html.split('data-testid="sheet-problem"')[1:]]

"""Security headers come with every response, and the pages need nothing the policy forbids.

Attacks covered:
- script injected into a page (through text that escaped escaping) cannot run: the Content-Security-Policy
  allows only our own script files, no inline script, no inline handlers, no eval;
- the policy is on every kind of response, not only on pages: htmx fragments, the JSON API, static files,
  redirects, 401/403/404 error pages and an unexpected 500;
- clickjacking: no page may be framed by another site (``frame-ancestors 'none'`` and ``X-Frame-Options``);
- MIME sniffing: an uploaded or served file is never run as another type (``nosniff``);
- leaking order ids in URLs to other sites through the Referer header (``same-origin``);
- the pages themselves carry no inline script, style or ``onclick=`` that the policy would block.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar import get

from app.domain.accounts.models import Role, TokenScope
from app.domain.channels.services import SHOP_HEADER
from app.security import SECURITY_HEADERS
from tests.integration.forms import login
from tests.integration.security.markup import inline_code


def assert_secured(response: Any) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, f"{name} missing on {response.request.url}"


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


def test_the_policy_runs_only_our_own_script_files_and_forbids_framing():
    policy = directives(SECURITY_HEADERS["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert not any("unsafe" in value or value in {"*", "data:", "blob:"} for value in policy["script-src"])
    assert SECURITY_HEADERS["X-Frame-Options"] == "DENY"
    assert SECURITY_HEADERS["X-Content-Type-Options"] == "nosniff"
    assert SECURITY_HEADERS["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize(
    "url",
    [
        "/login",
        "/healthz",
        "/static/js/app.js",
        "/static/css/app.css",
        "/static/vendor/htmx-2.0.11/htmx.min.js",
        "/static/no-such-file.js",
        "/no-such-page",
        "/schema/openapi.json",
        "/api/v1/whoami",
    ],
)
async def test_an_anonymous_visitor_gets_the_headers_on_every_kind_of_response(client, url):
    response = await client.get(url, follow_redirects=False)
    assert response.status_code < 500
    assert_secured(response)


async def test_redirects_error_pages_and_refused_forms_carry_the_headers(client, make_user):
    to_login = await client.get("/orders/", follow_redirects=False)
    assert to_login.status_code == 303
    assert_secured(to_login)
    htmx_to_login = await client.get("/orders/", headers={"HX-Request": "true"}, follow_redirects=False)
    assert_secured(htmx_to_login)
    no_csrf = await client.post("/login", data={"username": "x", "password": "y"}, follow_redirects=False)
    assert no_csrf.status_code == 403
    assert_secured(no_csrf)
    bad_webhook = await client.post("/api/v1/channels/pos/orders", content=b"{}", headers={SHOP_HEADER: "nope"})
    assert 400 <= bad_webhook.status_code < 500
    assert_secured(bad_webhook)

    await make_user(Role.viewer, username="viewer")
    logged_in = await login(client, "viewer")
    assert logged_in.status_code == 303
    assert_secured(logged_in)
    for url in ("/orders/", "/orders/999999", "/settings/"):
        response = await client.get(url)
        assert response.status_code in (200, 403, 404)
        assert_secured(response)
    fragment = await client.get("/orders/", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert_secured(fragment)


async def test_the_api_answers_with_the_headers_for_a_token(client, make_token):
    token = await make_token(TokenScope.read)
    response = await client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert_secured(response)


async def test_an_unexpected_server_error_still_carries_the_headers(app, client):
    @get("/test-only/boom", opt={"public": True}, sync_to_thread=False)
    def boom() -> None:
        raise RuntimeError("a bug")

    app.register(boom)
    response = await client.get("/test-only/boom")
    assert response.status_code == 500
    assert_secured(response)


async def test_the_pages_carry_no_inline_script_style_or_handlers_the_policy_would_block(client, make_user):
    await make_user(Role.admin, username="admin")
    await login(client, "admin")
    for url in (
        "/",
        "/login",
        "/orders/",
        "/orders/errors",
        "/orders/import",
        "/orders/review",
        "/orders/processing",
        "/inventory/",
        "/inventory/counts",
        "/inventory/warehouses",
        "/flows/",
        "/settings/",
        "/settings/audit",
        "/channels/",
        "/fulfillment/documents",
        "/fulfillment/messages",
        "/settings/carrier-rates/",
        "/finance/",
        "/reports/",
        "/no-such-page",
    ):
        response = await client.get(url)
        assert response.status_code in (200, 404), url
        assert inline_code(response.text) == [], url

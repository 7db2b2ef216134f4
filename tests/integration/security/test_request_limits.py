"""Attacks on how a request body is read, tried through the real HTTP entry points.

- Every field of a form sent twice (``next=/a&next=/b``), to the public login and language switch and to
  every form an admin posts: the first value counts, a repeated ``next`` still only leads on-site, and
  nothing answers 500.
"""

from __future__ import annotations

from typing import Any

from app.domain.accounts.models import Role
from app.seed import seed_demo
from tests.integration.forms import csrf_from, login

#: Every form an admin posts, with a plausible value for each field (the same as an attacker would send).
FORMS: dict[str, dict[str, str]] = {
    "/inventory/sku/CABLE-C1/receive": {"warehouse": "SH01", "qty": "1", "note": "n"},
    "/inventory/sku/CABLE-C1/transfer": {"from_warehouse": "SH01", "to_warehouse": "BJ01", "qty": "1", "note": "n"},
    "/inventory/sku/CABLE-C1/safety": {"warehouse": "SH01", "safety_stock": "1"},
    "/inventory/sku/CABLE-C1/threshold": {"low_stock_threshold": "1"},
    "/inventory/counts": {"warehouse": "SH01", "lines": "CABLE-C1 5", "note": "x"},
    "/inventory/warehouses": {
        "code": "DUP1",
        "name": "n",
        "kind": "regional",
        "province": "上海",
        "city": "c",
        "priority": "1",
        "serves_regions": "华东",
    },
    "/inventory/channel-rules": {"shop_id": "3", "sku": "CABLE-C1", "ratio_pct": "50", "buffer": "0"},
    "/settings/carrier-rates": {
        "carrier_code": "SF",
        "first_fee_yuan": "5",
        "extra_fee_yuan": "1",
        "promised_days": "2",
    },
    "/settings/users": {"username": "dupu", "display_name": "d", "role": "viewer", "password": "Password-123456"},
    "/settings/tokens": {"name": "dupt", "scopes": "read"},
    "/channels/2/settings": {"api_base_url": "https://x.example", "app_key": "k", "pull_interval_minutes": "0"},
    "/flows": {"name": "dupflow", "template": ""},
    "/flows/1/settings": {
        "name": "n",
        "description": "d",
        "priority": "1",
        "channels": "tmall",
        "trigger": "order.received",
    },
    "/flows/1/publish": {"note": "dup"},
    "/flows/1/backtests": {"orders": "5"},
    "/flows/1/simulate": {"order": "sample:east_3c", "document": "", "payload": ""},
    "/flows/1/panel": {"node": "{}", "raw": "{}"},
    "/flows/1/panel/check": {"node": "{}", "raw": "{}"},
    "/orders/errors/1/replay": {"payload": "{}"},
}


async def token_of(client: Any, url: str = "/login") -> str:
    return csrf_from((await client.get(url)).text)


async def test_a_repeated_next_on_the_language_switch_follows_the_first_and_stays_on_site(client):
    token = await token_of(client)
    first = await client.post(
        "/lang", data={"_csrf_token": token, "lang": "en", "next": ["/orders", "/b"]}, follow_redirects=False
    )
    evil = await client.post(
        "/lang", data={"_csrf_token": token, "lang": "en", "next": ["//evil.example", "/"]}, follow_redirects=False
    )
    assert (first.status_code, first.headers["location"]) == (303, "/orders")
    assert (evil.status_code, evil.headers["location"]) == (303, "/")


async def test_a_login_with_every_field_sent_twice_uses_the_first_values(client, make_user):
    await make_user(Role.viewer, "viewer")
    token = await token_of(client)
    response = await client.post(
        "/login",
        data={
            "_csrf_token": token,
            "username": ["viewer", "admin"],
            "password": ["correct-horse-battery", "guess"],
            "next": ["//evil.example", "/orders"],
        },
        follow_redirects=False,
    )
    assert (response.status_code, response.headers["location"]) == (303, "/")
    assert "viewer" in (await client.get("/")).text


async def test_every_admin_form_with_each_field_sent_twice_answers_without_a_500(client, db, make_user):
    async with db.transaction() as session:
        await seed_demo(session)
    await make_user(Role.admin, "boss")
    await login(client, "boss")
    token = await token_of(client, "/settings/")
    answers = {}
    for path, form in FORMS.items():
        fields = {name: [value, value + "-again"] for name, value in form.items()}
        answers[path] = (
            await client.post(path, data={"_csrf_token": token, **fields}, follow_redirects=False)
        ).status_code
    assert {path: code for path, code in answers.items() if code >= 500} == {}

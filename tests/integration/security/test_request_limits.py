"""Attacks on how a request body is read, tried through the real HTTP entry points.

- Every field of a form sent twice (``next=/a&next=/b``), to the public login and language switch and to
  every form an admin posts: the first value counts, a repeated ``next`` still only leads on-site, and
  nothing answers 500.
- A huge form to the public login (9.2 MB of 2.3 million ``f=1`` fields), announced or streamed without a
  length: refused with 413 before it is read or parsed, while ``/healthz`` keeps answering.
- A form just under the size limit but of more than 10,000 tiny fields: 413 before it is parsed.
- Bodies past their route's limit: a webhook over 2 MB, an order file upload well over 5 MB, any other form or
  API body over 1 MB; a large real order still gets in.
- ``POST /healthz`` (a 405) is logged without a stack trace.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from app.db import Database
from app.domain.accounts.models import Role
from app.seed import seed_demo
from app.settings import Settings
from tests.integration.conftest import free_port, serving
from tests.integration.forms import csrf_from, login
from tests.integration.orders import conftest as orders_fixtures
from tests.integration.orders.conftest import deliver
from tests.samples import channels as samples

shops = orders_fixtures.shops

#: What the attacker sent: 2.3 million fields, 9.2 MB.
HUGE_FORM = "&".join(["f=1"] * 2_300_000).encode()
FORM = {"content-type": "application/x-www-form-urlencoded"}

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


@pytest.fixture
async def server(settings: Settings, db: Database) -> AsyncIterator[str]:
    """The app on a real port (uvicorn), so a stalled event loop shows in /healthz; yields its base URL."""
    async with serving(replace(settings, port=free_port())) as url:
        yield url


async def test_a_huge_form_to_the_login_is_refused_at_once_while_healthz_keeps_answering(server):
    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        assert (await http.get("/healthz")).status_code == 200  # warm up: the first request opens the database
        # CPU seconds of this process, which runs the server and the client: parsing 2.3 million fields would take
        # seconds of it, and a machine busy with other work does not stretch it as it stretches the wall clock.
        started = time.process_time()
        response = await http.post("/login", content=HUGE_FORM, headers=FORM)
        refused_in = time.process_time() - started
        health_started = time.process_time()
        assert (await http.get("/healthz")).status_code == 200
        health_in = time.process_time() - health_started

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(HUGE_FORM), 65536):
                yield HUGE_FORM[start : start + 65536]

        streamed = await http.post("/login", content=chunks(), headers=FORM)  # no Content-Length
    assert response.status_code == 413 and "请求过大：此页面最多接收 64 KB。" in response.text
    assert streamed.status_code == 413
    assert refused_in < 1 and health_in < 0.5


async def test_a_form_of_many_tiny_fields_under_the_size_limit_is_refused_before_it_is_parsed(client):
    token = await token_of(client)
    body = f"_csrf_token={token}&username=admin&" + "&".join(["f=1"] * 10_000)
    assert len(body) < 64 * 1024
    response = await client.post("/login", content=body, headers=FORM)
    assert response.status_code == 413 and "表单字段过多（最多 10,000 个）。" in response.text


async def test_a_form_that_fits_is_not_refused_for_its_size(client):
    token = await token_of(client)
    body = f"_csrf_token={token}&lang=en&next=/orders&" + "&".join(["f=1"] * 9_000)
    response = await client.post("/lang", content=body, headers=FORM, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/orders")


async def test_a_webhook_over_two_megabytes_is_refused_and_a_large_real_order_gets_in(client, shops):
    big = samples.taobao_multi_line_with_gift()
    big["padding"] = "x" * (2 * 1024 * 1024)
    refused = await deliver(client, "tmall", big)
    assert refused.status_code == 413 and refused.json()["detail"] == "请求过大：此页面最多接收 2 MB。"
    large = samples.taobao_multi_line_with_gift()
    large["seller_memo_history"] = ["备注" * 100] * 2000  # about 1.2 MB of JSON
    accepted = await deliver(client, "tmall", large)
    assert accepted.status_code == 200, accepted.text[:300]


async def test_an_order_file_well_over_five_megabytes_is_refused_before_it_is_read(client, make_user):
    await make_user(Role.admin, "boss")
    await login(client, "boss")
    token = await token_of(client, "/orders/import")
    response = await client.post(
        "/orders/import",
        data={"_csrf_token": token},
        files={"file": ("orders.csv", b"x" * (6 * 1024 * 1024), "text/csv")},
    )
    assert response.status_code == 413 and "请求过大：此页面最多接收 5 MB。" in response.text


async def test_any_other_form_over_a_megabyte_is_refused(client, make_user):
    await make_user(Role.admin, "boss")
    await login(client, "boss")
    token = await token_of(client, "/settings/")
    response = await client.post(
        "/settings/tokens", data={"_csrf_token": token, "name": "n" * (1024 * 1024)}, follow_redirects=False
    )
    assert response.status_code == 413 and "请求过大：此页面最多接收 1 MB。" in response.text


async def test_a_post_to_healthz_is_a_405_logged_without_a_stack_trace(client, caplog):
    with caplog.at_level(logging.ERROR):
        response = await client.post("/healthz")
    assert response.status_code == 405
    assert not [record for record in caplog.records if record.exc_info or "Traceback" in record.getMessage()]

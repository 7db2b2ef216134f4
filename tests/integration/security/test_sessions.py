"""Attacks on sessions and accounts, each tried the way an attacker would.

- CSRF with a planted pair: the attacker gets a cookie and its matching token from their own visit, writes
  the cookie into the admin's browser and makes it post a form with the token. Refused with 403.
- CSRF with a token from another session (the attacker's own login, or an earlier session of the victim).
- A token captured before login replayed after it.
- A login form posted from another site (login CSRF), even with a matching pre-session pair.
- Planting a session or pre-session cookie from a sibling subdomain: in production both are ``__Host-``
  cookies, which browsers take only from this host over HTTPS; a plain-named cookie is not looked at.
- Locking the admin out at will: an attacker failing many logins for ``admin`` from one address, or one
  failure each from many addresses, does not stop the admin logging in from theirs; the wait grows.
- Escaping the backoff by sending a new X-Forwarded-For with every guess: ignored unless the peer is a
  configured proxy, and then only the hop that proxy saw counts.
- A locked account is unlocked by an admin, on the settings page or with ``ruleflow unlock-user``
  (audited).
- A disabled user's live session and API token stop on their very next request (audited), and come back
  only when re-enabled (the token; sessions do not). An admin cannot disable themselves.
- Logging in as ``admin`` / ``admin-demo-123`` on a production site where someone ran ``ruleflow seed-demo``:
  the command refuses in production and adds nobody.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient
from litestar.testing import transport as litestar_transport
from sqlmodel import select

from app.auth import SESSION_COOKIE
from app.cli import main as ruleflow
from app.csrf import presession_cookie_name
from app.db import utcnow
from app.domain.accounts.models import AuditEntry, LoginThrottle, Role, User
from app.main import create_app
from app.settings import Settings, get_settings, parse_networks
from tests.integration.forms import PASSWORD, csrf_from, login, post_form

PROXY = "10.0.0.5"
ATTACKER = "203.0.113.9"
ADMIN_HOME = "198.51.100.7"

NEW_USER = {"username": "intruder", "display_name": "intruder", "role": "admin", "password": "long-enough-1"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings behind one configured reverse proxy (10.0.0.0/8)."""
    return replace(settings, trusted_proxies=parse_networks("10.0.0.0/8"))


class TransportFrom(litestar_transport.TestClientTransport[Any], httpx.AsyncBaseTransport):
    """The test client's own transport (so the app runs on its event loop), from another network address."""

    def __init__(self, client: AsyncTestClient[Litestar], address: str) -> None:
        super().__init__(client=client, raise_server_exceptions=True, root_path="")
        self.address = address

    def parse_request(self, request: httpx.Request) -> dict[str, Any]:
        return {**super().parse_request(request), "client": (self.address, 40000)}


@asynccontextmanager
async def browser_at(client: AsyncTestClient[Litestar], address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser (its own cookies), talking to the running app from another network address."""
    transport = TransportFrom(client, address)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as browser:
        yield browser


async def attempt(browser: Any, username: str, password: str, forwarded_for: str | None = None) -> httpx.Response:
    token = csrf_from((await browser.get("/login")).text)
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return await browser.post(
        "/login",
        data={"_csrf_token": token, "username": username, "password": password},
        headers=headers,
        follow_redirects=False,
    )


async def audits(db: Any, action: str) -> list[AuditEntry]:
    async with db.reading() as session:
        return list((await session.exec(select(AuditEntry).where(AuditEntry.action == action))).all())


async def user_exists(db: Any, username: str) -> bool:
    async with db.reading() as session:
        return (await session.exec(select(User).where(User.username == username))).first() is not None


async def session_of(client: AsyncTestClient[Litestar], username: str) -> tuple[str, str]:
    """Log in afresh (no earlier cookie is replaced) and return the session cookie and its page token."""
    client.cookies.clear()
    await login(client, username)
    cookie = client.cookies[SESSION_COOKIE]
    return cookie, csrf_from((await client.get("/settings/" if username == "boss" else "/")).text)


async def test_a_planted_cookie_and_token_pair_is_refused(client, make_user, db):
    await make_user(Role.admin, "boss")
    # The attacker's own visit gives them the site's cookies and the token that matches them.
    attacker_page = await client.get("/login")
    planted_cookies = dict(client.cookies)
    planted_token = csrf_from(attacker_page.text)
    client.cookies.clear()
    await login(client, "boss")
    for name, value in planted_cookies.items():
        client.cookies.set(name, value)
    response = await client.post("/settings/users", data={"_csrf_token": planted_token, **NEW_USER})
    assert response.status_code == 403
    assert "表单已过期" in response.text
    htmx = await client.post(
        "/settings/users", data=NEW_USER, headers={"HX-Request": "true", "X-CSRFToken": planted_token}
    )
    assert htmx.status_code == 403
    assert not await user_exists(db, "intruder")


async def test_a_token_from_another_session_is_refused(client, make_user, db):
    await make_user(Role.admin, "boss")
    await make_user(Role.viewer, "mallory")
    _, mallory_token = await session_of(client, "mallory")
    _, earlier_token = await session_of(client, "boss")
    boss_cookie, boss_token = await session_of(client, "boss")
    client.cookies.set(SESSION_COOKIE, boss_cookie)
    for token in (mallory_token, earlier_token):
        response = await client.post("/settings/users", data={"_csrf_token": token, **NEW_USER})
        assert response.status_code == 403
    assert not await user_exists(db, "intruder")
    # The session's own token, sent the way htmx sends it, is accepted.
    accepted = await client.post(
        "/settings/users", data=NEW_USER, headers={"HX-Request": "true", "X-CSRFToken": boss_token}
    )
    assert accepted.status_code == 200
    assert await user_exists(db, "intruder")


async def test_a_token_captured_before_login_does_not_work_after_it(client, make_user, db):
    await make_user(Role.admin, "boss")
    before = csrf_from((await client.get("/login")).text)
    await client.post("/login", data={"_csrf_token": before, "username": "boss", "password": PASSWORD})
    response = await client.post("/settings/users", data={"_csrf_token": before, **NEW_USER})
    assert response.status_code == 403
    assert not await user_exists(db, "intruder")


async def test_a_login_posted_from_another_site_is_refused_even_with_a_matching_pair(client, make_user):
    await make_user(Role.admin, "boss")
    token = csrf_from((await client.get("/login")).text)
    for site in ("cross-site", "same-site"):
        response = await client.post(
            "/login",
            data={"_csrf_token": token, "username": "boss", "password": PASSWORD},
            headers={"Sec-Fetch-Site": site},
            follow_redirects=False,
        )
        assert response.status_code == 403
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    same_origin = await client.post(
        "/login",
        data={"_csrf_token": token, "username": "boss", "password": PASSWORD},
        headers={"Sec-Fetch-Site": "same-origin"},
        follow_redirects=False,
    )
    assert same_origin.status_code == 303


async def test_a_login_without_the_pre_session_cookie_is_refused(client, make_user, settings: Settings):
    await make_user(Role.admin, "boss")
    token = csrf_from((await client.get("/login")).text)
    client.cookies.clear()
    response = await client.post(
        "/login", data={"_csrf_token": token, "username": "boss", "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 403
    assert presession_cookie_name(settings) == "rf_presession"
    assert presession_cookie_name(Settings(env="production")) == "__Host-rf_presession"


async def test_in_production_cookies_that_another_host_could_plant_are_not_looked_at(settings: Settings, make_user):
    await make_user(Role.admin, "boss")
    production = replace(settings, env="production", sandbox_carrier=False, carrier_api_secret="contract-secret")
    async with AsyncTestClient(create_app(production), base_url="https://oms.example.com") as browser:
        page = await browser.get("/login")
        assert "__Host-rf_presession=" in page.headers["set-cookie"]
        logged_in = await browser.post(
            "/login",
            data={"_csrf_token": csrf_from(page.text), "username": "boss", "password": PASSWORD},
            follow_redirects=False,
        )
        cookie = logged_in.headers["set-cookie"]
        assert cookie.startswith(f"__Host-{SESSION_COOKIE}=")
        assert "Secure" in cookie and "Path=/" in cookie and "Domain" not in cookie
        assert (await browser.get("/settings/")).status_code == 200
        session = browser.cookies[f"__Host-{SESSION_COOKIE}"]
        browser.cookies.clear()
        browser.cookies.set(SESSION_COOKIE, session)  # the same value under the name a sibling host can write
        assert (await browser.get("/settings/", follow_redirects=False)).status_code == 303


# --- lockout -------------------------------------------------------------------------------------


async def test_an_attacker_failing_many_logins_for_admin_from_one_address_does_not_stop_the_admin(client, make_user):
    await make_user(Role.admin, "admin")
    async with browser_at(client, ATTACKER) as attacker:
        answers = [(await attempt(attacker, "admin", f"guess-{i}")).status_code for i in range(40)]
        assert answers[:4] == [400] * 4
        assert set(answers[5:]) == {429}
        assert (await attempt(attacker, "admin", PASSWORD)).status_code == 429
    async with browser_at(client, ADMIN_HOME) as admin:
        response = await attempt(admin, "admin", PASSWORD)
        assert response.status_code == 303
        assert (await admin.get("/settings/")).status_code == 200


async def test_many_addresses_guessing_one_account_each_wait_after_one_failure_but_the_admin_gets_in(
    client, make_user, settings: Settings
):
    await make_user(Role.admin, "admin")
    for i in range(settings.login_account_max_failures):
        async with browser_at(client, f"203.0.113.{i + 1}") as bot:
            assert (await attempt(bot, "admin", f"guess-{i}")).status_code == 400
    async with browser_at(client, "192.0.2.1") as bot:
        assert (await attempt(bot, "admin", "one-more-guess")).status_code == 400
        assert (await attempt(bot, "admin", "and-another")).status_code == 429
    async with browser_at(client, ADMIN_HOME) as admin:
        assert (await attempt(admin, "admin", PASSWORD)).status_code == 303


async def test_the_wait_doubles_with_each_failure_past_the_limit(client, make_user, db, settings: Settings):
    await make_user(Role.admin, "admin")
    waits = []
    async with browser_at(client, ATTACKER) as attacker:
        for _ in range(settings.login_max_failures - 1):
            await attempt(attacker, "admin", "wrong-password")
        for _ in range(3):
            before = utcnow()
            assert (await attempt(attacker, "admin", "wrong-again")).status_code == 400
            refused = await attempt(attacker, "admin", PASSWORD)
            assert refused.status_code == 429
            async with db.transaction() as session:
                row = await session.get(LoginThrottle, f"pair:admin|{ATTACKER}")
                assert row is not None and row.locked_until is not None
                waits.append((row.locked_until - before).total_seconds())
                row.locked_until = utcnow() - timedelta(seconds=1)  # the wait is over
                session.add(row)
        assert (await attempt(attacker, "admin", "wrong-again")).status_code == 400
        refused = await attempt(attacker, "admin", PASSWORD)
    # Each wait starts at the failure, a moment after ``before``.
    assert [expected <= wait < expected + 3 for expected, wait in zip([30, 60, 120], waits, strict=True)] == [True] * 3
    assert "登录失败次数过多，请 4 分钟后再试" in refused.text


async def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(client, make_user, db, settings: Settings):
    await make_user(Role.admin, "admin")
    async with browser_at(client, ATTACKER) as attacker:
        for i in range(settings.login_max_failures):
            await attempt(attacker, "admin", "wrong-password", forwarded_for=f"192.0.2.{i + 1}")
        assert (await attempt(attacker, "admin", PASSWORD, forwarded_for="192.0.2.99")).status_code == 429
    assert {entry.ip for entry in await audits(db, "login.failed")} == {ATTACKER}


async def test_x_forwarded_for_from_a_trusted_proxy_is_honoured(client, make_user, db, settings: Settings):
    await make_user(Role.admin, "admin")
    async with browser_at(client, PROXY) as proxy:
        for _ in range(settings.login_max_failures + 3):
            # The attacker writes a fake first hop; the proxy appends the address it really saw.
            await attempt(proxy, "admin", "wrong-password", forwarded_for=f"{ADMIN_HOME}, {ATTACKER}")
        assert (await attempt(proxy, "admin", PASSWORD, forwarded_for=ATTACKER)).status_code == 429
        assert (await attempt(proxy, "admin", PASSWORD, forwarded_for=ADMIN_HOME)).status_code == 303
    assert {entry.ip for entry in await audits(db, "login.failed")} == {ATTACKER}
    assert [entry.ip for entry in await audits(db, "login.succeeded")] == [ADMIN_HOME]


async def test_an_admin_unlocks_a_locked_account_and_it_is_audited(client, make_user, db, settings: Settings):
    await make_user(Role.admin, "boss")
    operator = await make_user(Role.operator, "liqiang")
    async with browser_at(client, ADMIN_HOME) as office:
        for _ in range(settings.login_max_failures):
            await attempt(office, "liqiang", "forgot-it")
        assert (await attempt(office, "liqiang", PASSWORD)).status_code == 429
        await login(client, "boss")
        page = await client.get("/settings/")
        assert 'data-testid="unlock-liqiang"' in page.text
        assert 'data-testid="unlock-boss"' not in page.text
        unlocked = await post_form(client, "/settings/", f"/settings/users/{operator.id}/unlock", {})
        assert unlocked.status_code == 200
        assert 'data-testid="unlock-liqiang"' not in unlocked.text
        assert (await attempt(office, "liqiang", PASSWORD)).status_code == 303
    [entry] = await audits(db, "user.unlock")
    assert (entry.actor_name, entry.target_id) == ("boss", str(operator.id))
    assert entry.before == {"locked_addresses": [ADMIN_HOME]}


async def test_an_admin_locked_out_of_every_address_unlocks_with_the_command(
    client, make_user, db, settings, monkeypatch
):
    await make_user(Role.admin, "admin")
    async with browser_at(client, ADMIN_HOME) as office:
        for _ in range(settings.login_max_failures):
            await attempt(office, "admin", "forgot-it")
        assert (await attempt(office, "admin", PASSWORD)).status_code == 429
        monkeypatch.setenv("DATABASE_URL", settings.database_url)
        monkeypatch.setenv("SECRET_KEY", settings.secret_key)
        get_settings.cache_clear()
        try:
            done = await asyncio.to_thread(CliRunner().invoke, ruleflow, ["unlock-user", "admin"])
            unknown = await asyncio.to_thread(CliRunner().invoke, ruleflow, ["unlock-user", "nobody"])
        finally:
            get_settings.cache_clear()
        assert done.exit_code == 0, done.output
        assert unknown.exit_code != 0 and "no user named nobody" in unknown.output
        assert (await attempt(office, "admin", PASSWORD)).status_code == 303
    [entry] = await audits(db, "user.unlock")
    assert (entry.actor_type, entry.before) == ("system", {"locked_addresses": [ADMIN_HOME]})


async def test_guesses_at_names_that_were_never_tried_again_are_forgotten(client, make_user, db, settings):
    async with browser_at(client, ATTACKER) as attacker:
        for i in range(3):
            await attempt(attacker, f"random-name-{i}", "guess")
        async with db.transaction() as session:
            for row in (await session.exec(select(LoginThrottle))).all():
                row.first_failure_at = utcnow() - timedelta(minutes=settings.login_lock_minutes + 1)
                session.add(row)
        await attempt(attacker, "another-name", "guess")
    async with db.reading() as session:
        keys = sorted(row.key for row in (await session.exec(select(LoginThrottle))).all())
    assert keys == [f"ip:{ATTACKER}", f"pair:another-name|{ATTACKER}", "user:another-name"]


# --- disabling users -----------------------------------------------------------------------------


async def test_a_disabled_users_live_session_and_token_stop_at_once(client, make_user, db):
    await make_user(Role.admin, "boss")
    deputy = await make_user(Role.admin, "deputy")
    async with browser_at(client, ADMIN_HOME) as browser:
        await attempt(browser, "deputy", PASSWORD)
        created = await post_form(browser, "/settings/", "/settings/tokens", {"name": "erp", "scopes": ["read"]})
        secret = created.text.split('<code class="secret">')[1].split("<")[0]
        bearer = {"Authorization": f"Bearer {secret}"}
        assert (await browser.get("/orders/")).status_code == 200
        assert (await browser.get("/api/v1/whoami", headers=bearer)).status_code == 200

        await login(client, "boss")
        disabled = await post_form(client, "/settings/", f"/settings/users/{deputy.id}/disable", {})
        assert disabled.status_code == 200
        assert 'data-testid="enable-deputy"' in disabled.text

        page = await browser.get("/orders/", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        fragment = await browser.get("/orders/", headers={"HX-Request": "true"}, follow_redirects=False)
        assert fragment.headers.get("hx-redirect", "").startswith("/login")
        assert (await browser.get("/api/v1/whoami", headers=bearer)).status_code == 401
        assert (await attempt(browser, "deputy", PASSWORD)).status_code == 400

        enabled = await post_form(client, "/settings/", f"/settings/users/{deputy.id}/enable", {})
        assert enabled.status_code == 200
        assert (await browser.get("/orders/", follow_redirects=False)).status_code == 303  # the session stays ended
        assert (await browser.get("/api/v1/whoami", headers=bearer)).status_code == 200
    [entry] = await audits(db, "user.disable")
    assert entry.actor_name == "boss" and entry.target_id == str(deputy.id)
    assert entry.after is not None
    assert (entry.after["is_active"], entry.after["sessions_ended"], entry.after["tokens_suspended"]) == (False, 1, 1)
    assert [e.target_id for e in await audits(db, "user.enable")] == [str(deputy.id)]


async def test_an_admin_cannot_disable_themselves(client, make_user, db):
    boss = await make_user(Role.admin, "boss")
    await login(client, "boss")
    refused = await post_form(client, "/settings/", f"/settings/users/{boss.id}/disable", {})
    assert refused.status_code == 400
    assert "不能停用自己的账号" in refused.text
    assert (await client.get("/settings/")).status_code == 200
    assert await audits(db, "user.disable") == []


async def test_seed_demo_refuses_in_production_so_the_published_demo_admin_password_never_works(
    client, db, settings, monkeypatch
):
    monkeypatch.setenv("RULEFLOW_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("CARRIER_API_SECRET", "a-real-carrier-secret-for-this-site")
    monkeypatch.delenv("PASSWORD_HASHING")  # a production site hashes at full cost (the tests ask for less)
    get_settings.cache_clear()
    try:
        result = await asyncio.to_thread(CliRunner().invoke, ruleflow, ["seed-demo"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code != 0
    assert "refuses to run in production" in result.output and "admin-demo-123" not in result.output
    assert not await user_exists(db, "admin")
    async with browser_at(client, ATTACKER) as attacker:
        assert (await attempt(attacker, "admin", "admin-demo-123")).status_code == 400

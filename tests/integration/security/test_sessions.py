"""Attacks on sessions and accounts, each tried the way an attacker would.

- CSRF with a planted pair: the attacker gets a cookie and its matching token from their own visit, writes
  the cookie into the admin's browser and makes it post a form with the token. Refused with 403.
- CSRF with a token from another session (the attacker's own login, or an earlier session of the victim).
- A token captured before login replayed after it.
- A login form posted from another site (login CSRF), even with a matching pre-session pair.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import select

from app.auth import SESSION_COOKIE
from app.csrf import presession_cookie_name
from app.domain.accounts.models import Role, User
from app.settings import Settings
from tests.integration.forms import PASSWORD, csrf_from, login

NEW_USER = {"username": "intruder", "display_name": "intruder", "role": "admin", "password": "long-enough-1"}


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

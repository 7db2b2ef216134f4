"""Logging in and out: cookies, rotation, timeouts, wrong passwords and throttling."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from app.auth import SESSION_COOKIE
from app.db import utcnow
from app.domain.accounts.models import AuditEntry, Role, UserSession
from tests.integration.forms import PASSWORD, csrf_from, login


async def audit_actions(db) -> list[str]:
    async with db.reading() as session:
        return [e.action for e in (await session.exec(select(AuditEntry).order_by(AuditEntry.id))).all()]


async def test_it_logs_a_user_in_with_a_secure_session_cookie(client, make_user):
    await make_user(Role.operator, "liqiang")
    response = await login(client, "liqiang")
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    home = await client.get("/")
    assert home.status_code == 200
    assert "liqiang" in home.text


async def test_it_rejects_a_wrong_password_with_a_message_in_chinese(client, make_user, db):
    await make_user(Role.viewer, "zhaomin")
    response = await login(client, "zhaomin", "wrong-password")
    assert response.status_code == 400
    assert "用户名或密码错误" in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert (await client.get("/", follow_redirects=False)).status_code == 303
    assert "login.failed" in await audit_actions(db)


async def test_an_unknown_user_gets_the_same_message_as_a_wrong_password(client):
    response = await login(client, "nobody", "whatever-password")
    assert response.status_code == 400
    assert "用户名或密码错误" in response.text


async def test_it_locks_the_account_after_repeated_failures_even_for_the_right_password(client, make_user, db):
    await make_user(Role.viewer, "target")
    for _ in range(5):
        await login(client, "target", "guess-guess")
    locked = await login(client, "target", PASSWORD)
    assert locked.status_code == 429
    assert "登录失败次数过多" in locked.text
    assert "login.throttled" in await audit_actions(db)


async def test_the_session_id_rotates_at_login(client, make_user):
    await make_user(Role.viewer, "rotator")
    first = (await login(client, "rotator")).cookies[SESSION_COOKIE]
    second = (await login(client, "rotator")).cookies[SESSION_COOKIE]
    assert first != second
    client.cookies.set(SESSION_COOKIE, first)
    assert (await client.get("/", follow_redirects=False)).status_code == 303


async def test_logout_ends_the_session(client, make_user):
    await make_user(Role.viewer, "leaver")
    cookie = (await login(client, "leaver")).cookies[SESSION_COOKIE]
    home = await client.get("/")
    response = await client.post("/logout", data={"_csrf_token": csrf_from(home.text)}, follow_redirects=False)
    assert response.status_code == 303
    client.cookies.set(SESSION_COOKIE, cookie)
    assert (await client.get("/", follow_redirects=False)).status_code == 303


async def test_an_idle_session_expires(client, make_user, db):
    await make_user(Role.viewer, "sleepy")
    await login(client, "sleepy")
    async with db.transaction() as session:
        for row in (await session.exec(select(UserSession))).all():
            row.last_seen_at = utcnow() - timedelta(hours=2)
            session.add(row)
    response = await client.get("/orders/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    async with db.reading() as session:
        assert (await session.exec(select(UserSession))).all() == []


async def test_a_busy_session_still_ends_at_the_absolute_timeout(client, make_user, db):
    await make_user(Role.viewer, "busy")
    await login(client, "busy")
    async with db.transaction() as session:
        for row in (await session.exec(select(UserSession))).all():
            row.created_at = utcnow() - timedelta(hours=13)
            row.last_seen_at = utcnow()
            session.add(row)
    assert (await client.get("/", follow_redirects=False)).status_code == 303


async def test_login_redirects_only_to_pages_of_this_site(client, make_user):
    await make_user(Role.viewer, "safe")
    page = await client.get("/login")
    response = await client.post(
        "/login",
        data={
            "_csrf_token": csrf_from(page.text),
            "username": "safe",
            "password": PASSWORD,
            "next": "//evil.example/phish",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


async def test_a_form_sent_after_the_session_ended_leads_to_the_login_page(client, make_user, db):
    await make_user(Role.admin, "boss")
    await login(client, "boss")
    token = csrf_from((await client.get("/settings/")).text)
    async with db.transaction() as session:
        for row in (await session.exec(select(UserSession))).all():
            row.last_seen_at = utcnow() - timedelta(hours=2)
            session.add(row)
    form = {"_csrf_token": token, "username": "late", "role": "viewer", "password": "long-enough-1"}
    response = await client.post("/settings/users", data=form, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/settings/users"
    fragment = await client.post("/settings/users", data=form, headers={"HX-Request": "true"})
    assert fragment.headers["hx-redirect"].startswith("/login")

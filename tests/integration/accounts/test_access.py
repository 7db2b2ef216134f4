"""Who may see what: navigation per role, role guards, CSRF, API tokens and the audit of refusals."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from app.domain.accounts.models import AuditEntry, Role, TokenScope, User
from tests.integration.forms import csrf_from, login, post_form

NAV = {
    Role.viewer: {"orders", "aftersales", "inventory", "reports"},
    Role.operator: {"orders", "review", "aftersales", "inventory", "reports"},
    Role.designer: {"orders", "aftersales", "inventory", "flows", "reports"},
    Role.finance: {"orders", "aftersales", "inventory", "finance", "reports"},
    Role.admin: {"orders", "review", "aftersales", "inventory", "flows", "finance", "reports", "settings"},
}
ALL_NAV = {"orders", "review", "aftersales", "inventory", "flows", "finance", "reports", "settings"}


@pytest.mark.parametrize("role", list(Role))
async def test_each_role_sees_only_its_navigation(client, make_user, role):
    await make_user(role, f"{role.value}-nav")
    await login(client, f"{role.value}-nav")
    html = (await client.get("/")).text
    shown = {key for key in ALL_NAV if f'data-testid="nav-{key}"' in html}
    assert shown == NAV[role]


async def test_an_anonymous_visitor_is_sent_to_the_login_page(client):
    response = await client.get("/inventory/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/inventory"


async def test_a_designer_opening_an_admin_page_gets_403_and_it_is_audited(client, make_user, db):
    await make_user(Role.designer, "wangfang")
    await login(client, "wangfang")
    response = await client.get("/settings/")
    assert response.status_code == 403
    assert "无权访问" in response.text
    async with db.reading() as session:
        denied = (await session.exec(select(AuditEntry).where(AuditEntry.action == "access.denied"))).all()
    assert [(e.actor_name, e.target_id) for e in denied] == [("wangfang", "GET /settings")]


async def test_a_form_post_without_csrf_token_is_refused_and_changes_nothing(client, make_user, db):
    await make_user(Role.admin, "boss")
    await login(client, "boss")
    response = await client.post(
        "/settings/users",
        data={"username": "intruder", "role": "admin", "password": "long-enough-1"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "表单已过期" in response.text
    async with db.reading() as session:
        assert (await session.exec(select(User).where(User.username == "intruder"))).first() is None


async def test_an_admin_adds_a_user_through_the_settings_form(client, make_user, db):
    await make_user(Role.admin, "boss")
    await login(client, "boss")
    response = await post_form(
        client,
        "/settings/",
        "/settings/users",
        {"username": "newbie", "display_name": "新人", "role": "operator", "password": "long-enough-1"},
    )
    assert response.status_code == 200
    assert "newbie" in response.text
    async with db.reading() as session:
        entry = (
            await session.exec(
                select(AuditEntry).where(AuditEntry.action == "user.create").order_by(AuditEntry.id.desc())
            )
        ).first()
    assert entry is not None and entry.actor_name == "boss"
    assert entry.after == {"username": "newbie", "display_name": "新人", "role": "operator", "is_active": True}


async def test_a_short_password_is_refused_with_a_message(client, make_user, db):
    await make_user(Role.admin, "boss")
    await login(client, "boss")
    response = await post_form(
        client, "/settings/", "/settings/users", {"username": "weak", "role": "viewer", "password": "short"}
    )
    assert response.status_code == 400
    assert "请检查以下字段" in response.text
    async with db.reading() as session:
        assert (await session.exec(select(User).where(User.username == "weak"))).first() is None


async def test_an_api_call_without_a_token_gets_401(client):
    response = await client.get("/api/v1/whoami")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


async def test_an_api_call_with_a_bad_token_gets_401(client, make_token):
    secret = await make_token(TokenScope.read)
    response = await client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {secret}x"})
    assert response.status_code == 401


async def test_an_api_call_with_the_wrong_scope_gets_403_and_is_audited(client, make_token, db):
    secret = await make_token(TokenScope.ingest, name="douyin webhook")
    response = await client.post("/api/v1/system/ping", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 403
    async with db.reading() as session:
        denied = (await session.exec(select(AuditEntry).where(AuditEntry.action == "access.denied"))).all()
    assert [e.actor_name for e in denied] == ["token:douyin webhook"]


async def test_an_api_call_with_the_right_scope_succeeds(client, make_token):
    secret = await make_token(TokenScope.read, name="reporting")
    response = await client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    assert response.json() == {"name": "token:reporting", "kind": "token", "scopes": ["read"]}


async def test_a_browser_session_cannot_call_the_api(client, make_user):
    await make_user(Role.admin, "boss")
    await login(client, "boss")
    assert (await client.get("/api/v1/whoami")).status_code == 401


async def test_a_revoked_token_stops_working(client, make_user):
    await make_user(Role.admin, "boss")
    await login(client, "boss")
    created = await post_form(client, "/settings/", "/settings/tokens", {"name": "erp", "scopes": ["read"]})
    assert created.status_code == 200
    secret = created.text.split('<code class="secret">')[1].split("<")[0]
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/api/v1/whoami", headers=headers)).status_code == 200
    token_id = created.text.split('data-testid="revoke-')[1].split('"')[0]
    page = await client.get("/settings/")
    revoked = await client.post(f"/settings/tokens/{token_id}/revoke", data={"_csrf_token": csrf_from(page.text)})
    assert revoked.status_code == 200
    assert (await client.get("/api/v1/whoami", headers=headers)).status_code == 401


async def test_the_audit_log_is_append_only_in_the_database(db, make_user):
    await make_user(Role.viewer, "someone")
    with pytest.raises(Exception, match="append-only"):
        async with db.transaction() as session:
            entry = (await session.exec(select(AuditEntry))).first()
            assert entry is not None
            entry.action = "tampered"
            session.add(entry)
    with pytest.raises(Exception, match="append-only"):
        async with db.transaction() as session:
            entry = (await session.exec(select(AuditEntry))).first()
            await session.delete(entry)


async def test_the_admin_audit_page_lists_entries_newest_first(client, make_user):
    await make_user(Role.admin, "boss")
    await login(client, "nobody", "wrong-password-1")
    await login(client, "boss")
    html = (await client.get("/settings/audit")).text
    actions = [part.split('"')[0] for part in html.split('data-action="')[1:]]
    assert actions[:3] == ["login.succeeded", "login.failed", "user.create"]


async def test_the_interface_switches_to_english_and_back(client, make_user):
    await make_user(Role.viewer, "reader")
    await login(client, "reader")
    assert "订单" in (await client.get("/")).text
    await post_form(client, "/", "/lang", {"lang": "en", "next": "/"})
    assert nav_label((await client.get("/")).text, "orders") == "Orders"
    await post_form(client, "/", "/lang", {"lang": "zh_Hans", "next": "/"})
    assert nav_label((await client.get("/")).text, "orders") == "订单"


def nav_label(html: str, key: str) -> str:
    match = re.search(rf'data-testid="nav-{key}"[^>]*>([^<]+)<', html)
    assert match, f"no nav-{key} link"
    return match.group(1).strip()

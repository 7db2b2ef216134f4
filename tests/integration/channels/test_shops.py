"""Shops as master data: an admin adds, renames, disables and enables a shop on 渠道与店铺 or through the API;
bad input is refused in Chinese and adds nothing; a disabled shop's webhooks, pushes and pulls stop at once."""

from __future__ import annotations

import re
import time

import pytest
from sqlmodel import col, func, select

from app.domain.accounts.models import AuditEntry, Role, TokenScope
from app.domain.channels.services import credentials_of, pull_shop, set_credentials
from app.domain.orders.models import Order
from app.domain.shops.models import Channel, Shop
from app.outbox import OutboxMessage
from tests.integration.forms import csrf_from, login, post_form
from tests.integration.orders.conftest import SHOP_CODES, deliver
from tests.integration.orders.test_platform_push import connect, douyin_body, douyin_order, push_douyin
from tests.samples import channels as samples

NEW_SHOP = {
    "channel": "jd",
    "code": "jd-outlet",
    "name": "京东奥莱店",
    "api_base_url": "https://api.jd.example",
    "app_key": "jd-app-key-1",
    "app_secret": "jd-app-secret-very-secret",
    "access_token": "jd-token-very-secret",
    "pull_interval_minutes": "15",
}


async def count(db, model, *where) -> int:
    async with db.reading() as session:
        return int((await session.exec(select(func.count()).select_from(model).where(*where))).one())


async def shop_named(db, code: str) -> Shop | None:
    async with db.reading() as session:
        return (await session.exec(select(Shop).where(Shop.code == code))).first()


async def audit_rows(db, action: str) -> list[AuditEntry]:
    async with db.reading() as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.id))
        return list((await session.exec(query)).all())


@pytest.fixture
async def admin(client, make_user):
    await make_user(Role.admin, username="admin")
    await login(client, "admin")


# --- the page ----------------------------------------------------------------------------------------------


async def test_the_new_shop_form_has_the_fields_a_journey_drives(client, admin):
    page = (await client.get("/channels/")).text
    for element in ('id="shop-new-channel"', 'id="shop-new-code"', 'id="shop-new-name"', 'id="shop-new-submit"'):
        assert element in page
    assert re.search(r'<button type="submit" id="shop-new-submit"[^>]*>保存</button>', page)
    assert '<label for="shop-new-code">店铺编码</label>' in page


async def test_an_admin_adds_a_shop_with_credentials_and_schedule_kept_encrypted_and_audited(
    client, db, settings, admin
):
    response = await post_form(client, "/channels/", "/channels/new", NEW_SHOP)
    assert response.status_code == 303
    shop = await shop_named(db, "jd-outlet")
    assert shop is not None and response.headers["location"] == f"/channels#shop-{shop.id}"
    assert (shop.channel, shop.name, shop.is_active, shop.pull_interval_minutes) == (Channel.jd, "京东奥莱店", True, 15)
    assert "very-secret" not in shop.app_secret_cipher + shop.access_token_cipher
    creds = credentials_of(shop, settings.secret_key)
    assert (creds.app_key, creds.app_secret, creds.access_token) == (
        "jd-app-key-1",
        "jd-app-secret-very-secret",
        "jd-token-very-secret",
    )
    # The schedule starts at once: its first pull waits 15 minutes in the outbox.
    assert await count(db, OutboxMessage, col(OutboxMessage.dedupe_key).startswith(f"pull_schedule:{shop.id}:")) == 1
    [entry] = await audit_rows(db, "shop.created")
    assert entry.actor_name == "admin" and entry.target_id == str(shop.id)
    assert entry.after["app_secret_set"] is True and "very-secret" not in str(entry.after)
    page = (await client.get("/channels/")).text
    assert 'data-testid="shop-jd-outlet"' in page and "very-secret" not in page


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"code": "tmall-shop"}, "店铺编码 tmall-shop 已被使用。"),
        ({"code": "TMALL-SHOP"}, "店铺编码 TMALL-SHOP 已被使用。"),
        ({"code": "京东 店"}, "店铺编码 京东 店 只能包含字母、数字、- 和 _"),
        ({"code": "-leading"}, "须以字母或数字开头"),
        ({"code": "x" * 65}, "最多 64 个字符"),
        ({"code": ""}, "请填写店铺编码。"),
        ({"channel": "myspace"}, "没有渠道 myspace。"),
        ({"channel": ""}, "请选择店铺所属渠道。"),
        ({"name": "   "}, "请填写店铺名称。"),
        ({"name": "店" * 101}, "店铺名称最多 100 个字符。"),
        ({"api_base_url": "ftp://jd.example"}, "API 地址须以 http:// 或 https:// 开头。"),
        ({"pull_interval_minutes": "1441"}, "拉单间隔须为 0 到 1440 之间的整数分钟。"),
        ({"pull_interval_minutes": "１５"}, "拉单间隔须为 0 到 1440 之间的整数分钟。"),
        ({"app_key": "k" * 129}, "App key 最多 128 个字符。"),
    ],
)
async def test_a_new_shop_is_refused_in_chinese_and_nothing_is_added(client, db, shops, admin, change, message):
    before = await count(db, Shop)
    response = await post_form(client, "/channels/", "/channels/new", NEW_SHOP | change)
    assert response.status_code in (400, 409)
    assert message in response.text
    assert 'data-testid="shop-new-error"' in response.text
    # What was typed is kept, the secrets are not shown back.
    assert "jd-app-secret-very-secret" not in response.text
    assert await count(db, Shop) == before
    assert await audit_rows(db, "shop.created") == []


async def test_the_page_is_for_admins_only(client, db, make_user):
    await make_user(Role.operator, username="op")
    await login(client, "op")
    page = await client.get("/orders/")
    response = await client.post(
        "/channels/new", data={"_csrf_token": csrf_from(page.text), **NEW_SHOP}, follow_redirects=False
    )
    assert response.status_code == 403
    assert await count(db, Shop) == 0


async def test_a_shop_added_on_the_page_takes_signed_orders_once_its_secret_is_made(client, db, admin):
    await post_form(client, "/channels/", "/channels/new", NEW_SHOP | {"channel": "tmall", "code": "tmall-new"})
    shop = await shop_named(db, "tmall-new")
    rotated = await post_form(client, "/channels/", f"/channels/{shop.id}/secret", {})
    secret = re.search(r'<code class="secret">([0-9a-f]+)</code>', rotated.text).group(1)
    response = await deliver(client, "tmall", samples.taobao_multi_line_with_gift(), shop="tmall-new", secret=secret)
    assert response.status_code == 200, response.text
    assert await count(db, Order, Order.shop_id == shop.id) == 1


async def test_an_admin_renames_a_shop_and_the_audit_keeps_both_names(client, db, shops, admin):
    shop = shops[Channel.douyin]
    response = await post_form(client, "/channels/", f"/channels/{shop.id}/profile", {"name": "  抖音官方旗舰店 "})
    assert response.status_code == 200 and "抖音官方旗舰店" in response.text
    assert (await shop_named(db, shop.code)).name == "抖音官方旗舰店"
    [entry] = await audit_rows(db, "shop.updated")
    assert (entry.before["name"], entry.after["name"]) == ("douyin 测试店", "抖音官方旗舰店")
    refused = await post_form(client, "/channels/", f"/channels/{shop.id}/profile", {"name": ""})
    assert refused.status_code == 400 and "请填写店铺名称。" in refused.text
    assert (await shop_named(db, shop.code)).name == "抖音官方旗舰店"


async def test_a_disabled_shops_webhook_is_refused_at_once_and_taken_again_when_enabled(client, db, shops, admin):
    shop = shops[Channel.jd]
    first = await deliver(client, "jd", samples.jd_order_with_coupon_and_gift())
    assert first.status_code == 200  # the webhook now keeps the shop for 5 s
    disabled = await post_form(client, "/channels/", f"/channels/{shop.id}/active", {})
    assert disabled.status_code == 200 and "店铺已停用。" in disabled.text
    assert f'data-testid="shop-disabled-{shop.code}"' in disabled.text
    refused = await deliver(client, "jd", samples.jd_order_with_coupon_and_gift() | {"orderId": "999"})
    assert refused.status_code == 403
    assert refused.json()["detail"] == "此店铺已停用：管理员重新启用前不接收它的订单。"
    # Someone without the secret learns nothing about it.
    forged = await deliver(client, "jd", samples.jd_order_with_coupon_and_gift(), secret="guessed")
    assert forged.status_code == 401 and "停用" not in forged.text
    assert await count(db, Order) == 1
    assert [e.before["is_active"] for e in await audit_rows(db, "shop.disabled")] == [True]
    enabled = await post_form(client, "/channels/", f"/channels/{shop.id}/active", {"is_active": "on"})
    assert enabled.status_code == 200 and "店铺已启用。" in enabled.text
    again = await deliver(client, "jd", samples.jd_order_with_coupon_and_gift() | {"orderId": "999"})
    assert again.status_code == 200
    assert len(await audit_rows(db, "shop.enabled")) == 1


async def test_a_disabled_shops_platform_push_is_refused(client, db, settings, shops, admin):
    await connect(db, settings, Channel.douyin)
    await post_form(client, "/channels/", f"/channels/{shops[Channel.douyin].id}/active", {})
    response = await push_douyin(client, douyin_body(douyin_order(time.time())))
    assert response.status_code == 401
    assert "停用" in response.json()["detail"]
    assert await count(db, Order) == 0


async def test_a_disabled_shop_is_not_pulled_and_its_schedule_ends(client, db, settings, shops, admin):
    shop = shops[Channel.jd]
    async with db.transaction() as session:
        row = await session.get(Shop, shop.id)
        row.api_base_url, row.app_key, row.pull_interval_minutes = "http://127.0.0.1:9/jd", "k", 10
        set_credentials(row, settings.secret_key, app_secret="s", access_token="t")
        session.add(row)
    await post_form(client, "/channels/", f"/channels/{shop.id}/active", {})
    # A pull staged before it was disabled reads nothing (the address would refuse a connection).
    summary = await pull_shop(db, settings, shop.id)
    assert (summary.pages, summary.orders) == (0, 0)
    assert (await shop_named(db, shop.code)).last_pull_error is None
    refused = await post_form(client, "/channels/", f"/channels/{shop.id}/pull", {})
    assert refused.status_code == 400 and "店铺已停用：请先启用再拉取订单。" in refused.text
    assert await count(db, OutboxMessage, OutboxMessage.job == "pull_shop_orders") == 0
    await post_form(client, "/channels/", f"/channels/{shop.id}/active", {"is_active": "on"})
    assert await count(db, OutboxMessage, col(OutboxMessage.dedupe_key).startswith(f"pull_schedule:{shop.id}:")) == 1


# --- the API ----------------------------------------------------------------------------------------------


async def test_the_api_lists_and_reads_shops_without_their_secrets(client, db, settings, shops, make_token):
    await connect(db, settings, Channel.douyin)
    token = await make_token(TokenScope.read)
    headers = {"Authorization": f"Bearer {token}"}
    listed = await client.get("/api/v1/shops", headers=headers)
    assert listed.status_code == 200
    codes = [item["code"] for item in listed.json()["items"]]
    assert sorted(codes) == sorted(SHOP_CODES.values())
    one = await client.get(f"/api/v1/shops/{SHOP_CODES[Channel.douyin]}", headers=headers)
    body = one.json()
    assert (body["channel"], body["app_key"], body["app_secret_set"], body["webhook_secret_set"]) == (
        "douyin",
        "7012345678901234567",
        True,
        True,
    )
    assert "dd-secret" not in listed.text + one.text and "webhook-secret-for-tests" not in listed.text + one.text
    assert not {"app_secret", "access_token", "webhook_secret", "app_secret_cipher"} & body.keys()
    missing = await client.get("/api/v1/shops/nope", headers=headers)
    assert missing.status_code == 404 and missing.json()["message"] == "没有编码为 nope 的店铺。"
    assert (await client.get("/api/v1/shops")).status_code == 401


async def test_the_api_adds_and_changes_a_shop_with_an_admin_token_only(client, db, make_token):
    admin = {"Authorization": f"Bearer {await make_token(TokenScope.admin)}"}
    reader = {"Authorization": f"Bearer {await make_token(TokenScope.read, name='erp')}"}
    body = {"channel": "youzan", "code": "yz-2", "name": "有赞二店", "app_secret": "yz-s3cret"}
    body["pull_interval_minutes"] = 0
    assert (await client.post("/api/v1/shops", json=body, headers=reader)).status_code == 403
    created = await client.post("/api/v1/shops", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert (created.json()["code"], created.json()["app_secret_set"]) == ("yz-2", True)
    assert "yz-s3cret" not in created.text
    changed = await client.patch("/api/v1/shops/yz-2", json={"name": "有赞 2 号店", "is_active": False}, headers=admin)
    assert changed.status_code == 200
    assert (changed.json()["name"], changed.json()["is_active"]) == ("有赞 2 号店", False)
    shop = await shop_named(db, "yz-2")
    assert (shop.name, shop.is_active) == ("有赞 2 号店", False)
    [entry] = await audit_rows(db, "shop.updated")
    assert entry.actor_type == "token" and entry.after["is_active"] is False


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field", "message"),
    [
        ("post", "/api/v1/shops", {"channel": "jd", "code": "jd-shop", "name": "x"}, 409, "code", "已被使用"),
        ("post", "/api/v1/shops", {"channel": "qq", "code": "qq-1", "name": "x"}, 400, "channel", "没有渠道 qq。"),
        ("post", "/api/v1/shops", {"channel": "jd", "code": "a b", "name": "x"}, 400, "code", "只能包含字母"),
        ("post", "/api/v1/shops", {"channel": "jd", "code": "jd-9", "name": 5}, 400, "name", "name 必须是文本。"),
        ("post", "/api/v1/shops", {"channel": "jd", "code": "jd-9", "name": "x", "secret": "s"}, 400, "secret", ""),
        ("patch", "/api/v1/shops/jd-shop", {"code": "jd-other"}, 400, "code", "店铺建好后不能修改 code。"),
        ("patch", "/api/v1/shops/jd-shop", {"is_active": "maybe"}, 400, "is_active", "必须是 true 或 false"),
        ("patch", "/api/v1/shops/jd-shop", {"pull_interval_minutes": -1}, 400, "pull_interval_minutes", "拉单间隔"),
        ("patch", "/api/v1/shops/nope", {"name": "x"}, 404, "code", "没有编码为 nope 的店铺。"),
    ],
)
async def test_the_api_refuses_bad_shops_naming_the_field_and_changes_nothing(
    client, db, shops, make_token, method, path, body, status, field, message
):
    headers = {"Authorization": f"Bearer {await make_token(TokenScope.admin)}"}
    before = await count(db, Shop)
    response = await getattr(client, method)(path, json=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field and message in response.json()["message"]
    assert await count(db, Shop) == before
    assert (await shop_named(db, "jd-shop")).name == "jd 测试店"

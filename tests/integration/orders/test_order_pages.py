"""The unified order list (filters, search, keyset pages), the detail page and revealing personal data."""

from __future__ import annotations

import re

from sqlmodel import select

from app.domain.accounts.models import AuditEntry, Role
from tests.integration.forms import login, post_form
from tests.integration.orders.conftest import deliver
from tests.samples import channels as samples


def external_ids(html: str) -> list[str]:
    return re.findall(r'data-external-id="([^"]+)"', html)


async def seed_orders(client) -> dict[str, int]:
    ids = {}
    for channel, payload in [
        ("tmall", samples.taobao_multi_line_with_gift()),
        ("jd", samples.jd_order_with_coupon_and_gift()),
        ("douyin", samples.douyin_cancelled()),
        ("wechat_channels", samples.wechat_channels_order()),
        ("youzan", samples.youzan_presale_with_present()),
    ]:
        response = await deliver(client, channel, payload)
        ids[channel] = response.json()["order_id"]
    return ids


async def test_the_list_shows_every_channel_and_filters_narrow_it(client, db, shops, make_user):
    await seed_orders(client)
    await make_user(Role.viewer, username="viewer")
    await login(client, "viewer")
    everything = external_ids((await client.get("/orders/")).text)
    assert len(everything) == 5
    assert external_ids((await client.get("/orders/?channel=jd")).text) == ["285019374621"]
    blank_form = "/orders/?q=&channel=jd&shop=&status=&date_from=&date_to=&province=&tag=&sku="
    assert external_ids((await client.get(blank_form)).text) == ["285019374621"]
    assert external_ids((await client.get("/orders/?status=cancelled")).text) == ["6921234567890000001"]
    assert external_ids((await client.get("/orders/?tag=presale")).text) == ["E20261111083000012345"]
    assert external_ids((await client.get("/orders/?sku=YOGURT-6")).text) == ["3712345678901234567"]
    assert external_ids((await client.get("/orders/?province=上海市")).text) == [
        "3712345678901234567",
        "3958201746251038211",
    ]
    assert external_ids((await client.get("/orders/?q=5678")).text) == ["3958201746251038211"]  # phone suffix
    assert external_ids((await client.get("/orders/?q=285019374621")).text) == ["285019374621"]
    assert len(external_ids((await client.get("/orders/?date_from=2026-11-11&date_to=2026-11-11")).text)) == 5
    assert external_ids((await client.get("/orders/?date_to=2026-11-10")).text) == []


async def test_keyset_pages_walk_the_whole_list_without_overlap(client, db, shops, make_user):
    for n in range(57):
        order = samples.pos_order(order_id=f"POS-{n:03d}")
        order["created_at"] = f"2026-11-11 10:{n:02d}:00"
        await deliver(client, "pos", order)
    await make_user(Role.viewer, username="viewer")
    await login(client, "viewer")
    first = await client.get("/orders/?channel=pos")
    page_one = external_ids(first.text)
    assert page_one[:2] == ["POS-056", "POS-055"] and len(page_one) == 50
    next_url = re.search(r'data-testid="orders-next"\s+href="([^"]+)"', first.text).group(1).replace("&amp;", "&")
    second = await client.get(next_url, headers={"HX-Request": "true"})
    page_two = external_ids(second.text)
    assert page_two == [f"POS-{n:03d}" for n in range(6, -1, -1)]
    assert 'data-testid="orders-next"' not in second.text


async def test_a_viewer_sees_the_masked_phone_and_cannot_reveal_it(client, db, shops, make_user):
    ids = await seed_orders(client)
    await make_user(Role.viewer, username="viewer")
    await login(client, "viewer")
    detail = await client.get(f"/orders/{ids['tmall']}")
    assert "138****5678" in detail.text and "13812345678" not in detail.text.replace(
        '"receiver_mobile": "13812345678"', ""
    )
    assert 'data-testid="reveal-pii"' not in detail.text
    refused = await post_form(client, f"/orders/{ids['tmall']}", f"/orders/{ids['tmall']}/reveal", {})
    assert refused.status_code == 403


async def test_an_admin_reveals_the_phone_and_the_audit_log_records_it(client, db, shops, make_user):
    ids = await seed_orders(client)
    await make_user(Role.admin, username="admin")
    await login(client, "admin")
    detail = await client.get(f"/orders/{ids['wechat_channels']}")
    assert "139****2222" in detail.text and 'data-testid="reveal-pii"' in detail.text
    revealed = await post_form(
        client, f"/orders/{ids['wechat_channels']}", f"/orders/{ids['wechat_channels']}/reveal", {}
    )
    assert revealed.status_code == 200
    assert "13911112222" in revealed.text and "南京西路 1266 号 3 楼" in revealed.text
    async with db.reading() as session:
        entry = (await session.exec(select(AuditEntry).where(AuditEntry.action == "pii.reveal"))).one()
    assert (entry.actor_name, entry.target_type, entry.target_id) == ("admin", "order", str(ids["wechat_channels"]))
    timeline = await client.get(f"/orders/{ids['wechat_channels']}")
    assert 'data-kind="pii_revealed"' in timeline.text


async def test_the_api_returns_the_canonical_order_the_rule_flows_read(client, db, shops, make_token):
    from app.domain.accounts.models import TokenScope
    from ruleflows import is_known_path

    ids = await seed_orders(client)
    token = await make_token(TokenScope.read)
    response = await client.get(f"/api/v1/orders/{ids['douyin']}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    order = response.json()
    assert order["channel"] == "douyin" and order["shop_id"] == "douyin-shop"
    assert order["created_at"] == "2026-11-10T16:00:00Z"
    assert order["amounts"] == {"items_fen": 42800, "shipping_fen": 0, "discount_fen": 1000, "paid_fen": 41800}
    assert order["receiver"]["province"] == "四川"  # the short name the schema's province enum uses
    assert [line["is_gift"] for line in order["lines"]] == [False, False, True]
    for key in (
        "channel",
        "shop_id",
        "external_id",
        "raw_status",
        "status",
        "created_at",
        "paid_at",
        "buyer",
        "receiver",
        "amounts",
        "lines",
        "presale",
        "buyer_message",
        "seller_memo",
        "tags",
    ):
        assert is_known_path(f"order.{key}"), key
    for key in order["lines"][0]:
        assert is_known_path(f"order.lines.0.{key}"), key


async def test_every_order_hub_endpoint_is_in_the_openapi_schema(client, shops, make_user):
    await make_user(Role.admin, username="admin")
    await login(client, "admin")
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    for path in (
        "/api/v1/channels/{channel}/orders",
        "/api/v1/orders/{order_id}",
        "/orders/{order_id}",
        "/orders/errors",
        "/orders/import",
        "/channels/{shop_id}/pull",
    ):
        assert path in paths, path

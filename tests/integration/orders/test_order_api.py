"""The order list of the read API: the order page's filters, keyset pages an integrator walks with
``next_cursor``, masked personal data whatever the token's scope, and refusals that say what is wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.db import Database
from app.domain.accounts.models import TokenScope
from app.domain.orders import services as orders
from app.domain.orders.schemas import NormalizedLine, NormalizedOrder
from app.domain.shops.models import Channel, Shop
from app.settings import Settings

START = datetime(2026, 11, 10, 16, 0, tzinfo=UTC)  # 2026-11-11 00:00 in China
PHONE = "13912345678"


def normalized(
    external_id: str,
    placed_at: datetime,
    *,
    status: str = "received",
    sku: str = "PHONE-X1",
    province: str = "浙江",
    tags: list[str] | None = None,
    nick: str = "",
) -> NormalizedOrder:
    return NormalizedOrder(
        external_id=external_id,
        raw_status=status.upper(),
        status=status,
        created_at=placed_at,
        updated_at=placed_at,
        paid_at=placed_at,
        buyer_nick=nick or f"买家{external_id}",
        receiver_name="王小明",
        phone=PHONE,
        province=province,
        city="杭州市",
        district="西湖区",
        address="文三路 100 号",
        items_fen=1000,
        paid_fen=1000,
        tags=tags or [],
        lines=[NormalizedLine("1", sku, "", sku, 1, 1000, 1000)],
        raw={"receiver_mobile": PHONE},
    )


async def land(db: Database, settings: Settings, shop: Shop, *deliveries: NormalizedOrder) -> list[int]:
    ids = []
    async with db.transaction() as session:
        for data in deliveries:
            result = await orders.upsert_order(session, shop, data, settings.secret_key, lock=False)
            assert result.order.id is not None
            ids.append(result.order.id)
    return ids


async def get(client: Any, url: str, token: str) -> Any:
    return await client.get(url, headers={"Authorization": f"Bearer {token}"})


async def walk(client: Any, token: str, query: str) -> list[list[str]]:
    """Every page of the list, following ``next_cursor``; each page's external ids."""
    pages, cursor = [], ""
    while True:
        response = await get(client, f"/api/v1/orders?{query}&cursor={cursor}", token)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([item["external_id"] for item in body["items"]])
        if body["next_cursor"] is None:
            return pages
        cursor = body["next_cursor"]
        assert len(pages) < 10, "the cursor never ends"


async def test_paging_through_120_orders_by_50_gives_each_once_newest_first(client, db, settings, shops, make_token):
    # Three orders share each moment: the pages must break the tie on the id, not drop or repeat a row.
    placed = [START + timedelta(minutes=n // 3) for n in range(120)]
    ids = await land(db, settings, shops[Channel.webshop], *(normalized(f"P{n:03d}", placed[n]) for n in range(120)))
    expected = [f"P{n:03d}" for n in sorted(range(120), key=lambda n: (placed[n], ids[n]), reverse=True)]
    token = await make_token(TokenScope.read)
    pages = await walk(client, token, "limit=50")
    assert [len(page) for page in pages] == [50, 50, 20]
    assert [external_id for page in pages for external_id in page] == expected


async def test_the_filters_of_the_order_page_narrow_the_api_list(client, db, settings, shops, make_token):
    await land(
        db,
        settings,
        shops[Channel.webshop],
        normalized("W-PAID", START, sku="PHONE-X1", tags=["vip"]),
        normalized("W-CANCEL", START + timedelta(hours=1), status="cancelled", sku="SERUM-30"),
        normalized("W-SH", START + timedelta(days=1), province="上海市", nick="buyer-sh"),
    )
    await land(db, settings, shops[Channel.jd], normalized("J-1", START + timedelta(hours=2)))
    token = await make_token(TokenScope.read)
    webshop_id = shops[Channel.webshop].id
    for query, expected in [
        ("", ["W-SH", "J-1", "W-CANCEL", "W-PAID"]),
        ("channel=jd", ["J-1"]),
        (f"shop={webshop_id}", ["W-SH", "W-CANCEL", "W-PAID"]),
        ("status=cancelled", ["W-CANCEL"]),
        ("sku=SERUM-30", ["W-CANCEL"]),
        ("tag=vip", ["W-PAID"]),
        ("province=上海市", ["W-SH"]),
        ("q=buyer-sh", ["W-SH"]),
        ("q=5678", ["W-SH", "J-1", "W-CANCEL", "W-PAID"]),  # the phone's last four digits
        ("date_from=2026-11-11&date_to=2026-11-11", ["J-1", "W-CANCEL", "W-PAID"]),
        ("date_from=2026-11-12", ["W-SH"]),
        ("channel=webshop&status=received&limit=1", ["W-SH"]),
    ]:
        response = await get(client, f"/api/v1/orders?{query}", token)
        assert response.status_code == 200, (query, response.text)
        assert [item["external_id"] for item in response.json()["items"]] == expected, query
    # A filtered walk pages within the filter.
    assert await walk(client, token, "channel=webshop&limit=2") == [["W-SH", "W-CANCEL"], ["W-PAID"]]


async def test_every_token_gets_personal_data_masked_in_the_list_and_the_order(client, db, settings, shops, make_token):
    (order_id,) = await land(db, settings, shops[Channel.webshop], normalized("M-1", START))
    for scopes in ([TokenScope.read], [TokenScope.admin], [TokenScope.read, TokenScope.admin]):
        token = await make_token(*scopes, name=f"client {scopes}")
        detail = await get(client, f"/api/v1/orders/{order_id}", token)
        assert detail.status_code == 200, detail.text
        assert detail.json()["receiver"]["name"] == "王**"
        assert detail.json()["processing"] is None  # never queued for processing
        assert PHONE not in detail.text and "王小明" not in detail.text
        response = await get(client, "/api/v1/orders", token)
        assert response.status_code == 200, response.text
        (item,) = response.json()["items"]
        assert item["receiver"]["name"] == "王**"
        assert item["receiver"]["phone_masked"] == "139****5678"
        assert item["receiver"]["address"].startswith("文三路") and "100" not in item["receiver"]["address"]
        assert item["lines"][0]["sku"] == "PHONE-X1"
        assert "raw" not in item
        assert PHONE not in response.text and "王小明" not in response.text and "v1:" not in response.text


async def test_the_read_api_needs_a_token_with_the_read_scope(client, db, settings, shops, make_token):
    await land(db, settings, shops[Channel.webshop], normalized("A-1", START))
    ingest = await make_token(TokenScope.ingest)
    for url in ("/api/v1/orders", "/api/v1/stock"):
        assert (await client.get(url)).status_code == 401
        assert (await get(client, url, "not-a-token")).status_code == 401
        assert (await get(client, url, ingest)).status_code == 403
        assert (await get(client, url, await make_token(TokenScope.read, name=f"reader {url}"))).status_code == 200


async def test_bad_parameters_are_refused_with_a_message_that_names_them(client, db, settings, shops, make_token):
    await land(db, settings, shops[Channel.webshop], normalized("B-1", START))
    token = await make_token(TokenScope.read)
    for query, field, message in [
        ("limit=0", "limit", "limit 须为 1 至 200 之间的整数。"),
        ("limit=201", "limit", "limit 须为 1 至 200 之间的整数。"),
        ("limit=%C2%B2", "limit", "limit 须为 1 至 200 之间的整数。"),
        ("limit=ten", "limit", "limit 须为 1 至 200 之间的整数。"),
        ("cursor=not-ours", "cursor", "这个翻页链接已失效，请从第一页重新开始。"),
        ("status=shiped", "status", "没有订单状态 shiped。"),
        ("channel=taobo", "channel", "没有渠道 taobo。"),
        ("shop=abc", "shop", "没有这个店铺。"),
        ("date_from=2026-02-30", "date_from", "2026-02-30 不是 2000-01-01 至 2099-12-31 之间的日期。"),
    ]:
        response = await get(client, f"/api/v1/orders?{query}", token)
        assert response.status_code == 400, (query, response.text)
        body = response.json()
        assert (body["field"], body["message"]) == (field, message), query
    english = await client.get(
        "/api/v1/orders?limit=0", headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"}
    )
    assert english.json()["message"] == "limit must be a whole number from 1 to 200."

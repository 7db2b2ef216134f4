"""The stock pages and the channel-stock API, as a viewer, an operator and an admin use them."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.db import Database
from app.domain.accounts.models import Role, TokenScope
from app.domain.accounts.services import SYSTEM
from app.domain.inventory import services as inventory
from app.domain.inventory.services import ReservationLine
from tests.integration.forms import login, post_form
from tests.integration.inventory.conftest import Receive, assert_ledger_matches, publish_channel_stock, stock_of

Client = AsyncTestClient[Litestar]


async def test_the_stock_page_shows_available_and_reserved_per_warehouse_with_totals_and_filters(
    client: Client, pool: Database, receive: Receive, make_user: Any
) -> None:
    await receive("SH01", "A", 10)
    await receive("BJ01", "A", 5)
    await receive("SH01", "D", 7)
    async with pool.transaction() as session:
        await inventory.reserve(session, "order:1", [ReservationLine("1", "A", 3)], "SH01", SYSTEM)
    await make_user(Role.viewer)
    await login(client, "viewer-user")

    page = await client.get("/inventory/")
    assert page.status_code == 200
    assert 'data-testid="cell-A-SH01"><b>7</b> <span class="muted">/ 3</span>' in page.text
    assert 'data-testid="total-A"><b>12</b>' in page.text
    assert 'data-testid="grand-total">19 / 3' in page.text
    assert "receive-form" not in page.text  # the viewer only reads

    only_beauty = await client.get("/inventory/?category=美妆&warehouse=SH01", headers={"HX-Request": "true"})
    assert "stock-row-D" in only_beauty.text and "stock-row-A" not in only_beauty.text
    assert "<html" not in only_beauty.text  # just the grid fragment
    live = await client.get("/inventory/?live=1", headers={"HX-Request": "true"})
    assert 'hx-trigger="every 5s"' in live.text


async def test_an_operator_receives_and_transfers_stock_and_sees_it_in_the_sku_ledger(
    client: Client, pool: Database, make_user: Any
) -> None:
    await make_user(Role.operator)
    await login(client, "operator-user")

    received = await post_form(
        client, "/inventory/sku/A", "/inventory/sku/A/receive", {"warehouse": "SH01", "qty": "20", "note": "到货"}
    )
    assert received.status_code == 303
    moved = await post_form(
        client,
        "/inventory/sku/A",
        "/inventory/sku/A/transfer",
        {"from_warehouse": "SH01", "to_warehouse": "BJ01", "qty": "8"},
    )
    assert moved.status_code == 303
    too_many = await post_form(
        client,
        "/inventory/sku/A",
        "/inventory/sku/A/transfer",
        {"from_warehouse": "SH01", "to_warehouse": "BJ01", "qty": "99"},
    )
    assert too_many.status_code == 400 and "可用库存不足" in too_many.text

    sku_page = await client.get("/inventory/sku/A")
    assert [kind for kind in ("receipt", "transfer_out", "transfer_in") if f'data-kind="{kind}"' in sku_page.text] == [
        "receipt",
        "transfer_out",
        "transfer_in",
    ]
    assert (await stock_of(pool, "SH01", "A")).on_hand == 12
    assert (await stock_of(pool, "BJ01", "A")).on_hand == 8
    await assert_ledger_matches(pool)


async def test_a_stock_count_adjusts_on_hand_and_refuses_counting_below_what_orders_hold(
    client: Client, pool: Database, receive: Receive, make_user: Any
) -> None:
    await receive("SH01", "A", 10)
    await receive("SH01", "B", 4)
    async with pool.transaction() as session:
        await inventory.reserve(session, "order:1", [ReservationLine("1", "B", 3)], "SH01", SYSTEM)
    await make_user(Role.operator)
    await login(client, "operator-user")

    counted = await post_form(
        client, "/inventory/counts", "/inventory/counts", {"warehouse": "SH01", "lines": "A 9\nB 4", "note": "月末盘点"}
    )
    assert counted.status_code == 303
    assert (await stock_of(pool, "SH01", "A")).on_hand == 9
    counts_page = await client.get("/inventory/counts")
    assert "A -1" in counts_page.text

    below = await post_form(client, "/inventory/counts", "/inventory/counts", {"warehouse": "SH01", "lines": "B 2"})
    assert below.status_code == 400 and "少于已占用" in below.text
    assert (await stock_of(pool, "SH01", "B")).on_hand == 4
    await assert_ledger_matches(pool)


async def test_a_low_stock_sku_and_a_shop_whose_buffer_eats_its_share_are_flagged_on_the_stock_page(
    client: Client, pool: Database, receive: Receive, make_user: Any
) -> None:
    await receive("SH01", "A", 10)
    await make_user(Role.admin, username="boss")
    await login(client, "boss")
    assert (
        await post_form(client, "/inventory/sku/A", "/inventory/sku/A/threshold", {"low_stock_threshold": "12"})
    ).status_code == 303
    async with pool.reading() as session:
        shop = await inventory.find_shop(session, "tmall-test")
    assert shop is not None
    rule = {"shop_id": str(shop.id), "sku": "A", "ratio_pct": "50", "buffer": "8"}
    assert (await post_form(client, "/inventory/warehouses", "/inventory/channel-rules", rule)).status_code == 303
    await publish_channel_stock(pool)  # the shops' figures follow within the job's 2 s

    page = await client.get("/inventory/")
    assert 'data-testid="low-stock-A"' in page.text
    assert 'data-testid="shortfall-tmall-test-A"' in page.text  # 10 × 50 % = 5, buffer 8: short by 3


async def test_the_channel_stock_api_gives_each_shop_its_share_and_needs_a_read_token(
    client: Client, pool: Database, receive: Receive, make_token: Any
) -> None:
    await receive("SH01", "A", 10)
    await receive("BJ01", "A", 11)
    async with pool.transaction() as session:
        shop = await inventory.find_shop(session, "tmall-test")
        assert shop is not None and shop.id is not None
        await inventory.set_channel_rule(session, shop.id, None, 80, 2, SYSTEM)
        await inventory.set_safety_stock(session, "BJ01", "A", 1, SYSTEM)
    token = await make_token(TokenScope.read)
    await publish_channel_stock(pool)  # the shops' figures follow within the job's 2 s

    anonymous = await client.get("/api/v1/inventory/channel-stock?shop=tmall-test")
    response = await client.get(
        "/api/v1/inventory/channel-stock?shop=tmall-test", headers={"Authorization": f"Bearer {token}"}
    )
    missing = await client.get("/api/v1/inventory/channel-stock", headers={"Authorization": f"Bearer {token}"})

    assert anonymous.status_code in (401, 403)
    assert response.status_code == 200
    items = {item["sku"]: item for item in response.json()["items"]}
    assert items["A"]["available"] == 20  # 10 + (11 − 1 safety)
    assert items["A"]["quantity"] == 14  # 20 × 80 % − 2
    assert items["B"]["quantity"] == 0  # nothing on hand, never negative
    assert missing.status_code == 400 and missing.json()["field"] == "shop"


async def test_only_an_admin_edits_warehouses_and_a_bad_form_changes_nothing(
    client: Client, pool: Database, make_user: Any
) -> None:
    await make_user(Role.operator)
    await login(client, "operator-user")
    assert (await client.get("/inventory/warehouses")).status_code == 403
    await client.post("/logout")

    await make_user(Role.admin, username="boss")
    await login(client, "boss")
    form = {
        "code": "GZ01",
        "name": "广州仓",
        "kind": "regional",
        "province": "广东",
        "priority": "15",
        "serves_regions": "华南、华中",
        "is_active": "on",
    }
    assert (await post_form(client, "/inventory/warehouses", "/inventory/warehouses", form)).status_code == 303
    bad = await post_form(
        client, "/inventory/warehouses", "/inventory/warehouses", {**form, "code": "X1", "province": ""}
    )
    assert bad.status_code == 400 and "省份必填" in bad.text
    async with pool.reading() as session:
        warehouse = await inventory.get_warehouse(session, "GZ01")
        assert await inventory.get_warehouse(session, "X1") is None
    assert warehouse is not None and warehouse.serves_regions == ["华南", "华中"] and warehouse.priority == 15

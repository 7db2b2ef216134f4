"""A store till's completed sale takes its units off the store warehouse at once, with a ledger row, once
however often the till sends it; it is not routed to a warehouse, and the online shops publish fewer units
once the channel-stock job has run."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, select

from app.db import Database
from app.domain.accounts.models import Role
from app.domain.channels import services as channels
from app.domain.channels.models import IngestSource
from app.domain.fulfillment import services as fulfillment
from app.domain.inventory import services as inventory
from app.domain.inventory.models import ChannelStock, MoveKind, Reservation, Stock, StockMove
from app.domain.orders.models import OrderEvent
from app.domain.processing import services as processing
from app.domain.shops.models import Shop
from app.settings import Settings
from tests.integration.forms import login, post_form
from tests.integration.inventory.conftest import assert_ledger_matches, publish_channel_stock
from tests.integration.processing.conftest import generic_order

Client = AsyncTestClient[Litestar]
TILL = "pos-sh-nanjingxilu"
STORE = "SH-S01"


async def shop(db: Database, code: str) -> Shop:
    async with db.reading() as session:
        return (await session.exec(select(Shop).where(Shop.code == code))).one()


async def on_hand(db: Database, warehouse: str, sku: str) -> int:
    async with db.reading() as session:
        stock = (
            await session.exec(select(Stock).where(Stock.warehouse_code == warehouse, Stock.sku_code == sku))
        ).one()
        return stock.on_hand


async def published(db: Database, shop_code: str, sku: str) -> int:
    target = await shop(db, shop_code)
    async with db.reading() as session:
        row = (
            await session.exec(
                select(ChannelStock).where(ChannelStock.shop_id == target.id, ChannelStock.sku_code == sku)
            )
        ).one()
        return row.quantity


async def till_moves(db: Database, order_id: int) -> list[StockMove]:
    async with db.reading() as session:
        query = select(StockMove).where(
            StockMove.kind == MoveKind.pos_sale, StockMove.order_key == inventory.order_key(order_id)
        )
        return list((await session.exec(query.order_by(col(StockMove.id)))).all())


async def sell(db: Database, settings: Settings, payload: dict[str, Any]) -> int:
    result = await channels.ingest(db, settings, await shop(db, TILL), payload, IngestSource.webhook)
    assert result.order_id is not None, result
    return result.order_id


def till_sale(order_id: str, sku: str, qty: int, **changes: Any) -> dict[str, Any]:
    return generic_order(
        order_id, lines=[(sku, qty, 7900)], province="上海", city="上海市", status="completed", **changes
    )


async def test_a_till_sale_of_two_deducts_two_from_the_store_once_and_the_online_shops_publish_two_fewer(
    db: Database, settings: Settings, demo: None
) -> None:
    await publish_channel_stock(db)
    store_before = await on_hand(db, STORE, "TEE-BLK-L")
    online_before = await published(db, "tmall-flagship", "TEE-BLK-L")

    order_id = await sell(db, settings, till_sale("POS-20261201-0001", "TEE-BLK-L", 2))

    assert await on_hand(db, STORE, "TEE-BLK-L") == store_before - 2
    moves = await till_moves(db, order_id)
    assert [(m.warehouse_code, m.sku_code, m.on_hand_delta, m.reserved_delta) for m in moves] == [
        (STORE, "TEE-BLK-L", -2, 0)
    ]
    # Delivered again as it was, and again with a later update: the sale was booked once.
    await sell(db, settings, till_sale("POS-20261201-0001", "TEE-BLK-L", 2))
    await sell(db, settings, till_sale("POS-20261201-0001", "TEE-BLK-L", 2, updated_at="2026-11-11 10:05:00"))
    assert await on_hand(db, STORE, "TEE-BLK-L") == store_before - 2
    assert len(await till_moves(db, order_id)) == 1
    await assert_ledger_matches(db)

    assert await published(db, "tmall-flagship", "TEE-BLK-L") == online_before  # until the job runs
    await publish_channel_stock(db)
    assert await published(db, "tmall-flagship", "TEE-BLK-L") == online_before - 2

    # Processing the sale routes nothing: no parcel, nothing reserved in any warehouse.
    async with db.transaction() as session:
        await processing.process(session, order_id, secret_key=settings.secret_key)
    async with db.reading() as session:
        assert await fulfillment.shipments_of(session, order_id) == []
        held = await session.exec(select(Reservation).where(Reservation.order_key == inventory.order_key(order_id)))
        assert held.all() == []
    assert await on_hand(db, STORE, "TEE-BLK-L") == store_before - 2


async def test_a_till_sale_of_more_than_the_book_holds_empties_the_shelf_and_notes_the_difference(
    db: Database, settings: Settings, demo: None, client: Client, make_user: Any
) -> None:
    store_before = await on_hand(db, STORE, "TEE-BLK-L")

    order_id = await sell(db, settings, till_sale("POS-20261201-0002", "TEE-BLK-L", store_before + 3))

    assert await on_hand(db, STORE, "TEE-BLK-L") == 0  # never below zero
    [move] = await till_moves(db, order_id)
    assert move.on_hand_delta == -store_before
    assert "差 3 件待盘点" in move.note
    async with db.reading() as session:
        events = (
            await session.exec(
                select(OrderEvent).where(OrderEvent.order_id == order_id, OrderEvent.kind == "till_sale")
            )
        ).all()
    assert [e.detail for e in events] == [
        {"warehouse": STORE, "units": store_before, "short_of_book": {"TEE-BLK-L": 3}}
    ]
    await assert_ledger_matches(db)

    # The store manager reads the difference in the SKU's stock ledger, to count the shelf.
    await make_user(Role.viewer)
    await login(client, "viewer-user")
    page = await client.get("/inventory/sku/TEE-BLK-L")
    assert page.status_code == 200
    row = page.text.split('data-kind="pos_sale"', 1)[1].split("</tr>", 1)[0]
    assert "门店销售" in row and STORE in row and "差 3 件待盘点" in row


async def test_an_unfinished_till_order_and_an_online_shop_order_deduct_nothing_at_landing(
    db: Database, settings: Settings, demo: None
) -> None:
    store_before = await on_hand(db, STORE, "TEE-BLK-L")
    paid = till_sale("POS-20261201-0003", "TEE-BLK-L", 1) | {"status": "paid"}
    await sell(db, settings, paid)
    online = generic_order("W-0001", lines=[("TEE-BLK-L", 1, 7900)], status="completed")
    await channels.ingest(db, settings, await shop(db, "webshop"), online, IngestSource.webhook)

    assert await on_hand(db, STORE, "TEE-BLK-L") == store_before
    async with db.reading() as session:
        rows = (await session.exec(select(StockMove).where(StockMove.kind == MoveKind.pos_sale))).all()
    assert rows == []


async def test_an_admin_sets_the_store_warehouse_a_till_sells_from_and_a_till_without_one_deducts_nothing(
    db: Database, settings: Settings, demo_data: None, client: Client, make_user: Any
) -> None:
    till = await shop(db, TILL)
    await make_user(Role.admin, username="shop-admin")  # the demo's own admin has the demo password
    await login(client, "shop-admin")
    page = await client.get("/channels/")
    assert f'data-testid="store-warehouse-{TILL}"' in page.text
    assert 'data-testid="store-warehouse-webshop"' not in page.text  # only a till has one
    url = f"/channels/{till.id}/settings"
    for typed in ("SH01", "NOPE"):  # a regional warehouse, an unknown code
        refused = await post_form(client, "/channels/", url, {"store_warehouse_code": typed})
        assert refused.status_code == 400, typed
        assert "收银门店仓须填写一个门店仓的编码。" in refused.text
    assert (await shop(db, TILL)).store_warehouse_code == STORE

    cleared = await post_form(client, "/channels/", url, {"store_warehouse_code": ""})
    assert cleared.status_code == 200
    assert (await shop(db, TILL)).store_warehouse_code == ""
    store_before = await on_hand(db, STORE, "TEE-BLK-L")
    order_id = await sell(db, settings, till_sale("POS-20261201-0004", "TEE-BLK-L", 1))
    assert await on_hand(db, STORE, "TEE-BLK-L") == store_before
    async with db.reading() as session:
        events = (
            await session.exec(
                select(OrderEvent).where(OrderEvent.order_id == order_id, OrderEvent.kind == "till_sale")
            )
        ).all()
    assert [e.detail for e in events] == [{"note": "门店收银店铺未设门店仓，未扣库存"}]

    saved = await post_form(client, "/channels/", url, {"store_warehouse_code": STORE})
    assert saved.status_code == 200 and f'value="{STORE}"' in saved.text
    assert (await shop(db, TILL)).store_warehouse_code == STORE


async def test_a_till_order_routed_while_paid_gives_back_the_warehouse_reservation_once_the_till_completes_it(
    db: Database, settings: Settings, demo: None
) -> None:
    store_before = await on_hand(db, STORE, "TEE-BLK-L")
    order_id = await sell(db, settings, till_sale("POS-20261201-0005", "TEE-BLK-L", 2) | {"status": "paid"})
    async with db.transaction() as session:
        routed = await processing.process(session, order_id, secret_key=settings.secret_key)
    assert routed.warehouses == ["SH01"]  # a paid till order is routed as any other

    completed = till_sale("POS-20261201-0005", "TEE-BLK-L", 2, updated_at="2026-11-11 10:05:00")
    await sell(db, settings, completed)

    assert await on_hand(db, STORE, "TEE-BLK-L") == store_before - 2
    async with db.reading() as session:
        held = await inventory.reservations(session, inventory.order_key(order_id))
        assert [(r.warehouse_code, r.status.value) for r in held] == [("SH01", "released")]
        assert [s.status for s in await fulfillment.shipments_of(session, order_id)] == ["cancelled"]
    await assert_ledger_matches(db)

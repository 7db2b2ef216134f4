"""Platform SKU mapping: a shop's platform sku id or outer id (商家编码) that is one of our SKUs, used at ingest and
in processing batches, and mapped by an operator from the review queue, which routes the order and queues the
shop's other orders held for the same SKU again."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import select

from app.db import Database
from app.domain.accounts.models import AuditEntry
from app.domain.accounts.services import SYSTEM, Actor
from app.domain.flows.sources import RecentOrders
from app.domain.inventory import sku_mappings
from app.domain.inventory.models import SkuMapping
from app.domain.inventory.sku_mappings import SkuMappingError
from app.domain.orders.models import Order, OrderLine, OrderStatus, OrderTag
from app.domain.processing import services
from app.domain.processing.models import ProcessingState
from app.domain.shops.models import Shop
from app.outbox import OutboxMessage
from app.settings import Settings
from tests.integration.forms import csrf_from, login
from tests.integration.processing.conftest import generic_order
from tests.integration.processing.test_actions import ROUTE, land, linear_flow, process, publish, state_of

OPERATOR = Actor("user", None, "operator")


def platform_order(order_id: str, outer_id: str, sku_id: str = "", *, buyer: str = "buyer-1") -> dict[str, Any]:
    """A web-shop order of one line the shop names by its outer id (``sku``) and platform sku id."""
    payload = generic_order(order_id, lines=[(outer_id, 1, 9900)], buyer=buyer)
    payload["lines"][0]["channel_sku_id"] = sku_id
    payload["lines"][0]["title"] = "补水面膜（平台标题）"
    return payload


async def shop_id(db: Database, code: str) -> int:
    async with db.reading() as session:
        shop = (await session.exec(select(Shop).where(Shop.code == code))).one()
    assert shop.id is not None
    return shop.id


async def map_sku(db: Database, shop: str, sku_id: str, outer_id: str, code: str) -> None:
    async with db.transaction() as session:
        await sku_mappings.save_mapping(session, await shop_id(db, shop), sku_id, outer_id, code, SYSTEM)


async def lines_of(db: Database, order_id: int) -> list[tuple[str, str, str]]:
    """Each line's (our SKU, outer id, platform sku id)."""
    async with db.reading() as session:
        lines = (await session.exec(select(OrderLine).where(OrderLine.order_id == order_id))).all()
    return [(line.sku, line.seller_sku, line.channel_sku_id) for line in lines]


async def tags_of(db: Database, order_id: int) -> tuple[list[str], list[str]]:
    """The order's tags, and its tag rows (what the tag filter reads)."""
    async with db.reading() as session:
        order = await session.get(Order, order_id)
        rows = (await session.exec(select(OrderTag.tag).where(OrderTag.order_id == order_id))).all()
    assert order is not None
    return sorted(order.tags), sorted(rows)


async def test_a_line_is_our_sku_by_the_shops_mapping_of_its_platform_sku_id(db, settings, demo_data):
    await map_sku(db, "webshop", "P-8801", "", "MASK-10")
    order_id = await land(db, settings, platform_order("MAP-1", "WEB-MASK-A", "P-8801"))
    # Ours now; the platform's own ids stay on the line.
    assert await lines_of(db, order_id) == [("MASK-10", "WEB-MASK-A", "P-8801")]
    assert "unknown_sku" not in (await tags_of(db, order_id))[0]


async def test_a_line_is_our_sku_by_the_shops_mapping_of_its_outer_id(db, settings, demo_data):
    await map_sku(db, "webshop", "", "WEB-SERUM", "SERUM-30")
    order_id = await land(db, settings, platform_order("MAP-2", "WEB-SERUM", "P-7777"))
    assert await lines_of(db, order_id) == [("SERUM-30", "WEB-SERUM", "P-7777")]
    # An outer id that is one of our codes is ours whatever a mapping says.
    await map_sku(db, "webshop", "", "MASK-10", "SERUM-30")
    exact = await land(db, settings, platform_order("MAP-3", "MASK-10"))
    assert await lines_of(db, exact) == [("MASK-10", "MASK-10", "")]


async def test_a_mapping_belongs_to_its_shop_alone(db, settings, demo_data):
    await map_sku(db, "webshop", "P-1", "WEB-TEE", "TEE-BLK-L")
    elsewhere = await land(db, settings, platform_order("ISO-1", "WEB-TEE", "P-1"), shop_code="pos-sh-nanjingxilu")
    assert await lines_of(db, elsewhere) == [("", "WEB-TEE", "P-1")]
    assert (await tags_of(db, elsewhere)) == (["unknown_sku"], ["unknown_sku"])
    own = await land(db, settings, platform_order("ISO-1", "WEB-TEE", "P-1"))
    assert await lines_of(db, own) == [("TEE-BLK-L", "WEB-TEE", "P-1")]


async def test_a_processing_batch_resolves_lines_mapped_since_they_arrived_in_one_query(db, settings, demo_data):
    await publish(db, linear_flow(*ROUTE))
    ids = [
        await land(db, settings, platform_order(f"B{n}", f"WEB-B{n % 2}", f"P-B{n}", buyer=f"b{n}")) for n in range(4)
    ]
    await map_sku(db, "webshop", "", "WEB-B0", "MASK-10")  # by outer id: B0 and B2
    await map_sku(db, "webshop", "P-B1", "", "SERUM-30")  # by sku id: B1 only
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "sku_mappings" in statement:
            statements.append(statement)

    event.listen(db.write_engine.sync_engine, "before_cursor_execute", count)
    try:
        async with db.transaction() as session:
            outcomes = await services.process_batch(session, ids, secret_key=settings.secret_key)
    finally:
        event.remove(db.write_engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) == 1  # the whole batch's lines resolved in one query
    assert [o.state for o in outcomes] == ["processed", "processed", "processed", "held"]
    assert [(await lines_of(db, i))[0][0] for i in ids] == ["MASK-10", "SERUM-30", "MASK-10", ""]
    assert (await tags_of(db, ids[0])) == ([], [])
    proc, order = await state_of(db, ids[3])
    assert (proc.hold_code, order.status) == ("unknown_sku", OrderStatus.on_hold)
    assert (await state_of(db, ids[1]))[1].status == OrderStatus.routed


async def held_for_unknown_sku(db: Database, settings: Settings, external_id: str, outer_id: str, **kw: Any) -> int:
    order_id = await land(db, settings, platform_order(external_id, outer_id, **kw))
    await process(db, settings, order_id)
    proc, _ = await state_of(db, order_id)
    assert (proc.state, proc.hold_code) == (ProcessingState.held, "unknown_sku")
    return order_id


async def htmx_post(client: Any, url: str, data: dict[str, str]) -> Any:
    token = csrf_from((await client.get("/orders/review")).text)
    return await client.post(url, data=data, headers={"HX-Request": "true", "X-CSRFToken": token})


async def line_id_of(db: Database, order_id: int) -> int:
    async with db.reading() as session:
        line = (await session.exec(select(OrderLine).where(OrderLine.order_id == order_id))).one()
    assert line.id is not None
    return line.id


async def test_an_operator_maps_an_unknown_sku_in_review_and_the_order_and_its_siblings_are_routed(
    client, db, settings, demo_data
):
    await publish(db, linear_flow(*ROUTE))
    first = await held_for_unknown_sku(db, settings, "U1", "WEB-GIFTBOX", sku_id="P-GB", buyer="u1")
    sibling = await held_for_unknown_sku(db, settings, "U2", "WEB-GIFTBOX", sku_id="P-GB", buyer="u2")
    by_sku_id = await held_for_unknown_sku(db, settings, "U3", "", sku_id="P-GB", buyer="u3")
    other_sku = await held_for_unknown_sku(db, settings, "U4", "WEB-OTHER", buyer="u4")
    other_shop = await land(db, settings, platform_order("U5", "WEB-GIFTBOX", "P-GB"), shop_code="pos-sh-nanjingxilu")
    await process(db, settings, other_shop)
    await login(client, "operator", "operator-demo-123")  # the demo's operator

    queue = (await client.get("/orders/review")).text
    assert queue.count('data-testid="map-sku-form"') == 5  # one per held order's unknown line
    assert "WEB-GIFTBOX" in queue and "P-GB" in queue
    found = await client.get(f"/orders/review/{first}/skus?q=补水", headers={"HX-Request": "true"})
    assert 'data-sku="MASK-10"' in found.text and 'data-sku="SET-SKIN"' not in found.text
    assert 'data-sku="SET-SKIN"' in (await client.get(f"/orders/review/{first}/skus?q=set-")).text

    response = await htmx_post(
        client,
        f"/orders/review/{first}/map-sku",
        {"line": str(await line_id_of(db, first)), "sku": "MASK-10", "remember": "on"},
    )
    assert response.status_code == 200, response.text
    assert "已映射，订单将重新处理；该店铺另有 2 个因同一商品挂起的订单也已重新排队处理。" in response.text
    assert f'id="review-{first}"' in response.text and "<html" not in response.text
    async with db.reading() as session:
        [mapping] = (await session.exec(select(SkuMapping))).all()
        [entry] = (await session.exec(select(AuditEntry).where(AuditEntry.action == "review.map_sku"))).all()
        saved = (await session.exec(select(AuditEntry).where(AuditEntry.action == "sku_mapping.save"))).all()
    assert (mapping.platform_sku_id, mapping.outer_id, mapping.sku_code, mapping.mapped_by) == (
        "P-GB",
        "WEB-GIFTBOX",
        "MASK-10",
        "operator",
    )
    assert entry.actor_name == "operator" and entry.after is not None and entry.after["requeued"] == 2
    assert len(saved) == 1

    for order_id in (first, sibling, by_sku_id):
        await process(db, settings, order_id)
        proc, order = await state_of(db, order_id)
        assert (proc.state, order.status, proc.warehouse_code) == (
            ProcessingState.processed,
            OrderStatus.routed,
            "SH01",
        )
        assert "unknown_sku" not in order.tags
    # Another SKU, and the same platform SKU in another shop, still wait.
    for order_id in (other_sku, other_shop):
        proc, _ = await state_of(db, order_id)
        assert (proc.state, proc.hold_code) == (ProcessingState.held, "unknown_sku")
    assert (await lines_of(db, first)) == [("MASK-10", "WEB-GIFTBOX", "P-GB")]


async def test_mapping_one_order_only_leaves_the_shop_without_a_mapping(client, db, settings, demo_data):
    await publish(db, linear_flow(*ROUTE))
    first = await held_for_unknown_sku(db, settings, "O1", "WEB-ONCE", buyer="o1")
    sibling = await held_for_unknown_sku(db, settings, "O2", "WEB-ONCE", buyer="o2")
    await login(client, "operator", "operator-demo-123")  # the demo's operator
    response = await htmx_post(
        client, f"/orders/review/{first}/map-sku", {"line": str(await line_id_of(db, first)), "q": "SERUM-30"}
    )
    assert response.status_code == 200 and "已映射，订单将重新处理。" in response.text
    await process(db, settings, first)
    assert (await state_of(db, first))[0].state == ProcessingState.processed
    assert (await state_of(db, sibling))[0].state == ProcessingState.held
    async with db.reading() as session:
        assert (await session.exec(select(SkuMapping))).all() == []


async def test_an_unknown_or_disabled_sku_is_refused_in_chinese_and_nothing_changes(client, db, settings, demo_data):
    await publish(db, linear_flow(*ROUTE))
    order_id = await held_for_unknown_sku(db, settings, "N1", "WEB-NOPE")
    await login(client, "operator", "operator-demo-123")  # the demo's operator
    line = str(await line_id_of(db, order_id))
    response = await htmx_post(
        client, f"/orders/review/{order_id}/map-sku", {"line": line, "sku": "NO-SUCH-SKU", "remember": "on"}
    )
    assert response.status_code == 400
    assert "没有编码为 NO-SUCH-SKU 的商品" in response.text
    assert 'data-testid="map-sku-form"' in response.text  # the form is still there to try again
    empty = await htmx_post(client, f"/orders/review/{order_id}/map-sku", {"line": line, "q": ""})
    assert empty.status_code == 400 and "请选择我们的一个商品" in empty.text
    async with db.reading() as session:
        assert (await session.exec(select(SkuMapping))).all() == []
    with pytest.raises(SkuMappingError, match="NO-SUCH"):
        async with db.transaction() as session:
            await sku_mappings.save_mapping(session, await shop_id(db, "webshop"), "P-1", "", "NO-SUCH", SYSTEM)
    proc, order = await state_of(db, order_id)
    assert (proc.state, proc.hold_code, order.version) == (ProcessingState.held, "unknown_sku", 1)
    assert (await lines_of(db, order_id)) == [("", "WEB-NOPE", "")]
    async with db.reading() as session:
        jobs = [m for m in (await session.exec(select(OutboxMessage))).all() if m.args == [order_id]]
        audits = (await session.exec(select(AuditEntry).where(AuditEntry.action == "review.map_sku"))).all()
    assert len(jobs) == 1 and audits == []  # only the job that first processed it


async def test_a_backtest_reads_a_line_mapped_since_it_arrived_as_the_mapped_sku(db, settings, demo_data):
    order_id = await land(db, settings, platform_order("BT-1", "WEB-LATER", "P-LATER"))
    await map_sku(db, "webshop", "P-LATER", "", "MASK-10")
    async with db.reading() as session:
        found = await RecentOrders(settings.secret_key).recent_contexts(session, 10)
        [context] = [c for c in found if c.order_id == order_id]
    [line] = context.context["order"]["lines"]
    assert (line["sku"], line["channel_sku_id"], line["weight_g"]) == ("MASK-10", "P-LATER", 300)
    assert "unknown_sku" not in context.context["order"]["tags"]
    assert context.unmatched == () and [item.sku for item in context.items or ()] == ["MASK-10"]
    # Reading changed nothing: the stored line waits for processing to resolve it.
    assert await lines_of(db, order_id) == [("", "WEB-LATER", "P-LATER")]

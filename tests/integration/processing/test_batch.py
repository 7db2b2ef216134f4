"""A batch of orders from several channels through the published four-stage flow, end to end: webhook → outbox
→ worker (embedded on SQLite, an arq process on PostgreSQL + Redis) → flows → reservation, carrier, gifts,
holds, documents, waybills and messages, asserted order by order against what the flow says."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import Database
from app.domain.fulfillment.models import BuyerNotification, Shipment, ShippingDocument, ShippingDocumentEntry, Waybill
from app.domain.inventory import services as inventory
from app.domain.inventory.models import ChannelStock, MoveKind, Reservation, Stock, StockMove
from app.domain.orders.models import Order, OrderStatus
from app.domain.processing.models import OrderProcessing
from tests.integration.forms import login
from tests.integration.processing.conftest import deliver, generic_order, wait_for, wait_until_settled
from tests.samples import channels as samples

#: The presale orders' balance due time (China time, as the platform sends it): a month ahead of the clock, so the
#: worker's sweeper does not find them overdue (逾期未付尾款) while a test looks at them waiting.
BALANCE_DUE = (datetime.now(UTC) + timedelta(days=30, hours=8)).strftime("%Y-%m-%d %H:%M:%S")


def batch() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(name, channel, shop, payload) for every order of the batch."""
    same_address = [
        generic_order(
            f"G{i}",
            lines=[("EARBUD-P2", 1, 49900)],
            province="湖北",
            city="武汉市",
            district="洪山区",
            address="珞喻路 1037 号",
            name="刘洋",
            phone="13700002222",
            buyer=f"g-buyer-{i}",
            created_at=f"2026-11-11 10:{i:02d}:00",
        )
        for i in range(1, 5)
    ]
    return [
        ("east_3c", "webshop", "webshop", generic_order("A1", lines=[("PHONE-X1", 1, 399900)])),
        (
            "small_gd",
            "webshop",
            "webshop",
            generic_order("B1", lines=[("CABLE-C1", 1, 2900)], province="广东", city="广州市", district="天河区"),
        ),
        (
            "default_bj",
            "pos",
            "pos-sh-nanjingxilu",
            generic_order("C1", lines=[("TEE-BLK-L", 2, 7900)], province="北京", city="北京市", district="朝阳区"),
        ),
        (
            "bundle",
            "webshop",
            "webshop",
            generic_order(
                "D1",
                lines=[("SET-SKIN", 1, 32900)],
                province="江苏",
                city="南京市",
                district="鼓楼区",
                bundle_of="护肤套装",
            ),
        ),
        (
            "presale",
            "webshop",
            "webshop",
            generic_order(
                "E1",
                lines=[("SERUM-30", 2, 25900)],
                province="上海",
                city="上海市",
                district="徐汇区",
                presale={"is_presale": True, "deposit_paid": True, "balance_due_at": BALANCE_DUE},
            ),
        ),
        ("no_address", "webshop", "webshop", generic_order("F1", lines=[("MASK-10", 1, 9900)], address=None)),
        *[(f"same_address_{i}", "webshop", "webshop", order) for i, order in enumerate(same_address, start=1)],
        (
            "out_of_stock",
            "webshop",
            "webshop",
            generic_order("H1", lines=[("PHONE-X1", 500, 399900)], province="四川", city="成都市", district="武侯区"),
        ),
        ("kuaishou", "kuaishou", "kuaishou-shop", samples.kuaishou_paid()),
        ("douyin_cancelled", "douyin", "douyin-live", samples.douyin_cancelled()),
    ]


#: What the four-stage flow says for each order: state, warehouse, carrier, gifts, hold reason, documents.
EXPECTED: dict[str, dict[str, Any]] = {
    # 华东 + 3C → 上海仓 + 顺丰; paid ≥ ¥299 → the tote bag; documents, waybill, SMS.
    "east_3c": {"state": "processed", "shipments": [("SH01", "SF")], "gifts": ["GIFT-TOTE-01"], "docs": True},
    # under ¥50 → the cheapest warehouse (广州仓: in-province rate) and the cheapest economy carrier there (申通).
    "small_gd": {"state": "processed", "shipments": [("GZ01", "STO")], "gifts": [], "docs": True},
    # default → priority: 北京仓 serves 华北 but has no T-shirts, so 上海仓; cheapest carrier 上海→北京 is 申通.
    "default_bj": {"state": "processed", "shipments": [("SH01", "STO")], "gifts": [], "docs": True},
    # a bundle: expanded on the pick list into its parts; paid ≥ ¥299 → gift.
    "bundle": {"state": "processed", "shipments": [("SH01", "STO")], "gifts": ["GIFT-TOTE-01"], "docs": True},
    # presale: routed and reserved (in-province 申通), then held until the balance is paid; no documents yet.
    "presale": {"state": "awaiting_balance", "shipments": [("SH01", "STO")], "gifts": ["GIFT-TOTE-01"], "docs": False},
    "no_address": {"state": "held", "reason": "收货地址不完整", "shipments": [], "docs": False},
    # 武汉仓 serves 华中 and has the earbuds; it has no tote bags, so the gift is left out (limited gift stock).
    **{
        f"same_address_{i}": {"state": "processed", "shipments": [("WH01", "STO")], "gifts": [], "docs": True}
        for i in (1, 2, 3)
    },
    "same_address_4": {
        "state": "held",
        "reason": "同一地址 24 小时内订单过多，疑似刷单",
        "shipments": [],
        "docs": False,
    },
    "out_of_stock": {"state": "out_of_stock", "reason": "缺货：PHONE-X1（未允许拆单）", "shipments": [], "docs": False},
    # 快手 湖北 面膜: 武汉仓 has none, so 上海仓 by priority; 申通 national rate.
    "kuaishou": {"state": "processed", "shipments": [("SH01", "STO")], "gifts": [], "docs": True},
    "douyin_cancelled": {"state": "cancelled", "shipments": [], "docs": False},
}


async def run_batch(server: str, db: Database) -> dict[str, int]:
    ids = {}
    for name, channel, shop, payload in batch():
        ids[name] = (await deliver(server, channel, shop, payload))["order_id"]
    await wait_until_settled(db, len(ids))
    return ids


async def test_the_published_four_stage_flow_processes_a_batch_from_several_channels(server, worker, db):
    ids = await run_batch(server, db)
    # Waybills and buyer messages go out after processing: wait until every routed shipment has its waybill
    # and every message has left.
    routed = [ids[name] for name, want in EXPECTED.items() if want["state"] == "processed"]

    async def all_sent(session):
        rows = (await session.exec(select(Shipment).where(col(Shipment.order_id).in_(routed)))).all()
        notes = (await session.exec(select(BuyerNotification))).all()
        waybilled = len(rows) >= len(routed) and all(s.waybill_no for s in rows)
        return waybilled and len(notes) == len(routed) + 1 and all(n.status == "sent" for n in notes)

    await wait_for(db, all_sent, what="waybills and buyer messages for every routed order")

    async with db.reading() as session:
        procs = {p.order_id: p for p in (await session.exec(select(OrderProcessing))).all()}
        orders = {o.id: o for o in (await session.exec(select(Order))).all()}
        shipments: dict[int, list[Shipment]] = defaultdict(list)
        for s in (await session.exec(select(Shipment).order_by(col(Shipment.seq)))).all():
            shipments[s.order_id].append(s)
        reservations: dict[str, list[Reservation]] = defaultdict(list)
        for r in (await session.exec(select(Reservation))).all():
            reservations[r.order_key].append(r)
        documents = {
            (entry.order_ref, document.kind, document.warehouse_code)
            for entry, document in (
                await session.exec(
                    select(ShippingDocumentEntry, ShippingDocument).join(
                        ShippingDocument, col(ShippingDocument.id) == col(ShippingDocumentEntry.document_id)
                    )
                )
            ).all()
        }
        waybills = {w.order_ref: w for w in (await session.exec(select(Waybill))).all()}
        messages = (await session.exec(select(BuyerNotification))).all()

    for name, want in EXPECTED.items():
        order_id = ids[name]
        proc, order = procs[order_id], orders[order_id]
        assert proc.state.value == want["state"], (name, proc.state, proc.hold_reason)
        if "reason" in want:
            assert proc.hold_reason == want["reason"], name
        got = [(s.warehouse_code, s.carrier_code) for s in shipments[order_id] if s.status != "cancelled"]
        assert got == want["shipments"], name
        held = [r for r in reservations[f"order:{order_id}"] if r.status == "reserved"]
        if want["shipments"]:
            # Every line (and gift) holds its stock in the shipment's warehouse, once.
            gifts = sorted(r.sku_code for r in held if r.line_key.startswith("gift:"))
            assert gifts == want["gifts"], name
            assert {r.warehouse_code for r in held} == {want["shipments"][0][0]}, name
            assert len({(r.line_key, r.sku_code) for r in held}) == len(held), name
            for shipment in shipments[order_id]:
                on_list = {(kind, warehouse) for ref, kind, warehouse in documents if ref == shipment.ref}
                expected_docs = {("outbound_order", shipment.warehouse_code), ("pick_list", shipment.warehouse_code)}
                assert on_list == (expected_docs if want["docs"] else set()), name
                if want["state"] == "processed":
                    assert waybills[shipment.ref].waybill_no == shipment.waybill_no, name
                    assert shipment.waybill_no.startswith(shipment.carrier_code or "?"), name
        else:
            assert held == [], name
        if want["state"] == "processed":
            assert order.status == OrderStatus.waybilled, name
        elif want["state"] in ("held", "out_of_stock", "awaiting_balance"):
            assert order.status == OrderStatus.on_hold, name

    # The bundle is picked as its parts; the gift is on the same pick list.
    bundle_lines = shipments[ids["bundle"]][0].lines
    assert sorted((line["sku"], line["qty"], line["bundle_of"]) for line in bundle_lines) == [
        ("GIFT-TOTE-01", 1, None),
        ("MASK-10", 1, "SET-SKIN"),
        ("SERUM-30", 1, "SET-SKIN"),
    ]
    # Messages: an SMS for each routed order, a WeChat balance reminder for the presale order, nothing for holds.
    sent = Counter((m.order_ref, m.template, m.via, m.status) for m in messages)
    ref = {name: f"RF{ids[name]:08d}" for name in ids}
    for name, want in EXPECTED.items():
        if want["state"] == "processed":
            assert sent[(ref[name], "order_processed", "sms", "sent")] == 1, name
    assert sent[(ref["presale"], "presale_balance_reminder", "wechat", "sent")] == 1
    assert len(messages) == len(routed) + 1
    # The gift left out for 武汉仓 is noted on the order's processing, not silently dropped.
    assert procs[ids["same_address_1"]].decisions["gifts"] == [{"sku": "GIFT-TOTE-01", "qty": 1}]
    await assert_stock_matches_reservations(db)
    # The printed pick lists of 上海仓 add up what to take off its shelves (bundle parts and gifts included).
    assert await picked_at(server, db, "SH01") == {
        "PHONE-X1": 1,
        "TEE-BLK-L": 2,
        "SERUM-30": 1,
        "MASK-10": 2,
        "GIFT-TOTE-01": 2,
    }


PICK_ROW = re.compile(r'data-sku="([^"]+)"><td>[^<]*</td><td>[^<]*</td><td class="n">(\d+)</td>')


async def picked_at(server: str, db: Database, warehouse: str) -> dict[str, int]:
    """The pick totals printed on a warehouse's pick lists (a batch may straddle two waves)."""
    async with db.reading() as session:
        ids = (
            await session.exec(
                select(ShippingDocument.id).where(
                    ShippingDocument.kind == "pick_list", ShippingDocument.warehouse_code == warehouse
                )
            )
        ).all()
    totals: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=server) as http:
        await login(http, "operator", "operator-demo-123")
        for document_id in ids:
            html = (await http.get(f"/fulfillment/documents/{document_id}")).text
            for sku, qty in re.findall(
                r'data-sku="([^"]+)"><td>[^<]*</td><td>[^<]*</td><td class="n">(\d+)</td>', html
            ):
                totals[sku] += int(qty)
    return dict(totals)


async def channel_stock_published(session: AsyncSession) -> bool:
    return not await inventory.channel_marks_pending(session)


async def assert_stock_matches_reservations(db: Database) -> None:
    """The stock table's reserved column equals what active reservations hold, per warehouse and SKU, and the
    ledger's reservation moves add up to the same: nothing reserved twice, nothing lost. What each shop may
    sell was recomputed from the stock as it is now (by the channel-stock job, within its 2 s)."""
    await wait_for(db, channel_stock_published, what="the channel-stock job")
    async with db.reading() as session:
        held: Counter[tuple[str, str]] = Counter()
        for r in (await session.exec(select(Reservation).where(Reservation.status == "reserved"))).all():
            held[(r.warehouse_code, r.sku_code)] += r.qty
        stock = {(s.warehouse_code, s.sku_code): s.reserved for s in (await session.exec(select(Stock))).all()}
        ledger: Counter[tuple[str, str]] = Counter()
        for move in (await session.exec(select(StockMove))).all():
            if move.kind in (MoveKind.reservation, MoveKind.release, MoveKind.shipment):
                ledger[(move.warehouse_code, move.sku_code)] += move.reserved_delta
        published = (await session.exec(select(ChannelStock))).all()
        pool = await inventory.pool_available(session, {row.sku_code for row in published})
    assert {k: v for k, v in stock.items() if v} == dict(held)
    assert {k: v for k, v in ledger.items() if v} == dict(held)
    assert published and {(row.shop_id, row.sku_code): row.available for row in published} == {
        (row.shop_id, row.sku_code): pool[row.sku_code] for row in published
    }


async def test_processing_an_order_again_changes_nothing(server, worker, db, settings):
    ids = await run_batch(server, db)
    from app.domain.processing import services

    async with db.reading() as session:
        before_moves = len((await session.exec(select(StockMove))).all())
        before = {p.order_id: (p.state, p.runs) for p in (await session.exec(select(OrderProcessing))).all()}
    for order_id in ids.values():
        async with db.transaction() as session:
            outcome = await services.process(session, order_id, secret_key=settings.secret_key)
        assert outcome.skipped, outcome
    async with db.reading() as session:
        assert len((await session.exec(select(StockMove))).all()) == before_moves
        after = {p.order_id: (p.state, p.runs) for p in (await session.exec(select(OrderProcessing))).all()}
    assert after == before


async def test_paying_the_balance_releases_the_presale_order_to_the_warehouse(server, worker, db):
    presale = {"is_presale": True, "deposit_paid": True, "balance_due_at": BALANCE_DUE}
    payload = generic_order("E9", lines=[("SERUM-30", 1, 25900)], province="上海", city="上海市", presale=presale)
    order_id = (await deliver(server, "webshop", "webshop", payload))["order_id"]
    rows = await wait_until_settled(db, 1)
    assert rows[order_id].state.value == "awaiting_balance"
    paid = {**payload, "updated_at": "2026-11-12 09:00:00", "presale": {**presale, "balance_paid": True}}
    await deliver(server, "webshop", "webshop", paid)

    async def routed(session):
        proc = await session.get(OrderProcessing, order_id)
        return proc if proc is not None and proc.state.value == "processed" and proc.order_version == 2 else None

    proc = await wait_for(db, routed, what="the presale order to be processed after the balance")
    assert proc.warehouse_code == "SH01"
    async with db.reading() as session:
        held = (await session.exec(select(Reservation).where(Reservation.order_key == f"order:{order_id}"))).all()
        docs = (
            await session.exec(
                select(ShippingDocument.kind)
                .join(ShippingDocumentEntry, col(ShippingDocument.id) == col(ShippingDocumentEntry.document_id))
                .where(ShippingDocumentEntry.order_ref == f"RF{order_id:08d}-1")
            )
        ).all()
    # Still the one reservation per line made before the balance: not taken twice.
    assert sorted((r.sku_code, r.qty, r.status) for r in held) == [("SERUM-30", 1, "reserved")]
    assert sorted(docs) == ["outbound_order", "pick_list"]

"""Privacy-protected receivers through the published four-stage flow, end to end (webhook → outbox → worker →
flows): the platforms' protected orders are normal orders, while a bad phone or an address without a street is
held, and five orders to one door under five names are caught whatever names and spellings they use."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import col, select

from app.domain.channels.services import set_webhook_secret
from app.domain.orders import pii
from app.domain.orders.models import Order
from app.domain.processing.models import OrderProcessing
from app.domain.shops.models import Channel, Shop
from tests.integration.processing.conftest import SECRET, deliver, generic_order, wait_until_settled
from tests.samples import channels as samples

SHOPS = {"tmall": "tmall-flagship", "douyin": "douyin-live", "youzan": "youzan-shop", "jd": "jd-pop"}
PROTECTED = [
    ("tmall", samples.tmall_privacy_oaid()),
    ("douyin", samples.douyin_encrypted()),
    ("douyin", samples.douyin_virtual_number()),
    ("youzan", samples.youzan_encrypted()),
    ("jd", samples.jd_virtual_number()),
]


async def land(server: str, db: Any, orders: list[tuple[str, str, dict[str, Any]]]) -> list[int]:
    ids = [(await deliver(server, channel, shop, payload))["order_id"] for channel, shop, payload in orders]
    await wait_until_settled(db, len(ids))
    return ids


async def outcomes(db: Any, ids: list[int]) -> tuple[dict[int, OrderProcessing], dict[int, Order]]:
    async with db.reading() as session:
        procs = {p.order_id: p for p in (await session.exec(select(OrderProcessing))).all()}
        orders = {o.id: o for o in (await session.exec(select(Order).where(col(Order.id).in_(ids)))).all()}
    return procs, orders


async def test_protected_receivers_of_tmall_douyin_youzan_and_jd_pass_the_shipped_audit(server, worker, db, settings):
    ids = await land(server, db, [(channel, SHOPS[channel], payload) for channel, payload in PROTECTED])
    procs, orders = await outcomes(db, ids)
    for (channel, _), order_id in zip(PROTECTED, ids, strict=True):
        proc, order = procs[order_id], orders[order_id]
        assert (proc.state.value, proc.hold_reason) == ("processed", ""), (channel, proc.flows)
        assert proc.flows[0]["path"][:6] == [
            "start",
            "review_approved",
            "audit_address",
            "audit_phone",
            "audit_same_address",
            "approve",
        ]
        assert order.receiver_protected, channel
        # The stored trace shows what the audit read: yes or no, never a phone or a street.
        trace = json.dumps(proc.flows, ensure_ascii=False)
        assert '"features.phone_valid": true' in trace and '"features.address_complete": true' in trace
        assert "18400913965" not in trace and "13244445555" not in trace and "玉林北路 22" not in trace
    tmall, douyin, douyin_virtual, youzan, jd = (orders[order_id] for order_id in ids)
    # The platform's tokens are kept sealed, shown masked in the payload copy.
    assert pii.unseal_json(settings.secret_key, tmall.receiver_tokens_cipher) == {
        "oaid": samples.tmall_privacy_oaid()["oaid"]
    }
    assert tmall.raw["oaid"] == "1hPL****" and (tmall.phone_masked, tmall.phone_cipher) == ("*******5678", None)
    assert set(pii.unseal_json(settings.secret_key, douyin.receiver_tokens_cipher)) == {
        "name",
        "phone",
        "address",
        "address_id",
    }
    assert (youzan.receiver_name, youzan.address_masked, youzan.phone_cipher) == ("", "****", None)
    # A virtual number is the phone the courier calls: sealed like any phone, shown with its extension.
    assert pii.decrypt(settings.secret_key, douyin_virtual.phone_cipher) == "18400913965-7576"
    assert (jd.phone_masked, pii.decrypt(settings.secret_key, jd.phone_cipher)) == (
        "132****5555-3021",
        "13244445555-3021",
    )
    # The oaid names the address when that is all there is; a clear street names it by itself.
    assert tmall.address_key == pii.address_token_key(settings.secret_key, samples.tmall_privacy_oaid()["oaid"])
    assert douyin_virtual.address_key and douyin_virtual.address_key != douyin.address_key


async def test_a_phone_of_ten_or_twelve_digits_and_an_address_of_just_shanghai_are_held(server, worker, db):
    ids = await land(
        server,
        db,
        [
            ("webshop", "webshop", generic_order("P10", lines=[("MASK-10", 1, 9900)], phone="1380013800")),
            ("webshop", "webshop", generic_order("P12", lines=[("MASK-10", 1, 9900)], phone="138001380001")),
            (
                "webshop",
                "webshop",
                generic_order(
                    "SH", lines=[("MASK-10", 1, 9900)], province="上海", city="上海市", district="", address="上海"
                ),
            ),
            ("webshop", "webshop", generic_order("OK", lines=[("MASK-10", 1, 9900)], phone="138-0013-8000")),
        ],
    )
    procs, orders = await outcomes(db, ids)
    held = [(procs[order_id].state.value, procs[order_id].hold_reason) for order_id in ids]
    assert held == [
        ("held", "收货人手机号无效"),
        ("held", "收货人手机号无效"),
        ("held", "收货地址不完整"),
        ("processed", ""),
    ]
    # Masked, a 10-digit number looks like any other: the check ran on the real one.
    assert orders[ids[0]].phone_masked == "138****3800"


async def test_five_orders_to_one_door_under_five_names_within_a_day_are_held_from_the_fourth(server, worker, db):
    # One door in Shanghai, written five ways: spaces, full-width digits, 號, the area repeated, punctuation.
    streets = [
        "张江路 88 弄 6 号 1202 室",
        "张江路88弄6号1202室",
        "上海市浦东新区张江路８８弄６號１２０２室",
        "张江路 88弄 6号, 1202室",
        "浦东新区 张江路88弄6号1202室",
    ]
    names = ["王伟", "李娜", "张敏", "刘洋", "陈静"]
    orders = [
        (
            "webshop",
            "webshop",
            generic_order(
                f"DOOR{i}",
                lines=[("MASK-10", 1, 9900)],
                province="上海",
                city="上海市",
                district="浦东新区",
                address=street,
                name=names[i],
                phone=f"1390000{i:04d}",
                buyer=f"door-buyer-{i}",
                created_at=f"2026-11-11 0{i + 1}:00:00",
            ),
        )
        for i, street in enumerate(streets)
    ]
    ids = await land(server, db, orders)
    procs, stored = await outcomes(db, ids)
    assert len({stored[order_id].address_key for order_id in ids}) == 1
    assert [(procs[order_id].state.value, procs[order_id].hold_reason) for order_id in ids] == [
        ("processed", ""),
        ("processed", ""),
        ("processed", ""),
        ("held", "同一地址 24 小时内订单过多，疑似刷单"),
        ("held", "同一地址 24 小时内订单过多，疑似刷单"),
    ]


async def test_community_group_orders_collected_at_one_pickup_point_are_not_held_as_one_address(
    server, worker, db, settings
):
    # 社区团购: the neighbours' orders all go to the leader's pickup point; that is the channel, not 刷单.
    async with db.transaction() as session:
        shop = Shop(channel=Channel.community_group, code="tuan-pudong", name="浦东团购")
        set_webhook_secret(shop, settings.secret_key, SECRET)
        session.add(shop)
    orders = []
    for i, name in enumerate(["林芳", "周强", "吴敏", "郑洁", "孙浩"]):
        payload = samples.community_group_order(f"TG-PICKUP-{i}")
        payload["lines"] = [{"line_id": "1", "sku": "MASK-10", "title": "面膜", "qty": 1, "unit_price_fen": 9900}]
        payload["receiver"] = {
            **payload["receiver"],
            "name": name,
            "phone": f"1360000{i:04d}",
            "address": "幸福路 100 弄东门自提点",
        }
        payload["buyer"] = {"id": f"tg-member-{i}", "nick": name}
        orders.append(("community_group", "tuan-pudong", payload))
    ids = await land(server, db, orders)
    procs, stored = await outcomes(db, ids)
    assert {stored[order_id].address_key for order_id in ids} == {""}
    assert [(procs[order_id].state.value, procs[order_id].hold_reason) for order_id in ids] == [("processed", "")] * 5

"""Hostile or broken webhook bodies, delivered with a valid signature. Each must be answered with a 4xx, kept as
exactly one row of the error queue with a message an operator can act on (in Chinese, naming the field and the
value), create nothing else, and become an order once someone fixes and replays it. Attacks covered:

- a quantity of 10^30, and quantities of 0, -1 and 100,000 (outside 1..99,999);
- a unit price of "1e309" and a payment of "1e30" (numbers far beyond any column), a negative payment;
- amounts that Python's Decimal reads but no platform sends: Arabic-Indic digits ("٣٩.00"), "1_000";
- a discount of ¥99,999 on a ¥4,057 order (more than its items and shipping together);
- a JSON number that is not finite (1e309 as a number, NaN);
- a body nested 10,000 deep (the parser would recurse until it crashed);
- a lone surrogate ("\\ud800") in a text field, which no database encoding can store; a NUL ("\\u0000"), which
  PostgreSQL's text cannot hold, escaped or as a raw byte, in the buyer's message or nick, a SKU or the order id;
- an order id longer than the column;
- a time before 2000-01-01 or more than a year ahead (year 9999, the second day of year 1, 1999, Unix time 1),
  which the date arithmetic downstream cannot hold;
- the same attacks unsigned: refused with 401 and not kept at all;
- pulled orders and replays go through the same bounds;
- an order kept before times were bounded, placed on the calendar's first or last day, is still processed,
  simulated on, and shown on the flow editor, its page and the order list.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import func, select

from app.domain.accounts.models import Role, TokenScope
from app.domain.accounts.services import SYSTEM
from app.domain.channels.models import InboxEvent, IngestError
from app.domain.channels.services import SHOP_HEADER, pull_shop, set_credentials
from app.domain.flows import services as flows
from app.domain.orders.models import Order
from app.domain.processing import services as processing
from app.domain.processing.models import OrderProcessing
from app.domain.shops.models import Channel
from tests.integration.forms import login, post_form
from tests.integration.orders.conftest import SHOP_CODES, deliver
from tests.integration.orders.conftest import shops as shops  # the fixture: one shop per channel
from tests.integration.orders.fake_platform import APP_KEY, APP_SECRET, TOKEN, FakePlatform, running
from tests.samples import channels as samples

Payload = dict[str, Any]


def taobao_with(change: Callable[[Payload], None]) -> Payload:
    payload = samples.taobao_multi_line_with_gift()
    change(payload)
    return payload


def first_line(payload: Payload) -> Payload:
    line: Payload = payload["orders"]["order"][0]
    return line


def set_in(path: Callable[[Payload], Payload], key: str, value: Any) -> Callable[[Payload], None]:
    def change(payload: Payload) -> None:
        path(payload)[key] = value

    return change


def itself(payload: Payload) -> Payload:
    return payload


# (channel, broken body, status, field, words the message must contain)
BROKEN: dict[str, tuple[str, bytes, int, str, list[str]]] = {
    "quantity 10^30": (
        "tmall",
        json.dumps(taobao_with(set_in(first_line, "num", 10**30))).encode(),
        422,
        "orders[0].num",
        ["第 1 行数量", "1000000000000000000000000000000", "1 到 99,999 的整数"],
    ),
    "quantity 0": (
        "jd",
        json.dumps(
            samples.jd_order_with_coupon_and_gift()
            | {"itemInfoList": [{"skuId": "1", "outerSkuId": "EARBUD-P2", "jdPrice": "499.00", "itemTotal": "0"}]}
        ).encode(),
        422,
        "itemInfoList[0].itemTotal",
        ["第 1 行数量 0 无效：数量须为 1 到 99,999 的整数"],
    ),
    "quantity -1": (
        "pos",
        json.dumps(samples.pos_order() | {"lines": [{"sku": "TEE-BLK-L", "qty": -1, "unit_price_fen": 7900}]}).encode(),
        422,
        "lines[0].qty",
        ["第 1 行数量 -1 无效"],
    ),
    "quantity 100,000": (
        "tmall",
        json.dumps(taobao_with(set_in(first_line, "num", "100000"))).encode(),
        422,
        "orders[0].num",
        ["第 1 行数量 100000 无效"],
    ),
    'price "1e309"': (
        "tmall",
        json.dumps(taobao_with(set_in(first_line, "price", "1e309"))).encode(),
        422,
        "orders[0].price",
        ["orders[0].price", "1e309", "¥0.00 到 ¥10,000,000.00"],
    ),
    'payment "1e30"': (
        "tmall",
        json.dumps(taobao_with(set_in(itself, "payment", "1e30"))).encode(),
        422,
        "payment",
        ["payment 的金额 1e30 无效"],
    ),
    "price in Arabic-Indic digits": (
        "tmall",
        json.dumps(taobao_with(set_in(first_line, "price", "٣٩.00"))).encode(),
        422,
        "orders[0].price",
        ["orders[0].price 的值 ٣٩.00 不是以元为单位的金额"],
    ),
    'payment "1_000"': (
        "tmall",
        json.dumps(taobao_with(set_in(itself, "payment", "1_000"))).encode(),
        422,
        "payment",
        ["payment 的值 1_000 不是以元为单位的金额"],
    ),
    "discount larger than the order": (
        "tmall",
        json.dumps(taobao_with(set_in(itself, "discount_fee", "99999.00"))).encode(),
        422,
        "discount_fen",
        ["订单优惠 ¥99,999.00 超过商品与运费合计（¥4,057.00）"],
    ),
    "negative payment": (
        "jd",
        json.dumps(samples.jd_order_with_coupon_and_gift() | {"orderPayment": "-3857.00"}).encode(),
        422,
        "orderPayment",
        ["orderPayment 的金额 -3857.00 无效"],
    ),
    "negative line payment in fen": (
        "pos",
        json.dumps(
            samples.pos_order() | {"lines": [{"sku": "TEE-BLK-L", "qty": 1, "unit_price_fen": 7900, "paid_fen": -7900}]}
        ).encode(),
        422,
        "lines[0].paid_fen",
        ["lines[0].paid_fen 的金额 -¥79.00 无效"],
    ),
    "price 1e309 as a JSON number": (
        "tmall",
        json.dumps(taobao_with(set_in(first_line, "price", "@inf@"))).replace('"@inf@"', "1e309").encode(),
        422,
        "orders.order[0].price",
        ["orders.order[0].price", "inf", "不是有限的数值"],
    ),
    "NaN": (
        "pos",
        json.dumps(samples.pos_order()).replace('"paid_at"', '"paid_fen": NaN, "paid_at"').encode(),
        400,
        "body",
        ["请求内容 不是有效的 JSON"],
    ),
    "nested 10,000 deep": (
        "pos",
        ('{"order": ' * 10_000 + "{}" + "}" * 10_000).encode(),
        400,
        "body",
        ["请求内容 的嵌套超过 32 层"],
    ),
    "lone surrogate": (
        "tmall",
        json.dumps(taobao_with(set_in(itself, "buyer_message", "请尽快发货\ud800"))).encode(),
        422,
        "buyer_message",
        ["buyer_message 含有无法保存的字符", "\\ud800"],
    ),
    "NUL character": (
        "pos",
        json.dumps(samples.pos_order() | {"buyer_message": "a\u0000b"}).encode(),
        422,
        "buyer_message",
        ["buyer_message 含有无法保存的空字符"],
    ),
    "NUL in the buyer's nick": (
        "tmall",
        json.dumps(taobao_with(set_in(itself, "buyer_nick", "a\u0000b"))).encode(),
        422,
        "buyer_nick",
        ["buyer_nick 含有无法保存的空字符"],
    ),
    "NUL in a SKU": (
        "tmall",
        json.dumps(taobao_with(set_in(first_line, "outer_sku_id", "PHONE\u0000X1"))).encode(),
        422,
        "orders.order[0].outer_sku_id",
        ["outer_sku_id 含有无法保存的空字符"],
    ),
    "NUL in the order id": (
        "tmall",
        json.dumps(taobao_with(set_in(itself, "tid", "9101\u00007"))).encode(),
        422,
        "tid",
        ["tid 含有无法保存的空字符"],
    ),
    "raw NUL byte": (
        "pos",
        json.dumps(samples.pos_order()).replace('"completed"', '"comp\u0000leted"').encode(),  # a raw 0x00 byte
        400,
        "body",
        ["请求内容 不是有效的 JSON"],
    ),
    "placed in year 9999": (
        "tmall",
        json.dumps(taobao_with(set_in(itself, "created", "9999-12-31 23:59:59"))).encode(),
        422,
        "created",
        ["created 的时间 9999-12-31 23:59:59 无效", "2000-01-01 至一年后"],
    ),
    "paid on the second day of year 1": (
        "tmall",
        json.dumps(taobao_with(set_in(itself, "pay_time", "0001-01-02 00:00:00"))).encode(),
        422,
        "pay_time",
        ["pay_time 的时间 0001-01-02 00:00:00 无效"],
    ),
    "updated on the second day of year 1": (
        "tmall",
        json.dumps(taobao_with(set_in(itself, "modified", "0001-01-02 00:00:00"))).encode(),
        422,
        "modified",
        ["modified 的时间 0001-01-02 00:00:00 无效"],
    ),
    "placed in 1999 as an ISO time": (
        "pos",
        json.dumps(samples.pos_order() | {"created_at": "1999-12-31T23:59:59+08:00"}).encode(),
        422,
        "created_at",
        ["created_at 的时间 1999-12-31T23:59:59+08:00 无效"],
    ),
    "placed in 1970 as a Unix time": (
        "douyin",
        json.dumps(samples.douyin_presale_bundle_gift_refund() | {"create_time": 1}).encode(),
        422,
        "create_time",
        ["create_time 的时间 1 无效"],
    ),
    "order id of 200 characters": (
        "pos",
        json.dumps(samples.pos_order(order_id="P" * 200)).encode(),
        422,
        "external_id",
        ["订单号", "须为 1 到 64 个字符"],
    ),
}


async def count(db: Any, model: Any) -> int:
    async with db.reading() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


@pytest.mark.parametrize("case", list(BROKEN))
async def test_a_malformed_delivery_is_a_4xx_kept_once_with_a_readable_message(client, db, shops, case):
    channel, body, status, field, words = BROKEN[case]
    response = await deliver(client, channel, body)
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["field"] == field
    async with db.reading() as session:
        errors = (await session.exec(select(IngestError))).all()
    assert [(e.id, e.field, e.source, e.shop_id) for e in errors] == [
        (answer["error_id"], field, "webhook", shops[Channel(channel)].id)
    ]
    for word in words:
        assert word in errors[0].message, errors[0].message
    assert answer["detail"] == errors[0].message
    assert await count(db, Order) == 0
    assert await count(db, InboxEvent) == 0


async def replay(client: Any, error_id: int, payload: str) -> Any:
    page = f"/orders/errors/{error_id}"
    return await post_form(client, page, f"{page}/replay", {"payload": payload})


async def test_each_kept_delivery_becomes_an_order_once_fixed_and_replayed(client, db, shops, make_user):
    fixes = {
        "quantity 10^30": ("tmall", samples.taobao_multi_line_with_gift()),
        "negative payment": ("jd", samples.jd_order_with_coupon_and_gift()),
        "nested 10,000 deep": ("pos", samples.pos_order()),
    }
    kept = {}
    for case, (channel, _) in fixes.items():
        response = await deliver(client, channel, BROKEN[case][1])
        kept[case] = response.json()["error_id"]
    await make_user(Role.operator, username="op")
    await login(client, "op")
    for case, (_, fixed) in fixes.items():
        response = await replay(client, kept[case], json.dumps(fixed, ensure_ascii=False))
        assert response.status_code == 200, response.text
        assert 'data-testid="replay-ok"' in response.text
    async with db.reading() as session:
        errors = (await session.exec(select(IngestError))).all()
        orders = (await session.exec(select(Order))).all()
    assert sorted(e.status for e in errors) == ["replayed"] * 3
    assert sorted(o.channel for o in orders) == ["jd", "pos", "tmall"]
    assert {e.order_id for e in errors} == {o.id for o in orders}


async def test_a_lone_surrogate_is_kept_as_its_escape_so_the_payload_can_be_fixed(client, db, shops, make_user):
    response = await deliver(client, "tmall", BROKEN["lone surrogate"][1])
    error_id = response.json()["error_id"]
    async with db.reading() as session:
        kept = (await session.get(IngestError, error_id)).payload
    assert "\\ud800" in kept  # the escape as text, which any database stores

    await make_user(Role.operator, username="op")
    await login(client, "op")
    page = await client.get(f"/orders/errors/{error_id}")
    assert page.status_code == 200 and "buyer_message" in page.text
    replayed = await replay(client, error_id, kept.replace("\\ud800", ""))
    assert 'data-testid="replay-ok"' in replayed.text
    async with db.reading() as session:
        order = (await session.exec(select(Order))).one()
    assert order.buyer_message == "请尽快发货"


async def test_a_replay_that_is_still_out_of_bounds_stays_open_with_the_new_reason(client, db, shops, make_user):
    response = await deliver(client, "jd", BROKEN["negative payment"][1])
    error_id = response.json()["error_id"]
    await make_user(Role.operator, username="op")
    await login(client, "op")
    still = samples.jd_order_with_coupon_and_gift() | {"orderPayment": "20000000.00"}
    answer = await replay(client, error_id, json.dumps(still, ensure_ascii=False))
    assert answer.status_code == 422
    assert "orderPayment 的金额 20000000.00 无效" in answer.text
    async with db.reading() as session:
        error = await session.get(IngestError, error_id)
    assert (error.status, error.field) == ("open", "orderPayment")
    assert await count(db, IngestError) == 1
    assert await count(db, Order) == 0


@pytest.mark.parametrize("case", ["nested 10,000 deep", "quantity 10^30", "lone surrogate"])
async def test_an_unsigned_malformed_delivery_is_refused_and_not_kept(client, db, shops, case):
    channel, body, *_ = BROKEN[case]
    response = await client.post(
        f"/api/v1/channels/{channel}/orders", content=body, headers={SHOP_HEADER: SHOP_CODES[Channel(channel)]}
    )
    assert response.status_code == 401
    assert await count(db, IngestError) == 0


async def test_a_pulled_order_out_of_bounds_is_queued_and_the_rest_of_the_page_imported(db, settings, shops):
    shop = shops[Channel.jd]
    good = samples.jd_order_with_coupon_and_gift()
    bad = samples.jd_order_with_coupon_and_gift() | {"orderId": "285019374699", "orderPayment": "-3857.00"}
    platform = FakePlatform(orders={"jd": [good, bad]})
    with running(platform):
        async with db.transaction() as session:
            row = await session.get(type(shop), shop.id)
            row.api_base_url, row.app_key = platform.base_url, APP_KEY
            set_credentials(row, settings.secret_key, app_secret=APP_SECRET, access_token=TOKEN)
            session.add(row)
        summary = await pull_shop(db, settings, shop.id)
    assert (summary.created, summary.invalid) == (1, 1)
    async with db.reading() as session:
        error = (await session.exec(select(IngestError))).one()
    assert (error.source, error.field) == ("pull", "orderPayment")
    assert "-3857.00" in error.message


@pytest.mark.parametrize(
    "placed",
    [datetime(1, 1, 1, 16, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)],
    ids=["second day of year 1", "last second of year 9999 in UTC"],
)
async def test_an_order_kept_with_a_time_at_the_calendars_ends_is_processed_simulated_and_shown(
    client, db, settings, shops, make_user, make_token, placed
):
    # Orders delivered before times were bounded are still in the database: nothing that reads them may fail.
    order_id = (await deliver(client, "tmall", samples.taobao_multi_line_with_gift())).json()["order_id"]
    async with db.transaction() as session:
        order = await session.get(Order, order_id)
        order.placed_at, order.paid_at, order.version = placed, placed, order.version + 1
        flow = await flows.create_flow(session, SYSTEM, "标准四段订单处理", template="standard_four_stage")
    async with db.transaction() as session:
        # Unless a worker got there first: either way, no failure.
        await processing.process(session, order_id, secret_key=settings.secret_key)
    async with db.reading() as session:
        run = await session.get(OrderProcessing, order_id)
    assert run.order_version == 2
    assert run.hold_code == "no_flow", run.hold_reason  # none is published: the one hold expected, not "failed"
    token = await make_token(TokenScope.read)
    simulated = await client.post(
        f"/api/v1/flows/{flow.id}/simulate",
        json={"sample": f"order:{order_id}"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert simulated.status_code == 200, simulated.text
    assert simulated.json()["decisions"] is not None
    await make_user(Role.admin, username="boss")
    await login(client, "boss")
    for page in (f"/flows/{flow.id}", f"/orders/{order_id}", "/orders"):
        shown = await client.get(page)
        assert shown.status_code == 200, page
    assert str(samples.taobao_multi_line_with_gift()["tid"]) in shown.text  # the order list shows it

"""Each platform's own signed push (抖店, 有赞): signed with the shop's app secret as the platform does, refused
when forged or stale, a no-op when delivered again; our own HMAC webhook is unchanged beside it."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

from sqlmodel import func, select

from app.domain.channels.models import InboxEvent, IngestError, PushMessage
from app.domain.channels.push import douyin_sign, youzan_sign
from app.domain.channels.services import forget_webhook_shops, set_credentials
from app.domain.orders.models import Order
from app.domain.shops import services as shop_readers
from app.domain.shops.models import Channel
from app.outbox import OutboxMessage
from tests.integration.orders.conftest import SHOP_CODES, deliver
from tests.samples import channels as samples

APP_KEY = {Channel.douyin: "7012345678901234567", Channel.youzan: "yz-client-8f7e6d"}
APP_SECRET = {Channel.douyin: "dd-secret-5c01d0-11f8", Channel.youzan: "yz-secret-91dc05a8"}


async def count(db, model, *where) -> int:
    async with db.reading() as session:
        return int((await session.exec(select(func.count()).select_from(model).where(*where))).one())


async def connect(db, settings, channel: Channel, *, api_base_url: str = "") -> None:
    """Give the shop its platform app key and secret, as an admin does on 渠道与店铺."""
    async with db.transaction() as session:
        shop = await shop_readers.shop_by_code(session, SHOP_CODES[channel])
        assert shop is not None
        shop.app_key, shop.api_base_url = APP_KEY[channel], api_base_url
        set_credentials(shop, settings.secret_key, app_secret=APP_SECRET[channel])
        session.add(shop)
    forget_webhook_shops()


def douyin_order(sent_at: float) -> dict[str, Any]:
    order = samples.douyin_presale_bundle_gift_refund()
    order["update_time"] = int(sent_at)
    return order


def douyin_body(data: dict[str, Any], msg_id: str = "7301234567890123456", tag: str = "102") -> bytes:
    """抖店's push body: a list of messages, each ``data`` a JSON string."""
    return json.dumps([{"tag": tag, "msg_id": msg_id, "data": json.dumps(data, ensure_ascii=False)}]).encode()


async def push_douyin(client, body: bytes, *, secret: str | None = None, app_id: str | None = None) -> Any:
    key = app_id or APP_KEY[Channel.douyin]
    headers = {
        "app-id": key,
        "event-sign": douyin_sign(key, body, secret or APP_SECRET[Channel.douyin]),
        "Content-Type": "application/json",
    }
    return await client.post(
        f"/api/v1/channels/douyin/push?shop={SHOP_CODES[Channel.douyin]}", content=body, headers=headers
    )


def youzan_body(sent_at: float, msg_id: str = "yz-msg-0001") -> bytes:
    """有赞's push body: the event URL-encoded in ``msg``, its time in ``version``."""
    event = samples.youzan_presale_with_present()
    envelope = {
        "client_id": APP_KEY[Channel.youzan],
        "id": event["full_order_info"]["order_info"]["tid"],
        "kdt_id": 91867,
        "type": "trade_TradePaid",
        "status": "WAIT_SELLER_SEND_GOODS",
        "msg": quote(json.dumps(event, ensure_ascii=False)),
        "version": int(sent_at),
        "msg_id": msg_id,
        "test": False,
        "mode": 1,
    }
    return json.dumps(envelope, ensure_ascii=False).encode()


async def push_youzan(client, body: bytes, *, secret: str | None = None) -> Any:
    client_id = APP_KEY[Channel.youzan]
    headers = {
        "Client-Id": client_id,
        "Event-Type": "trade_TradePaid",
        "Event-Sign": youzan_sign(client_id, body, secret or APP_SECRET[Channel.youzan]),
        "Content-Type": "application/json",
    }
    return await client.post(
        f"/api/v1/channels/youzan/push?shop={SHOP_CODES[Channel.youzan]}", content=body, headers=headers
    )


async def nothing_stored(db) -> None:
    assert await count(db, Order) == 0
    assert await count(db, InboxEvent) == 0
    assert await count(db, IngestError) == 0
    assert await count(db, PushMessage) == 0


# --- 抖店 -------------------------------------------------------------------------------------------------


async def test_a_douyin_push_signed_with_the_app_secret_becomes_an_order(client, db, settings, shops):
    await connect(db, settings, Channel.douyin)
    response = await push_douyin(client, douyin_body(douyin_order(time.time())))
    assert response.status_code == 200, response.text
    assert (response.json()["code"], response.json()["messages"][0]["outcome"]) == (0, "created")
    async with db.reading() as session:
        order = await session.get(Order, response.json()["messages"][0]["order_id"])
    assert (order.channel, order.external_id, order.paid_fen) == ("douyin", "6921234567890123456", 41800)


async def test_a_douyin_push_with_a_bad_signature_is_refused_and_changes_nothing(client, db, settings, shops):
    await connect(db, settings, Channel.douyin)
    body = douyin_body(douyin_order(time.time()))
    forged = await push_douyin(client, body, secret="guessed-secret")
    other_app = await push_douyin(client, body, app_id="7099999999999999999")
    unsigned = await client.post(f"/api/v1/channels/douyin/push?shop={SHOP_CODES[Channel.douyin]}", content=body)
    assert [r.status_code for r in (forged, other_app, unsigned)] == [401, 401, 401]
    assert "签名" in forged.json()["detail"]
    await nothing_stored(db)


async def test_a_douyin_push_delivered_again_is_a_duplicate_and_one_that_is_old_is_refused(client, db, settings, shops):
    await connect(db, settings, Channel.douyin)
    body = douyin_body(douyin_order(time.time()))
    first, again = await push_douyin(client, body), await push_douyin(client, body)
    assert [r.status_code for r in (first, again)] == [200, 200]
    assert again.json()["messages"][0]["outcome"] == "duplicate"
    assert (await count(db, Order), await count(db, InboxEvent)) == (1, 1)
    old = await push_douyin(client, douyin_body(douyin_order(time.time() - 600), msg_id="7301234567890000002"))
    assert old.status_code == 401
    assert "5 分钟" in old.json()["detail"]
    assert (await count(db, Order), await count(db, PushMessage)) == (1, 1)


async def test_douyin_checking_the_push_url_is_answered(client, db, settings, shops):
    await connect(db, settings, Channel.douyin)
    response = await push_douyin(client, json.dumps([{"tag": "0", "msg_id": "0", "data": ""}]).encode())
    assert response.status_code == 200
    assert response.json()["code"] == 0
    await nothing_stored(db)


async def test_a_douyin_notice_without_the_order_asks_for_a_pull(client, db, settings, shops):
    await connect(db, settings, Channel.douyin, api_base_url="https://openapi-fxg.example.com")
    notice = {"p_id": 6921234567890123456, "s_ids": [6921234567890123457], "order_status": 2}
    response = await push_douyin(client, douyin_body({**notice, "update_time": int(time.time())}, tag="101"))
    assert response.status_code == 200
    assert response.json()["messages"][0]["outcome"] == "pull_requested"
    assert await count(db, OutboxMessage, OutboxMessage.job == "pull_shop_orders") == 1
    assert await count(db, Order) == 0


# --- 有赞 -------------------------------------------------------------------------------------------------


async def test_a_youzan_push_signed_with_the_client_secret_becomes_an_order(client, db, settings, shops):
    await connect(db, settings, Channel.youzan)
    response = await push_youzan(client, youzan_body(time.time()))
    assert response.status_code == 200, response.text
    assert response.json()["messages"][0]["outcome"] == "created"
    async with db.reading() as session:
        order = await session.get(Order, response.json()["messages"][0]["order_id"])
    assert (order.channel, order.external_id, order.paid_fen) == ("youzan", "E20261111083000012345", 7700)


async def test_a_youzan_push_with_a_bad_signature_is_refused_and_changes_nothing(client, db, settings, shops):
    await connect(db, settings, Channel.youzan)
    body = youzan_body(time.time())
    forged = await push_youzan(client, body, secret="guessed-secret")
    tampered = await client.post(
        f"/api/v1/channels/youzan/push?shop={SHOP_CODES[Channel.youzan]}",
        content=body.replace(b"91867", b"91868"),
        headers={
            "Client-Id": APP_KEY[Channel.youzan],
            "Event-Sign": youzan_sign(APP_KEY[Channel.youzan], body, APP_SECRET[Channel.youzan]),
        },
    )
    assert [r.status_code for r in (forged, tampered)] == [401, 401]
    assert "签名" in forged.json()["detail"]
    await nothing_stored(db)


async def test_a_youzan_push_delivered_again_is_a_duplicate_and_one_that_is_old_is_refused(client, db, settings, shops):
    await connect(db, settings, Channel.youzan)
    body = youzan_body(time.time())
    first, again = await push_youzan(client, body), await push_youzan(client, body)
    assert [r.status_code for r in (first, again)] == [200, 200]
    assert again.json()["messages"][0]["outcome"] == "duplicate"
    old = await push_youzan(client, youzan_body(time.time() - 600, msg_id="yz-msg-0002"))
    ahead = await push_youzan(client, youzan_body(time.time() + 600, msg_id="yz-msg-0003"))
    assert [r.status_code for r in (old, ahead)] == [401, 401]
    assert (await count(db, Order), await count(db, InboxEvent), await count(db, PushMessage)) == (1, 1, 1)


# --- beside our own webhook -----------------------------------------------------------------------------


async def test_our_hmac_webhook_still_works_for_a_shop_with_platform_push(client, db, settings, shops):
    await connect(db, settings, Channel.youzan)
    ours = await deliver(client, "youzan", samples.youzan_presale_with_present())
    assert ours.status_code == 200 and ours.json()["outcome"] == "created"
    # A platform's signature is no way into our webhook, nor ours into the platform push.
    body = youzan_body(time.time())
    platform_on_ours = await client.post(
        f"/api/v1/channels/youzan/orders?shop={SHOP_CODES[Channel.youzan]}",
        content=body,
        headers={
            "Client-Id": APP_KEY[Channel.youzan],
            "Event-Sign": youzan_sign(APP_KEY[Channel.youzan], body, APP_SECRET[Channel.youzan]),
        },
    )
    assert platform_on_ours.status_code == 401
    unconfigured = await client.post(
        f"/api/v1/channels/jd/push?shop={SHOP_CODES[Channel.jd]}", content=b"{}", headers={"Event-Sign": "x"}
    )
    assert unconfigured.status_code == 404
    assert await count(db, Order) == 1


async def test_a_shop_without_an_app_secret_refuses_the_platform_push(client, db, shops):
    response = await push_youzan(client, youzan_body(time.time()))
    assert response.status_code == 401
    assert "App Secret" in response.json()["detail"]
    await nothing_stored(db)


async def test_a_signed_push_that_cannot_be_read_is_refused_or_kept_like_a_webhook_delivery(
    client, db, settings, shops
):
    await connect(db, settings, Channel.douyin)
    garbled = await push_douyin(client, b"[{" + b"[" * 5000)
    assert garbled.status_code == 400
    await nothing_stored(db)
    broken = douyin_order(time.time())
    broken["order_status"] = 999
    body = douyin_body(broken)
    kept, again = await push_douyin(client, body), await push_douyin(client, body)
    assert kept.status_code == 422
    assert kept.json()["messages"][0]["error_id"] is not None
    assert (again.status_code, again.json()["messages"][0]["outcome"]) == (200, "duplicate")
    assert (await count(db, IngestError), await count(db, Order)) == (1, 0)

"""快手's own message push: encrypted with the shop's 消息密钥 (not signed with the app secret), set on 渠道与店铺 and
kept encrypted; a push that does not open with it is refused, one whose time is off or whose message id was taken
is not taken again, and an order event asks for a pull of the shop (or is the order, when it carries one)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlmodel import func, select

from app.domain.accounts.models import AuditEntry, Role
from app.domain.channels.models import InboxEvent, IngestError, PushMessage
from app.domain.channels.services import forget_webhook_shops
from app.domain.orders.models import Order
from app.domain.orders.pii import encrypt
from app.domain.shops import services as shop_readers
from app.domain.shops.models import Channel, Shop
from app.outbox import OutboxMessage
from tests.integration.forms import login, post_form
from tests.integration.orders.conftest import SHOP_CODES
from tests.samples import channels as samples

SHOP = SHOP_CODES[Channel.kuaishou]
APP_KEY = "ks-app-5f3c2a"
#: A 消息密钥 as 快手 shows it: base64 of a 16-byte AES key.
MESSAGE_KEY = base64.b64encode(b"ks-msg-key-0001!").decode()
OTHER_KEY = base64.b64encode(b"someone-elses-k!").decode()


def seal(message: dict[str, Any], key: str = MESSAGE_KEY) -> bytes:
    """What 快手 posts: the message as JSON, PKCS#5-padded, AES-CBC with a zero IV under the key, base64."""
    padder = padding.PKCS7(128).padder()
    clear = padder.update(json.dumps(message, ensure_ascii=False).encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(base64.b64decode(key)), modes.CBC(bytes(16))).encryptor()
    return base64.b64encode(encryptor.update(clear) + encryptor.finalize())


def order_event(sent_at: float, msg_id: str = "ks-msg-0001", **info: Any) -> dict[str, Any]:
    """快手's order-paid message; ``info`` names the order unless it is given."""
    return {
        "eventId": f"evt-{msg_id}",
        "msgId": msg_id,
        "bizId": 2411110012345678,
        "userId": 50001,
        "openId": "f18b2c0e",
        "appKey": APP_KEY,
        "event": "kwaishop_order_paySuccess",
        "info": json.dumps(info or {"oid": 2411110012345678, "status": 30}),
        "status": 1,
        "createTime": int(sent_at * 1000),
        "updateTime": int(sent_at * 1000),
    }


async def count(db, model, *where) -> int:
    async with db.reading() as session:
        return int((await session.exec(select(func.count()).select_from(model).where(*where))).one())


async def connect(db, settings, *, message_key: str | None = MESSAGE_KEY, api_base_url: str = "") -> None:
    """The shop's app key and 消息密钥, as an admin gives them on 渠道与店铺."""
    async with db.transaction() as session:
        shop = await shop_readers.shop_by_code(session, SHOP)
        assert shop is not None
        shop.app_key, shop.api_base_url = APP_KEY, api_base_url
        shop.push_message_key_cipher = (encrypt(settings.secret_key, message_key) or "") if message_key else ""
        session.add(shop)
    forget_webhook_shops()


async def push(client, body: bytes) -> Any:
    return await client.post(f"/api/v1/channels/kuaishou/push?shop={SHOP}", content=body)


async def nothing_stored(db) -> None:
    for model in (Order, InboxEvent, IngestError, PushMessage, OutboxMessage):
        assert await count(db, model) == 0, model


async def test_a_kuaishou_order_event_sealed_with_the_message_key_asks_for_a_pull(client, db, settings, shops):
    await connect(db, settings, api_base_url="https://openapi.kwaixiaodian.example.com")
    response = await push(client, seal(order_event(time.time())))
    assert response.status_code == 200, response.text
    assert response.json()["result"] == 1
    assert response.json()["messages"] == [{"msg_id": "ks-msg-0001", "outcome": "pull_requested"}]
    assert await count(db, OutboxMessage, OutboxMessage.job == "pull_shop_orders") == 1
    assert await count(db, Order) == 0


async def test_a_kuaishou_event_that_carries_the_order_becomes_the_order(client, db, settings, shops):
    await connect(db, settings)
    response = await push(client, seal(order_event(time.time(), **samples.kuaishou_deposit_presale())))
    assert response.status_code == 200, response.text
    assert response.json()["messages"][0]["outcome"] == "created"
    async with db.reading() as session:
        order = await session.get(Order, response.json()["messages"][0]["order_id"])
    assert (order.channel, order.external_id, order.deposit_fen) == ("kuaishou", "2411110012349999", 1000)


async def test_a_kuaishou_push_that_does_not_open_with_the_shops_key_is_refused_and_changes_nothing(
    client, db, settings, shops
):
    await connect(db, settings)
    event = order_event(time.time())
    other_key = await push(client, seal(event, OTHER_KEY))
    in_clear = await push(client, json.dumps(event).encode())
    other_app = await push(client, seal({**event, "appKey": "ks-app-someone-else"}))
    tampered = bytearray(seal(event))
    tampered[10] = ord("A") if tampered[10] != ord("A") else ord("B")
    altered = await push(client, bytes(tampered))
    refusals = (other_key, in_clear, other_app, altered)
    assert [r.status_code for r in refusals] == [401] * 4
    assert {r.json()["detail"] for r in refusals} == {
        "推送无法用店铺的快手消息密钥解密，或不是发给该店铺 App Key 的消息。"
    }
    await nothing_stored(db)


async def test_a_kuaishou_push_delivered_again_is_a_duplicate_and_one_that_is_old_is_refused(
    client, db, settings, shops
):
    await connect(db, settings)
    now = time.time()
    body = seal(order_event(now, **samples.kuaishou_paid()))
    first, again = await push(client, body), await push(client, body)
    same_id = await push(client, seal(order_event(now + 1, **samples.kuaishou_deposit_presale())))
    assert [r.status_code for r in (first, again, same_id)] == [200, 200, 200]
    assert [r.json()["messages"][0]["outcome"] for r in (first, again, same_id)] == [
        "created",
        "duplicate",
        "duplicate",
    ]
    old = await push(client, seal(order_event(now - 600, msg_id="ks-msg-0002")))
    ahead = await push(client, seal(order_event(now + 600, msg_id="ks-msg-0003")))
    untimed = {key: value for key, value in order_event(now, msg_id="ks-msg-0004").items() if key != "createTime"}
    no_time = await push(client, seal(untimed))
    assert [r.status_code for r in (old, ahead, no_time)] == [401, 401, 401]
    assert "5 分钟" in old.json()["detail"]
    assert (await count(db, Order), await count(db, InboxEvent), await count(db, PushMessage)) == (1, 1, 1)


async def test_a_kuaishou_shop_without_a_message_key_refuses_its_push(client, db, settings, shops):
    await connect(db, settings, message_key=None)
    response = await push(client, seal(order_event(time.time())))
    assert response.status_code == 401
    assert "快手消息密钥" in response.json()["detail"]
    await nothing_stored(db)


async def test_an_admin_sets_the_message_key_on_the_shops_card_and_it_is_kept_encrypted(
    client, db, settings, shops, make_user
):
    await connect(db, settings, message_key=None)
    await make_user(Role.admin, username="admin")
    await login(client, "admin")
    shop = shops[Channel.kuaishou]
    url = f"/channels/{shop.id}/push-key"
    page = await client.get("/channels/")
    assert f'data-testid="push-key-{SHOP}"' in page.text
    assert 'data-testid="push-key-jd-shop"' not in page.text  # only 快手 encrypts its push with a key of its own

    bad = await post_form(client, "/channels/", url, {"push_message_key": "not-a-key"})
    assert bad.status_code == 400
    assert "快手消息密钥应为快手开放平台「消息推送」中显示的 base64 文本" in bad.text
    saved = await post_form(client, "/channels/", url, {"push_message_key": MESSAGE_KEY})
    assert saved.status_code == 200
    assert f'data-testid="push-key-state-{SHOP}">已设置' in saved.text
    assert MESSAGE_KEY not in saved.text
    async with db.reading() as session:
        row = await session.get(Shop, shop.id)
        audits = (await session.exec(select(AuditEntry.action).where(AuditEntry.target_id == str(shop.id)))).all()
    assert row.push_message_key_cipher and MESSAGE_KEY not in row.push_message_key_cipher
    assert audits == ["shop.push_message_key_set"]
    assert (await push(client, seal(order_event(time.time())))).status_code == 200
    blank = await post_form(client, "/channels/", url, {"push_message_key": ""})  # blank keeps the key
    assert blank.status_code == 200
    assert (await push(client, seal(order_event(time.time(), msg_id="ks-msg-0009")))).status_code == 200
    jd_url = f"/channels/{shops[Channel.jd].id}/push-key"
    assert (await post_form(client, "/channels/", jd_url, {"push_message_key": MESSAGE_KEY})).status_code == 400

"""The webhook: authenticated, idempotent, ordered; bad payloads are kept, fixed and replayed."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from sqlmodel import func, select

from app.domain.accounts.models import AuditEntry, Role, TokenScope
from app.domain.channels.models import InboxEvent, IngestError
from app.domain.channels.samples import sample_payload
from app.domain.orders.models import Order, OrderEvent, OrderLine
from app.domain.shops.models import Channel
from app.outbox import OutboxMessage, OutboxStatus
from tests.integration.forms import login, post_form
from tests.integration.orders.conftest import SHOP_CODES, deliver, disable_shop, wait_for_jobs
from tests.samples import channels as samples


async def count(db, model, *where) -> int:
    async with db.reading() as session:
        return int((await session.exec(select(func.count()).select_from(model).where(*where))).one())


async def test_a_signed_delivery_becomes_an_order_and_stages_its_processing(client, db, shops, arq_worker):
    response = await deliver(client, "tmall", samples.taobao_multi_line_with_gift())
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "created"
    order_id = response.json()["order_id"]
    async with db.reading() as session:
        order = await session.get(Order, order_id)
        lines = (await session.exec(select(OrderLine).where(OrderLine.order_id == order_id))).all()
    assert (order.channel, order.external_id, order.paid_fen, order.status) == (
        "tmall",
        "3958201746251038211",
        385700,
        "received",
    )
    assert order.phone_masked == "138****5678" and "13812345678" not in (order.phone_cipher or "")
    assert "13812345678" not in json.dumps(order.raw) or order.raw["receiver_mobile"]  # raw is kept as received
    assert [line.sku for line in lines] == ["PHONE-X1", "CABLE-C1", "GIFT-TOTE-01"]
    messages = await wait_for_jobs(db)
    processing = [m for m in messages if m.job == "process_order"]
    assert [(m.args, m.status) for m in processing] == [([order_id], OutboxStatus.done)]
    assert await count(db, OrderEvent, OrderEvent.order_id == order_id, OrderEvent.kind == "flows_ran") == 1


async def test_it_refuses_a_delivery_without_a_valid_signature_or_token(client, db, shops, make_token):
    body = json.dumps(samples.jd_order_with_coupon_and_gift()).encode()
    url = "/api/v1/channels/jd/orders"
    shop = {"X-Ruleflow-Shop": SHOP_CODES["jd"]}
    unsigned = await client.post(url, content=body, headers=shop)
    forged = await deliver(client, "jd", samples.jd_order_with_coupon_and_gift(), secret="guessed")
    read_token = await make_token(TokenScope.read, name="reporting")
    wrong_scope = await client.post(url, content=body, headers={**shop, "Authorization": f"Bearer {read_token}"})
    other_shop = await deliver(client, "jd", samples.jd_order_with_coupon_and_gift(), shop=SHOP_CODES["taobao"])
    assert [r.status_code for r in (unsigned, forged, wrong_scope, other_shop)] == [401, 401, 401, 401]
    assert await count(db, Order) == 0
    assert await count(db, IngestError) == 0
    assert await count(db, InboxEvent) == 0


async def test_an_ingest_token_may_deliver_for_any_shop(client, db, shops, make_token):
    token = await make_token(TokenScope.ingest, name="erp bridge")
    response = await client.post(
        f"/api/v1/channels/jd/orders?shop={SHOP_CODES['jd']}",
        content=json.dumps(samples.jd_order_with_coupon_and_gift()).encode(),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert response.json()["outcome"] == "created"


async def test_the_same_webhook_delivered_three_times_at_once_yields_one_order(client, db, shops, arq_worker):
    payload = samples.douyin_presale_bundle_gift_refund()
    responses = await asyncio.gather(*(deliver(client, "douyin", payload) for _ in range(3)))
    assert [r.status_code for r in responses] == [200, 200, 200]
    outcomes = sorted(r.json()["outcome"] for r in responses)
    assert outcomes == ["created", "duplicate", "duplicate"]
    assert len({r.json()["order_id"] for r in responses}) == 1
    assert await count(db, Order) == 1
    assert await count(db, InboxEvent) == 1
    assert await count(db, OutboxMessage, OutboxMessage.job == "process_order") == 1


async def test_orders_of_every_channel_delivered_at_once_all_land_each_staged_once(client, db, shops):
    now = datetime.now(UTC)
    payloads = [(channel, sample_payload(channel, "at-once", seq, now)) for seq, channel in enumerate(Channel)]
    responses = await asyncio.gather(*(deliver(client, channel.value, payload) for channel, payload in payloads * 2))
    assert [r.status_code for r in responses] == [200] * len(payloads) * 2
    assert sorted(r.json()["outcome"] for r in responses).count("created") == len(payloads)
    assert await count(db, Order) == len(payloads)
    assert await count(db, InboxEvent) == len(payloads)
    assert await count(db, OutboxMessage, OutboxMessage.job == "process_order") == len(payloads)


async def test_an_older_update_after_a_newer_one_changes_nothing(client, db, shops):
    older = samples.taobao_multi_line_with_gift()
    newer = samples.taobao_multi_line_with_gift() | {
        "status": "WAIT_BUYER_CONFIRM_GOODS",
        "modified": "2026-11-12 10:00:00",
    }
    newer["orders"]["order"] = newer["orders"]["order"][:2]
    first = await deliver(client, "tmall", older)
    second = await deliver(client, "tmall", newer)
    late = await deliver(
        client, "tmall", older | {"seller_memo": "a late, older copy", "modified": "2026-11-11 08:00:00"}
    )
    assert [r.json()["outcome"] for r in (first, second, late)] == ["created", "updated", "stale"]
    order_id = first.json()["order_id"]
    async with db.reading() as session:
        order = await session.get(Order, order_id)
        lines = (await session.exec(select(OrderLine).where(OrderLine.order_id == order_id))).all()
        events = (await session.exec(select(OrderEvent.kind).where(OrderEvent.order_id == order_id))).all()
    assert (order.status, order.raw_status, order.seller_memo, order.version) == (
        "shipped",
        "WAIT_BUYER_CONFIRM_GOODS",
        "",
        2,
    )
    assert len(lines) == 2
    assert sorted(e for e in events if e in ("received", "updated")) == ["received", "updated"]
    assert await count(db, OutboxMessage, OutboxMessage.job == "process_order") == 2  # one per accepted version


async def test_a_malformed_payload_is_refused_kept_and_replays_after_a_fix(client, db, shops, make_user):
    broken = samples.jd_order_with_coupon_and_gift() | {"orderPayment": "五百零八"}
    response = await deliver(client, "jd", broken)
    assert response.status_code == 422
    assert response.json()["field"] == "orderPayment"
    error_id = response.json()["error_id"]
    assert await count(db, Order) == 0

    await make_user(Role.operator, username="op")
    await login(client, "op")
    queue = await client.get("/orders/errors")
    assert "orderPayment" in queue.text
    page_url = f"/orders/errors/{error_id}"
    still_broken = await post_form(client, page_url, f"{page_url}/replay", {"payload": "{not json"})
    assert still_broken.status_code == 422
    fixed = json.dumps(broken | {"orderPayment": "508.00"}, ensure_ascii=False)
    replayed = await post_form(client, page_url, f"{page_url}/replay", {"payload": fixed})
    assert replayed.status_code == 200
    assert 'data-testid="replay-ok"' in replayed.text
    async with db.reading() as session:
        error = await session.get(IngestError, error_id)
        order = (await session.exec(select(Order))).one()
        audits = (await session.exec(select(AuditEntry.action))).all()
    assert (error.status, error.order_id) == ("replayed", order.id)
    assert order.paid_fen == 50800
    assert "ingest_error.replayed" in audits


async def test_a_kept_payload_of_a_shop_disabled_since_does_not_replay(client, db, shops, make_user):
    broken = samples.jd_order_with_coupon_and_gift() | {"orderPayment": "五百零八"}
    error_id = (await deliver(client, "jd", broken)).json()["error_id"]
    await disable_shop(db, shops[Channel.jd])
    await make_user(Role.operator, username="op")
    await login(client, "op")
    page_url = f"/orders/errors/{error_id}"
    fixed = json.dumps(broken | {"orderPayment": "508.00"}, ensure_ascii=False)
    refused = await post_form(client, page_url, f"{page_url}/replay", {"payload": fixed})
    assert refused.status_code == 422
    assert "此店铺已停用：管理员重新启用前不接收它的订单。" in refused.text
    async with db.reading() as session:
        assert (await session.get(IngestError, error_id)).status == "open"
    assert await count(db, Order) == 0


async def test_an_unknown_seller_sku_lands_and_is_flagged(client, db, shops):
    payload = samples.pos_order()
    payload["lines"][0]["sku"] = "NOT-IN-CATALOGUE"
    response = await deliver(client, "pos", payload)
    assert response.json()["outcome"] == "created"
    async with db.reading() as session:
        order = await session.get(Order, response.json()["order_id"])
    assert "unknown_sku" in order.tags


async def test_one_customer_across_wechat_and_the_till_by_unionid_never_by_oaid(client, db, shops, make_user):
    wechat = await deliver(client, "wechat_channels", samples.wechat_channels_order())
    till = await deliver(client, "pos", samples.pos_order())
    taobao = await deliver(client, "taobao", samples.taobao_presale_deposit_paid())
    other_taobao = samples.taobao_presale_deposit_paid() | {"tid": "3958201746251030000"}
    taobao_again = await deliver(client, "taobao", other_taobao)
    async with db.reading() as session:
        orders = {o.id: o for o in (await session.exec(select(Order))).all()}
    assert orders[wechat.json()["order_id"]].customer_id == orders[till.json()["order_id"]].customer_id is not None
    assert orders[taobao.json()["order_id"]].customer_id is None  # same oaid, but an oaid is not a person
    assert orders[taobao_again.json()["order_id"]].customer_id is None

    await make_user(Role.viewer, username="viewer")
    await login(client, "viewer")
    detail = await client.get(f"/orders/{wechat.json()['order_id']}")
    assert 'data-testid="customer-orders"' in detail.text
    assert "POS-20261111-0001" in detail.text

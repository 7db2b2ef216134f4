"""After-sales cases from the platforms' own refund messages, and agreed refunds written back to them.

Each platform's message (in its own field names and units) opens the right case on the order it names, once however
often it is delivered; a later message of the same refund moves the case on. Approving a platform's case leaves it
退款中 until a fake of the platform's agree-refund API, which checks the method, the fields and the signature,
accepts it, exactly once however often the job runs; a refusal leaves the refund failed with the platform's words
and 重试 lands it. A message naming an order we do not have is kept in the ingest-error queue."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlmodel import col, select

from app.db import Database
from app.domain.accounts.models import Role
from app.domain.aftersales import services as aftersales
from app.domain.aftersales.models import AfterSaleCase, AfterSaleLine
from app.domain.channels import aftersale_messages, refunds, services
from app.domain.channels.models import IngestError, IngestSource
from app.domain.channels.push import douyin_sign, youzan_sign
from app.domain.channels.services import SHOP_HEADER, SIGNATURE_HEADER, forget_webhook_shops, ingest, sign_body
from app.domain.orders.models import Order, OrderEvent, OrderLine
from app.domain.shops import services as shop_readers
from app.domain.shops.models import Channel, Shop
from app.outbox import OutboxMessage
from app.settings import Settings
from tests.integration.aftersales.fake_refunds import FakeRefunds, running
from tests.integration.forms import login, post_form
from tests.integration.orders.fake_platform import APP_KEY, APP_SECRET
from tests.integration.processing.conftest import SECRET, wait_for
from tests.integration.processing.test_delivery_writeback import SHOPS, platform_orders, point_shops_at

SERVICE = aftersales.SYSTEM_ACTOR
PLATFORM = {
    "tmall": "taobao",
    "jd": "jd",
    "douyin": "douyin",
    "kuaishou": "kuaishou",
    "youzan": "youzan",
    "wechat_channels": "wechat",
}


@pytest.fixture
def fake() -> Iterator[FakeRefunds]:
    with running(FakeRefunds()) as served:
        yield served


@pytest.fixture
async def shops(db: Database, settings: Settings, demo_data: None, fake: FakeRefunds) -> None:
    await point_shops_at(db, settings, fake.base_url)
    forget_webhook_shops()


async def shop_of(db: Database, channel: str) -> Shop:
    async with db.reading() as session:
        shop = await shop_readers.shop_by_code(session, SHOPS[channel])
    assert shop is not None
    return shop


async def land(db: Database, settings: Settings, channel: str) -> tuple[Order, list[OrderLine]]:
    """The platform's order taken in (not processed yet: nothing has shipped); it and its lines."""
    shop = await shop_of(db, channel)
    result = await ingest(db, settings, shop, copy.deepcopy(platform_orders()[channel]), IngestSource.webhook)
    assert result.ok and result.order_id, result
    async with db.reading() as session:
        order = await session.get(Order, result.order_id)
        lines = (
            await session.exec(
                select(OrderLine).where(OrderLine.order_id == result.order_id).order_by(col(OrderLine.position))
            )
        ).all()
    assert order is not None
    return order, list(lines)


def yuan(fen: int) -> str:
    return f"{fen / 100:.2f}"


def message(channel: str, order: Order, lines: list[OrderLine], ref: str, **change: Any) -> dict[str, Any]:
    """A 仅退款 message of the platform for the order's first line (JD, 快手: the whole order), as its API gives it."""
    first = lines[0]
    whole = sum(line.paid_fen for line in lines)
    if channel == "tmall":
        refund = {
            "refund_id": ref,
            "tid": order.external_id,
            "oid": first.line_id,
            "num": first.qty,
            "refund_fee": yuan(first.paid_fen),
            "total_fee": yuan(first.paid_fen),
            "has_good_return": False,
            "status": "WAIT_SELLER_AGREE",
            "reason": "不想要了",
            "desc": "拍错了",
            "refund_version": 1733100000123,
            "refund_phase": "onsale",
            "created": "2026-12-02 10:00:00",
        }
        refund.update(change)
        return {"refund": refund}
    if channel == "jd":
        vo = {"id": ref, "orderId": order.external_id, "applyRefundSum": whole, "status": 0, "reason": "不想买了"}
        vo.update(change)
        return {"refundApplyVo": vo}
    if channel == "douyin":
        data = {
            "tag": "200",
            "aftersale_id": ref,
            "p_id": order.external_id,
            "s_id": first.line_id,
            "shop_id": 4463798,
            "aftersale_type": 2,
            "aftersale_status": 6,
            "refund_amount": first.paid_fen,
            "refund_post_amount": 0,
            "reason_code": 3,
            "apply_time": int(time.time()),
        }
        data.update(change)
        return data
    if channel == "kuaishou":
        info = {
            "event": "kwaishop_aftersales_addRefund",
            "refundId": int(ref),
            "orderId": int(order.external_id),
            "handlingWay": 10,
            "status": 10,
            "refundFee": whole,
            "createTime": int(time.time() * 1000),
        }
        info.update(change)
        return info
    if channel == "youzan":
        event = {
            "refund_id": ref,
            "tid": order.external_id,
            "oid": first.line_id,
            "refund_state": "SAFE_NEW",
            "refunded_fee": yuan(first.paid_fen),
            "refund_type": "REFUND_ONLY",
            "refund_reason": "REFUND_BUYWRONG",
            "version": 1733100000,
        }
        event.update(change)
        return event
    after_sale = {
        "after_sale_order_id": ref,
        "order_id": order.external_id,
        "status": "MERCHANT_PROCESSING",
        "type": "REFUND",
        "reason": "拍错了",
        "product_info": {"product_id": "10000031", "sku_id": first.channel_sku_id, "count": first.qty},
        "refund_info": {"amount": first.paid_fen},
    }
    after_sale.update(change)
    return {"after_sale_order": after_sale}


#: A platform's own refund number per channel (快手's is a number).
REFS = {
    "tmall": "141000000012345678",
    "jd": "JD-RF-30001",
    "douyin": "6932000000000012345",
    "kuaishou": "2100000000012345",
    "youzan": "201912130000000001",
    "wechat_channels": "2000000000123456",
}
#: How each platform says the buyer withdrew the request.
WITHDRAWN = {
    "tmall": {"status": "CLOSED"},
    "jd": {"status": 11},
    "douyin": {"tag": "207"},
    "kuaishou": {"event": "kwaishop_aftersales_updateRefund", "status": 70},
    "youzan": {"refund_state": "SAFE_CLOSE"},
    "wechat_channels": {"status": "USER_CANCELD"},
}


async def take(db: Database, settings: Settings, channel: str, body: dict[str, Any]) -> Any:
    return await aftersale_messages.take(db, settings, await shop_of(db, channel), body)


async def case_of(db: Database, case_id: int) -> tuple[AfterSaleCase, list[AfterSaleLine]]:
    async with db.reading() as session:
        view = await aftersales.load_case(session, case_id)
    return view.case, view.lines


async def cases(db: Database) -> list[AfterSaleCase]:
    async with db.reading() as session:
        return list((await session.exec(select(AfterSaleCase).order_by(col(AfterSaleCase.id)))).all())


async def approve(db: Database, case_id: int) -> aftersales.CaseView:
    async with db.transaction() as session:
        return await aftersales.approve(session, case_id, SERVICE)


async def refund_jobs(db: Database) -> list[OutboxMessage]:
    async with db.reading() as session:
        query = select(OutboxMessage).where(OutboxMessage.job == aftersales.REFUND_JOB).order_by(col(OutboxMessage.id))
        return list((await session.exec(query)).all())


async def kinds_on_timeline(db: Database, order_id: int) -> list[str]:
    async with db.reading() as session:
        rows = (
            await session.exec(select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(col(OrderEvent.id)))
        ).all()
    return [row.kind for row in rows if row.kind.startswith("aftersale_")]


async def test_each_platforms_message_opens_one_case_however_often_it_comes_and_its_withdrawal_closes_it(
    db, settings, shops
):
    for channel in PLATFORM:
        order, lines = await land(db, settings, channel)
        body = message(channel, order, lines, REFS[channel])
        first = await take(db, settings, channel, body)
        assert first.outcome == "created" and first.case_id, (channel, first)
        again = await take(db, settings, channel, copy.deepcopy(body))
        assert (again.outcome, again.case_id) == ("unchanged", first.case_id), channel

        case, case_lines = await case_of(db, first.case_id)
        assert (case.kind, case.source, case.status, case.platform_ref) == (
            "refund_only",
            "platform",
            "requested",
            REFS[channel],
        ), channel
        assert (case.order_id, case.channel, case.refund_status, case.shipped) == (
            order.id,
            channel,
            "pending",
            False,
        ), channel
        whole_order = channel in ("jd", "kuaishou")
        covered = lines if whole_order else lines[:1]
        assert [(c.line_id, c.qty, c.refund_fen) for c in case_lines] == [
            (line.line_id, line.qty, line.paid_fen) for line in covered
        ], channel
        assert case.refund_fen == sum(line.paid_fen for line in covered), channel

        withdrawal = message(channel, order, lines, REFS[channel], **WITHDRAWN[channel])
        withdrawn = await take(db, settings, channel, withdrawal)
        assert withdrawn.outcome == "updated", channel
        case, _ = await case_of(db, first.case_id)
        assert (case.status, case.refund_status) == ("cancelled", "none"), channel
        assert "aftersale_cancelled" in await kinds_on_timeline(db, order.id)
    assert len(await cases(db)) == len(PLATFORM)


async def test_a_message_naming_an_order_or_item_we_do_not_have_goes_to_the_error_queue(db, settings, shops):
    order, lines = await land(db, settings, "tmall")
    unknown_order = message("tmall", order, lines, "RF-1", tid="999999999")
    result = await take(db, settings, "tmall", unknown_order)
    assert (result.outcome, result.field) == ("invalid", "order") and result.error_id
    unknown_line = message("youzan", *(await land(db, settings, "youzan")), "RF-2", oid="no-such-line")
    result = await take(db, settings, "youzan", unknown_line)
    assert (result.outcome, result.field) == ("invalid", "lines") and "no-such-line" in result.message
    broken = await take(db, settings, "douyin", {"tag": "200", "aftersale_id": "X"})
    assert broken.outcome == "invalid" and broken.field == "p_id"
    async with db.reading() as session:
        errors = (await session.exec(select(IngestError).order_by(col(IngestError.id)))).all()
    assert [(e.channel, e.source, e.field) for e in errors] == [
        ("tmall", "aftersale", "order"),
        ("youzan", "aftersale", "lines"),
        ("douyin", "aftersale", "p_id"),
    ]
    assert await cases(db) == []


async def test_a_message_that_came_before_its_order_opens_its_case_when_replayed_from_the_error_queue(
    db, settings, shops
):
    shop = await shop_of(db, "youzan")
    tid = platform_orders()["youzan"]["full_order_info"]["order_info"]["tid"]
    early = {
        "refund_id": REFS["youzan"],
        "tid": tid,
        "oid": "will-not-match",
        "refund_state": "SAFE_NEW",
        "refunded_fee": "1.00",
        "refund_type": "REFUND_ONLY",
        "version": 1,
    }
    kept = await aftersale_messages.take(db, settings, shop, early)
    assert (kept.outcome, kept.field) == ("invalid", "order") and kept.error_id
    replay = services.replay_error
    # Replayed while the order is still missing: the same error row keeps the reason, no copy is added.
    again = await replay(db, settings, kept.error_id, json.dumps(early), SERVICE, None, taker=aftersale_messages.take)
    assert (again.outcome, again.error_id) == ("invalid", kept.error_id)
    order, lines = await land(db, settings, "youzan")
    fixed = json.dumps({**early, "oid": lines[0].line_id})
    taken = await replay(db, settings, kept.error_id, fixed, SERVICE, None, taker=aftersale_messages.take)
    assert taken.outcome == "created" and taken.case_id
    async with db.reading() as session:
        errors = (await session.exec(select(IngestError))).all()
    assert [(e.id, e.status) for e in errors] == [(kept.error_id, "replayed")]
    case, case_lines = await case_of(db, taken.case_id)
    assert (case.order_id, [c.line_id for c in case_lines], case.refund_fen) == (order.id, [lines[0].line_id], 100)


def test_each_platforms_after_sales_types_are_read_as_ours():
    read = aftersale_messages.read_message
    base = {"refund_id": "1", "tid": "2", "oid": "3", "refund_fee": "9.90", "status": "WAIT_SELLER_AGREE"}
    assert read(Channel.tmall, {"refund": {**base, "has_good_return": True}}).kind == "return_refund"
    assert read(Channel.tmall, {"refund": {**base, "dispute_type": "TMALL_EXCHANGE"}}).kind == "exchange"
    douyin = {"aftersale_id": "1", "p_id": "2", "s_id": "3", "refund_amount": 1290, "refund_post_amount": 300}
    told = read(Channel.douyin, {**douyin, "tag": "200", "aftersale_type": 0})
    assert (told.kind, told.lines[0].refund_fen, told.shipping_fen) == ("return_refund", 990, 300)
    assert read(Channel.douyin, {**douyin, "tag": "200", "aftersale_type": 3}).kind == "exchange"
    kuaishou = {"refundId": 1, "orderId": 2, "status": 10}
    assert read(Channel.kuaishou, {**kuaishou, "handlingWay": 1}).kind == "return_refund"
    assert read(Channel.kuaishou, {**kuaishou, "handlingWay": 4}).kind == "reissue"
    youzan = {"refund_id": "1", "tid": "E1", "oid": "3", "refunded_fee": "5.00", "refund_state": "SAFE_NEW"}
    assert read(Channel.youzan, {**youzan, "refund_type": "REFUND_AND_RETURN"}).kind == "return_refund"
    wechat = {"after_sale_order_id": "1", "order_id": "2", "status": "MERCHANT_PROCESSING"}
    wechat["product_info"] = {"sku_id": "5"}
    assert read(Channel.wechat_channels, {"after_sale_order": {**wechat, "type": "RETURN"}}).kind == "return_refund"
    with pytest.raises(aftersale_messages.NormalizeError):
        read(Channel.douyin, {**douyin, "tag": "200", "aftersale_type": 9})


async def open_cases(db: Database, settings: Settings) -> dict[str, tuple[int, Order, list[OrderLine]]]:
    opened = {}
    for channel in PLATFORM:
        order, lines = await land(db, settings, channel)
        result = await take(db, settings, channel, message(channel, order, lines, REFS[channel]))
        assert result.case_id, result
        opened[channel] = (result.case_id, order, lines)
    return opened


async def test_an_approved_refund_is_agreed_on_each_platform_exactly_once_and_then_completes(db, settings, shops, fake):
    opened = await open_cases(db, settings)
    for channel, (case_id, _, _) in opened.items():
        view = await approve(db, case_id)
        assert (view.case.status, view.case.refund_status) == ("refunding", "pending"), channel
    jobs = await refund_jobs(db)
    assert sorted(job.args[0] for job in jobs) == sorted(case_id for case_id, _, _ in opened.values())
    assert len({job.dedupe_key for job in jobs}) == len(jobs)

    for case_id, _, _ in opened.values():
        done = await refunds.write_back_refund(db, settings, case_id)
        assert done["refund_status"] == "refunded", done
        # The outbox delivers at least once: the job again finds nothing pending and calls nobody.
        again = await refunds.write_back_refund(db, settings, case_id)
        assert "skipped" in again
    assert fake.refused == [] and fake.answered_already == []
    accepted = {a.platform: a for a in fake.accepted}
    assert len(fake.accepted) == len(accepted) == len(PLATFORM)
    for channel, (case_id, order, _) in opened.items():
        case, _ = await case_of(db, case_id)
        assert (case.status, case.refund_status, case.refund_attempts) == ("completed", "refunded", 1), channel
        assert accepted[PLATFORM[channel]].refund_id == REFS[channel], channel
        timeline = await kinds_on_timeline(db, order.id)
        assert timeline[-3:] == ["aftersale_refund_requested", "aftersale_refunded", "aftersale_completed"], channel
    first = opened["tmall"][2][0]
    assert accepted["taobao"].fields["refund_infos"] == f"{REFS['tmall']}|{first.paid_fen}|1733100000123|onsale"
    assert accepted["jd"].fields["status"] == 1 and accepted["jd"].fields["outWareStatus"] == 2
    assert accepted["douyin"].fields == {"items": [{"aftersale_id": REFS["douyin"]}], "type": 201}
    kuaishou_whole = sum(line.paid_fen for line in opened["kuaishou"][2])
    assert (accepted["kuaishou"].fields["refundAmount"], accepted["kuaishou"].fields["status"]) == (kuaishou_whole, 10)
    assert accepted["youzan"].fields == {"refund_id": REFS["youzan"], "version": "1733100000"}
    assert accepted["wechat"].fields == {"after_sale_order_id": REFS["wechat_channels"]}

    async with db.reading() as session:
        rows = (await session.exec(select(OutboxMessage).where(OutboxMessage.job == "publish_event"))).all()
    refunded = [row.args[0]["data"] for row in rows if row.args[0]["type"] == "aftersale.refunded"]
    assert sorted(e["case"] for e in refunded) == sorted(REFS.values())


async def test_a_refund_the_platform_refuses_stays_failed_with_its_words_and_a_retry_lands_it(
    db, settings, shops, fake
):
    opened = await open_cases(db, settings)
    case_id, order, _ = opened["youzan"]
    await approve(db, case_id)
    fake.refuse_with["youzan"] = "买家已发起平台介入，暂不能同意退款"
    outcome = await refunds.write_back_refund(db, settings, case_id)
    assert outcome["refund_status"] == "failed"
    case, _ = await case_of(db, case_id)
    assert (case.status, case.refund_status, case.refund_error_code) == ("refunding", "failed", "refused")
    assert "买家已发起平台介入" in aftersales.refund_error_message(case)
    assert "aftersale_refund_failed" in await kinds_on_timeline(db, order.id)
    assert fake.accepted == [] and fake.count("youzan") == 1
    # Nothing more is sent until someone retries.
    assert "skipped" in await refunds.write_back_refund(db, settings, case_id)

    del fake.refuse_with["youzan"]
    async with db.transaction() as session:
        await aftersales.retry_refund(session, case_id, SERVICE)
    with pytest.raises(aftersales.AfterSaleError):
        async with db.transaction() as session:
            await aftersales.retry_refund(session, case_id, SERVICE)
    jobs = await refund_jobs(db)
    assert [job.dedupe_key for job in jobs] == [f"write_back_refund:{case_id}", f"write_back_refund:{case_id}:retry:1"]
    outcome = await refunds.write_back_refund(db, settings, case_id)
    assert outcome["refund_status"] == "refunded"
    case, _ = await case_of(db, case_id)
    assert (case.status, case.refund_status, case.refund_error_code, case.refund_retries) == (
        "completed",
        "refunded",
        "",
        1,
    )
    assert [a.refund_id for a in fake.accepted] == [REFS["youzan"]] and fake.count("youzan") == 2


async def test_our_own_channels_record_the_refund_at_once_and_a_platform_refund_made_there_needs_no_write_back(
    db, settings, shops, fake
):
    opened = await open_cases(db, settings)
    case_id, order, lines = opened["douyin"]
    # 抖店 agreed for the shop (its answer window ran out) and says the refund is made.
    told = await take(db, settings, "douyin", message("douyin", order, lines, REFS["douyin"], tag="206"))
    assert told.outcome == "updated"
    case, _ = await case_of(db, case_id)
    assert (case.status, case.refund_status) == ("completed", "refunded")
    assert await refund_jobs(db) == [] and fake.calls == []


# --- through the app: the webhook, the platform's push, the worker ------------------------------------------------


async def post_aftersale(server: str, channel: str, payload: Any) -> httpx.Response:
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = {SHOP_HEADER: SHOPS[channel], SIGNATURE_HEADER: sign_body(SECRET, body)}
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        return await client.post(f"/api/v1/channels/{channel}/aftersales", content=body, headers=headers)


async def push_douyin(server: str, data: dict[str, Any], msg_id: str) -> httpx.Response:
    body = json.dumps([{"tag": data["tag"], "msg_id": msg_id, "data": json.dumps(data)}]).encode()
    headers = {"app-id": APP_KEY, "event-sign": douyin_sign(APP_KEY, body, APP_SECRET)}
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        return await client.post(f"/api/v1/channels/douyin/push?shop={SHOPS['douyin']}", content=body, headers=headers)


async def push_youzan(server: str, event: dict[str, Any], msg_id: str) -> httpx.Response:
    envelope = {
        "client_id": APP_KEY,
        "id": event["refund_id"],
        "kdt_id": 91867,
        "type": "trade_refund_RefundCreated",
        "msg": quote(json.dumps(event, ensure_ascii=False)),
        "version": int(time.time()),
        "msg_id": msg_id,
    }
    body = json.dumps(envelope).encode()
    headers = {"Client-Id": APP_KEY, "Event-Sign": youzan_sign(APP_KEY, body, APP_SECRET)}
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        return await client.post(f"/api/v1/channels/youzan/push?shop={SHOPS['youzan']}", content=body, headers=headers)


async def test_the_webhook_and_the_push_open_cases_and_the_worker_writes_the_agreed_refund_back(
    server, worker, db, settings, shops, fake
):
    order, lines = await land(db, settings, "tmall")
    body = message("tmall", order, lines, REFS["tmall"])
    answer = await post_aftersale(server, "tmall", body)
    assert answer.status_code == 200 and answer.json()["outcome"] == "created", answer.text
    again = await post_aftersale(server, "tmall", body)
    assert again.json()["outcome"] == "unchanged" and again.json()["case_id"] == answer.json()["case_id"]
    forged = body | {"refund": {**body["refund"], "refund_fee": "0.01"}}
    async with httpx.AsyncClient(base_url=server) as client:
        unsigned = await client.post(
            "/api/v1/channels/tmall/aftersales", json=forged, headers={SHOP_HEADER: SHOPS["tmall"]}
        )
    assert unsigned.status_code == 401
    missing = await post_aftersale(server, "tmall", message("tmall", order, lines, "RF-9", tid="1"))
    assert missing.status_code == 422 and missing.json()["field"] == "order" and missing.json()["error_id"]

    d_order, d_lines = await land(db, settings, "douyin")
    pushed = await push_douyin(server, message("douyin", d_order, d_lines, REFS["douyin"]), "7400000000000000001")
    assert pushed.status_code == 200, pushed.text
    (taken,) = pushed.json()["messages"]
    assert taken["outcome"] == "created" and taken["case_id"]

    y_order, y_lines = await land(db, settings, "youzan")
    refund = message("youzan", y_order, y_lines, REFS["youzan"])
    pushed = await push_youzan(server, refund, "yz-refund-msg-1")
    assert pushed.status_code == 200, pushed.text
    (taken,) = pushed.json()["messages"]
    assert taken["outcome"] == "created"
    youzan_case, _ = await case_of(db, taken["case_id"])
    assert youzan_case.platform_data == {"refund_state": "SAFE_NEW", "version": "1733100000"}

    # JD's 售前退款 covers the whole order: approving it cancels the order (its parcel, waybilled by now, intercepted)
    # and the worker agrees the refund on JD.
    j_order, j_lines = await land(db, settings, "jd")
    jd_case = (await post_aftersale(server, "jd", message("jd", j_order, j_lines, REFS["jd"]))).json()["case_id"]
    await approve(db, jd_case)

    async def completed(session: Any) -> AfterSaleCase | None:
        case = await session.get(AfterSaleCase, jd_case)
        return case if case is not None and case.status == "completed" else None

    case = await wait_for(db, completed, within=60, what="the JD case completed")
    assert (case.status, case.refund_status, case.refund_attempts) == ("completed", "refunded", 1)
    assert [(a.platform, a.refund_id) for a in fake.accepted] == [("jd", REFS["jd"])] and fake.calls == ["jd"]
    async with db.reading() as session:
        cancelled = await session.get(Order, j_order.id)
    assert cancelled is not None and cancelled.status == "cancelled"


async def test_the_case_page_shows_the_platforms_refusal_and_its_retry_lands_the_refund(
    server, worker, db, settings, shops, fake, make_user
):
    order, lines = await land(db, settings, "jd")
    case_id = (await post_aftersale(server, "jd", message("jd", order, lines, REFS["jd"]))).json()["case_id"]
    fake.refuse_with["jd"] = "订单已被风控拦截，不能审核"
    await approve(db, case_id)

    async def settled(session: Any) -> AfterSaleCase | None:
        case = await session.get(AfterSaleCase, case_id)
        return case if case is not None and case.refund_status in ("failed", "refunded") else None

    case = await wait_for(db, settled, within=60, what="the refund write-back settled")
    assert (case.status, case.refund_status) == ("refunding", "failed")
    page_url = f"/aftersales/{case_id}"
    async with httpx.AsyncClient(base_url=server, timeout=30) as browser:
        await make_user(Role.viewer, username="looker")
        await login(browser, "looker")
        shown = (await browser.get(page_url)).text
        assert 'data-testid="case-refund-error"' in shown and "订单已被风控拦截" in shown
        assert 'data-testid="case-refund-retry"' not in shown
    async with httpx.AsyncClient(base_url=server, timeout=30) as browser:
        await make_user(Role.operator, username="clerk")
        await login(browser, "clerk")
        del fake.refuse_with["jd"]
        response = await post_form(browser, page_url, f"{page_url}/refund/retry", {})
        assert response.status_code == 303, response.text
        again = await post_form(browser, page_url, f"{page_url}/refund/retry", {})
        # Asked twice (a double click): the second finds nothing refused to retry, and says so.
        assert again.status_code == 400 and "只有平台拒绝的退款可以重试" in again.text

    async def completed(session: Any) -> AfterSaleCase | None:
        case = await session.get(AfterSaleCase, case_id)
        return case if case is not None and case.status == "completed" else None

    case = await wait_for(db, completed, within=60, what="the retried refund landed")
    assert (case.refund_status, case.refund_retries) == ("refunded", 1)
    assert [a.refund_id for a in fake.accepted] == [REFS["jd"]] and fake.count("jd") == 2

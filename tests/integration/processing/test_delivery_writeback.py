"""发货回传: orders of every platform, routed and waybilled by the real worker and scanned out through the WMS API, are
written back to a fake of each platform's delivery API that checks the method, the fields and the signature: one
accepted delivery per parcel (one per order where the platform ships an order whole), through the outbox, retried
when the platform is busy, shown on the order's page with 重试 when refused, and never sent twice."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from app.db import Database
from app.domain.accounts.models import AuditEntry, TokenScope
from app.domain.accounts.services import SYSTEM
from app.domain.channels import delivery
from app.domain.channels.services import set_credentials
from app.domain.fulfillment.confirmation import WRITEBACK_JOB
from app.domain.fulfillment.models import PlatformWriteback, Shipment
from app.domain.inventory import services as inventory
from app.domain.orders.models import Order, OrderStatus
from app.domain.shops.models import Shop
from app.outbox import OutboxMessage
from app.settings import Settings
from tests.integration.conftest import serving
from tests.integration.forms import login, post_form
from tests.integration.fulfillment.fake_delivery import FakeDelivery
from tests.integration.orders.fake_platform import APP_KEY, APP_SECRET, TOKEN
from tests.integration.processing.conftest import deliver, generic_order, wait_for
from tests.integration.processing.test_actions import ROUTE, linear_flow, publish
from tests.integration.processing.test_shipment_confirmation import confirm
from tests.samples import channels as samples

#: channel -> the demo shop of that channel.
SHOPS = {
    "tmall": "tmall-flagship",
    "jd": "jd-pop",
    "douyin": "douyin-live",
    "kuaishou": "kuaishou-shop",
    "youzan": "youzan-shop",
    "wechat_channels": "wechat-channels",
}
#: channel -> the platform API its write-back goes to.
PLATFORM = {channel: delivery.PLATFORM_OF[channel] for channel in SHOPS}


def platform_orders() -> dict[str, dict[str, Any]]:
    """A paid order of each platform in its own format, ready to ship (no presale, nothing refunded)."""
    douyin = samples.douyin_presale_bundle_gift_refund()
    douyin.update({"trade_type": 0, "order_status": 2})
    for line in douyin["sku_order_list"]:
        line["trade_type"] = 0
        line.pop("pre_sale_type", None)
        line["after_sale_info"] = {"after_sale_status": 0, "refund_status": 0}
    youzan = samples.youzan_presale_with_present()
    youzan["full_order_info"]["pay_info"].pop("phase_payments")
    return {
        "tmall": samples.taobao_multi_line_with_gift(),
        "jd": samples.jd_order_with_coupon_and_gift(),
        "douyin": douyin,
        "kuaishou": samples.kuaishou_paid(),
        "youzan": youzan,
        "wechat_channels": samples.wechat_channels_order(),
    }


async def point_shops_at(db: Database, settings: Settings, base_url: str, *, secret: str = APP_SECRET) -> None:
    """Give every platform shop the fake's address and credentials, as an admin does on 渠道与店铺."""
    async with db.transaction() as session:
        for shop in (await session.exec(select(Shop).where(col(Shop.code).in_(list(SHOPS.values()))))).all():
            shop.api_base_url, shop.app_key = base_url, APP_KEY
            token = TOKEN if secret == APP_SECRET else "stolen-token"
            set_credentials(shop, settings.secret_key, app_secret=secret, access_token=token)
            session.add(shop)


@pytest.fixture
async def shops(db: Database, settings: Settings, demo: None, fake: FakeDelivery) -> None:
    await point_shops_at(db, settings, fake.base_url)


async def deliver_orders(server: str, channels: list[str]) -> dict[str, int]:
    orders = platform_orders()
    return {
        channel: (await deliver(server, channel, SHOPS[channel], copy.deepcopy(orders[channel])))["order_id"]
        for channel in channels
    }


async def waybilled(db: Database, ids: dict[str, int]) -> dict[str, list[Shipment]]:
    """Wait until every order is waybilled; its live parcels by channel."""

    async def check(session: Any) -> dict[str, list[Shipment]] | None:
        found = {o.id: o for o in (await session.exec(select(Order).where(col(Order.id).in_(list(ids.values())))))}
        if not all(o.status == OrderStatus.waybilled for o in found.values()) or len(found) != len(ids):
            return None
        parcels = (await session.exec(select(Shipment).where(col(Shipment.order_id).in_(list(ids.values()))))).all()
        return {
            channel: sorted(
                (p for p in parcels if p.order_id == order_id and p.status != "cancelled"), key=lambda p: p.seq
            )
            for channel, order_id in ids.items()
        }

    return await wait_for(db, check, within=120, what="every order waybilled")


async def writebacks(db: Database) -> list[PlatformWriteback]:
    async with db.reading() as session:
        return list((await session.exec(select(PlatformWriteback).order_by(col(PlatformWriteback.id)))).all())


async def settled(db: Database, expected: int) -> list[PlatformWriteback]:
    """Wait until ``expected`` write-backs exist and none is pending."""

    async def check(session: Any) -> list[PlatformWriteback] | None:
        rows = list((await session.exec(select(PlatformWriteback).order_by(col(PlatformWriteback.id)))).all())
        return rows if len(rows) == expected and all(r.status != "pending" for r in rows) else None

    return await wait_for(db, check, within=90, what=f"{expected} write-backs settled")


async def outbox_jobs(db: Database) -> int:
    async with db.reading() as session:
        rows = (await session.exec(select(OutboxMessage.id).where(OutboxMessage.job == WRITEBACK_JOB))).all()
    return len(rows)


async def test_every_platform_gets_exactly_one_delivery_per_parcel_and_a_second_confirm_sends_nothing(
    server, worker, db, settings, shops, fake, make_token
):
    ids = await deliver_orders(server, list(SHOPS))
    ids["webshop"] = (await deliver(server, "webshop", "webshop", generic_order("W1", lines=[("CABLE-C1", 1, 2900)])))[
        "order_id"
    ]
    parcels = await waybilled(db, ids)
    assert all(len(p) == 1 for p in parcels.values()), parcels
    token = await make_token(TokenScope.admin, name="WMS")
    numbers = [p[0].waybill_no for p in parcels.values()]
    answer = await confirm(server, token, numbers)
    assert [item["outcome"] for item in answer.json()["items"]] == ["shipped"] * len(numbers), answer.text

    rows = await settled(db, len(ids))
    by_order = {row.order_id: row for row in rows}
    assert by_order[ids["webshop"]].status == "not_needed" and "webshop" not in fake.calls
    assert fake.refused == []
    assert sorted(fake.calls) == sorted(PLATFORM[channel] for channel in SHOPS)
    async with db.reading() as session:
        orders = {o.id: o for o in (await session.exec(select(Order)))}
    accepted = {d.platform: d for d in fake.accepted}
    assert len(accepted) == len(fake.accepted) == len(SHOPS)
    for channel, order_id in ids.items():
        if channel == "webshop":
            continue
        parcel, row = parcels[channel][0], by_order[order_id]
        sent = accepted[PLATFORM[channel]]
        assert row.status == "sent" and row.attempts == 1, (channel, row)
        assert (sent.order_id, sent.waybill) == (orders[order_id].external_id, parcel.waybill_no), channel
        assert sent.company == delivery.PLATFORM_CARRIERS[PLATFORM[channel]][parcel.carrier_code], channel
    # One parcel each: no split fields; 微信小店 names the parcel's products with their counts.
    assert "is_split" not in accepted["taobao"].fields and "oids" not in accepted["youzan"].fields
    (wechat_delivery,) = accepted["wechat"].fields["delivery_list"]
    assert wechat_delivery["product_infos"] == [
        {"product_id": "10000031", "sku_id": "20000031", "product_cnt": 2},
        {"product_id": "10000099", "sku_id": "20000099", "product_cnt": 1},
    ]
    assert accepted["wechat"].fields["delivery_list"][0]["deliver_type"] == 1

    # The order API says so; each one has its event, its timeline entry.
    async with httpx.AsyncClient(base_url=server, headers={"Authorization": f"Bearer {token}"}) as api:
        answer = (await api.get(f"/api/v1/orders/{ids['jd']}")).json()
    (jd_writeback,) = answer["writebacks"]
    assert (jd_writeback["status"], jd_writeback["waybill_no"], jd_writeback["error"]) == (
        "sent",
        parcels["jd"][0].waybill_no,
        None,
    )
    async with db.reading() as session:
        written = (
            await session.exec(
                select(OutboxMessage.dedupe_key).where(
                    col(OutboxMessage.dedupe_key).like("event:shipment.written_back:%")
                )
            )
        ).all()
    assert len(written) == len(SHOPS)

    # Confirmed again (a WMS retrying), and the job replayed: nothing new is staged or sent.
    jobs, calls = await outbox_jobs(db), len(fake.calls)
    again = await confirm(server, token, numbers)
    assert {item["outcome"] for item in again.json()["items"]} == {"already_shipped"}
    for row in rows:
        replay = await delivery.write_back(db, settings, row.shipment_ref)
        assert replay["writebacks"] == []
    assert await outbox_jobs(db) == jobs
    assert len(fake.calls) == calls and len(await writebacks(db)) == len(rows)


async def test_a_busy_platform_is_retried_and_the_delivery_lands_once(server, worker, db, shops, fake, make_token):
    channels = ["tmall", "douyin", "kuaishou", "wechat_channels"]
    for channel in channels:
        fake.fail_transiently[PLATFORM[channel]] = 2
    # 有赞 answers that the order is already shipped (someone shipped it in its back office): that is done too.
    fake.already_shipped.add("youzan")
    ids = await deliver_orders(server, [*channels, "youzan"])
    parcels = await waybilled(db, ids)
    token = await make_token(TokenScope.admin)
    await confirm(server, token, [p.waybill_no for shipped in parcels.values() for p in shipped])
    rows = {row.order_id: row for row in await settled(db, len(ids))}
    for channel in channels:
        row = rows[ids[channel]]
        assert (row.status, row.attempts) == ("sent", 3), (channel, row)
        assert fake.count(PLATFORM[channel]) == 3
    assert sorted(d.platform for d in fake.accepted) == sorted(PLATFORM[c] for c in channels)
    assert rows[ids["youzan"]].status == "sent" and fake.answered_already == [
        ("youzan", platform_orders()["youzan"]["full_order_info"]["order_info"]["tid"])
    ]
    assert fake.refused == []


async def test_a_refused_write_back_shows_on_the_order_page_and_a_retry_lands_it(
    server, worker, db, shops, fake, make_token
):
    fake.refuse_with["jd"] = "运单号不符合规则"
    ids = await deliver_orders(server, ["jd"])
    parcels = await waybilled(db, ids)
    token = await make_token(TokenScope.admin)
    await confirm(server, token, [parcels["jd"][0].waybill_no])
    (row,) = await settled(db, 1)
    assert (row.status, row.error_code, row.attempts) == ("failed", "refused", 1)
    assert fake.count("jd") == 1 and fake.accepted == []
    page = f"/orders/{ids['jd']}"
    async with httpx.AsyncClient(base_url=server) as viewer:
        await login(viewer, "viewer", "viewer-demo-123")
        shown = (await viewer.get(page)).text
        assert 'data-testid="writebacks"' in shown and "回传失败" in shown
        assert 'data-testid="writeback-retry"' not in shown
        denied = await post_form(viewer, page, f"{page}/writebacks/{row.id}/retry", {})
        assert denied.status_code == 403
    async with httpx.AsyncClient(base_url=server) as operator:
        await login(operator, "operator", "operator-demo-123")
        shown = (await operator.get(page)).text
        assert "发货回传" in shown and "平台拒绝了发货回传：运单号不符合规则" in shown
        assert 'data-testid="writeback-retry"' in shown
        del fake.refuse_with["jd"]
        retried = await post_form(operator, page, f"{page}/writebacks/{row.id}/retry", {})
        assert retried.status_code == 200, retried.text
        assert "正在重试" in retried.text
        again = await post_form(operator, page, f"{page}/writebacks/{row.id}/retry", {})
    (row,) = await settled(db, 1)
    assert (row.status, row.retries, row.error_code) == ("sent", 1, "")
    assert [d.order_id for d in fake.accepted] == [platform_orders()["jd"]["orderId"]]
    # A second 重试 once it is pending or sent is refused in Chinese, and changes nothing.
    assert again.status_code == 409 and "只有回传失败的记录才能重试" in again.text
    async with db.reading() as session:
        audits = (await session.exec(select(AuditEntry).where(AuditEntry.action == "writeback.retry"))).all()
        failed_events = (
            await session.exec(
                select(OutboxMessage.id).where(col(OutboxMessage.dedupe_key).like("event:shipment.write_back_failed:%"))
            )
        ).all()
    assert [(a.actor_name, a.target_id) for a in audits] == [("operator", row.shipment_ref)]
    assert len(failed_events) == 1


async def test_a_request_signed_with_the_wrong_secret_is_refused_by_every_platform(
    server, worker, db, settings, shops, fake, make_token
):
    await point_shops_at(db, settings, fake.base_url, secret="not-the-app-secret")
    ids = await deliver_orders(server, list(SHOPS))
    parcels = await waybilled(db, ids)
    token = await make_token(TokenScope.admin)
    await confirm(server, token, [p.waybill_no for shipped in parcels.values() for p in shipped])
    rows = await settled(db, len(ids))
    assert {row.status for row in rows} == {"failed"} and fake.accepted == []
    assert sorted(platform for platform, _ in fake.refused) == sorted(PLATFORM[c] for c in SHOPS)
    assert all(row.attempts == 1 and row.error_code == "refused" for row in rows)


def test_a_carrier_a_platform_does_not_know_is_a_failure_naming_it():
    with pytest.raises(delivery.DeliveryError) as raised:
        delivery.company_code("douyin", "DBL")
    assert (raised.value.code, raised.value.detail, raised.value.transient) == ("unmapped_carrier", "DBL", False)


@pytest.fixture
async def split_flow(db: Database, demo_data: None, settings: Settings, fake: FakeDelivery) -> None:
    """A flow that splits an order no single warehouse can fill (上海仓 has no yoghurt or T-shirts) and waybills each
    parcel; the platform shops point at the fake."""
    async with db.transaction() as session:
        await inventory.record_count(session, "SH01", {"YOGURT-6": 0, "TEE-BLK-L": 0}, SYSTEM)
    await publish(db, linear_flow(*ROUTE, ("split_by_warehouse", {}), ("request_waybill", {})))
    await point_shops_at(db, settings, fake.base_url)


def split_order(channel: str) -> dict[str, Any]:
    """A Tmall or JD order to 上海 of yoghurt and a T-shirt: two parcels, from two warehouses."""
    if channel == "tmall":
        order = samples.taobao_multi_line_with_gift()
        order["tid"] = 3958201746251099001
        first, second, _ = order["orders"]["order"]
        first.update({"oid": 3958201746251099002, "outer_sku_id": "YOGURT-6", "num": 2})
        second.update({"oid": 3958201746251099003, "outer_sku_id": "TEE-BLK-L", "num": 1})
        order["orders"]["order"] = [first, second]
        order["receiver_state"] = "上海"
        return order
    order = samples.jd_order_with_coupon_and_gift()
    order["orderId"] = "285019370099"
    first, second, _ = order["itemInfoList"]
    first.update({"outerSkuId": "YOGURT-6", "itemTotal": "2"})
    second.update({"outerSkuId": "TEE-BLK-L"})
    order["itemInfoList"] = [first, second]
    order["couponDetailList"] = []
    order["consigneeInfo"].update({"province": "上海", "city": "上海市", "county": "浦东新区"})
    return order


async def test_a_split_order_writes_back_each_parcel_to_tmall_and_the_whole_order_once_to_jd(
    db, settings, split_flow, arq_worker, fake, make_token
):
    async with serving(settings) as server:
        ids = {
            channel: (await deliver(server, channel, SHOPS[channel], split_order(channel)))["order_id"]
            for channel in ("tmall", "jd")
        }
        parcels = await waybilled(db, ids)
        assert [len(parcels[c]) for c in ("tmall", "jd")] == [2, 2], parcels
        token = await make_token(TokenScope.admin)
        # The first parcel of each: Tmall is told about it, JD waits for the order's last parcel.
        await confirm(server, token, [parcels["tmall"][0].waybill_no, parcels["jd"][0].waybill_no])
        (first,) = await settled(db, 1)
        assert first.order_id == ids["tmall"] and fake.calls == ["taobao"]
        async with httpx.AsyncClient(base_url=server) as operator:
            await login(operator, "operator", "operator-demo-123")
            assert 'data-testid="writeback-waiting"' in (await operator.get(f"/orders/{ids['jd']}")).text
        await confirm(server, token, [parcels["tmall"][1].waybill_no, parcels["jd"][1].waybill_no])
        rows = await settled(db, 3)
    assert {r.status for r in rows} == {"sent"}
    taobao = [d for d in fake.accepted if d.platform == "taobao"]
    lines = {p.ref: sorted(str(line["line_id"]) for line in p.lines) for p in parcels["tmall"]}
    assert [(d.waybill, d.fields["is_split"], sorted(d.lines)) for d in taobao] == [
        (p.waybill_no, "1", lines[p.ref]) for p in parcels["tmall"]
    ]
    (jd,) = [d for d in fake.accepted if d.platform == "jd"]
    assert jd.waybill == ",".join(p.waybill_no for p in parcels["jd"])
    assert [r.shipment_ref for r in rows if r.order_id == ids["jd"]] == [parcels["jd"][1].ref]

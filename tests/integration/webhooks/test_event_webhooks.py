"""Outbound event webhooks end to end: an admin subscribes a URL on 设置 → 事件订阅, an order arrives by webhook and
is processed by the published four-stage flow (the embedded worker on SQLite, a real arq worker on PostgreSQL +
Redis), and the subscriber receives a signed ``order.routed`` with the warehouse and the carrier; a subscriber
that fails is retried on the back-off schedule and shown failed with its answers; a 钉钉 robot gets a signed
low-stock alert."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from app.db import Database
from app.domain.accounts.models import Role
from app.domain.accounts.services import SYSTEM
from app.domain.inventory import services as inventory
from app.domain.webhooks import jobs as webhooks_jobs
from app.domain.webhooks import sending, services
from app.domain.webhooks.models import DeliveryStatus, EventDelivery, EventSubscription
from app.outbox import OutboxMessage, OutboxStatus
from app.settings import Settings
from tests.integration.forms import login, post_form
from tests.integration.processing.conftest import deliver, generic_order, wait_for, wait_until_settled
from tests.integration.webhooks.conftest import FakeDingTalk, FakeServer, FakeSubscriber, FakeWeCom

PAGE = "/settings/webhooks/"


@pytest.fixture
async def admin(make_user: Any) -> None:
    """An admin of our own, for the pages of an app without the demo data."""
    await make_user(Role.admin, "webhook-admin")


@pytest.fixture
async def browser(server: str) -> AsyncIterator[httpx.AsyncClient]:
    """The demo's admin, logged in to the served app (the one app whose worker processes the orders)."""
    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        await login(http, "admin", "admin-demo-123")  # type: ignore[arg-type]
        yield http


async def subscribe(client: Any, name: str, url: str, events: list[str], **extra: str) -> Any:
    """Post the subscription form as an admin does; returns the response."""
    return await post_form(client, PAGE, PAGE, {"name": name, "kind": "webhook", "url": url, "events": events, **extra})


def shown_secret(page: str) -> str:
    match = re.search(r'data-testid="new-webhook-signing-secret">.*?<code class="secret">([^<]+)</code>', page, re.S)
    assert match, "the new subscription's secret is not shown"
    return match.group(1)


async def until_received(fake: FakeServer, count: int, *, within: float = 60) -> list[Any]:
    deadline = asyncio.get_running_loop().time() + within
    while len(fake.requests()) < count:
        assert asyncio.get_running_loop().time() < deadline, f"{len(fake.requests())} of {count} deliveries arrived"
        await asyncio.sleep(0.1)
    return fake.requests()


async def only_delivery(db: Database, event_type: str) -> EventDelivery:
    async def found(session: Any) -> EventDelivery | None:
        rows = (await session.exec(select(EventDelivery).where(EventDelivery.event_type == event_type))).all()
        return rows[0] if len(rows) == 1 and rows[0].attempts > 0 else None

    return await wait_for(db, found, what=f"the first attempt of the {event_type} delivery")


async def test_a_subscriber_receives_a_signed_order_routed_with_the_warehouse_and_carrier(
    server, worker, db, browser, subscriber: FakeSubscriber
):
    created = await subscribe(browser, "ERP", f"{subscriber.url}/hooks/ruleflow", ["order.received", "order.routed"])
    assert created.status_code == 200
    subscriber.secret = shown_secret(created.text)
    assert subscriber.secret not in (await browser.get(PAGE)).text  # shown once

    payload = generic_order("WH-1", lines=[("PHONE-X1", 1, 399900)], phone="13800001111", name="张伟")
    order_id = (await deliver(server, "webshop", "webshop", payload))["order_id"]
    received = await until_received(subscriber, 2)

    by_type = {r.headers["x-ruleflow-event"]: r for r in received}
    assert set(by_type) == {"order.received", "order.routed"}
    routed = by_type["order.routed"]
    assert routed.path == "/hooks/ruleflow"
    event = routed.json
    assert event["type"] == "order.routed" and event["id"] and event["occurred_at"].endswith("Z")
    data = event["data"]
    assert data["order"]["id"] == order_id and data["order"]["external_id"] == "WH-1"
    assert data["order"]["shop"] == "webshop" and data["order"]["status"] == "routed"
    assert data["warehouse"]["code"] and data["warehouse"]["name"]
    assert data["carrier"]["code"] and data["carrier"]["name"]
    assert data["shipments"][0]["warehouse"] == data["warehouse"]
    assert data["shipments"][0]["lines"][0]["sku"] == "PHONE-X1"
    assert data["flows"] and data["flows"][0]["version_number"] == 1
    # Personal data is masked in what leaves the OMS.
    assert "13800001111" not in routed.body.decode() and "张伟" not in routed.body.decode()
    assert data["order"]["receiver"]["phone"] == "138****1111" and data["order"]["receiver"]["name"] == "张*"
    # Every attempt of the delivery carries one delivery id, and the subscriber's check passed (it answered 200).
    page = (await browser.get(PAGE)).text
    delivery_id = routed.headers["x-ruleflow-delivery"]
    row = re.search(rf'data-testid="delivery-{delivery_id}">(.*?)</tr>', page, re.S)
    assert row and "已送达" in row.group(1) and "HTTP 200" in row.group(1)


async def test_a_failing_subscriber_is_retried_with_backoff_shown_failed_and_sent_again(
    server, worker, db: Database, settings: Settings, browser, subscriber: FakeSubscriber
):
    subscriber.status, subscriber.answer = 500, "<script>alert('boom')</script> upstream down"
    created = await subscribe(browser, "WMS", f"{subscriber.url}/wms", ["order.routed"])
    subscriber.secret = shown_secret(created.text)

    await deliver(server, "webshop", "webshop", generic_order("WH-2", lines=[("PHONE-X1", 1, 399900)]))
    delivery = await only_delivery(db, "order.routed")  # the worker's first attempt
    assert delivery.status == DeliveryStatus.retrying and delivery.last_status_code == 500
    assert delivery.next_attempt_at is not None and delivery.id is not None

    ctx = {"db": db, "settings": settings}
    # Early, nothing is posted: the next attempt is due only after its wait.
    early = await webhooks_jobs.deliver_webhook(ctx, delivery.id, now=delivery.next_attempt_at - timedelta(seconds=1))
    assert "skipped" in early and len(subscriber.requests()) == 1
    for _ in services.BACKOFF:
        async with db.reading() as session:
            before = await session.get(EventDelivery, delivery.id)
        assert before is not None and before.next_attempt_at is not None
        await webhooks_jobs.deliver_webhook(ctx, delivery.id, now=before.next_attempt_at)
        async with db.reading() as session:
            after = await session.get(EventDelivery, delivery.id)
        assert after is not None
        if after.status == DeliveryStatus.retrying:
            assert after.next_attempt_at is not None
            assert after.next_attempt_at - before.next_attempt_at == services.BACKOFF[after.attempts - 1]
    assert after.status == DeliveryStatus.failed and after.attempts == len(services.BACKOFF) + 1
    assert len(subscriber.requests()) == len(services.BACKOFF) + 1
    assert {r.headers["x-ruleflow-delivery"] for r in subscriber.requests()} == {after.delivery_id}

    page = (await browser.get(PAGE)).text
    row = re.search(rf'data-testid="delivery-{after.delivery_id}">(.*?)</tr>', page, re.S)
    assert row, "the failed delivery is not listed"
    shown = row.group(1)
    assert (
        "失败" in shown and f'data-testid="delivery-attempts-{after.delivery_id}">{len(services.BACKOFF) + 1}<' in shown
    )
    assert "HTTP 500" in shown and "&lt;script&gt;alert(" in shown and "upstream down" in shown
    assert "<script>" not in shown  # the subscriber's answer is shown escaped
    assert f'data-testid="retry-delivery-{after.delivery_id}"' in shown

    # The subscriber is back: 重试 sends it once more, now, and it is delivered.
    subscriber.status, subscriber.answer = 200, "ok"
    retried = await post_form(browser, PAGE, f"/settings/webhooks/deliveries/{after.id}/retry", {})
    assert retried.status_code == 200 and "稍后" in retried.text

    async def delivered(session: Any) -> EventDelivery | None:
        row = await session.get(EventDelivery, delivery.id)
        return row if row is not None and row.status == DeliveryStatus.succeeded else None

    done = await wait_for(db, delivered, what="the retried delivery")
    assert done.attempts == len(services.BACKOFF) + 2
    # Run again, a delivered delivery is not posted a second time.
    again = await webhooks_jobs.deliver_webhook(ctx, delivery.id, now=done.delivered_at + timedelta(days=1))
    assert "skipped" in again and len(subscriber.requests()) == len(services.BACKOFF) + 2


async def test_a_dingtalk_robot_gets_a_signed_low_stock_alert_once_per_crossing(
    server, worker, db: Database, browser, dingtalk: FakeDingTalk
):
    robot_url = f"{dingtalk.url}/robot/send?access_token={dingtalk.token}"
    made = await post_form(
        browser,
        PAGE,
        PAGE,
        {"name": "运营群", "kind": "dingtalk", "url": robot_url, "events": ["stock.low"], "secret": dingtalk.secret},
    )
    assert made.status_code == 200 and "access_token=robo****" in made.text
    wrong = await post_form(
        browser,
        PAGE,
        PAGE,
        {"name": "签错的群", "kind": "dingtalk", "url": robot_url, "events": ["stock.low"], "secret": "SECwrong"},
    )
    assert wrong.status_code == 200
    async with db.reading() as session:
        available = (await inventory.pool_available(session, ["CABLE-C1"]))["CABLE-C1"]
    async with db.transaction() as session:
        await inventory.set_low_stock_threshold(session, "CABLE-C1", available - 1, SYSTEM)

    # One order takes one cable: the pool falls to the threshold, a crossing; a second order stays below it.
    # (Demo SKUs already below their own thresholds are announced too: only the cable is followed here.)
    await deliver(server, "webshop", "webshop", generic_order("WH-3", lines=[("CABLE-C1", 1, 2900)]))

    async def cable_alerts(session: Any) -> list[EventDelivery]:
        rows = (await session.exec(select(EventDelivery).order_by(col(EventDelivery.id)))).all()
        return [r for r in rows if r.body["data"].get("sku", {}).get("code") == "CABLE-C1"]

    async def both_tried(session: Any) -> list[EventDelivery] | None:
        rows = await cable_alerts(session)
        return rows if len(rows) == 2 and all(r.attempts for r in rows) else None

    signed, unsigned = await wait_for(db, both_tried, what="both robots' deliveries")
    assert signed.status == DeliveryStatus.succeeded and signed.event_type == "stock.low"
    assert unsigned.status == DeliveryStatus.retrying and "sign not match" in unsigned.last_response
    texts = [r.json["text"]["content"] for r in dingtalk.requests()]
    text = next(t for t in texts if "CABLE-C1" in t)
    assert "低库存预警" in text and f"可用库存 {available - 1}" in text and f"预警值 {available - 1}" in text

    await deliver(server, "webshop", "webshop", generic_order("WH-4", lines=[("CABLE-C1", 1, 2900)], buyer="b-2"))
    await wait_until_settled(db, 2)
    await asyncio.sleep(2.5)  # the channel-stock pass after the second order's reservation runs within the second
    async with db.reading() as session:
        assert len(await cable_alerts(session)) == 2  # still low: no second alert


async def test_a_wecom_robot_is_told_once_when_the_review_queue_piles_up_past_its_threshold(
    server, worker, db: Database, browser, wecom: FakeWeCom
):
    robot_url = f"{wecom.url}/cgi-bin/webhook/send?key={wecom.key}"
    made = await post_form(
        browser,
        PAGE,
        PAGE,
        {"name": "客服群", "kind": "wecom", "url": robot_url, "events": ["review.backlog"], "held_threshold": "1"},
    )
    assert made.status_code == 200 and "审核中超过 1 单" in made.text
    # Orders without a street address are held by the shipped audit: the second one puts the queue past 1.
    for n in (1, 2):
        payload = generic_order(f"WQ-{n}", lines=[("MASK-10", 1, 9900)], address=None, buyer=f"wq-{n}")
        await deliver(server, "webshop", "webshop", payload)
        await wait_until_settled(db, n)
    received = await until_received(wecom, 1)
    text = received[0].json["text"]["content"]
    assert "审核积压" in text and "2 单待处理" in text and "超过 1 单" in text
    # A third hold while the alert stands tells nobody again.
    await deliver(server, "webshop", "webshop", generic_order("WQ-3", lines=[("MASK-10", 1, 9900)], address=None))
    await wait_until_settled(db, 3)

    async def fanned_out(session: Any) -> bool:
        pending = (
            await session.exec(
                select(OutboxMessage).where(
                    OutboxMessage.job == "publish_event", col(OutboxMessage.status) != OutboxStatus.done
                )
            )
        ).all()
        return not pending

    await wait_for(db, fanned_out, what="the held orders' events fanned out")
    async with db.reading() as session:
        alerts = (await session.exec(select(EventDelivery))).all()
    assert [a.event_type for a in alerts] == ["review.backlog"] and len(wecom.requests()) == 1


async def test_a_url_that_is_not_http_is_refused_in_chinese_and_nothing_is_saved(client, db, admin):
    await login(client, "webhook-admin")
    refused = await subscribe(client, "坏地址", "file:///etc/passwd", ["order.routed"])
    assert refused.status_code == 400
    assert "http:// 或 https://" in refused.text and 'value="file:///etc/passwd"' in refused.text
    robot = await post_form(
        client,
        PAGE,
        PAGE,
        {
            "name": "群",
            "kind": "wecom",
            "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send",
            "events": ["stock.low"],
        },
    )
    assert robot.status_code == 400 and "key" in robot.text
    order_robot = await post_form(
        client,
        PAGE,
        PAGE,
        {"name": "群", "kind": "wecom", "url": "https://qyapi.weixin.qq.com/x?key=k", "events": ["order.received"]},
    )
    assert order_robot.status_code == 400
    async with db.reading() as session:
        assert (await session.exec(select(EventSubscription))).all() == []


async def test_in_production_a_private_address_is_refused_unless_allowed(db, settings: Settings):
    production = replace(settings, env="production", webhook_allow_private=False)
    for url in (
        "http://127.0.0.1:9/x",
        "http://10.1.2.3/x",
        "http://169.254.169.254/latest",
        "http://[::1]/x",
        "http://localhost/x",
    ):
        form = services.SubscriptionForm("内网", "webhook", url, ["order.routed"])
        async with db.transaction() as session:
            try:
                await services.create_subscription(session, production, form, SYSTEM)
            except sending.UrlRefused as exc:
                assert exc.code == "private_address"
            else:
                raise AssertionError(f"{url} was taken in production")
    allowed = replace(production, webhook_allow_private=True)
    async with db.transaction() as session:
        await services.create_subscription(
            session,
            allowed,
            services.SubscriptionForm("内网", "webhook", "http://10.1.2.3/x", ["order.routed"]),
            SYSTEM,
        )

"""Pulling a shop's order list: each adapter's real HTTP client, signed the platform's way, against a local fake."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from app.domain.accounts.models import Role
from app.domain.channels.adapters.base import PullError
from app.domain.channels.services import pull_shop, set_credentials
from app.domain.orders.models import Order
from app.domain.shops.models import Channel, Shop
from tests.integration.forms import login, post_form
from tests.integration.orders.conftest import wait_for_jobs
from tests.integration.orders.fake_platform import APP_KEY, APP_SECRET, TOKEN, FakePlatform, many, running
from tests.samples import channels as samples


async def configure(db, settings, shop: Shop, base_url: str, secret: str = APP_SECRET) -> None:
    async with db.transaction() as session:
        row = await session.get(Shop, shop.id)
        row.api_base_url, row.app_key = base_url, APP_KEY
        set_credentials(row, settings.secret_key, app_secret=secret, access_token=TOKEN)
        session.add(row)


async def orders_of(db, shop: Shop) -> int:
    async with db.reading() as session:
        return int((await session.exec(select(func.count()).select_from(Order).where(Order.shop_id == shop.id))).one())


@pytest.mark.parametrize(
    ("channel", "fake_key"),
    [
        ("tmall", "taobao"),
        ("jd", "jd"),
        ("douyin", "douyin"),
        ("kuaishou", "kuaishou"),
        ("youzan", "youzan"),
        ("wechat_channels", "wechat"),
    ],
)
async def test_a_pull_pages_through_the_signed_order_list_and_saves_the_cursor(db, settings, shops, channel, fake_key):
    shop = shops[Channel(channel)]
    platform = FakePlatform(orders={fake_key: many(channel, 57)})  # more than one page of 50
    with running(platform):
        await configure(db, settings, shop, platform.base_url)
        first = await pull_shop(db, settings, shop.id)
        again = await pull_shop(db, settings, shop.id)
    assert platform.refused == []
    assert (first.pages, first.orders, first.created) == (2, 57, 57)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 57)
    assert await orders_of(db, shop) == 57
    async with db.reading() as session:
        saved = await session.get(Shop, shop.id)
    assert saved.pull_cursor == again.cursor and saved.last_pull_error is None


async def test_a_pulled_taobao_step_trade_keeps_its_receiver_and_its_deposit(db, settings, shops):
    shop = shops[Channel.tmall]
    platform = FakePlatform(orders={"taobao": [samples.taobao_step_trade_deposit_paid()]})
    with running(platform):  # the fake returns only the fields the pull asks for, as TOP does
        await configure(db, settings, shop, platform.base_url)
        await pull_shop(db, settings, shop.id)
    async with db.reading() as session:
        order = (await session.exec(select(Order).where(Order.shop_id == shop.id))).one()
    assert (order.receiver_name, order.phone_masked) == ("孙丽", "139****0001")
    assert (order.province, order.city, order.district) == ("浙江", "杭州市", "西湖区")
    assert order.address_masked.startswith("文三路") and order.address_cipher
    assert (order.is_presale, order.deposit_paid, order.deposit_fen, order.balance_paid) == (True, True, 5000, False)
    assert order.buyer_nick == "s**i"


async def test_a_refused_signature_is_recorded_and_the_cursor_does_not_move(db, settings, shops):
    shop = shops[Channel.jd]
    platform = FakePlatform(orders={"jd": many("jd", 3)})
    with running(platform):
        await configure(db, settings, shop, platform.base_url, secret="not-the-app-secret")
        with pytest.raises(PullError):
            await pull_shop(db, settings, shop.id)
    assert platform.refused == ["jd"]
    async with db.reading() as session:
        saved = await session.get(Shop, shop.id)
    assert saved.pull_cursor == ""
    assert "JD refused" in saved.last_pull_error
    assert await orders_of(db, shop) == 0


async def test_pull_now_in_shop_settings_runs_the_pull_job(client, db, settings, shops, make_user, arq_worker):
    shop = shops[Channel.douyin]
    platform = FakePlatform(orders={"douyin": many("douyin", 4)})
    with running(platform):
        await configure(db, settings, shop, platform.base_url)
        await make_user(Role.admin, username="admin")
        await login(client, "admin")
        response = await post_form(client, "/channels/", f"/channels/{shop.id}/pull", {})
        assert response.status_code == 200
        messages = await wait_for_jobs(db)
    pulls = [m for m in messages if m.job == "pull_shop_orders"]
    assert [m.status for m in pulls] == ["done"]
    assert pulls[0].result["created"] == 4
    assert await orders_of(db, shop) == 4
    page = await client.get("/channels/")
    assert f'data-testid="pull-cursor-{shop.code}">{pulls[0].result["cursor"]}' in page.text


async def test_a_pull_schedule_keeps_exactly_one_next_pull_waiting(client, db, settings, shops, make_user):
    from datetime import timedelta

    from app.db import utcnow
    from app.domain.channels.jobs import pull_shop_orders
    from app.outbox import OutboxMessage

    shop = shops[Channel.kuaishou]
    platform = FakePlatform(orders={"kuaishou": many("kuaishou", 2)})
    with running(platform):
        await make_user(Role.admin, username="admin")
        await login(client, "admin")
        form = {
            "api_base_url": platform.base_url,
            "app_key": APP_KEY,
            "app_secret": APP_SECRET,
            "access_token": TOKEN,
            "pull_interval_minutes": "15",
        }
        saved = await post_form(client, "/channels/", f"/channels/{shop.id}/settings", form)
        assert saved.status_code == 200
        async with db.transaction() as session:  # the worker picks up the scheduled row when it is due
            first = (await session.exec(select(OutboxMessage).where(OutboxMessage.job == "pull_shop_orders"))).one()
            first.status = "running"
            first.claimed_at = utcnow()  # as a worker claims it: the sweeper leaves a fresh claim alone
            session.add(first)
        await pull_shop_orders({"db": db, "settings": settings}, shop.id)
    async with db.reading() as session:
        waiting = (
            await session.exec(
                select(OutboxMessage).where(OutboxMessage.job == "pull_shop_orders", OutboxMessage.status == "pending")
            )
        ).all()
    assert len(waiting) == 1 and waiting[0].id != first.id  # the run staged the next one, and only one
    assert waiting[0].available_at > utcnow() + timedelta(minutes=14)
    assert await orders_of(db, shop) == 2


async def test_bad_shop_settings_are_refused_with_the_field_and_change_nothing(client, db, shops, make_user):
    shop = shops[Channel.jd]
    await make_user(Role.admin, username="admin")
    await login(client, "admin")
    response = await post_form(
        client,
        "/channels/",
        f"/channels/{shop.id}/settings",
        {"api_base_url": "ftp://nope", "pull_interval_minutes": "5"},
    )
    assert response.status_code == 400
    assert "api_base_url" in response.text
    async with db.reading() as session:
        assert (await session.get(Shop, shop.id)).api_base_url == ""

"""库存推送: a change of what a shop may sell reaches the shop's platform as one signed, full-quantity update per
mapped SKU through the outbox; changes in quick succession are one push of the last figure, an unmapped SKU is
not pushed, a platform that is down is retried, a refusal is recorded and shown on the SKU's page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, select, update

from app.db import Database, utcnow
from app.domain.accounts.models import Role
from app.domain.accounts.services import SYSTEM
from app.domain.channels.jobs import push_channel_stock
from app.domain.channels.services import set_credentials
from app.domain.inventory import services as inventory
from app.domain.inventory import sku_mappings
from app.domain.inventory.models import ChannelStock
from app.domain.shops.models import Channel, Shop
from app.outbox import OutboxMessage, OutboxStatus
from app.settings import Settings
from app.worker import EmbeddedWorker
from tests.integration.forms import login, post_form
from tests.integration.inventory.conftest import Receive, publish_channel_stock
from tests.integration.inventory.fake_stock_api import UNKNOWN_SKU, FakeStockApi, running
from tests.integration.orders.conftest import wait_for_jobs
from tests.integration.orders.fake_platform import APP_KEY, APP_SECRET, TOKEN

Client = AsyncTestClient[Litestar]

#: The shops the tests push to, by code: channel, the platform item id and SKU id SKU "A" is mapped to.
SHOPS = {
    "tmall-test": (Channel.tmall, "620011223344", "4455667788"),
    "jd-test": (Channel.jd, "", "100012345678"),
    "douyin-test": (Channel.douyin, "3539925204033339668", "1737398770243598"),
    "youzan-test": (Channel.youzan, "436167681", "36234429"),
    "wechat-test": (Channel.wechat_channels, "10000000088178", "462966239"),
    "kuaishou-test": (Channel.kuaishou, "2211334455", "667788"),  # only an incremental API: not pushed
    "pos-test": (Channel.pos, "", "POS-A"),  # no platform stock API
}
#: What the fake calls each channel's platform.
PLATFORM = {
    Channel.tmall: "taobao",
    Channel.jd: "jd",
    Channel.douyin: "douyin",
    Channel.youzan: "youzan",
    Channel.wechat_channels: "wechat",
}


@pytest.fixture
async def api(pool: Database, settings: Settings) -> AsyncIterator[FakeStockApi]:
    """The fake platforms, and every shop of :data:`SHOPS` pointed at them with SKU "A" mapped."""
    with running(FakeStockApi()) as fake:
        async with pool.transaction() as session:
            for code, (channel, _, _) in SHOPS.items():
                shop = (await session.exec(select(Shop).where(Shop.code == code))).first()
                shop = shop or Shop(channel=channel, code=code, name=f"{code} 店")
                shop.api_base_url, shop.app_key = fake.base_url, APP_KEY
                set_credentials(shop, settings.secret_key, app_secret=APP_SECRET, access_token=TOKEN)
                session.add(shop)
            await session.flush()
            for code, (_, item_id, sku_id) in SHOPS.items():
                await map_sku(session, code, "A", sku_id, item_id)
        yield fake


async def map_sku(session: Any, shop_code: str, sku: str, sku_id: str, item_id: str = "", outer_id: str = "") -> None:
    shop = (await session.exec(select(Shop).where(Shop.code == shop_code))).one()
    await sku_mappings.save_mapping(session, shop.id, sku_id, outer_id, sku, SYSTEM, item_id=item_id)


def worker(db: Database, settings: Settings) -> EmbeddedWorker:
    """The embedded worker, run by hand: the same outbox, batches and jobs the workers run."""
    return EmbeddedWorker(db, settings)


async def pushes(db: Database) -> list[OutboxMessage]:
    async with db.reading() as session:
        query = select(OutboxMessage).where(OutboxMessage.job == inventory.STOCK_PUSH_JOB)
        return list((await session.exec(query.order_by(col(OutboxMessage.id)))).all())


async def channel_row(db: Database, shop_code: str, sku: str = "A") -> ChannelStock:
    async with db.reading() as session:
        shop = (await session.exec(select(Shop).where(Shop.code == shop_code))).one()
        query = select(ChannelStock).where(ChannelStock.shop_id == shop.id, ChannelStock.sku_code == sku)
        return (await session.exec(query)).one()


async def make_due(db: Database) -> None:
    """Bring the outbox's retries forward to now, as if their back-off had passed."""
    async with db.transaction() as session:
        await session.exec(
            update(OutboxMessage).where(col(OutboxMessage.status) == OutboxStatus.pending).values(available_at=utcnow())
        )


async def test_a_stock_change_reaches_each_mapped_shops_platform_with_its_share(
    pool: Database, settings: Settings, api: FakeStockApi, receive: Receive
) -> None:
    async with pool.transaction() as session:
        tmall = (await session.exec(select(Shop).where(Shop.code == "tmall-test"))).one()
        jd = (await session.exec(select(Shop).where(Shop.code == "jd-test"))).one()
        assert tmall.id is not None and jd.id is not None
        await inventory.set_channel_rule(session, tmall.id, None, 50, 1, SYSTEM)  # half the pool, one held back
        await inventory.set_channel_rule(session, jd.id, "A", 80, 0, SYSTEM)

    await receive("SH01", "A", 15)
    await receive("BJ01", "A", 5)
    await publish_channel_stock(pool)
    await worker(pool, settings).drain()

    assert api.stock == {
        ("taobao", "620011223344", "4455667788"): 9,  # 20 × 50 % − 1
        ("jd", "", "100012345678"): 16,  # 20 × 80 %
        ("douyin", "3539925204033339668", "1737398770243598"): 20,
        ("youzan", "436167681", "36234429"): 20,
        ("wechat", "10000000088178", "462966239"): 20,
    }
    assert api.refused == []
    assert [m.status for m in await pushes(pool)] == [OutboxStatus.done] * 5  # 快手 and the till are not pushed
    row = await channel_row(pool, "tmall-test")
    assert (row.quantity, row.pushed_quantity, row.push_error) == (9, 9, None)
    assert row.pushed_at is not None
    assert (await channel_row(pool, "kuaishou-test")).pushed_quantity is None


async def test_a_bundle_is_pushed_as_the_whole_sets_its_parts_make(
    pool: Database, settings: Settings, api: FakeStockApi, receive: Receive
) -> None:
    async with pool.transaction() as session:
        await map_sku(session, "jd-test", "SET-SKIN", "100099990000")
    await receive("SH01", "SERUM-30", 5)
    await receive("SH01", "MASK-10", 6)
    await publish_channel_stock(pool)
    await worker(pool, settings).drain()
    assert api.stock[("jd", "", "100099990000")] == 3  # min(5 serums, 6 masks ÷ 2)

    await receive("SH01", "MASK-10", 4)  # a part moves: the bundle's figure moves with it
    await publish_channel_stock(pool)
    await worker(pool, settings).drain()
    assert api.told("jd")[-1] == 5


async def test_ten_changes_in_quick_succession_are_one_push_of_the_last_figure(
    pool: Database, settings: Settings, api: FakeStockApi, receive: Receive
) -> None:
    for _ in range(10):
        await receive("SH01", "A", 3)
        await publish_channel_stock(pool)  # each pass publishes a new figure for every shop

    assert len([m for m in await pushes(pool) if m.args[0][0] == (await channel_row(pool, "jd-test")).shop_id]) == 1
    await worker(pool, settings).drain()

    assert api.told("jd") == [30]
    assert api.told("taobao") == [30]
    assert len(api.updates) == 5  # one request per shop
    assert (await channel_row(pool, "jd-test")).pushed_quantity == 30


async def test_a_change_after_the_push_read_its_figure_is_pushed_next(
    pool: Database, settings: Settings, api: FakeStockApi, receive: Receive
) -> None:
    await receive("SH01", "A", 4)
    await publish_channel_stock(pool)
    async with pool.transaction() as session:  # the push job has read the figures and moved the round on
        jd = await channel_row(pool, "jd-test")
        taken = await inventory.take_channel_push(session, [(jd.shop_id, "A")])
    assert taken == {(jd.shop_id, "A"): 4}

    await receive("SH01", "A", 2)  # … and the stock changes before its push lands
    await publish_channel_stock(pool)
    await worker(pool, settings).drain()

    assert api.told("jd")[-1] == 6
    assert (await channel_row(pool, "jd-test")).pushed_quantity == 6


async def test_an_unmapped_sku_is_not_pushed_and_its_page_says_not_mapped(
    client: Client, pool: Database, settings: Settings, api: FakeStockApi, receive: Receive, make_user: Any
) -> None:
    await receive("SH01", "B", 7)
    await publish_channel_stock(pool)
    await wait_for_jobs(pool)

    assert await pushes(pool) == []
    assert api.updates == []
    assert (await channel_row(pool, "jd-test", "B")).quantity == 7
    await make_user(Role.viewer)
    await login(client, "viewer-user")
    page = (await client.get("/inventory/sku/B")).text
    jd_cell = page.split('data-testid="push-jd-test"')[1].split("</td>")[0]
    assert 'data-state="unmapped"' in jd_cell and "未映射" in jd_cell
    assert "不推送" in page.split('data-testid="push-pos-test"')[1].split("</td>")[0]


async def test_a_disabled_shop_is_not_pushed(
    pool: Database, settings: Settings, api: FakeStockApi, receive: Receive
) -> None:
    async with pool.transaction() as session:
        await session.exec(update(Shop).where(col(Shop.code) == "youzan-test").values(is_active=False))
    await receive("SH01", "A", 8)
    await publish_channel_stock(pool)
    await worker(pool, settings).drain()

    assert api.told("youzan") == []
    assert api.told("wechat") == [8]


async def test_a_platform_that_is_down_is_retried_until_it_takes_the_figure(
    pool: Database, settings: Settings, api: FakeStockApi, receive: Receive
) -> None:
    api.down_for["wechat"] = 1
    await receive("SH01", "A", 12)
    await publish_channel_stock(pool)
    await worker(pool, settings).drain()

    row = await channel_row(pool, "wechat-test")
    assert row.pushed_quantity is None and (row.push_error or "").startswith("unreachable:")
    wechat = [m for m in await pushes(pool) if m.args[0][0] == row.shop_id]
    assert [(m.status, m.attempts) for m in wechat] == [(OutboxStatus.pending, 1)]  # back in the outbox
    assert api.told("wechat") == []

    await make_due(pool)
    await worker(pool, settings).drain()

    assert api.told("wechat") == [12]
    row = await channel_row(pool, "wechat-test")
    assert (row.pushed_quantity, row.push_error) == (12, None)
    assert all(m.status == OutboxStatus.done for m in await pushes(pool))


async def test_a_refused_push_is_recorded_in_chinese_and_pushed_again_by_a_stock_manager(
    client: Client,
    pool: Database,
    settings: Settings,
    api: FakeStockApi,
    receive: Receive,
    make_user: Any,
    arq_worker: Any,
) -> None:
    async with pool.transaction() as session:  # signed with another app's secret
        shop = (await session.exec(select(Shop).where(Shop.code == "tmall-test"))).one()
        set_credentials(shop, settings.secret_key, app_secret="not-the-app-secret")
        session.add(shop)
    await receive("SH01", "A", 6)
    await publish_channel_stock(pool)
    await wait_for_jobs(pool)

    assert api.refused == [("taobao", "sign")]  # the fake checks the signature on its own
    assert api.told("taobao") == []
    row = await channel_row(pool, "tmall-test")
    assert row.pushed_quantity is None and row.push_error == "refused:Invalid signature (25)"
    assert all(m.status == OutboxStatus.done for m in await pushes(pool))  # recorded, not retried

    await make_user(Role.operator, username="stock-manager")
    await login(client, "stock-manager")
    page = (await client.get("/inventory/sku/A")).text
    cell = page.split('data-testid="push-tmall-test"')[1].split("</td>")[0]
    assert "推送失败" in cell and "平台拒绝了库存更新：Invalid signature (25)" in cell
    assert 'data-testid="push-again-tmall-test"' in cell

    async with pool.transaction() as session:  # the admin fixes the secret on 渠道与店铺
        shop = (await session.exec(select(Shop).where(Shop.code == "tmall-test"))).one()
        set_credentials(shop, settings.secret_key, app_secret=APP_SECRET)
        session.add(shop)
    pushed = await post_form(client, "/inventory/sku/A", f"/inventory/sku/A/push/{shop.id}", {})
    assert pushed.status_code == 303
    await wait_for_jobs(pool)

    assert api.told("taobao") == [6]
    page = (await client.get("/inventory/sku/A")).text
    cell = page.split('data-testid="push-tmall-test"')[1].split("</td>")[0]
    assert 'data-state="synced"' in cell and "已同步" in cell and " 6 · " in cell


async def test_a_platform_that_does_not_know_the_sku_is_recorded_as_refused(
    pool: Database, settings: Settings, api: FakeStockApi, receive: Receive
) -> None:
    async with pool.transaction() as session:
        await map_sku(session, "tmall-test", "C", UNKNOWN_SKU, "620011223344")
        await map_sku(session, "wechat-test", "C", "", "10000000088178", outer_id="C-OUTER")  # no SKU id
    await receive("SH01", "C", 3)
    await publish_channel_stock(pool)
    await worker(pool, settings).drain()

    assert (await channel_row(pool, "tmall-test", "C")).push_error == "refused:SKU不存在 (15)"
    assert (await channel_row(pool, "wechat-test", "C")).push_error == "no_sku_id:"
    assert inventory.push_error_text("no_sku_id:") == "这个 SKU 的映射没有平台 SKU 编号，该平台更新库存需要它"
    assert all(m.status == OutboxStatus.done for m in await pushes(pool))


async def test_a_push_run_twice_sends_the_same_full_quantity_and_records_once(
    pool: Database, settings: Settings, api: FakeStockApi, receive: Receive
) -> None:
    await receive("SH01", "A", 9)
    await publish_channel_stock(pool)
    douyin = await channel_row(pool, "douyin-test")
    staged = len(await pushes(pool))

    ctx = {"db": pool, "settings": settings}
    first = await push_channel_stock(ctx, [douyin.shop_id, "A"])
    again = await push_channel_stock(ctx, [douyin.shop_id, "A"])

    assert first == again == {"pushed": 1, "refused": 0}
    assert api.told("douyin") == [9, 9]  # the full figure both times, never a difference
    assert api.stock[("douyin", "3539925204033339668", "1737398770243598")] == 9
    row = await channel_row(pool, "douyin-test")
    assert (row.pushed_quantity, row.push_error) == (9, None)
    assert len(await pushes(pool)) == staged  # running the job stages nothing new

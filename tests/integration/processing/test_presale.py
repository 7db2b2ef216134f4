"""Presale orders as Taobao/Tmall, Douyin and Kuaishou send them, through the webhook and the worker, under the
published four-stage flow: each is held as presale until its balance is due, at the platform's due time or, when
the platform gives none, at the shop's 预售尾款默认期限 after payment, which an admin sets on 渠道与店铺."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from app.domain.accounts.models import AuditEntry, Role
from app.domain.accounts.services import SYSTEM
from app.domain.channels import services as channels
from app.domain.fulfillment.models import BuyerNotification, order_ref
from app.domain.orders.models import Order
from app.domain.shops.models import Shop
from tests.integration.forms import login, post_form
from tests.integration.processing.conftest import deliver, wait_until_settled
from tests.samples import channels as samples

#: 2026-11-13 23:59:59 China time: the balance due time the Douyin and Kuaishou samples give.
PLATFORM_DUE = datetime(2026, 11, 13, 15, 59, 59, tzinfo=UTC)
#: When the samples' deposits were paid: 2026-11-01 20:00:30 China time.
DEPOSIT_PAID = datetime(2026, 11, 1, 12, 0, 30, tzinfo=UTC)


async def shop_by_code(db, code: str) -> Shop:
    async with db.reading() as session:
        return (await session.exec(select(Shop).where(Shop.code == code))).one()


async def set_default_term(db, settings, code: str, hours: int) -> None:
    """What an admin saving 预售尾款默认期限 on the shop's card does."""
    shop = await shop_by_code(db, code)
    async with db.transaction() as session:
        await channels.update_shop_settings(
            session, settings.secret_key, shop.id, {"presale_balance_hours": str(hours)}, SYSTEM, None
        )


async def test_each_platforms_presale_is_held_until_its_balance_is_due(server, worker, db, settings):
    await set_default_term(db, settings, "douyin-live", 48)  # Tmall's shop keeps the default 72 hours
    without_due = samples.douyin_deposit_presale(phases=False) | {"order_id": "6921234567890229999"}
    sent = {
        "tmall": await deliver(server, "tmall", "tmall-flagship", samples.taobao_step_trade_deposit_paid()),
        "douyin": await deliver(server, "douyin", "douyin-live", samples.douyin_deposit_presale()),
        "douyin_without_due": await deliver(server, "douyin", "douyin-live", without_due),
        "kuaishou": await deliver(server, "kuaishou", "kuaishou-shop", samples.kuaishou_deposit_presale()),
    }
    ids = {name: answer["order_id"] for name, answer in sent.items()}
    rows = await wait_until_settled(db, len(ids))

    async with db.reading() as session:
        orders = {name: await session.get(Order, order_id) for name, order_id in ids.items()}
        reminders = {
            name: (
                await session.exec(
                    select(BuyerNotification.body).where(
                        BuyerNotification.order_ref == order_ref(order_id),
                        BuyerNotification.template == "presale_balance_reminder",
                    )
                )
            ).all()
            for name, order_id in ids.items()
        }
    held = {name: rows[order_id] for name, order_id in ids.items()}
    # The samples' due times are behind the clock the worker's sweeper runs on: it may already have found one
    # overdue and sent it to review (逾期未付尾款, the shops' default); the hold keeps its due time either way.
    waiting_or_overdue = {("awaiting_balance", "presale"), ("held", "presale_overdue")}
    assert {name: (p.state.value, p.hold_code) in waiting_or_overdue for name, p in held.items()} == dict.fromkeys(
        ids, True
    )
    assert {name: [run["status"] for run in p.flows] for name, p in held.items()} == {name: ["ok"] for name in ids}
    assert {name: p.hold_until for name, p in held.items()} == {
        "tmall": DEPOSIT_PAID + timedelta(hours=72),  # TOP sends no due time: the shop's default term
        "douyin": PLATFORM_DUE,
        "douyin_without_due": DEPOSIT_PAID + timedelta(hours=48),  # as this shop's admin set it
        "kuaishou": PLATFORM_DUE,
    }
    assert {name: (o.is_presale, o.deposit_paid, o.deposit_fen, o.balance_due_at) for name, o in orders.items()} == {
        "tmall": (True, True, 5000, None),
        "douyin": (True, True, 5000, PLATFORM_DUE),
        "douyin_without_due": (True, True, 0, None),
        "kuaishou": (True, True, 1000, PLATFORM_DUE),
    }
    # The buyer is told the due time the hold keeps, in China time, whichever it came from.
    assert reminders["douyin_without_due"] == [
        "【抖音直播小店】您预订的商品尾款将于 2026-11-03 20:00 截止，请及时支付尾款。"
    ]
    assert reminders["kuaishou"] == ["【快手小店】您预订的商品尾款将于 2026-11-13 23:59 截止，请及时支付尾款。"]


async def test_an_admin_sets_the_default_presale_term_on_the_shops_card(client, db, demo_data, make_user):
    shop = await shop_by_code(db, "youzan-shop")
    await make_user(Role.admin, username="shop-admin")  # the demo's own admin has the demo password
    await login(client, "shop-admin")
    page = await client.get("/channels/")
    assert f'data-testid="presale-hours-{shop.code}"' in page.text
    assert 'name="presale_balance_hours" type="number" min="1" max="8784" value="72"' in page.text

    saved = await post_form(client, "/channels/", f"/channels/{shop.id}/settings", {"presale_balance_hours": "36"})

    assert saved.status_code == 200
    assert 'value="36"' in saved.text
    assert (await shop_by_code(db, shop.code)).presale_balance_hours == 36
    async with db.reading() as session:
        entry = (await session.exec(select(AuditEntry).where(AuditEntry.action == "shop.settings_changed"))).one()
    assert (entry.target_id, entry.after) == (str(shop.id), {"changed": ["presale_balance_hours"]})


async def test_a_bad_default_presale_term_is_refused_in_chinese_and_changes_nothing(client, db, demo_data, make_user):
    shop = await shop_by_code(db, "webshop")  # a shop without pull settings has the term too
    await make_user(Role.admin, username="shop-admin")  # the demo's own admin has the demo password
    await login(client, "shop-admin")
    url = f"/channels/{shop.id}/settings"
    for typed in ("0", "8785", "两天", "４８", "12.5"):
        refused = await post_form(client, "/channels/", url, {"presale_balance_hours": typed})
        assert refused.status_code == 400, typed
        assert "预售尾款默认期限须为 1 到 8784 之间的整数（小时）。" in refused.text
    assert (await shop_by_code(db, shop.code)).presale_balance_hours == 72
    async with db.reading() as session:
        assert (await session.exec(select(AuditEntry).where(AuditEntry.action == "shop.settings_changed"))).all() == []

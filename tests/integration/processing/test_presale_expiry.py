"""逾期未付尾款: a presale held for its balance, through the webhook and the worker under the four-stage flow, then
swept at a chosen moment (the sweeper's ``now``): past its due time and unpaid it is cancelled with its stock
freed or put in the review queue with 尾款逾期未付, as its shop says; paid in time it goes to the warehouse; not
yet due it waits. A second sweep changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

from sqlmodel import select

from app.domain.accounts.models import AuditEntry, Role
from app.domain.accounts.services import SYSTEM
from app.domain.channels import services as channels
from app.domain.inventory.models import Stock
from app.domain.orders.models import Order, OrderStatus
from app.domain.processing import jobs
from app.domain.processing import services as processing
from app.domain.processing.models import OrderProcessing
from app.domain.shops.models import Shop
from app.events import PUBLISH_JOB
from app.outbox import OutboxMessage
from tests.integration.forms import login, post_form
from tests.integration.processing.conftest import deliver, generic_order, wait_for, wait_until_settled

#: The balance due time the orders give (China time on the wire), a month ahead of the clock the worker's own
#: sweeper runs on, so only the sweeps these tests drive at a chosen ``now`` can find it overdue.
DUE = (datetime.now(UTC) + timedelta(days=30)).replace(second=0, microsecond=0)
PRESALE = {
    "is_presale": True,
    "deposit_paid": True,
    "balance_due_at": (DUE + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S"),
}
NOTHING = {
    "requeued": 0,
    "stock_retried": 0,
    "unqueued": 0,
    "presale_cancelled": 0,
    "presale_to_review": 0,
    "completed": 0,
}


async def set_overdue_action(db, settings, action: str) -> None:
    """What an admin choosing 逾期未付尾款 on the webshop's card does."""
    async with db.transaction() as session:
        shop = (await session.exec(select(Shop).where(Shop.code == "webshop"))).one()
        await channels.update_shop_settings(
            session, settings.secret_key, shop.id, {"presale_overdue_action": action}, SYSTEM, None
        )


async def presale_held(server, db, external_id: str = "P1") -> tuple[int, dict]:
    payload = generic_order(
        external_id, lines=[("SERUM-30", 1, 25900)], province="上海", city="上海市", presale=PRESALE
    )
    order_id = (await deliver(server, "webshop", "webshop", payload))["order_id"]
    rows = await wait_until_settled(db, 1)
    assert (rows[order_id].state.value, rows[order_id].hold_until) == ("awaiting_balance", DUE)
    return order_id, payload


async def serum_reserved(db) -> int:
    async with db.reading() as session:
        rows = (await session.exec(select(Stock).where(Stock.sku_code == "SERUM-30"))).all()
    return sum(row.reserved for row in rows)


async def order_events(db, order_id: int) -> list[tuple[str, str]]:
    """The events recorded about the order: (type, hold reason) each."""
    async with db.reading() as session:
        rows = (await session.exec(select(OutboxMessage).where(OutboxMessage.job == PUBLISH_JOB))).all()
    bodies = [row.args[0] for row in rows if row.args[0]["data"].get("order", {}).get("id") == order_id]
    return sorted((body["type"], body["data"].get("hold", {}).get("reason", "")) for body in bodies)


async def in_state(order_id: int, state: str, session) -> bool:
    proc = await session.get(OrderProcessing, order_id)
    return proc is not None and proc.state.value == state


async def state_of(db, order_id: int) -> tuple[str, str, str, str]:
    async with db.reading() as session:
        order = await session.get(Order, order_id)
        proc = await session.get(OrderProcessing, order_id)
    assert order is not None and proc is not None
    return order.status.value, proc.state.value, proc.hold_code, proc.hold_reason


async def test_an_overdue_presale_is_cancelled_and_its_stock_freed_when_the_shop_says_cancel(
    server, worker, db, settings
):
    await set_overdue_action(db, settings, "cancel")
    reserved_before = await serum_reserved(db)
    order_id, _ = await presale_held(server, db)
    assert await serum_reserved(db) == reserved_before + 1  # routed and reserved before it waits for its balance

    swept = await jobs.sweep_processing(db, settings, now=DUE + timedelta(minutes=1))
    again = await jobs.sweep_processing(db, settings, now=DUE + timedelta(hours=2))

    assert swept == NOTHING | {"presale_cancelled": 1}
    assert again == NOTHING
    assert await state_of(db, order_id) == ("cancelled", "cancelled", "", "尾款逾期未付")
    assert await serum_reserved(db) == reserved_before
    assert [kind for kind, _ in await order_events(db, order_id)].count("order.cancelled") == 1


async def test_an_overdue_presale_goes_to_review_by_default(server, worker, db, settings):
    reserved_before = await serum_reserved(db)
    order_id, _ = await presale_held(server, db)

    swept = await jobs.sweep_processing(db, settings, now=DUE + timedelta(minutes=1))
    again = await jobs.sweep_processing(db, settings, now=DUE + timedelta(hours=2))

    assert swept == NOTHING | {"presale_to_review": 1}
    assert again == NOTHING
    assert await state_of(db, order_id) == ("on_hold", "held", "presale_overdue", "尾款逾期未付")
    assert await serum_reserved(db) == reserved_before + 1  # the reviewer decides; 驳回 gives it back
    assert (await order_events(db, order_id)).count(("order.held", "尾款逾期未付")) == 1


async def test_a_presale_a_reviewer_releases_after_it_was_overdue_waits_on_for_its_balance(
    server, worker, db, settings
):
    order_id, _ = await presale_held(server, db)
    await jobs.sweep_processing(db, settings, now=DUE + timedelta(minutes=1))
    assert (await state_of(db, order_id))[1] == "held"

    async with db.transaction() as session:
        await processing.approve(session, order_id, SYSTEM)  # 放行: the buyer said they would pay
    await wait_for(db, partial(in_state, order_id, "awaiting_balance"), what="the released presale waiting again")
    swept = await jobs.sweep_processing(db, settings, now=DUE + timedelta(hours=2))

    assert swept == NOTHING
    assert await state_of(db, order_id) == ("on_hold", "awaiting_balance", "presale", "预售：等待买家支付尾款")


async def test_a_balance_paid_before_its_due_time_is_routed_and_never_expired(server, worker, db, settings):
    await set_overdue_action(db, settings, "cancel")
    order_id, payload = await presale_held(server, db)
    paid = {**payload, "updated_at": "2026-11-12 09:00:00", "presale": {**PRESALE, "balance_paid": True}}
    await deliver(server, "webshop", "webshop", paid)
    await wait_for(db, partial(in_state, order_id, "processed"), what="the paid presale processed")

    swept = await jobs.sweep_processing(db, settings, now=DUE + timedelta(days=1))

    assert swept == NOTHING
    status, state, code, _ = await state_of(db, order_id)
    # Routed to the warehouse, and on from there (the sandbox carrier may have given its waybill already).
    assert (state, code) == ("processed", "") and status in (OrderStatus.routed.value, OrderStatus.waybilled.value)
    async with db.reading() as session:
        proc = await session.get(OrderProcessing, order_id)
    assert proc is not None and proc.hold_until is None


async def test_a_presale_not_yet_due_is_left_waiting(server, worker, db, settings):
    await set_overdue_action(db, settings, "cancel")
    reserved_before = await serum_reserved(db)
    order_id, _ = await presale_held(server, db)

    swept = await jobs.sweep_processing(db, settings, now=DUE - timedelta(minutes=1))

    assert swept == NOTHING
    assert await state_of(db, order_id) == ("on_hold", "awaiting_balance", "presale", "预售：等待买家支付尾款")
    assert await serum_reserved(db) == reserved_before + 1


async def test_an_admin_chooses_what_becomes_of_an_overdue_presale_on_the_shops_card(client, db, demo_data, make_user):
    await make_user(Role.admin, username="shop-admin")  # the demo's own admin has the demo password
    await login(client, "shop-admin")
    async with db.reading() as session:
        shop = (await session.exec(select(Shop).where(Shop.code == "webshop"))).one()
    page = await client.get("/channels/")
    assert f'data-testid="presale-overdue-{shop.code}"' in page.text
    url = f"/channels/{shop.id}/settings"

    refused = await post_form(client, "/channels/", url, {"presale_overdue_action": "delete"})
    assert refused.status_code == 400
    assert "逾期未付尾款须选择“取消订单”或“转人工审核”。" in refused.text
    saved = await post_form(client, "/channels/", url, {"presale_overdue_action": "cancel"})

    assert saved.status_code == 200
    assert '<option value="cancel" selected>' in saved.text
    async with db.reading() as session:
        assert (await session.get(Shop, shop.id)).presale_overdue_action == "cancel"
        [entry] = (await session.exec(select(AuditEntry).where(AuditEntry.action == "shop.settings_changed"))).all()
    assert entry.after == {"changed": ["presale_overdue_action"]}

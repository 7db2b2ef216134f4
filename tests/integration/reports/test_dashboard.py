"""The home dashboard (工作台): today's orders and GMV by channel as the rollups count them, what is held and what has
failed, each linking to where it is handled; each role sees its own cards; it refreshes itself as a fragment."""

from __future__ import annotations

import re
from datetime import timedelta

from app.db import CHINA, utcnow
from app.domain.accounts.models import Role
from app.domain.fulfillment.models import PlatformWriteback, WritebackStatus
from app.domain.orders.models import Order
from app.domain.reports import rollups
from app.outbox import OutboxMessage, OutboxStatus
from tests.integration.forms import login
from tests.integration.orders.test_order_api import land
from tests.integration.reports.conftest import normalized
from tests.integration.reports.test_holds_and_hits import hold_orders


def channel_rows(html: str) -> dict[str, tuple[int, int]]:
    found = re.findall(
        r'data-testid="dash-channel" data-channel="([^"]+)" data-orders="(\d+)" data-gmv="(-?\d+)"', html
    )
    return {channel: (int(orders), int(gmv)) for channel, orders, gmv in found}


def tile(html: str, key: str) -> int:
    match = re.search(rf'data-testid="dash-{key}" data-value="(-?\d+)"', html)
    assert match, key
    return int(match[1])


async def finance_job_given_up(db) -> None:
    """A finance event the workers gave up booking."""
    now = utcnow()
    async with db.transaction() as session:
        session.add(
            OutboxMessage(
                job="book_finance_event",
                args=[{}],
                status=OutboxStatus.failed,
                attempts=5,
                last_error="boom",
                available_at=now,
                created_at=now,
            )
        )


async def test_today_by_channel_equals_the_orders_placed_today_and_failures_link_to_their_page(
    client, db, settings, make_user, shops
):
    # Minutes ago, but never before today's midnight in China (the dashboard's "today").
    midnight = utcnow().astimezone(CHINA).replace(hour=0, minute=0, second=0, microsecond=0)
    now = max(utcnow(), midnight + timedelta(minutes=4))
    await land(
        db,
        settings,
        shops["tmall-a"],
        normalized("T1", now - timedelta(minutes=3), lines=(19900,)),
        normalized("T2", now - timedelta(minutes=2), lines=(5000, 2500)),
        normalized("T3", now - timedelta(minutes=1), paid=False, lines=(1200,)),  # not paid: no GMV
        normalized("OLD", now - timedelta(days=3), lines=(8800,)),
    )
    await land(db, settings, shops["jd"], normalized("J1", now - timedelta(minutes=1), lines=(3000,)))
    await rollups.refresh_order_rollups(db)
    await finance_job_given_up(db)
    await make_user(Role.admin, "boss")
    await login(client, "boss")
    home = await client.get("/")
    assert home.status_code == 200
    assert channel_rows(home.text) == {"tmall": (2, 27400), "jd": (1, 3000)}
    assert tile(home.text, "gmv") == 30400
    assert tile(home.text, "attention") == 1
    assert 'data-key="failed_jobs"' in home.text and 'href="/orders/processing"' in home.text
    assert tile(home.text, "vouchers") == 0

    # htmx's refresh gets the dashboard alone.
    fragment = await client.get("/", headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<div id="dashboard"') and "<html" not in fragment.text


async def test_each_role_sees_the_cards_of_what_it_may_open(client, db, make_user, shops):
    await make_user(Role.finance, "fin")
    await login(client, "fin")
    home = await client.get("/")
    assert 'data-testid="dash-vouchers"' in home.text and 'data-testid="dash-gmv"' in home.text
    await client.post("/logout")
    await make_user(Role.viewer, "look")
    await login(client, "look")
    home = await client.get("/")
    assert 'data-testid="dash-gmv"' in home.text and 'data-testid="dash-vouchers"' not in home.text
    assert 'data-testid="dash-webhooks"' not in home.text


def failures(html: str) -> dict[str, int]:
    found = re.findall(r'data-testid="dash-failure" data-key="([^"]+)">.*?<strong class="danger">(\d+)</strong>', html)
    return {key: int(n) for key, n in found}


async def test_shops_without_an_api_are_a_note_not_refusals_by_the_platform(client, db, settings, make_user, shops):
    now = utcnow()
    order_ids = await land(
        db, settings, shops["tmall-a"], *(normalized(f"W{i}", now - timedelta(minutes=i)) for i in range(1, 6))
    )
    (jd_order,) = await land(db, settings, shops["jd"], normalized("WJ", now))
    why = [("no_api", order_ids[0]), ("no_api", order_ids[1]), ("no_api", order_ids[2]), ("unreachable", order_ids[3])]
    why += [("refused", jd_order)]
    async with db.transaction() as session:
        for index, (code, order_id) in enumerate(why):
            order = await session.get(Order, order_id)
            assert order is not None
            session.add(
                PlatformWriteback(
                    shipment_ref=f"S{index}",
                    order_id=order_id,
                    shop_id=order.shop_id,
                    channel=order.channel,
                    status=WritebackStatus.failed.value,
                    error_code=code,
                    created_at=now,
                    updated_at=now,
                )
            )
        # Written back fine: counted nowhere.
        session.add(
            PlatformWriteback(
                shipment_ref="S9",
                order_id=order_ids[4],
                shop_id=shops["tmall-a"].id,
                channel="tmall",
                status=WritebackStatus.sent.value,
                created_at=now,
                updated_at=now,
            )
        )
    await make_user(Role.admin, "boss")
    await make_user(Role.operator, "op")

    await login(client, "boss")
    home = (await client.get("/")).text

    assert failures(home) == {"writebacks": 1, "writebacks_unsent": 1}
    assert "平台拒绝的发货回传" in home and "未配置平台接口的店铺" in home
    assert re.findall(r'data-testid="dash-no-api-shop" data-shop="(\d+)" data-unsent="(\d+)"', home) == [
        (str(shops["tmall-a"].id), "3")
    ]
    assert re.search(rf'href="/channels/?#shop-{shops["tmall-a"].id}"', home)

    await login(client, "op")
    operator_home = (await client.get("/")).text
    assert failures(operator_home) == {"writebacks": 1, "writebacks_unsent": 1}
    assert 'data-testid="dash-no-api"' not in operator_home


def dashboard_links(html: str) -> set[str]:
    start = html.index('<div id="dashboard"')
    return set(re.findall(r'<a [^>]*href="(/[^"#]*)', html[start:]))


async def test_every_link_on_each_roles_dashboard_opens_for_that_role(client, db, make_user, data_set):
    await hold_orders(db)
    await finance_job_given_up(db)
    opened: dict[Role, set[str]] = {}
    for role in Role:
        await make_user(role, f"dash-{role.value}")
        await login(client, f"dash-{role.value}")
        home = (await client.get("/")).text
        opened[role] = dashboard_links(home)
        keys = set(failures(home))
        # The finance event not booked is finance's own line; a reviewer sees it among every job given up.
        assert keys == (
            {"failed_jobs"}
            if role in (Role.operator, Role.admin)
            else {"finance_jobs"}
            if role == Role.finance
            else set()
        ), role
        for link in opened[role]:
            answer = await client.get(link)
            assert answer.status_code == 200, (role, link)
        await client.post("/logout")
    # A reviewer's holds open the review queue on their reason; everyone else's the processing monitor.
    assert "/orders/review?code=review" in opened[Role.operator]
    assert not any(link.startswith("/orders/review") for link in opened[Role.viewer] | opened[Role.finance])
    assert "/orders/processing" in opened[Role.viewer]

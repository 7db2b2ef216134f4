"""社区团购 as a channel: a community-group shop's orders come in the generic format, by webhook or by file import,
and keep their group leader (团长), pickup point (自提点) and delivery route (线路) for the order page, the API and
the rule flows."""

from __future__ import annotations

from sqlmodel import select

from app.domain.accounts.models import Role, TokenScope
from app.domain.orders.models import Order
from app.domain.shops.models import Channel
from ruleflows import is_known_path
from tests.integration.forms import login
from tests.integration.orders.conftest import SHOP_CODES, deliver, wait_for_jobs
from tests.integration.orders.test_import import upload
from tests.samples import channels as samples

COMMUNITY = {
    "leader_id": "L-0012",
    "leader_name": "王姐",
    "pickup_point_id": "PK-031",
    "pickup_point_name": "幸福里东门自提点",
    "pickup_point_address": "浦东新区幸福路 100 弄东门",
    "route_code": "R3",
    "route_name": "浦东 3 号线",
}


async def test_a_community_group_order_shows_its_leader_pickup_point_and_route(client, db, shops, make_user):
    delivered = await deliver(client, "community_group", samples.community_group_order())
    assert delivered.status_code == 200, delivered.text
    await make_user(Role.viewer, username="viewer")
    await login(client, "viewer")

    page = await client.get(f"/orders/{delivered.json()['order_id']}")

    assert page.status_code == 200
    assert "社区团购 · TG-20261111-0001" in page.text
    assert 'data-testid="group-leader">王姐 <span class="muted">L-0012</span>' in page.text
    assert (
        'data-testid="pickup-point">幸福里东门自提点 <span class="muted">PK-031</span><br>浦东新区幸福路 100 弄东门'
        in page.text
    )
    assert 'data-testid="delivery-route">浦东 3 号线 <span class="muted">R3</span>' in page.text


async def test_the_api_gives_the_community_fields_the_rule_flows_read(client, db, shops, make_token):
    delivered = await deliver(client, "community_group", samples.community_group_order())
    token = await make_token(TokenScope.read)

    order = (
        await client.get(f"/api/v1/orders/{delivered.json()['order_id']}", headers={"Authorization": f"Bearer {token}"})
    ).json()

    assert (order["channel"], order["community"]) == ("community_group", COMMUNITY)
    assert all(is_known_path(f"order.community.{key}") for key in COMMUNITY)
    other = (await deliver(client, "pos", samples.pos_order())).json()["order_id"]
    assert (await client.get(f"/api/v1/orders/{other}", headers={"Authorization": f"Bearer {token}"})).json()[
        "community"
    ] is None


async def test_a_community_group_file_imports_with_its_leader_pickup_point_and_route(
    client, db, shops, make_user, arq_worker
):
    shop = SHOP_CODES[Channel.community_group]
    rows = [
        "店铺,订单号,下单时间,收货人,手机号,省份,城市,区县,详细地址,商品编码,数量,单价,团长编号,团长,自提点编号,自提点,自提点地址,线路编号,线路",
        f"{shop},TG-9001,2026-11-11 20:05:00,林芳,13600004512,上海,上海市,浦东新区,幸福路 100 弄 12 号,YOGURT-6,2,"
        "39.90,L-0012,王姐,PK-031,幸福里东门自提点,浦东新区幸福路 100 弄东门,R3,浦东 3 号线",
        f"{shop},TG-9002,2026-11-11 20:06:00,周强,13600004513,上海,上海市,浦东新区,幸福路 100 弄 3 号,YOGURT-6,1,39.90,"
        ",,,,,,",
    ]
    await make_user(Role.operator, username="op")
    await login(client, "op")
    assert (await upload(client, "团购订单.csv", "\n".join(rows).encode())).status_code == 200
    await wait_for_jobs(db)
    async with db.reading() as session:
        orders = {o.external_id: o for o in (await session.exec(select(Order))).all()}
    assert orders["TG-9001"].channel == "community_group"
    assert orders["TG-9001"].community == COMMUNITY
    assert orders["TG-9002"].community is None  # no 社区团购 columns filled: an ordinary order of the shop

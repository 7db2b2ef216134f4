"""Factories for the flows tests: reference data for the pickers, flow documents, and logged-in clients."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from app.domain.accounts.models import Role
from app.domain.fulfillment.models import Carrier
from app.domain.inventory.models import Sku, Warehouse
from app.domain.shops.models import Channel, Shop
from app.seed import seed_carrier_rates
from tests.integration.forms import csrf_from, login

EAST_3C = {
    "and": [
        {"in": [{"region_of": {"var": "order.receiver.province"}}, ["华东"]]},
        {"any_line_in_category": [{"var": "order.lines"}, ["3C"]]},
    ]
}


def routing_flow(*, east_warehouse: str = "SH01", east_carrier: str = "SF") -> dict[str, Any]:
    """华东 + 3C → a given warehouse and carrier; everything else → the cheapest warehouse and carrier."""

    def node(
        node_id: str, kind: str, name: str, x: int, y: int, config: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {"id": node_id, "type": kind, "name": name, "position": {"x": x, "y": y}, "config": config or {}}

    def edge(edge_id: str, source: str, target: str, port: str = "next") -> dict[str, Any]:
        return {"id": edge_id, "source": source, "target": target, "port": port}

    return {
        "schema": 1,
        "name": "华东 3C 分仓",
        "trigger": "order.received",
        "nodes": [
            node("start", "start", "开始", 0, 100),
            node("c1", "condition", "华东 3C？", 200, 100, {"logic": copy.deepcopy(EAST_3C)}),
            node("a1", "action", "上海仓", 400, 0, {"action": "assign_warehouse", "params": {"code": east_warehouse}}),
            node("a2", "action", "顺丰", 600, 0, {"action": "assign_carrier", "params": {"code": east_carrier}}),
            node(
                "a3",
                "action",
                "最便宜的仓",
                400,
                200,
                {"action": "assign_warehouse", "params": {"strategy": "cheapest"}},
            ),
            node(
                "a4",
                "action",
                "最便宜的快递",
                600,
                200,
                {"action": "assign_carrier", "params": {"strategy": "cheapest"}},
            ),
            node("end", "end", "结束", 800, 100),
        ],
        "edges": [
            edge("e1", "start", "c1"),
            edge("e2", "c1", "a1", "true"),
            edge("e3", "a1", "a2"),
            edge("e4", "a2", "end"),
            edge("e5", "c1", "a3", "false"),
            edge("e6", "a3", "a4"),
            edge("e7", "a4", "end"),
        ],
    }


@pytest.fixture
async def reference_data(db: Any) -> None:
    """The warehouses, carriers, SKUs and shops the pickers offer."""
    async with db.transaction() as session:
        session.add(
            Warehouse(code="SH01", name="上海仓", province="上海", city="上海", priority=10, serves_regions=["华东"])
        )
        session.add(
            Warehouse(code="GZ01", name="广州仓", province="广东", city="广州", priority=20, serves_regions=["华南"])
        )
        session.add(
            Warehouse(code="BJ01", name="北京仓", province="北京", city="北京", priority=20, serves_regions=["华北"])
        )
        for code, name in (("SF", "顺丰速运"), ("ZTO", "中通快递"), ("STO", "申通快递")):
            session.add(Carrier(code=code, name=name))
        for code, name, category in (
            ("PHONE-X1", "星河 X1 手机", "3C"),
            ("SERUM-30", "精华", "美妆"),
            ("GIFT-TOTE-01", "帆布袋", "赠品"),
        ):
            session.add(Sku(code=code, name=name, category=category))
        session.add(Shop(channel=Channel.taobao, code="tmall-flagship", name="天猫旗舰店"))
        session.add(Shop(channel=Channel.jd, code="jd-pop", name="京东旗舰店"))
        await session.flush()
        await seed_carrier_rates(
            session, only=("SF", "ZTO", "STO")
        )  # the demo rate tables; the backtest prices parcels with them


async def logged_in(client: Any, make_user: Any, role: Role) -> str:
    """Log a user of this role in; returns a CSRF token for their forms."""
    user = await make_user(role, username=f"{role.value}-1")
    await login(client, user.username)
    return csrf_from((await client.get("/flows/")).text)


@pytest.fixture
def as_role(client: Any, make_user: Any) -> Any:
    async def factory(role: Role) -> str:
        return await logged_in(client, make_user, role)

    return factory

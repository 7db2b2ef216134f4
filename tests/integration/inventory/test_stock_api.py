"""Stock by SKU and warehouse for an ERP or WMS: ``GET /api/v1/stock`` gives on hand, reserved and available,
narrowed to a SKU or a warehouse, in keyset pages walked with ``next_cursor``."""

from __future__ import annotations

from typing import Any

from app.domain.accounts.models import TokenScope
from app.domain.accounts.services import SYSTEM
from app.domain.inventory import services as inventory
from app.domain.inventory.services import ReservationLine


async def walk(client: Any, token: str, query: str) -> list[list[tuple[str, str]]]:
    """Every page, following ``next_cursor``; each page's (SKU, warehouse) pairs."""
    pages, cursor = [], ""
    while True:
        response = await client.get(
            f"/api/v1/stock?{query}&cursor={cursor}", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([(item["sku"], item["warehouse"]) for item in body["items"]])
        if body["next_cursor"] is None:
            return pages
        cursor = body["next_cursor"]
        assert len(pages) < 10, "the cursor never ends"


async def test_stock_is_given_by_sku_and_warehouse_with_what_is_reserved_and_available(
    client, pool, receive, make_token
):
    for warehouse, sku, qty in (("SH01", "A", 10), ("BJ01", "A", 4), ("SH01", "B", 7), ("BJ01", "C", 2)):
        await receive(warehouse, sku, qty)
    async with pool.transaction() as session:
        await inventory.reserve(session, "order:1", [ReservationLine("1", "A", 3)], "SH01", SYSTEM)
        await inventory.set_safety_stock(session, "SH01", "A", 2, SYSTEM)
    token = await make_token(TokenScope.read)

    assert await walk(client, token, "limit=3") == [
        [("A", "BJ01"), ("A", "SH01"), ("B", "SH01")],
        [("C", "BJ01")],
    ]
    response = await client.get("/api/v1/stock?sku=A&warehouse=SH01", headers={"Authorization": f"Bearer {token}"})
    (row,) = response.json()["items"]
    assert (row["on_hand"], row["reserved"], row["safety_stock"], row["available"]) == (10, 3, 2, 5)
    assert await walk(client, token, "sku=A&limit=1") == [[("A", "BJ01")], [("A", "SH01")]]
    assert await walk(client, token, "warehouse=BJ01") == [[("A", "BJ01"), ("C", "BJ01")]]
    assert await walk(client, token, "warehouse=NOPE") == [[]]


async def test_a_bad_stock_parameter_is_refused_with_a_message(client, pool, make_token):
    token = await make_token(TokenScope.read)
    for query, field in (("limit=0", "limit"), ("limit=201", "limit"), ("cursor=bm90LW91cnM", "cursor")):
        response = await client.get(f"/api/v1/stock?{query}", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 400, (query, response.text)
        assert response.json()["field"] == field and response.json()["message"], query

"""The catalogue for an ERP: ``/api/v1/skus`` lists and reads SKUs with a read token (money in fen, bundles with
their components) and creates or changes them with an admin token; a bad field is a 400 naming it in Chinese and
changes nothing; every change leaves an audit row."""

from __future__ import annotations

from sqlmodel import col, select

from app.domain.accounts.models import AuditEntry, TokenScope
from app.domain.inventory.models import Sku


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_an_erp_creates_a_sku_then_a_bundle_of_it_and_reads_them_back(client, db, make_token):
    admin = await make_token(TokenScope.admin)
    created = await client.post(
        "/api/v1/skus",
        json={"code": "TEA-1", "name": "乌龙茶", "barcode": "6901234567892", "price_fen": 5900, "cost_fen": 2150},
        headers=bearer(admin),
    )
    assert created.status_code == 201, created.text
    assert created.json() | {} == {
        "code": "TEA-1",
        "name": "乌龙茶",
        "category": "",
        "barcode": "6901234567892",
        "weight_g": 0,
        "volume_cm3": 0,
        "temperature_zone": "ambient",
        "price_fen": 5900,
        "cost_fen": 2150,
        "is_active": True,
        "is_bundle": False,
        "components": [],
    }
    bundle = await client.post(
        "/api/v1/skus",
        json={"code": "GIFT-1", "name": "礼盒", "temperature_zone": "冷藏", "components": [{"sku": "TEA-1", "qty": 2}]},
        headers=bearer(admin),
    )
    assert bundle.status_code == 201, bundle.text
    assert bundle.json()["is_bundle"] and bundle.json()["components"] == [{"sku": "TEA-1", "qty": 2}]
    assert bundle.json()["temperature_zone"] == "chilled"

    reader = await make_token(TokenScope.read)
    page = await client.get("/api/v1/skus?limit=1", headers=bearer(reader))
    assert [item["code"] for item in page.json()["items"]] == ["GIFT-1"]
    rest = await client.get(f"/api/v1/skus?limit=1&cursor={page.json()['next_cursor']}", headers=bearer(reader))
    assert [item["code"] for item in rest.json()["items"]] == ["TEA-1"] and rest.json()["next_cursor"] is None
    found = await client.get("/api/v1/skus?q=6901234", headers=bearer(reader))
    assert [item["code"] for item in found.json()["items"]] == ["TEA-1"]
    one = await client.get("/api/v1/skus/GIFT-1", headers=bearer(reader))
    assert one.json()["components"] == [{"sku": "TEA-1", "qty": 2}]
    assert (await client.get("/api/v1/skus/NOPE", headers=bearer(reader))).status_code == 404


async def test_an_erp_changes_and_disables_a_sku_with_patch(client, db, make_token):
    async with db.transaction() as session:
        session.add(Sku(code="TEA-1", name="乌龙茶", cost_fen=2000))
    admin = await make_token(TokenScope.admin)
    changed = await client.patch(
        "/api/v1/skus/TEA-1", json={"cost_fen": 2300, "is_active": False}, headers=bearer(admin)
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["cost_fen"], changed.json()["is_active"], changed.json()["name"]) == (2300, False, "乌龙茶")
    inactive = await client.get("/api/v1/skus?status=inactive", headers=bearer(admin))
    assert [item["code"] for item in inactive.json()["items"]] == ["TEA-1"]
    async with db.reading() as session:
        audit = (await session.exec(select(AuditEntry).where(col(AuditEntry.action) == "inventory.sku_disabled"))).one()
    assert (audit.actor_type, audit.target_id, audit.before, audit.after) == (
        "token",
        "TEA-1",
        {"cost_fen": 2000, "is_active": True},
        {"cost_fen": 2300, "is_active": False},
    )


async def test_bad_sku_fields_are_refused_with_the_field_and_a_chinese_message(client, db, make_token):
    async with db.transaction() as session:
        session.add(Sku(code="TEA-1", name="乌龙茶"))
    admin = await make_token(TokenScope.admin)
    for method, url, body, field, message in (
        ("post", "/api/v1/skus", {"code": "TEA-1", "name": "重复"}, "code", "商品编码 TEA-1 已被使用"),
        ("post", "/api/v1/skus", {"code": "T-2", "name": "x", "cost_fen": -1}, "cost_fen", "成本价(元): 不能为负数"),
        ("post", "/api/v1/skus", {"code": "T-2", "name": "x", "price_fen": "12.50"}, "price_fen", "price_fen 须为整数"),
        ("post", "/api/v1/skus", {"code": "T-2", "name": "x", "barcode": "12a"}, "barcode", "条码: 12a 只能是数字"),
        ("post", "/api/v1/skus", {"code": "T-2", "name": "x", "temperature_zone": "hot"}, "temperature_zone", "hot"),
        ("post", "/api/v1/skus", {"code": "T-2", "name": "x", "colour": "red"}, "colour", "colour 不是商品的字段"),
        ("post", "/api/v1/skus", {"code": "T-2"}, "name", "新商品需要填写名称"),
        ("post", "/api/v1/skus", [], "body", "请求体须为 JSON 对象"),
        ("patch", "/api/v1/skus/TEA-1", {"is_active": "no"}, "is_active", "is_active 须为 true 或 false"),
        ("patch", "/api/v1/skus/TEA-1", {"code": "TEA-2"}, "code", "code 不是商品的字段"),
        ("patch", "/api/v1/skus/TEA-1", {"components": [{"sku": "TEA-1", "qty": 1}]}, "component_code", "不能包含自己"),
    ):
        response = await getattr(client, method)(url, json=body, headers=bearer(admin))
        assert response.status_code == 400, (body, response.text)
        assert response.json()["field"] == field and message in response.json()["message"], (body, response.json())
    async with db.reading() as session:
        assert [s.code for s in (await session.exec(select(Sku))).all()] == ["TEA-1"]
        assert (
            await session.exec(select(AuditEntry).where(col(AuditEntry.action).startswith("inventory.")))
        ).all() == []


async def test_a_read_token_cannot_change_the_catalogue(client, db, make_token):
    reader = await make_token(TokenScope.read)
    assert (
        await client.post("/api/v1/skus", json={"code": "T", "name": "x"}, headers=bearer(reader))
    ).status_code == 403
    assert (await client.get("/api/v1/skus")).status_code == 401
    async with db.reading() as session:
        assert (await session.exec(select(Sku))).all() == []

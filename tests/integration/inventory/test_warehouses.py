"""Warehouses as master data: an admin adds one (a taken code is refused, not overwritten), edits and disables it on
the warehouse settings page or through the API; a bad province, region or code is refused in Chinese and changes
nothing; a disabled warehouse is no longer routed to."""

from __future__ import annotations

import pytest
from sqlmodel import col, func, select

from app.domain.accounts.models import AuditEntry, Role, TokenScope
from app.domain.fulfillment import services as fulfillment
from app.domain.inventory import services as inventory
from app.domain.inventory.models import Warehouse
from tests.integration.forms import login, post_form

NEW = {
    "mode": "new",
    "code": "HZ01",
    "name": "杭州仓",
    "kind": "regional",
    "province": "浙江省",
    "city": "杭州",
    "priority": "15",
    "serves_regions": "华东、华中",
    "per_order_fen": "120",
    "per_item_fen": "20",
    "is_active": "on",
}


async def count(db, *where) -> int:
    async with db.reading() as session:
        return int((await session.exec(select(func.count()).select_from(Warehouse).where(*where))).one())


async def warehouse(db, code: str) -> Warehouse | None:
    async with db.reading() as session:
        return await inventory.get_warehouse(session, code)


async def audit_rows(db) -> list[AuditEntry]:
    async with db.reading() as session:
        query = select(AuditEntry).where(AuditEntry.action == "inventory.warehouse_saved")
        return list((await session.exec(query.order_by(col(AuditEntry.id)))).all())


@pytest.fixture
async def admin(client, make_user):
    await make_user(Role.admin, username="boss")
    await login(client, "boss")


async def test_an_admin_adds_a_warehouse_and_routing_sees_it(client, db, pool, admin):
    response = await post_form(client, "/inventory/warehouses", "/inventory/warehouses", NEW)
    assert response.status_code == 303
    saved = await warehouse(db, "HZ01")
    assert (saved.name, saved.province, saved.serves_regions, saved.cost_profile) == (
        "杭州仓",
        "浙江省",
        ["华东", "华中"],
        {"per_order_fen": 120, "per_item_fen": 20},
    )
    async with db.reading() as session:
        network = await fulfillment.load_network(session)
    assert network.by_code["HZ01"].province == "浙江"
    [entry] = await audit_rows(db)
    assert entry.before is None and entry.after["name"] == "杭州仓"


async def test_the_new_form_refuses_a_code_that_exists_instead_of_overwriting_it(client, db, pool, admin):
    response = await post_form(client, "/inventory/warehouses", "/inventory/warehouses", NEW | {"code": "SH01"})
    assert response.status_code == 409
    assert "仓库编码 SH01 已被使用" in response.text
    assert (await warehouse(db, "SH01")).name == "SH01 仓"
    assert await audit_rows(db) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"code": "杭州 1"}, "仓库编码 杭州 1 只能包含字母、数字、- 和 _"),
        ({"province": "江南"}, "江南 不是省份"),
        ({"serves_regions": "华东,江南"}, "江南 不是大区"),
        ({"name": "仓" * 101}, "仓库名称最多 100 个字符"),
        ({"priority": "-1"}, "不能为负"),
    ],
)
async def test_a_bad_warehouse_is_refused_in_chinese_and_nothing_changes(client, db, pool, admin, change, message):
    before = await count(db)
    response = await post_form(client, "/inventory/warehouses", "/inventory/warehouses", NEW | change)
    assert response.status_code == 400
    assert message in response.text and 'data-testid="inventory-error"' in response.text
    assert await count(db) == before


async def test_an_admin_edits_and_disables_a_warehouse_and_it_is_no_longer_routed_to(client, db, pool, admin):
    edit = NEW | {"mode": "edit", "code": "BJ01", "name": "北京大兴仓", "province": "北京"}
    edit.pop("is_active")
    response = await post_form(client, "/inventory/warehouses", "/inventory/warehouses", edit)
    assert response.status_code == 303
    saved = await warehouse(db, "BJ01")
    assert (saved.name, saved.is_active) == ("北京大兴仓", False)
    async with db.reading() as session:
        network = await fulfillment.load_network(session)
    assert "BJ01" not in network.by_code
    page = (await client.get("/inventory/warehouses")).text
    assert 'data-testid="warehouse-BJ01-disabled"' in page
    [entry] = await audit_rows(db)
    assert (entry.before["is_active"], entry.after["is_active"]) == (True, False)
    # Saving it again unchanged writes nothing.
    await post_form(client, "/inventory/warehouses", "/inventory/warehouses", edit)
    assert len(await audit_rows(db)) == 1


async def test_the_api_lists_adds_and_changes_warehouses(client, db, pool, make_token):
    reader = {"Authorization": f"Bearer {await make_token(TokenScope.read)}"}
    admin = {"Authorization": f"Bearer {await make_token(TokenScope.admin, name='wms')}"}
    listed = await client.get("/api/v1/warehouses", headers=reader)
    assert [w["code"] for w in listed.json()["items"]] == ["SH01", "BJ01", "SH-S01"]
    body = {"code": "CD02", "name": "成都二仓", "province": "四川", "serves_regions": ["西南"], "per_order_fen": 99}
    assert (await client.post("/api/v1/warehouses", json=body, headers=reader)).status_code == 403
    created = await client.post("/api/v1/warehouses", json=body, headers=admin)
    assert created.status_code == 201, created.text
    made = created.json()
    assert (made["kind"], made["priority"], made["per_order_fen"]) == ("regional", 100, 99)
    changed = await client.patch("/api/v1/warehouses/CD02", json={"priority": 5, "is_active": False}, headers=admin)
    assert changed.status_code == 200 and (changed.json()["priority"], changed.json()["is_active"]) == (5, False)
    assert (await warehouse(db, "CD02")).serves_regions == ["西南"]
    one = await client.get("/api/v1/warehouses/CD02", headers=reader)
    assert one.json()["name"] == "成都二仓"


SHANGHAI = {"code": "X1", "name": "x", "province": "上海"}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field", "message"),
    [
        ("post", "/api/v1/warehouses", {"code": "SH01", "name": "x", "province": "上海"}, 409, "code", "已被使用"),
        (
            "post",
            "/api/v1/warehouses",
            {"code": "X1", "name": "x", "province": "火星"},
            400,
            "province",
            "火星 不是省份",
        ),
        ("post", "/api/v1/warehouses", {**SHANGHAI, "priority": "高"}, 400, "priority", "priority 须为整数"),
        ("post", "/api/v1/warehouses", {"code": "X1", "name": 1, "province": "上海"}, 400, "name", "name 必须是文本"),
        ("post", "/api/v1/warehouses", {**SHANGHAI, "cost": 1}, 400, "cost", "没有字段 cost"),
        ("patch", "/api/v1/warehouses/SH01", {"code": "SH02"}, 400, "code", "仓库建好后不能修改 code"),
        ("patch", "/api/v1/warehouses/SH01", {"is_active": "yes"}, 400, "is_active", "必须是 true 或 false"),
        ("patch", "/api/v1/warehouses/NOPE", {"name": "x"}, 404, "code", "NOPE"),
    ],
)
async def test_the_api_refuses_a_bad_warehouse_naming_the_field(
    client, db, pool, make_token, method, path, body, status, field, message
):
    headers = {"Authorization": f"Bearer {await make_token(TokenScope.admin)}"}
    before = await count(db)
    response = await getattr(client, method)(path, json=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field and message in response.json()["message"]
    assert await count(db) == before and (await warehouse(db, "SH01")).name == "SH01 仓"

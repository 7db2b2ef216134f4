"""Warehouses as a sheet on the warehouse settings page: new codes are added and known ones changed, a bad row is
named by its row and field (nothing lands, or only the good rows, as chosen), and the export imports back
changing nothing."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from app.domain.accounts.models import Role
from app.domain.inventory import services as inventory
from tests.integration.forms import login, sheet_problems, upload_form
from tests.samples.sheets import xlsx

HEADER = [
    "仓库编码",
    "仓库名称",
    "类型",
    "省份",
    "城市",
    "优先级",
    "服务大区",
    "每单操作费(元)",
    "每件操作费(元)",
    "状态",
]
PAGE = "/inventory/warehouses"
IMPORT = "/inventory/warehouses/sheet"


async def warehouses(db) -> dict[str, tuple]:
    async with db.reading() as session:
        return {
            w.code: (w.name, str(w.kind), w.province, w.priority, w.serves_regions, w.cost_profile, w.is_active)
            for w in await inventory.list_warehouses(session)
        }


async def test_a_warehouse_sheet_adds_and_changes_warehouses_and_names_each_bad_row(client, db, pool, make_user):
    await make_user(Role.admin, username="boss")
    await login(client, "boss")
    before = await warehouses(db)
    content = xlsx(
        [
            HEADER,
            ["HZ01", "杭州仓", "区域仓", "浙江", "杭州", 15, "华东、华中", "1.20", "0.20", "启用"],
            ["BJ01", "北京大兴仓", "区域仓", "北京", "北京", 20, "华北", "1.50", "0.30", "停用"],
            ["XA01", "西安仓", "区域仓", "陕州", "西安", 30, "西北", "1", "0", "启用"],
            ["CD01", "成都仓", "大仓", "四川", "成都", 30, "西南", "1", "0", "启用"],
        ]
    )
    refused = await upload_form(client, PAGE, IMPORT, "warehouses.xlsx", content, mode="all")
    assert refused.status_code == 400
    assert sheet_problems(refused.text) == [
        "第 4 行 · 省份: 陕州 不是省份",
        "第 5 行 · 类型: 大仓 不是可选值（区域仓、门店仓、前置仓）",
    ]
    assert await warehouses(db) == before
    good = await upload_form(client, PAGE, IMPORT, "warehouses.xlsx", content, mode="good")
    assert good.status_code == 200
    after = await warehouses(db)
    assert after["HZ01"] == (
        "杭州仓",
        "regional",
        "浙江",
        15,
        ["华东", "华中"],
        {"per_order_fen": 120, "per_item_fen": 20},
        True,
    )
    assert after["BJ01"][0] == "北京大兴仓" and after["BJ01"][-1] is False
    assert "XA01" not in after and "CD01" not in after


async def test_the_exported_warehouses_import_back_changing_nothing(client, db, pool, make_user):
    await make_user(Role.admin, username="boss")
    await login(client, "boss")
    exported = await client.get("/inventory/warehouses/sheet/export")
    rows = list(load_workbook(io.BytesIO(exported.content)).active.iter_rows(values_only=True))
    assert list(rows[0]) == HEADER
    assert rows[1] == ("SH01", "SH01 仓", "区域仓", "上海", None, 10, "华东", "0.00", "0.00", "启用")
    before = await warehouses(db)
    again = await upload_form(client, PAGE, IMPORT, "warehouses.xlsx", exported.content, mode="all")
    assert again.status_code == 200, sheet_problems(again.text)
    assert "0 个新增，0 个更新，3 个未变，0 行未导入" in again.text, again.text.split("sheet-outcome")[1][:300]
    assert await warehouses(db) == before

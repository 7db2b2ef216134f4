"""Carriers as a sheet on 快递公司: new carriers are added with their secret kept encrypted, known ones changed, a
bad row named by its row and field; the export writes no secret and imports back changing nothing."""

from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlmodel import select

from app.domain.accounts.models import Role
from app.domain.accounts.services import SYSTEM
from app.domain.fulfillment import carrier_master
from app.domain.fulfillment.models import Carrier
from tests.integration.forms import login, sheet_problems, upload_form
from tests.samples.sheets import xlsx

HEADER = ["快递编码", "快递名称", "冷链", "API 地址", "客户编码", "App key", "App secret", "状态"]
PAGE = "/settings/carriers/"
IMPORT = "/settings/carriers/sheet"


async def all_carriers(db) -> dict[str, Carrier]:
    async with db.reading() as session:
        return {c.code: c for c in (await session.exec(select(Carrier))).all()}


async def test_a_carrier_sheet_adds_and_changes_carriers_and_names_each_bad_row(
    client, db, settings, carriers, make_user
):
    await make_user(Role.admin, username="boss")
    await login(client, "boss")
    content = xlsx(
        [
            HEADER,
            ["DBKD", "德邦快递", "否", "https://open.deppon.example/api", "DB-1", "db-key", "db-s3cret", "启用"],
            ["ZTO", "中通快递", "是", "", "", "", "", "停用"],
            ["JT", "极兔", "也许", "", "", "", "", "启用"],
            ["YD2", "韵达二", "否", "ftp://yunda.example", "", "", "", "启用"],
        ]
    )
    refused = await upload_form(client, PAGE, IMPORT, "carriers.xlsx", content, mode="all")
    assert refused.status_code == 400
    assert sheet_problems(refused.text) == [
        "第 4 行 · 冷链: 也许 不是可选值（是、否）",
        "第 5 行 · API 地址: API 地址须以 http:// 或 https:// 开头。",
    ]
    assert "DBKD" not in await all_carriers(db)
    good = await upload_form(client, PAGE, IMPORT, "carriers.xlsx", content, mode="good")
    assert good.status_code == 200
    found = await all_carriers(db)
    assert (found["DBKD"].name, found["DBKD"].customer_code) == ("德邦快递", "DB-1")
    assert carrier_master.api_secret_of(found["DBKD"], settings.secret_key) == "db-s3cret"
    assert (found["ZTO"].supports_cold_chain, found["ZTO"].is_active) == (True, False)
    assert "JT" not in found and "YD2" not in found


async def test_the_exported_carriers_carry_no_secret_and_import_back_changing_nothing(
    client, db, settings, carriers, make_user
):
    await make_user(Role.admin, username="boss")
    await login(client, "boss")
    async with db.transaction() as session:
        sf = await carrier_master.carrier_named(session, "SF")
        await carrier_master.update_carrier(session, settings.secret_key, sf, {"api_secret": "sf-s3cret"}, SYSTEM)
    exported = await client.get("/settings/carriers/sheet/export")
    rows = list(load_workbook(io.BytesIO(exported.content)).active.iter_rows(values_only=True))
    assert list(rows[0]) == HEADER and ("SF", "顺丰速运", "是", None, None, None, None, "启用") in rows
    assert b"sf-s3cret" not in exported.content
    before = {code: c.model_dump() for code, c in (await all_carriers(db)).items()}
    again = await upload_form(client, PAGE, IMPORT, "carriers.xlsx", exported.content, mode="all")
    assert again.status_code == 200, sheet_problems(again.text)
    assert "0 个新增，0 个更新，7 个未变，0 行未导入" in again.text
    assert {code: c.model_dump() for code, c in (await all_carriers(db)).items()} == before

"""Shops as a sheet on 渠道与店铺: new shops are added with their credentials kept encrypted, known ones changed,
a bad row is named by its row and field, the export writes no secret and imports back changing nothing."""

from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlmodel import select

from app.domain.accounts.models import Role
from app.domain.channels.services import credentials_of
from app.domain.shops.models import Channel, Shop
from tests.integration.forms import login, sheet_problems, upload_form
from tests.samples.sheets import xlsx

HEADER = ["渠道", "店铺编码", "店铺名称", "API 地址", "App key", "App secret", "Access token", "拉单间隔(分钟)", "状态"]
PAGE = "/channels/"
IMPORT = "/channels/sheet"


async def all_shops(db) -> dict[str, Shop]:
    async with db.reading() as session:
        return {shop.code: shop for shop in (await session.exec(select(Shop))).all()}


async def test_a_shop_sheet_adds_and_changes_shops_and_names_each_bad_row(client, db, settings, shops, make_user):
    await make_user(Role.admin, username="boss")
    await login(client, "boss")
    content = xlsx(
        [
            HEADER,
            [
                "天猫",
                "tmall-2",
                "天猫二店",
                "https://eco.taobao.example/router/rest",
                "tb-key",
                "tb-secret-1",
                "",
                30,
                "",
            ],
            ["京东", "jd-shop", "京东旗舰店（改名）", "", "", "", "", 0, "停用"],
            ["拼多多", "pdd-1", "拼多多店", "", "", "", "", 0, "启用"],
            ["抖店", "抖音 店", "抖音店", "", "", "", "", 0, "启用"],
            ["有赞", "jd-shop", "换渠道", "", "", "", "", 0, "启用"],
        ]
    )
    refused = await upload_form(client, PAGE, IMPORT, "shops.xlsx", content, mode="all")
    assert refused.status_code == 400
    problems = sheet_problems(refused.text)
    assert problems[0].startswith("第 4 行 · 渠道: 拼多多 不是可选值")
    assert problems[1].startswith("第 5 行 · 店铺编码: 店铺编码 抖音 店 只能包含字母、数字、- 和 _")
    assert problems[2] == "第 6 行 · 店铺编码: 与第 3 行重复"
    assert "tmall-2" not in await all_shops(db)
    good = await upload_form(client, PAGE, IMPORT, "shops.xlsx", content, mode="good")
    assert good.status_code == 200
    found = await all_shops(db)
    new = found["tmall-2"]
    assert (new.channel, new.name, new.pull_interval_minutes, new.is_active) == (Channel.tmall, "天猫二店", 30, True)
    assert (
        credentials_of(new, settings.secret_key).app_secret == "tb-secret-1"
        and "tb-secret" not in new.app_secret_cipher
    )
    assert (found["jd-shop"].name, found["jd-shop"].is_active) == ("京东旗舰店（改名）", False)


async def test_the_exported_shops_carry_no_secret_and_import_back_changing_nothing(
    client, db, settings, shops, make_user
):
    await make_user(Role.admin, username="boss")
    await login(client, "boss")
    exported = await client.get("/channels/sheet/export")
    rows = list(load_workbook(io.BytesIO(exported.content)).active.iter_rows(values_only=True))
    assert list(rows[0]) == HEADER and len(rows) == 1 + len(Channel)
    assert ("京东", "jd-shop", "jd 测试店", None, None, None, None, 0, "启用") in rows
    assert b"webhook-secret-for-tests" not in exported.content
    before = {code: shop.model_dump() for code, shop in (await all_shops(db)).items()}
    again = await upload_form(client, PAGE, IMPORT, "shops.xlsx", exported.content, mode="all")
    assert again.status_code == 200, sheet_problems(again.text)
    assert f"0 个新增，0 个更新，{len(Channel)} 个未变，0 行未导入" in again.text
    assert {code: shop.model_dump() for code, shop in (await all_shops(db)).items()} == before

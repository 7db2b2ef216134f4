"""The catalogue (商品) as a retailer enters it: the SKU form, enable/disable, bundle components, and the SKU and
bundle sheets — all-or-nothing against only the good rows, an export that imports back changing nothing, and a
200-row file whose one bad row is named by its row and field. Every change leaves an audit row."""

from __future__ import annotations

import io
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from openpyxl import load_workbook
from sqlmodel import col, func, select

from app.db import Database
from app.domain.accounts.models import AuditEntry, Role
from app.domain.inventory.models import BundleComponent, Sku
from tests.integration.forms import csrf_from, login, post_form
from tests.samples.sheets import xlsx

Client = AsyncTestClient[Litestar]

HEADER = ["商品编码", "商品名称", "类目", "条码", "重量(g)", "体积(cm³)", "温区", "售价(元)", "成本价(元)", "状态"]


def catalogue_row(n: int) -> list[Any]:
    return [f"TEA-{n:03d}", f"茶叶 {n} 号", "茶叶", f"69{n:011d}", 250 + n, 1200, "常温", "59.00", "21.50", "启用"]


async def as_admin(client: Client, make_user: Any) -> None:
    await make_user(Role.admin, username="boss")
    await login(client, "boss")


async def import_file(client: Client, sheet: str, filename: str, content: bytes, mode: str = "all") -> Any:
    page = await client.get("/inventory/skus/sheets")
    return await client.post(
        f"/inventory/skus/sheets/{sheet}",
        data={"_csrf_token": csrf_from(page.text), "mode": mode},
        files={"file": (filename, content, "application/octet-stream")},
    )


async def skus(db: Database) -> dict[str, Sku]:
    async with db.reading() as session:
        return {s.code: s for s in (await session.exec(select(Sku))).all()}


async def audit_actions(db: Database, prefix: str = "inventory.") -> list[str]:
    async with db.reading() as session:
        rows = await session.exec(
            select(AuditEntry.action).where(col(AuditEntry.action).startswith(prefix)).order_by(col(AuditEntry.id))
        )
        return list(rows.all())


def problems(html: str) -> list[str]:
    return [line.split(">", 1)[1].split("<", 1)[0] for line in html.split('data-testid="sheet-problem"')[1:]]


async def test_an_admin_adds_a_sku_with_its_cost_price_in_yuan_edits_and_disables_it(client, db, make_user):
    await as_admin(client, make_user)
    created = await post_form(
        client,
        "/inventory/skus/new",
        "/inventory/skus/new",
        {
            "code": "TEA-OOLONG-250",
            "name": "乌龙茶 250g",
            "category": "茶叶",
            "barcode": "6901234567892",
            "weight_g": "260",
            "volume_cm3": "1200",
            "temperature_zone": "ambient",
            "price_fen": "59.00",
            "cost_fen": "21.5",
        },
    )
    assert created.status_code == 303 and created.headers["location"] == "/inventory/skus/TEA-OOLONG-250/edit"
    sku = (await skus(db))["TEA-OOLONG-250"]
    assert (sku.price_fen, sku.cost_fen, sku.barcode, sku.weight_g, sku.is_active) == (
        5900,
        2150,
        "6901234567892",
        260,
        True,
    )

    edit = "/inventory/skus/TEA-OOLONG-250/edit"
    assert 'value="21.50"' in (await client.get(edit)).text  # shown in yuan again
    updated = await post_form(
        client, edit, edit, {"name": "乌龙茶 250g 礼盒", "cost_fen": "23.00", "price_fen": "59.00"}
    )
    assert updated.status_code == 303
    disabled = await post_form(client, edit, "/inventory/skus/TEA-OOLONG-250/active", {"active": "0"})
    assert disabled.status_code == 303
    sku = (await skus(db))["TEA-OOLONG-250"]
    assert (sku.name, sku.cost_fen, sku.is_active) == ("乌龙茶 250g 礼盒", 2300, False)
    listed = await client.get("/inventory/skus/?status=inactive")
    assert 'data-testid="disabled-TEA-OOLONG-250"' in listed.text and "¥23.00" in listed.text
    assert await audit_actions(db) == ["inventory.sku_created", "inventory.sku_updated", "inventory.sku_disabled"]


async def test_a_bad_sku_form_is_refused_in_chinese_and_changes_nothing(client, db, make_user):
    await as_admin(client, make_user)
    good = {"code": "MUG-1", "name": "马克杯"}
    assert (await post_form(client, "/inventory/skus/new", "/inventory/skus/new", good)).status_code == 303
    for typed, message in (
        ({"code": "MUG-1", "name": "又一个"}, "商品编码 MUG-1 已被使用"),
        ({"code": "MUG-2", "name": "杯", "cost_fen": "-1"}, "成本价(元): 不能为负数"),
        ({"code": "MUG-2", "name": "杯", "temperature_zone": "hot"}, "温区: hot 不是可选值（常温、冷藏、冷冻）"),
        ({"code": "MUG-2", "name": "杯", "barcode": "69-01"}, "条码: 69-01 只能是数字"),
        ({"code": "MUG 2", "name": "杯"}, "MUG 2 不是商品编码"),
        ({"code": "MUG-2", "name": ""}, "商品名称: 必填"),
    ):
        refused = await post_form(client, "/inventory/skus/new", "/inventory/skus/new", typed)
        assert refused.status_code == 400, typed
        assert message in refused.text, (typed, refused.text[-2000:])
    assert set(await skus(db)) == {"MUG-1"}
    assert await audit_actions(db) == ["inventory.sku_created"]


async def test_a_viewer_reads_the_catalogue_but_cannot_change_it(client, db, make_user):
    async with db.transaction() as session:
        session.add(Sku(code="MUG-1", name="马克杯", cost_fen=1200))
    await make_user(Role.viewer)
    await login(client, "viewer-user")
    listed = await client.get("/inventory/skus/?q=马克")
    assert listed.status_code == 200 and "catalogue-row-MUG-1" in listed.text and "sku-new-link" not in listed.text
    assert (await client.get("/inventory/skus/new")).status_code == 403
    page = await client.get("/inventory/skus/MUG-1/edit")
    refused = await client.post(
        "/inventory/skus/MUG-1/edit", data={"_csrf_token": csrf_from(page.text), "name": "改名"}
    )
    assert refused.status_code == 403
    assert (await skus(db))["MUG-1"].name == "马克杯"


async def test_cost_prices_are_shown_and_exported_only_to_those_who_read_finance(client, db, make_user):
    async with db.transaction() as session:
        session.add(Sku(code="MUG-1", name="马克杯", price_fen=3900, cost_fen=1234))
    await make_user(Role.viewer)
    await login(client, "viewer-user")
    for url in ("/inventory/skus/", "/inventory/skus/MUG-1/edit"):
        page = await client.get(url)
        assert "39.00" in page.text and "12.34" not in page.text and "成本价" not in page.text, url
    exported = await client.get("/inventory/skus/sheets/skus/export")
    rows = list(load_workbook(io.BytesIO(exported.content)).active.iter_rows(values_only=True))
    assert "成本价(元)" not in rows[0] and "12.34" not in rows[1]
    await client.post("/logout", data={"_csrf_token": csrf_from((await client.get("/")).text)})
    await as_admin(client, make_user)
    assert "12.34" in (await client.get("/inventory/skus/")).text
    exported = await client.get("/inventory/skus/sheets/skus/export")
    rows = list(load_workbook(io.BytesIO(exported.content)).active.iter_rows(values_only=True))
    assert rows[1][rows[0].index("成本价(元)")] == "12.34"


async def test_a_bundle_is_made_of_existing_single_skus_on_its_page(client, db, make_user):
    async with db.transaction() as session:
        for code in ("GIFTBOX", "TEA-1", "CUP-1"):
            session.add(Sku(code=code, name=code))
    await as_admin(client, make_user)
    edit = "/inventory/skus/GIFTBOX/edit"
    url = "/inventory/skus/GIFTBOX/components"
    assert (await post_form(client, edit, url, {"component_code": "TEA-1", "qty": "2"})).status_code == 303
    assert (await post_form(client, edit, url, {"component_code": "CUP-1", "qty": "1"})).status_code == 303
    for typed, message in (
        ({"component_code": "NOPE", "qty": "1"}, "没有商品 NOPE"),
        ({"component_code": "GIFTBOX", "qty": "1"}, "组合商品不能包含自己"),
        ({"component_code": "TEA-1", "qty": "0"}, "数量: 不能小于 1"),
    ):
        refused = await post_form(client, edit, url, typed)
        assert refused.status_code == 400 and message in refused.text, (typed, refused.text[-1500:])
    tea_page = "/inventory/skus/TEA-1/edit"
    refused = await post_form(
        client, tea_page, "/inventory/skus/TEA-1/components", {"component_code": "CUP-1", "qty": "1"}
    )
    assert refused.status_code == 400 and "TEA-1 是组合商品 GIFTBOX 的子商品" in refused.text
    async with db.reading() as session:
        parts = {(r.component_code, r.qty) for r in (await session.exec(select(BundleComponent))).all()}
    assert parts == {("TEA-1", 2), ("CUP-1", 1)}
    assert (await skus(db))["GIFTBOX"].is_bundle
    removed = await post_form(client, edit, "/inventory/skus/GIFTBOX/components/CUP-1/remove", {})
    assert removed.status_code == 303
    assert 'data-testid="component-CUP-1"' not in (await client.get(edit)).text


async def test_all_or_nothing_imports_nothing_when_a_row_is_bad_and_good_rows_imports_the_rest(client, db, make_user):
    await as_admin(client, make_user)
    bad = catalogue_row(3)
    bad[8] = "-2"  # 成本价
    content = xlsx([HEADER, catalogue_row(1), catalogue_row(2), bad, catalogue_row(4)])

    refused = await import_file(client, "skus", "catalogue.xlsx", content, mode="all")
    assert refused.status_code == 400
    assert problems(refused.text) == ["第 4 行 · 成本价(元): 不能为负数"]
    assert 'data-applied="0"' in refused.text
    assert await skus(db) == {} and await audit_actions(db) == []

    imported = await import_file(client, "skus", "catalogue.xlsx", content, mode="good")
    assert imported.status_code == 200
    assert problems(imported.text) == ["第 4 行 · 成本价(元): 不能为负数"]
    assert "3 个新增，0 个更新，0 个未变，1 行未导入" in imported.text
    stored = await skus(db)
    assert set(stored) == {"TEA-001", "TEA-002", "TEA-004"}
    assert (stored["TEA-001"].cost_fen, stored["TEA-001"].price_fen, stored["TEA-001"].weight_g) == (2150, 5900, 251)
    assert (await audit_actions(db)).count("inventory.sku_created") == 3
    assert (await audit_actions(db))[-1] == "inventory.skus_imported"


async def test_an_exported_catalogue_imports_back_changing_nothing(client, db, make_user):
    await as_admin(client, make_user)
    rows = [catalogue_row(n) for n in range(1, 6)]
    rows[1][6], rows[2][9], rows[3][3] = "冷冻", "停用", ""
    await import_file(client, "skus", "catalogue.xlsx", xlsx([HEADER, *rows]))
    before = {code: sku.model_dump() for code, sku in (await skus(db)).items()}
    audits = await audit_actions(db)

    exported = await client.get("/inventory/skus/sheets/skus/export")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/vnd.openxml")
    sheet = load_workbook(io.BytesIO(exported.content)).active
    assert sheet is not None and [c.value for c in sheet[1]] == HEADER
    again = await import_file(client, "skus", "skus.xlsx", exported.content)
    assert again.status_code == 200 and "0 个新增，0 个更新，5 个未变，0 行未导入" in again.text
    assert {code: sku.model_dump() for code, sku in (await skus(db)).items()} == before
    assert await audit_actions(db) == [*audits, "inventory.skus_imported"]

    template = await client.get("/inventory/skus/sheets/skus/template")
    rows_of_template = list(load_workbook(io.BytesIO(template.content)).active.iter_rows(values_only=True))
    assert list(rows_of_template[0]) == HEADER and rows_of_template[1][0] == "TEA-OOLONG-250"


async def test_a_200_row_file_with_one_bad_row_names_the_row_and_the_field(client, db, make_user):
    await as_admin(client, make_user)
    rows = [catalogue_row(n) for n in range(1, 201)]
    rows[136][3] = "69O12345"  # Excel row 138: a letter O in the barcode
    content = xlsx([HEADER, *rows])
    refused = await import_file(client, "skus", "catalogue.xlsx", content)
    assert problems(refused.text) == ["第 138 行 · 条码: 69O12345 只能是数字"]
    assert await skus(db) == {}
    imported = await import_file(client, "skus", "catalogue.xlsx", content, mode="good")
    assert len(await skus(db)) == 199 and "TEA-137" not in await skus(db)
    assert "199 个新增" in imported.text


async def test_a_sheet_row_that_the_service_refuses_is_named_too(client, db, make_user):
    async with db.transaction() as session:
        session.add(Sku(code="OLD-1", name="旧品", barcode="6900000000017"))
    await as_admin(client, make_user)
    rows = [HEADER, catalogue_row(1), catalogue_row(1), ["NEW-1", "新品", "", "6900000000017"], ["bad code", "x"]]
    refused = await import_file(
        client, "skus", "catalogue.csv", "\n".join(",".join(map(str, r)) for r in rows).encode()
    )
    assert problems(refused.text) == [
        "第 3 行 · 商品编码: 与第 2 行重复",
        "第 4 行 · 条码: 条码 6900000000017 已属于商品 OLD-1",
        "第 5 行 · 商品编码: bad code 不是商品编码：只能用字母、数字和 - _ .（最多 64 个字符）",
    ]
    assert set(await skus(db)) == {"OLD-1"}


async def test_bundle_components_are_imported_as_a_sheet_and_each_bad_one_is_named(client, db, make_user):
    async with db.transaction() as session:
        for code in ("GIFTBOX", "TEA-1", "CUP-1"):
            session.add(Sku(code=code, name=code))
    await as_admin(client, make_user)
    rows = [
        ["组合商品编码", "子商品编码", "数量"],
        ["GIFTBOX", "TEA-1", 2],
        ["GIFTBOX", "CUP-1", 1],
        ["GIFTBOX", "GIFTBOX", 1],
        ["GIFTBOX", "NOPE", 1],
        ["GIFTBOX", "TEA-1", 0],
    ]
    refused = await import_file(client, "bundles", "bundles.xlsx", xlsx(rows))
    assert problems(refused.text) == [
        "第 4 行 · 子商品编码: 组合商品不能包含自己",
        "第 5 行 · 子商品编码: 没有商品 NOPE",
        "第 6 行 · 数量: 不能小于 1",
    ]
    imported = await import_file(client, "bundles", "bundles.xlsx", xlsx(rows), mode="good")
    assert imported.status_code == 200
    exported = await client.get("/inventory/skus/sheets/bundles/export")
    got = list(load_workbook(io.BytesIO(exported.content)).active.iter_rows(values_only=True))
    assert got == [("组合商品编码", "子商品编码", "数量"), ("GIFTBOX", "CUP-1", 1), ("GIFTBOX", "TEA-1", 2)]
    assert (await skus(db))["GIFTBOX"].is_bundle


async def test_a_file_that_is_not_a_catalogue_is_refused_whole(client, db, make_user):
    await as_admin(client, make_user)
    refused = await import_file(client, "skus", "orders.csv", "店铺,订单号\nx,1\n".encode())
    assert refused.status_code == 400 and "表头（第 1 行）缺少列：商品编码、商品名称" in refused.text
    refused = await import_file(client, "skus", "notes.txt", b"hello")
    assert refused.status_code == 400 and "只能导入 .csv 和 .xlsx 文件" in refused.text
    async with db.reading() as session:
        assert (await session.exec(select(func.count()).select_from(Sku))).one() == 0

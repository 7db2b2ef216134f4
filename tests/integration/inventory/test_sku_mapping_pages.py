"""A shop's SKU mapping page (list, search, add, remove and put back, Excel export and import) and
``/api/v1/sku-mappings``: bad input is refused in Chinese and changes nothing."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook, load_workbook
from sqlmodel import select

from app.db import Database
from app.domain.accounts.models import AuditEntry, Role, TokenScope
from app.domain.inventory.models import SkuMapping
from app.domain.shops.models import Channel, Shop
from tests.integration.forms import csrf_from, login


async def shops(db: Database) -> tuple[int, int]:
    """The pool's tmall shop, and a second shop."""
    async with db.transaction() as session:
        other = Shop(channel=Channel.jd, code="jd-test", name="京东测试店")
        session.add(other)
        await session.flush()
        tmall = (await session.exec(select(Shop).where(Shop.code == "tmall-test"))).one()
    assert tmall.id is not None and other.id is not None
    return tmall.id, other.id


async def mappings(db: Database) -> list[tuple[int, str, str, str]]:
    async with db.reading() as session:
        rows = (await session.exec(select(SkuMapping).order_by(SkuMapping.id))).all()  # type: ignore[arg-type]
    return [(m.shop_id, m.platform_sku_id, m.outer_id, m.sku_code) for m in rows]


async def htmx_post(client: Any, page_url: str, url: str, data: dict[str, str], files: Any = None) -> Any:
    token = csrf_from((await client.get(page_url)).text)
    return await client.post(url, data=data, files=files, headers={"HX-Request": "true", "X-CSRFToken": token})


def xlsx(*rows: list[Any]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


async def test_an_operator_adds_searches_removes_and_puts_back_a_mapping(client, db, pool, make_user):
    tmall, other = await shops(db)
    await make_user(Role.operator, username="operator")
    await login(client, "operator")
    url = f"/inventory/sku-mappings/{tmall}"
    saved = await htmx_post(client, url, url, {"platform_sku_id": "5001", "outer_id": "TM-MASK", "sku": "MASK-10"})
    assert saved.status_code == 200, saved.text
    assert "已保存：5001 / TM-MASK → MASK-10。" in saved.text
    await htmx_post(client, url, url, {"platform_sku_id": "", "outer_id": "TM-SERUM", "sku": "SERUM-30"})
    assert await mappings(db) == [(tmall, "5001", "TM-MASK", "MASK-10"), (tmall, "", "TM-SERUM", "SERUM-30")]
    # Per shop: the other shop's page lists none, and the same key is free there.
    assert 'data-testid="mapping-row"' not in (await client.get(f"/inventory/sku-mappings/{other}")).text
    listed = (await client.get(f"{url}?q=serum", headers={"HX-Request": "true"})).text
    assert listed.count('data-testid="mapping-row"') == 1 and 'data-sku="SERUM-30"' in listed

    [first] = [m for m in (await mappings(db)) if m[3] == "MASK-10"]
    async with db.reading() as session:
        mapping = (await session.exec(select(SkuMapping).where(SkuMapping.sku_code == "MASK-10"))).one()
    removed = await htmx_post(client, url, f"{url}/{mapping.id}/delete", {})
    assert removed.status_code == 200 and "已删除：5001 / TM-MASK → MASK-10。" in removed.text
    assert first not in await mappings(db)
    # 撤销 posts the removed mapping back.
    undo = await htmx_post(client, url, url, {"platform_sku_id": "5001", "outer_id": "TM-MASK", "sku": "MASK-10"})
    assert undo.status_code == 200 and first in await mappings(db)
    async with db.reading() as session:
        actions = (await session.exec(select(AuditEntry.action).where(AuditEntry.actor_name == "operator"))).all()
    assert actions.count("sku_mapping.save") == 3 and actions.count("sku_mapping.delete") == 1


async def test_a_bad_mapping_is_refused_in_chinese_and_changes_nothing(client, db, pool, make_user):
    tmall, _ = await shops(db)
    await make_user(Role.operator, username="operator")
    await login(client, "operator")
    url = f"/inventory/sku-mappings/{tmall}"
    for data, message in (
        ({"platform_sku_id": "1", "sku": "NO-SUCH"}, "没有编码为 NO-SUCH 的商品"),
        ({"platform_sku_id": "", "outer_id": "", "sku": "MASK-10"}, "请填写平台 SKU 编号或商家编码"),
        ({"platform_sku_id": "1", "sku": ""}, "请选择我们的一个商品"),
        ({"platform_sku_id": "9" * 65, "sku": "MASK-10"}, "最多 64 个字符"),
    ):
        response = await htmx_post(client, url, url, data)
        assert response.status_code == 400, response.text
        assert message in response.text
    await htmx_post(client, url, url, {"outer_id": "TM-A", "sku": "A"})
    taken = await htmx_post(client, url, url, {"platform_sku_id": "77", "outer_id": "TM-A", "sku": "B"})
    assert taken.status_code == 400 and "商家编码 TM-A 在该店铺已映射到 A" in taken.text
    assert await mappings(db) == [(tmall, "", "TM-A", "A")]


async def test_a_viewer_reads_the_mappings_but_cannot_change_them(client, db, pool, make_user):
    tmall, _ = await shops(db)
    await make_user(Role.viewer, username="viewer")
    await login(client, "viewer")
    page = await client.get(f"/inventory/sku-mappings/{tmall}")
    assert page.status_code == 200 and 'data-testid="mapping-form"' not in page.text
    token = csrf_from(page.text)
    refused = await client.post(
        f"/inventory/sku-mappings/{tmall}", data={"_csrf_token": token, "outer_id": "X", "sku": "A"}
    )
    assert refused.status_code == 403 and await mappings(db) == []


async def test_the_sheet_exports_imports_and_names_the_bad_row(client, db, pool, make_user):
    tmall, _ = await shops(db)
    await make_user(Role.operator, username="operator")
    await login(client, "operator")
    url = f"/inventory/sku-mappings/{tmall}"
    bad = xlsx(
        ["平台SKU编号", "商家编码", "我们的商品编码"],
        ["6001", "TM-A", "A"],
        ["6002", "", "NOPE"],
        ["", "TM-C", "C"],
    )
    files = {"file": ("mappings.xlsx", bad, "application/octet-stream")}
    nothing = await htmx_post(client, url, f"{url}/import", {"mode": "all"}, files)
    assert nothing.status_code == 400
    assert "第 3 行 · 我们的商品编码: 没有编码为 NOPE 的商品" in nothing.text
    assert await mappings(db) == []
    good = await htmx_post(client, url, f"{url}/import", {"mode": "good"}, files)
    assert good.status_code == 200 and "新增 2 条" in good.text
    assert await mappings(db) == [(tmall, "6001", "TM-A", "A"), (tmall, "", "TM-C", "C")]

    exported = await client.get(f"{url}/export")
    assert exported.status_code == 200
    sheet = load_workbook(io.BytesIO(exported.content)).active
    assert sheet is not None
    assert [list(row) for row in sheet.iter_rows(values_only=True)] == [
        ["平台SKU编号", "商家编码", "我们的商品编码", "平台商品ID"],
        ["6001", "TM-A", "A", None],
        [None, "TM-C", "C", None],
    ]
    again = await htmx_post(
        client, url, f"{url}/import", {"mode": "all"}, {"file": ("back.xlsx", exported.content, "application/x")}
    )
    assert again.status_code == 200 and "2 条无变化" in again.text
    assert len(await mappings(db)) == 2


async def test_the_api_lists_and_saves_a_shops_mappings(client, db, pool, make_token):
    tmall, _ = await shops(db)
    admin = {"Authorization": f"Bearer {await make_token(TokenScope.admin)}"}
    reader = {"Authorization": f"Bearer {await make_token(TokenScope.read, name='erp')}"}
    created = await client.post(
        "/api/v1/sku-mappings", json={"shop": "tmall-test", "platform_sku_id": "8001", "sku": "MASK-10"}, headers=admin
    )
    assert created.status_code == 201, created.text
    assert created.json()["sku"] == "MASK-10" and created.json()["shop"] == "tmall-test"
    changed = await client.post(
        "/api/v1/sku-mappings",
        json={"shop": "tmall-test", "platform_sku_id": "8001", "outer_id": "TM-M", "sku": "SERUM-30"},
        headers=admin,
    )
    assert changed.status_code == 200 and changed.json()["outer_id"] == "TM-M"
    assert (await client.post("/api/v1/sku-mappings", json={"shop": "tmall-test"}, headers=reader)).status_code == 403
    for body, field, message in (
        ({"shop": "nope", "outer_id": "X", "sku": "A"}, "shop", "没有这个店铺"),
        ({"shop": "tmall-test", "outer_id": "X", "sku": "ZZZ"}, "sku", "没有编码为 ZZZ 的商品"),
        ({"shop": "tmall-test", "outer_id": 12, "sku": "A"}, "outer_id", "须为文本"),
    ):
        refused = await client.post("/api/v1/sku-mappings", json=body, headers=admin)
        assert refused.status_code == 400, refused.text
        assert refused.json()["field"] == field and message in refused.json()["message"]
    listed = await client.get("/api/v1/sku-mappings?shop=tmall-test", headers=reader)
    assert listed.status_code == 200
    assert [(m["platform_sku_id"], m["outer_id"], m["sku"]) for m in listed.json()["items"]] == [
        ("8001", "TM-M", "SERUM-30")
    ]
    assert listed.json()["next_cursor"] is None
    assert (await client.get("/api/v1/sku-mappings?shop=", headers=reader)).status_code == 400
    assert await mappings(db) == [(tmall, "8001", "TM-M", "SERUM-30")]

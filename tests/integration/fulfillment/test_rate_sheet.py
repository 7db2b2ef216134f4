"""Rate tables as sheets: an .xlsx of lines for several carriers is imported on 快递价格表, a bad row is named by its
row and field and the user chooses between nothing and only the good rows; the export imports back changing
nothing; and the orders the workers route afterwards are priced by the imported table."""

from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlmodel import col, func, select

from app.domain.accounts.models import AuditEntry, Role
from app.domain.accounts.services import SYSTEM
from app.domain.fulfillment import carrier_master
from app.domain.fulfillment.models import CarrierRate, Shipment
from tests.integration.forms import login, sheet_problems, upload_form
from tests.integration.processing.conftest import demo_data, generic_order
from tests.integration.processing.test_actions import ROUTE, land, linear_flow, process, publish
from tests.samples.sheets import xlsx

__all__ = ["demo_data"]  # the processing tests' demo network, used below

HEADER = [
    "快递编码",
    "始发省份",
    "目的省份或大区",
    "温层",
    "起始重量(克)",
    "截止重量(克)",
    "首重价格(元)",
    "续重每公斤(元)",
    "承诺时效(天)",
]
PAGE = "/settings/carrier-rates/"
IMPORT = "/settings/carrier-rates/sheet"


async def count(db, *where) -> int:
    async with db.reading() as session:
        return int((await session.exec(select(func.count()).select_from(CarrierRate).where(*where))).one())


async def add_deppon(db, settings) -> None:
    async with db.transaction() as session:
        await carrier_master.create_carrier(session, settings.secret_key, {"code": "DBKD", "name": "德邦快递"}, SYSTEM)


async def as_admin(client, make_user) -> None:
    await make_user(Role.admin, username="boss")
    await login(client, "boss")


async def test_a_bad_row_is_named_and_nothing_or_only_the_good_rows_land_as_chosen(
    client, db, settings, carriers, make_user
):
    await add_deppon(db, settings)
    await as_admin(client, make_user)
    before = await count(db)
    content = xlsx(
        [
            HEADER,
            ["DBKD", "*", "华东", "常温", 0, 1000000, "3.50", "1.00", 2],
            ["DBKD", "*", "江南", "", 0, 1000000, "4.00", "1.00", 3],
            ["DBKD", "上海", "北京", "冷冻", 0, 1000000, "四块", "1.00", 3],
            ["NOPE", "*", "*", "", "", "", "5", "1", 3],
            ["DBKD", "*", "*", "全部", "", "", "6", "1.5", 4],
        ]
    )
    refused = await upload_form(client, PAGE, IMPORT, "rates.xlsx", content, mode="all")
    assert refused.status_code == 400
    assert sheet_problems(refused.text) == [
        "第 3 行 · 目的省份或大区: 江南 既不是省份，也不是华东这样的大区（任意请填 *）。",
        "第 4 行 · 首重价格(元): 四块 不是以元为单位的金额（如 12.50）",
        "第 5 行 · 快递编码: 没有编码为 NOPE 的快递公司。",
    ]
    assert await count(db) == before
    good = await upload_form(client, PAGE, IMPORT, "rates.xlsx", content, mode="good")
    assert good.status_code == 200 and len(sheet_problems(good.text)) == 3
    async with db.reading() as session:
        lines = (await session.exec(select(CarrierRate).where(CarrierRate.carrier_code == "DBKD"))).all()
        [entry] = (await session.exec(select(AuditEntry).where(AuditEntry.action == "carrier_rates.imported"))).all()
    assert sorted((r.dest_province, r.temperature_zone, r.first_fee_fen, r.promised_days) for r in lines) == [
        ("*", "*", 600, 4),
        ("华东", "ambient", 350, 2),
    ]
    assert entry.after["refused_rows"] == [3, 4, 5]


async def test_the_exported_rate_tables_import_back_changing_nothing(client, db, carriers, make_user):
    await as_admin(client, make_user)
    exported = await client.get("/settings/carrier-rates/sheet/export")
    assert exported.status_code == 200
    rows = list(load_workbook(io.BytesIO(exported.content)).active.iter_rows(values_only=True))
    assert list(rows[0]) == HEADER and len(rows) - 1 == await count(db)
    assert ("SF", "*", "新疆", "全部", 0, 1000000, "24.00", "6.00", 4) in rows
    async with db.reading() as session:
        before = [r.model_dump() for r in (await session.exec(select(CarrierRate).order_by(col(CarrierRate.id)))).all()]
    again = await upload_form(client, PAGE, IMPORT, "carrier-rates.xlsx", exported.content, mode="all")
    assert again.status_code == 200, sheet_problems(again.text)
    assert f"0 个新增，0 个更新，{len(before)} 个未变，0 行未导入" in again.text
    async with db.reading() as session:
        after = [r.model_dump() for r in (await session.exec(select(CarrierRate).order_by(col(CarrierRate.id)))).all()]
    assert after == before


async def test_orders_are_routed_and_priced_by_an_imported_rate_table(client, db, settings, demo_data, make_user):
    await add_deppon(db, settings)
    await as_admin(client, make_user)
    content = xlsx([HEADER, ["DBKD", "", "华东", "", "", "", "1.00", "0.50", 2]])
    imported = await upload_form(client, PAGE, IMPORT, "deppon.xlsx", content, mode="all")
    assert imported.status_code == 200, sheet_problems(imported.text)
    await publish(db, linear_flow(*ROUTE))
    east = await land(db, settings, generic_order("R1", lines=[("MASK-10", 1, 9900)], province="浙江"))
    north = await land(db, settings, generic_order("R2", lines=[("MASK-10", 1, 9900)], province="北京"))
    for order_id in (east, north):
        assert (await process(db, settings, order_id))["state"] == "processed"
    async with db.reading() as session:
        shipments = {
            s.order_id: s
            for s in (await session.exec(select(Shipment).where(col(Shipment.order_id).in_([east, north]))))
        }
    assert (shipments[east].carrier_code, shipments[east].fee_fen) == ("DBKD", 100)
    assert shipments[north].carrier_code != "DBKD"  # 华北 has no DBKD line

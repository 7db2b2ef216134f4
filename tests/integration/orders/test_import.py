"""CSV / Excel import from the UI: processed by the background job, with a progress bar; bad rows are queued."""

from __future__ import annotations

import io

from openpyxl import Workbook
from sqlmodel import select

from app.domain.accounts.models import Role
from app.domain.channels.models import IngestError, OrderImport
from app.domain.orders.models import Order, OrderLine
from tests.integration.forms import csrf_from, login
from tests.integration.orders.conftest import wait_for_jobs

HEADER = "shop,order_id,status,created_at,paid_at,buyer_nick,receiver_name,phone,province,city,district,address,sku,title,qty,unit_price,shipping,discount,tags"  # noqa: E501
CSV = "\n".join(
    [
        HEADER,
        "tmall-shop,TM-1001,paid,2026-11-11 00:10:00,2026-11-11 00:10:30,小王,王小明,13812345678,上海,上海市,浦东新区,张江路 88 弄 6 号,PHONE-X1,星河 X1 手机,1,3999.00,0,100.00,vip",  # noqa: E501
        "tmall-shop,TM-1001,paid,2026-11-11 00:10:00,2026-11-11 00:10:30,小王,王小明,13812345678,上海,上海市,浦东新区,张江路 88 弄 6 号,CABLE-C1,数据线,2,29.00,0,100.00,vip",  # noqa: E501
        "jd-shop,JD-2001,paid,2026-11-11 09:00:00,,jd_pin,刘洋,13900001024,北京,北京市,朝阳区,建国路 88 号,EARBUD-P2,耳机,1,499.00,0,0,",  # noqa: E501
        "douyin-shop,DY-3001,shipped,2026-11-11 12:00:00,,抖音用户,陈,15800006621,四川,成都市,武侯区,玉林北路 1 号,MASK-10,面膜,two,99.00,0,0,",  # noqa: E501
        "nowhere-shop,X-1,paid,2026-11-11 12:00:00,,,,,,,,,MASK-10,面膜,1,99.00,0,0,",
    ]
)


async def upload(client, filename: str, content: bytes):
    page = await client.get("/orders/import")
    return await client.post(
        "/orders/import",
        data={"_csrf_token": csrf_from(page.text)},
        files={"file": (filename, content, "application/octet-stream")},
        headers={"HX-Request": "true"},
    )


async def test_a_csv_of_several_channels_is_imported_in_the_background_with_progress(
    client, db, shops, make_user, arq_worker
):
    await make_user(Role.operator, username="op")
    await login(client, "op")
    response = await upload(client, "双十一订单.csv", CSV.encode("utf-8"))
    assert response.status_code == 200, response.text
    assert 'data-testid="import-progress"' in response.text
    await wait_for_jobs(db)
    async with db.reading() as session:
        job = (await session.exec(select(OrderImport))).one()
        orders = {o.external_id: o for o in (await session.exec(select(Order))).all()}
        lines = (await session.exec(select(OrderLine).where(OrderLine.order_id == orders["TM-1001"].id))).all()
        errors = (await session.exec(select(IngestError).order_by(IngestError.id))).all()
    assert (job.status, job.total_orders, job.ok_orders, job.failed_orders) == ("done", 4, 2, 2)
    assert set(orders) == {"TM-1001", "JD-2001"}
    assert (orders["TM-1001"].channel, orders["TM-1001"].paid_fen) == ("tmall", 399900 + 5800 - 10000)
    assert [(line.sku, line.qty) for line in lines] == [("PHONE-X1", 1), ("CABLE-C1", 2)]
    assert orders["TM-1001"].phone_masked == "138****5678"
    assert [(e.source, e.field) for e in errors] == [("import", "row 5: qty"), ("import", "rows 6: shop")]
    progress = await client.get(f"/orders/import/{job.id}", headers={"HX-Request": "true"})
    assert 'data-status="done"' in progress.text and "hx-trigger" not in progress.text


async def test_an_excel_file_imports_like_a_csv(client, db, shops, make_user, arq_worker):
    workbook = Workbook()
    sheet = workbook.active
    for row in CSV.splitlines()[:4]:
        sheet.append(row.split(","))
    buffer = io.BytesIO()
    workbook.save(buffer)
    await make_user(Role.admin, username="admin")
    await login(client, "admin")
    assert (await upload(client, "orders.xlsx", buffer.getvalue())).status_code == 200
    await wait_for_jobs(db)
    async with db.reading() as session:
        assert sorted((await session.exec(select(Order.external_id))).all()) == ["JD-2001", "TM-1001"]


async def test_a_file_that_is_not_csv_or_excel_is_refused_with_a_reason(client, db, shops, make_user):
    await make_user(Role.operator, username="op")
    await login(client, "op")
    response = await upload(client, "orders.pdf", b"%PDF-1.4")
    assert response.status_code == 400
    assert 'data-testid="import-error"' in response.text
    async with db.reading() as session:
        assert (await session.exec(select(OrderImport))).all() == []


async def test_a_viewer_cannot_import(client, db, shops, make_user):
    await make_user(Role.viewer, username="viewer")
    await login(client, "viewer")
    assert (await client.get("/orders/import")).status_code == 403

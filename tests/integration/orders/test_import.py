"""CSV / Excel import from the UI: processed by the background job, with a progress bar; bad rows are queued.

The file is kept encrypted until its job has read it, then dropped; running the job twice, at once or after
an interruption, files no order and no error twice.
"""

from __future__ import annotations

import asyncio
import io

import pytest
from openpyxl import Workbook
from sqlmodel import func, select

from app.domain.accounts.models import Role
from app.domain.accounts.services import SYSTEM
from app.domain.channels import imports
from app.domain.channels.models import IngestError, OrderImport
from app.domain.orders.models import Order, OrderLine
from app.domain.shops.models import Channel
from tests.integration.forms import csrf_from, login
from tests.integration.orders.conftest import disable_shop, wait_for_jobs

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
    assert errors[0].message == "第 5 行数量 two 无效：数量须为 1 到 99,999 的整数"
    assert errors[1].message == "没有店铺编码为 nowhere-shop 的店铺"
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


async def test_an_upload_answers_at_once_and_its_file_is_kept_encrypted_until_read(
    client, db, shops, make_user, arq_worker
):
    await make_user(Role.operator, username="op")
    await login(client, "op")
    response = await upload(client, "orders.csv", CSV.encode("utf-8"))
    # The answer is the progress bar of a job not yet started: nothing was parsed in the request.
    assert 'data-status="queued"' in response.text
    assert 'hx-trigger="every 1s"' in response.text
    async with db.reading() as session:
        stored = (await session.exec(select(OrderImport))).one()
    assert b"13812345678" not in stored.content and "张江路".encode() not in stored.content
    await wait_for_jobs(db)
    async with db.reading() as session:
        done = await session.get(OrderImport, stored.id)
    assert (done.status, done.content) == ("done", b"")


BOUNDS_CSV = "\n".join(
    [
        HEADER,
        "jd-shop,B-1,paid,2026-11-11 09:00:00,,,,,,,,,EARBUD-P2,耳机,0,499.00,0,0,",
        "jd-shop,B-2,paid,2026-11-11 09:00:00,,,,,,,,,EARBUD-P2,耳机,100000,499.00,0,0,",
        "jd-shop,B-3,paid,2026-11-11 09:00:00,,,,,,,,,EARBUD-P2,耳机,1,-3857.00,0,0,",
        "jd-shop,B-4,paid,2026-11-11 09:00:00,,,,,,,,,EARBUD-P2,耳机,1,1e309,0,0,",
        "jd-shop,B-5,paid,2026-11-11 09:00:00,,,,,,,,,EARBUD-P2,耳机,1,10.00,0,50.00,",
    ]
)


async def test_rows_outside_the_bounds_are_queued_with_their_row_and_value(client, db, shops, make_user, arq_worker):
    await make_user(Role.operator, username="op")
    await login(client, "op")
    assert (await upload(client, "bounds.csv", BOUNDS_CSV.encode())).status_code == 200
    await wait_for_jobs(db)
    async with db.reading() as session:
        errors = (await session.exec(select(IngestError).order_by(IngestError.id))).all()
        orders = (await session.exec(select(Order))).all()
    assert orders == []
    assert [(e.field, e.message) for e in errors] == [
        ("row 2: qty", "第 2 行数量 0 无效：数量须为 1 到 99,999 的整数"),
        ("row 3: qty", "第 3 行数量 100000 无效：数量须为 1 到 99,999 的整数"),
        ("row 4: unit_price", "第 4 行 unit_price 的金额 -3857.00 无效：金额须在 ¥0.00 到 ¥10,000,000.00 之间"),
        ("row 5: unit_price", "第 5 行 unit_price 的金额 1e309 无效：金额须在 ¥0.00 到 ¥10,000,000.00 之间"),
        ("paid_fen", "paid_fen 的金额 -¥40.00 无效：金额须在 ¥0.00 到 ¥10,000,000.00 之间"),
    ]


def many_orders_csv(count: int) -> bytes:
    """``count`` one-line orders; every third names a shop that does not exist, so it fails."""
    rows = [HEADER]
    for n in range(count):
        shop = "nowhere-shop" if n % 3 == 2 else "jd-shop"
        rows.append(f"{shop},MANY-{n},paid,2026-11-11 09:00:00,,,,,,,,,EARBUD-P2,耳机,1,499.00,0,0,")
    return "\n".join(rows).encode()


async def stored_import(db, content: bytes, settings) -> int:
    async with db.transaction() as session:
        job = await imports.create_import(session, settings, "many.csv", content, SYSTEM, None)
    assert job.id is not None
    return job.id


async def tally(db) -> tuple[int, int, list[str]]:
    async with db.reading() as session:
        orders = int((await session.exec(select(func.count()).select_from(Order))).one())
        errors = (await session.exec(select(IngestError.field))).all()
    return orders, len(errors), sorted(errors)


async def test_running_the_import_job_twice_at_once_and_again_files_nothing_twice(db, settings, shops):
    import_id = await stored_import(db, many_orders_csv(12), settings)
    await asyncio.gather(imports.run_import(db, settings, import_id), imports.run_import(db, settings, import_id))
    again = await imports.run_import(db, settings, import_id)
    orders, errors, fields = await tally(db)
    assert (orders, errors) == (8, 4)
    assert len(set(fields)) == 4  # one error per failed order, not one per run
    assert again == {}
    async with db.reading() as session:
        job = await session.get(OrderImport, import_id)
    assert (job.status, job.total_orders, job.processed_orders, job.ok_orders, job.failed_orders) == (
        "done",
        12,
        12,
        8,
        4,
    )


async def test_an_import_cut_off_half_way_carries_on_where_it_stopped(db, settings, shops):
    import_id = await stored_import(db, many_orders_csv(30), settings)
    first = asyncio.create_task(imports.run_import(db, settings, import_id))
    for _ in range(600):  # until the first run is some way in
        async with db.reading() as session:
            job = await session.get(OrderImport, import_id)
        if job.processed_orders >= 5:
            break
        await asyncio.sleep(0.02)
    first.cancel()  # the worker is killed mid-import
    with pytest.raises(asyncio.CancelledError):
        await first
    async with db.reading() as session:
        cut = await session.get(OrderImport, import_id)
    assert cut.status == "running" and 5 <= cut.processed_orders < 30
    await imports.run_import(db, settings, import_id)
    orders, errors, fields = await tally(db)
    assert (orders, errors, len(set(fields))) == (20, 10, 10)
    async with db.reading() as session:
        job = await session.get(OrderImport, import_id)
    counters = (job.processed_orders, job.ok_orders, job.failed_orders)
    assert (job.status, counters, job.content) == ("done", (30, 20, 10), b"")


async def test_the_rows_of_a_disabled_shop_are_queued_with_why_and_make_no_order(
    client, db, shops, make_user, arq_worker
):
    await disable_shop(db, shops[Channel.jd])
    await make_user(Role.operator, username="op")
    await login(client, "op")
    assert (await upload(client, "orders.csv", CSV.encode())).status_code == 200
    await wait_for_jobs(db)
    async with db.reading() as session:
        orders = (await session.exec(select(Order.external_id))).all()
        errors = (await session.exec(select(IngestError).where(IngestError.field == "rows 4: shop"))).all()
    assert "JD-2001" not in orders and "TM-1001" in orders
    assert [e.message for e in errors] == ["此店铺已停用：管理员重新启用前不接收它的订单。"]

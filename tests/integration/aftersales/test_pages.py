"""The after-sales pages through their HTTP forms, as a browser sends them: a new case from an order's page, the
queue with its timers and filters, each action of the case page, the store counter. A refusal is shown in place in
Chinese and changes nothing; a viewer reads the pages and may not act."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from app.db import Database, utcnow
from app.domain.accounts.models import Role
from app.domain.aftersales.models import AfterSaleCase, AfterSaleLine
from tests.integration.aftersales.test_cases import case_row, line_ids, shipped_order, stock_of
from tests.integration.forms import csrf_from, login, post_form

CABLE = [("CABLE-C1", 2, 2900)]


@pytest.fixture
async def client(server: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of the served app (the one whose worker ships the orders): one app writes to the database."""
    async with httpx.AsyncClient(base_url=server, timeout=30) as browser:
        yield browser


async def operator(client: Any, make_user: Any) -> None:
    await make_user(Role.operator, username="clerk")
    await login(client, "clerk")


async def cases(db: Database) -> list[AfterSaleCase]:
    async with db.reading() as session:
        return list((await session.exec(select(AfterSaleCase).order_by(col(AfterSaleCase.id)))).all())


async def case_lines(db: Database, case_id: int) -> list[AfterSaleLine]:
    async with db.reading() as session:
        return list((await session.exec(select(AfterSaleLine).where(AfterSaleLine.case_id == case_id))).all())


async def open_return(client: Any, db: Database, order_id: int, qty: int = 2, **extra: str) -> int:
    """新建售后 from the order's page: a 退货退款 of ``qty`` cables; returns the case id."""
    line = (await line_ids(db, order_id))["CABLE-C1"]
    response = await post_form(
        client,
        f"/aftersales/new/{order_id}",
        f"/aftersales/new/{order_id}",
        {"kind": "return_refund", f"qty.{order_id}.{line}": str(qty), "reason": "尺码不合适", **extra},
    )
    assert response.status_code == 303, response.text
    match = re.search(r"/aftersales/(\d+)\?done=opened", response.headers["location"])
    assert match
    return int(match.group(1))


def alert(html: str) -> str:
    match = re.search(r'data-testid="case-error">([^<]*)<', html)
    assert match, "no refusal shown"
    return match.group(1)


async def test_an_operator_takes_a_return_through_each_form_of_the_case_page(server, worker, db, client, make_user):
    order_id = await shipped_order(server, db, "P1", CABLE)
    await operator(client, make_user)
    assert f'hx-get="/aftersales/of-order/{order_id}"' in (await client.get(f"/orders/{order_id}")).text
    section = (await client.get(f"/aftersales/of-order/{order_id}")).text
    assert f'href="/aftersales/new/{order_id}"' in section and "此订单暂无售后单" in section
    form = (await client.get(f"/aftersales/new/{order_id}")).text
    assert "¥58.00" in form  # the paid share a blank refund stands for

    case_id = await open_return(client, db, order_id)
    case = await case_row(db, case_id)
    assert (case.status, case.refund_fen, case.source, case.opened_by) == ("requested", 5800, "operator", "clerk")
    queue = (await client.get("/aftersales/")).text
    assert f'data-ref="{case.platform_ref}" data-status="requested"' in queue
    assert "等待处理决定" in queue and re.search(r"剩余 4[78] 小时", queue) and "¥58.00" in queue
    assert f'data-ref="{case.platform_ref}"' in (await client.get(f"/aftersales/of-order/{order_id}")).text

    page_url = f"/aftersales/{case_id}"
    response = await post_form(client, page_url, f"{page_url}/approve", {})
    assert response.status_code == 303 and response.headers["location"] == f"{page_url}?done=approved"
    case = await case_row(db, case_id)
    assert case.status == "awaiting_return" and case.decided_by == "clerk"
    warehouse = case.return_warehouse_code
    assert warehouse

    response = await post_form(client, page_url, f"{page_url}/waybill", {"carrier": "顺丰", "waybill_no": "SF123456"})
    assert response.status_code == 303
    case = await case_row(db, case_id)
    assert (case.return_carrier, case.return_waybill_no) == ("顺丰", "SF123456")
    # At the warehouse the return parcel's waybill is scanned on the queue: its case opens at the receipt.
    scanned = await client.get("/aftersales/scan", params={"number": " SF123456 "}, follow_redirects=False)
    assert scanned.status_code == 303 and scanned.headers["location"] == f"{page_url}#receive"
    missed = await client.get("/aftersales/scan", params={"number": "SF999<b>"})
    assert missed.status_code == 200
    assert "没有等待退货、单号为 SF999&lt;b&gt; 的售后单" in missed.text

    before = await stock_of(db, warehouse, "CABLE-C1")
    page = (await client.get(page_url)).text
    assert 'name="expected_outstanding" value="2"' in page
    [line] = await case_lines(db, case_id)
    receipt = {
        "expected_outstanding": "2",
        f"passed.{line.id}": "1",
        f"failed.{line.id}": "1",
        f"reason.{line.id}": "外壳破损",
    }
    token = csrf_from(page)
    response = await client.post(f"{page_url}/receive", data={"_csrf_token": token, **receipt}, follow_redirects=False)
    assert response.status_code == 303, response.text
    case = await case_row(db, case_id)
    assert (case.status, case.refund_status) == ("completed", "refunded")
    on_hand, reserved, defective = await stock_of(db, warehouse, "CABLE-C1")
    assert (on_hand, reserved, defective) == (before[0] + 1, before[1], before[2] + 1)
    shown = (await client.get(f"{page_url}?done=received")).text
    assert "收货质检已登记" in shown and "外壳破损" in shown and "已完成" in shown

    # The same page submitted again (a double click) books nothing and says why.
    response = await client.post(f"{page_url}/receive", data={"_csrf_token": token, **receipt}, follow_redirects=False)
    assert response.status_code == 400
    assert alert(response.text) == "此售后单不在等待退货"
    assert await stock_of(db, warehouse, "CABLE-C1") == (on_hand, reserved, defective)
    stock_page = (await client.get("/inventory/")).text
    assert f'data-testid="defective-CABLE-C1-{warehouse}"' in stock_page


async def test_a_refusal_is_shown_in_chinese_on_its_page_and_changes_nothing(server, worker, db, client, make_user):
    order_id = await shipped_order(server, db, "P2", CABLE)
    await operator(client, make_user)
    line = (await line_ids(db, order_id))["CABLE-C1"]
    response = await post_form(
        client,
        f"/aftersales/new/{order_id}",
        f"/aftersales/new/{order_id}",
        {"kind": "return_refund", f"qty.{order_id}.{line}": "5", "reason": "太多了"},
    )
    assert response.status_code == 400
    assert "CABLE-C1 的数量须在 1 到 2 之间" in response.text
    assert 'value="太多了"' in response.text  # the form comes back as typed
    assert await cases(db) == []

    case_id = await open_return(client, db, order_id)
    page_url = f"/aftersales/{case_id}"
    response = await post_form(client, page_url, f"{page_url}/refuse", {"reason": ""})
    assert response.status_code == 400 and alert(response.text) == "请填写拒绝原因"
    assert (await case_row(db, case_id)).status == "requested"

    assert (await post_form(client, page_url, f"{page_url}/approve", {})).status_code == 303
    again = await post_form(client, page_url, f"{page_url}/approve", {})
    assert again.status_code == 400 and alert(again.text) == "此售后单已是「待退货」状态"
    response = await post_form(client, page_url, f"{page_url}/waybill", {"carrier": "顺丰", "waybill_no": ""})
    assert response.status_code == 400 and alert(response.text) == "请填写退货的快递公司和运单号"
    [line_row] = await case_lines(db, case_id)
    response = await post_form(
        client, page_url, f"{page_url}/receive", {"expected_outstanding": "1", f"passed.{line_row.id}": "1"}
    )
    assert response.status_code == 400 and alert(response.text).startswith("其他人刚刚登记了此售后单的收货")
    response = await post_form(
        client, page_url, f"{page_url}/receive", {"expected_outstanding": "2", f"failed.{line_row.id}": "1"}
    )
    assert response.status_code == 400 and alert(response.text) == "请填写 CABLE-C1 质检不合格的原因"
    case = await case_row(db, case_id)
    assert (case.status, case.return_waybill_no) == ("awaiting_return", "")
    assert [(row.received_qty, row.passed_qty) for row in await case_lines(db, case_id)] == [(0, 0)]


async def test_a_viewer_reads_the_pages_but_may_not_act(server, worker, db, client, make_user):
    order_id = await shipped_order(server, db, "P3", CABLE)
    await operator(client, make_user)
    case_id = await open_return(client, db, order_id)
    await client.post("/logout", data={"_csrf_token": csrf_from((await client.get("/")).text)})
    await make_user(Role.viewer, username="reader")
    await login(client, "reader")
    queue = await client.get("/aftersales/")
    assert queue.status_code == 200 and 'data-testid="store-counter-link"' not in queue.text
    page = await client.get(f"/aftersales/{case_id}")
    assert page.status_code == 200 and 'data-testid="case-approve"' not in page.text
    section = await client.get(f"/aftersales/of-order/{order_id}")
    assert section.status_code == 200 and 'data-testid="new-aftersale"' not in section.text
    token = csrf_from(page.text)
    for url in (f"/aftersales/{case_id}/approve", f"/aftersales/{case_id}/refuse", f"/aftersales/new/{order_id}"):
        response = await client.post(url, data={"_csrf_token": token, "reason": "x"}, follow_redirects=False)
        assert response.status_code == 403, url
    assert (await client.get("/aftersales/store")).status_code == 403
    assert (await client.get(f"/aftersales/new/{order_id}")).status_code == 403
    assert (await case_row(db, case_id)).status == "requested"


async def test_the_queue_puts_open_cases_first_and_filters_overdue_ones(server, worker, db, client, make_user):
    first = await shipped_order(server, db, "P4", CABLE)
    second = await shipped_order(server, db, "P5", CABLE)
    await operator(client, make_user)
    late_id = await open_return(client, db, first)
    on_time_id = await open_return(client, db, second)
    async with db.transaction() as session:
        late = await session.get(AfterSaleCase, late_id)
        assert late is not None
        late.due_at = utcnow() - timedelta(hours=3, minutes=5)
        session.add(late)
    html = (await client.get("/aftersales/")).text
    refs = re.findall(r'data-testid="aftersale-row" data-ref="([^"]+)"', html)
    assert refs == [f"AS{late_id:08d}", f"AS{on_time_id:08d}"]  # the nearest deadline first
    assert re.search(r'data-overdue="yes"[^>]*>已超时 3 小时 [45] 分', html)
    overdue = await client.get("/aftersales/?overdue=1", headers={"HX-Request": "true"})
    assert re.findall(r'data-ref="(AS\d+)"', overdue.text) == [f"AS{late_id:08d}"]
    assert "<html" not in overdue.text
    none = (await client.get("/aftersales/?kind=exchange")).text
    assert 'data-testid="aftersales-empty"' in none


async def test_the_store_counter_finds_the_order_by_phone_and_name_and_takes_it_into_the_store(
    server, worker, db, client, make_user
):
    order_id = await shipped_order(server, db, "P6", CABLE, name="王小明", phone="13912345678")
    await operator(client, make_user)
    before = await stock_of(db, "SH-S01", "CABLE-C1")
    found = (await client.get("/aftersales/store?store=SH-S01&phone4=5678&name=王小明")).text
    assert 'data-external-id="P6"' in found and "139****5678" in found and "13912345678" not in found
    assert "王小明" not in found.split('data-testid="store-found"')[1]  # the name is masked in the list
    assert (
        'data-testid="store-not-found"'
        in (await client.get("/aftersales/store?store=SH-S01&phone4=5678&name=李四")).text
    )
    form_url = f"/aftersales/store?store=SH-S01&order_id={order_id}"
    line = (await line_ids(db, order_id))["CABLE-C1"]
    key = f"{order_id}.{line}"
    response = await post_form(
        client,
        form_url,
        "/aftersales/store/SH-S01",
        {"order_id": str(order_id), "kind": "return_refund", f"passed.{key}": "1", f"failed.{key}": "0"},
    )
    assert response.status_code == 200, response.text
    [case] = await cases(db)
    assert (case.source, case.status, case.return_warehouse_code, case.refund_fen) == (
        "store",
        "completed",
        "SH-S01",
        2900,
    )
    assert f"已收回：售后单 {case.platform_ref}，退款 ¥29.00。" in response.text
    on_hand, reserved, defective = await stock_of(db, "SH-S01", "CABLE-C1")
    assert (on_hand, reserved, defective) == (before[0] + 1, before[1], before[2])

    # Nothing picked: refused in place, nothing opened.
    response = await post_form(
        client, form_url, "/aftersales/store/SH-S01", {"order_id": str(order_id), "kind": "return_refund"}
    )
    assert response.status_code == 400 and "请至少选择一件商品并填写数量" in response.text
    assert len(await cases(db)) == 1


async def test_one_refund_covers_the_same_buyers_other_order_picked_on_the_form(server, worker, db, client, make_user):
    first = await shipped_order(server, db, "P7", CABLE, buyer="buyer-merge")
    second = await shipped_order(server, db, "P8", [("MASK-10", 1, 9900)], buyer="buyer-merge")
    await shipped_order(server, db, "P9", CABLE, buyer="someone-else", name="赵强", phone="13700009999")
    await operator(client, make_user)
    form = (await client.get(f"/aftersales/new/{first}")).text
    assert f'data-testid="claim-lines-{second}"' in form and "P9" not in form
    cable, mask = (await line_ids(db, first))["CABLE-C1"], (await line_ids(db, second))["MASK-10"]
    response = await post_form(
        client,
        f"/aftersales/new/{first}",
        f"/aftersales/new/{first}",
        {
            "kind": "refund_only",
            f"qty.{first}.{cable}": "1",
            f"refund.{first}.{cable}": "20",
            f"qty.{second}.{mask}": "1",
            "reason": "质量问题，合并退款",
        },
    )
    assert response.status_code == 303, response.text
    [case] = await cases(db)
    assert sorted((line.order_id, line.refund_fen) for line in await case_lines(db, case.id or 0)) == [
        (first, 2000),
        (second, 9900),
    ]
    assert case.refund_fen == 11900
    page = (await client.get(f"/aftersales/{case.id}")).text
    assert page.count('data-testid="case-order"') == 2 and "¥119.00" in page
    # A refund typed as something other than yuan is refused in place; nothing is opened.
    response = await post_form(
        client,
        f"/aftersales/new/{first}",
        f"/aftersales/new/{first}",
        {"kind": "refund_only", f"qty.{first}.{cable}": "1", f"refund.{first}.{cable}": "二十"},
    )
    assert response.status_code == 400 and f"请以元为单位填写 {cable} 的退款金额" in response.text
    assert len(await cases(db)) == 1

"""The scan station's many-parcel confirmations, on orders the real worker routed and the sandbox carrier waybilled:
a whole wave confirmed in one action after a step naming its count (the stock deducted once, a held order's parcel
refused with the reason and the rest shipped), a file of waybill numbers confirmed chunk by chunk with its
progress (a bad file refused with the reason and nothing changed), and the result downloaded as CSV and Excel."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from typing import Any

import httpx
import pytest
from openpyxl import Workbook, load_workbook
from sqlmodel import col, select

from app.db import Database
from app.domain.fulfillment import scan_batches
from app.domain.fulfillment.models import ScanBatch, Shipment, ShippingDocument, ShippingDocumentEntry
from app.domain.inventory import services as inventory
from app.domain.inventory.models import MoveKind, StockMove
from app.domain.orders.models import Order, OrderStatus
from app.domain.processing import services as processing
from tests.integration.forms import login, post_form, upload_form
from tests.integration.processing.test_shipment_confirmation import ledger_rows, stock_table
from tests.integration.processing.test_shipment_scope import waybilled_orders

SCAN = "/fulfillment/scan"


async def waves_holding(db: Database, refs: list[str]) -> list[tuple[str, str]]:
    """The (warehouse, wave) of the documents these parcels are on (one, unless a half hour ended in between)."""
    async with db.reading() as session:
        query = (
            select(ShippingDocument.warehouse_code, ShippingDocument.wave)
            .join(ShippingDocumentEntry, col(ShippingDocumentEntry.document_id) == col(ShippingDocument.id))
            .where(col(ShippingDocumentEntry.order_ref).in_(refs))
            .distinct()
        )
        return sorted((str(w), str(v)) for w, v in (await session.exec(query)).all())


async def batches(db: Database) -> list[ScanBatch]:
    async with db.reading() as session:
        return list((await session.exec(select(ScanBatch).order_by(col(ScanBatch.id)))).all())


def csv_workbook(rows: list[list[str]]) -> bytes:
    return "\n".join(",".join(row) for row in rows).encode()


async def test_a_whole_wave_ships_at_once_and_its_held_parcel_is_refused(server, worker, db):
    parcels = await waybilled_orders(server, db, ["W1", "W2", "W3", "W4"])
    # W4 goes back to review after its waybill (its run failed): its parcel must not leave.
    async with db.transaction() as session:
        await processing.record_failure(session, parcels["W4"].order_id, "买家要求改地址，请核对")
    waves = await waves_holding(db, [s.ref for s in parcels.values()])
    assert waves and all(warehouse == parcels["W1"].warehouse_code for warehouse, _ in waves)
    before, moves_before = await stock_table(db), await ledger_rows(db)

    answers: list[dict[str, Any]] = []
    pages: list[str] = []
    async with httpx.AsyncClient(base_url=server) as operator:
        await login(operator, "operator", "operator-demo-123")
        station = await operator.get(SCAN)
        for warehouse, wave in waves:
            assert f'value="{warehouse}|{wave}"' in station.text
            # The wave's printed document leads to the same step.
            async with db.reading() as session:
                document = (
                    await session.exec(
                        select(ShippingDocument).where(
                            ShippingDocument.warehouse_code == warehouse, ShippingDocument.wave == wave
                        )
                    )
                ).first()
            printed = await operator.get(f"/fulfillment/documents/{document.id}")
            assert f"{SCAN}/wave?warehouse={warehouse}&amp;wave={wave}" in printed.text
            step = await operator.get(f"{SCAN}/wave", params={"pick": f"{warehouse}|{wave}"})
            assert step.status_code == 200, step.text
            count = int(re.search(r'data-testid="scan-wave-count" data-count="(\d+)"', step.text).group(1))
            assert f"确认该波次的 {count} 个包裹发货？" in step.text
            # A count that is no longer the wave's (a parcel added since the step) ships nothing.
            stale = await post_form(
                operator, SCAN, f"{SCAN}/wave", {"warehouse": warehouse, "wave": wave, "expected": str(count + 1)}
            )
            assert stale.status_code == 409, stale.text
            assert f"现在有 {count} 个已打单的包裹：请核对数量后再次确认。" in stale.text
            assert await stock_table(db) == before
            started = await post_form(
                operator, SCAN, f"{SCAN}/wave", {"warehouse": warehouse, "wave": wave, "expected": str(count)}
            )
            assert started.status_code == 303, started.text
            result = await operator.get(started.headers["location"])
            assert 'data-finished="yes"' in result.text
            pages.append(result.text)
            answers.extend((await batches(db))[-1].answers)
        held_reason = f"快递单号 {parcels['W4'].waybill_no} 的订单正在待审核：暂不要发出包裹。"
        assert any(held_reason in text for text in pages)

        by_number = {a["waybill_no"]: a for a in answers}
        assert set(by_number) == {s.waybill_no for s in parcels.values()}
        for name in ("W1", "W2", "W3"):
            assert by_number[parcels[name].waybill_no]["outcome"] == "shipped"
            assert by_number[parcels[name].waybill_no]["units"] == sum(line["qty"] for line in parcels[name].lines)
        refused = by_number[parcels["W4"].waybill_no]
        assert (refused["outcome"], refused["error"], refused["message"]) == ("refused", "order_held", held_reason)

        # The stock left once: on hand and reserved fall by the shipped parcels' units, one ledger row a line.
        after, moves_after = await stock_table(db), await ledger_rows(db)
        leaving: Counter[tuple[str, str]] = Counter()
        for name in ("W1", "W2", "W3"):
            for line in parcels[name].lines:
                leaving[(parcels[name].warehouse_code, line["sku"])] += line["qty"]
        new_moves = moves_after[len(moves_before) :]
        assert {m.kind for m in new_moves} == {MoveKind.shipment}
        booked: Counter[tuple[str, str]] = Counter()
        for move in new_moves:
            assert move.on_hand_delta == move.reserved_delta < 0
            booked[(move.warehouse_code, move.sku_code)] -= move.on_hand_delta
        assert booked == leaving
        for key, (on_hand, reserved) in before.items():
            assert after[key] == (on_hand - leaving.get(key, 0), reserved - leaving.get(key, 0)), key

        # The wave confirmed again: the shipped ones say so, the held one is refused again, nothing moves.
        for warehouse, wave in waves:
            step = await operator.get(f"{SCAN}/wave", params={"warehouse": warehouse, "wave": wave})
            count = re.search(r'data-count="(\d+)"', step.text).group(1)
            again = await post_form(
                operator, SCAN, f"{SCAN}/wave", {"warehouse": warehouse, "wave": wave, "expected": count}
            )
            assert again.status_code == 303, again.text
        repeated = [a for b in (await batches(db))[len(waves) :] for a in b.answers]
        assert Counter(a["outcome"] for a in repeated) == Counter({"already_shipped": 3, "refused": 1})
        assert await stock_table(db) == after and len(await ledger_rows(db)) == len(moves_after)

        first = (await batches(db))[0]
        csv_file = await operator.get(f"{SCAN}/batches/{first.id}/export", params={"format": "csv"})
        xlsx_file = await operator.get(f"{SCAN}/batches/{first.id}/export", params={"format": "xlsx"})
    assert csv_file.status_code == 200 and csv_file.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(csv_file.content.decode("utf-8-sig"))))
    assert table[0] == ["快递单号", "结果", "包裹", "扣减件数", "原因"]
    assert len(table) == len(first.answers) + 1
    sheet = load_workbook(io.BytesIO(xlsx_file.content), read_only=True).active
    # The Excel file holds the same table (its units as numbers).
    assert [["" if c is None else str(c) for c in row] for row in sheet.iter_rows(values_only=True)] == table
    labels = {"shipped": "已发货", "refused": "拒绝发货"}
    assert [(row[0], row[1], row[4]) for row in table[1:]] == [
        (a["waybill_no"], labels[a["outcome"]], a.get("message", "")) for a in first.answers
    ]
    async with db.reading() as session:
        statuses = {o.id: o.status for o in (await session.exec(select(Order)))}
        assert await inventory.ledger_mismatches(session) == []
    assert [statuses[parcels[n].order_id] for n in ("W1", "W2", "W3", "W4")] == [OrderStatus.shipped] * 3 + [
        OrderStatus.on_hold
    ]


async def test_a_file_of_waybill_numbers_is_confirmed_chunk_by_chunk(server, worker, db, monkeypatch):
    parcels = await waybilled_orders(server, db, ["F1", "F2", "F3"])
    numbers = [s.waybill_no for s in parcels.values()]
    monkeypatch.setattr(scan_batches, "MAX_WAYBILLS", 2)  # a wave of thousands, in small
    workbook = Workbook()
    worksheet = workbook.active
    worksheet.append(["运单号", "备注"])
    for number in [numbers[0], "NOPE-1", numbers[1], numbers[0], numbers[2]]:
        worksheet.append([number, "当日发"])
    content = io.BytesIO()
    workbook.save(content)
    async with httpx.AsyncClient(base_url=server) as operator:
        await login(operator, "operator", "operator-demo-123")
        started = await upload_form(operator, SCAN, f"{SCAN}/file", "wave.xlsx", content.getvalue())
        assert started.status_code == 303, started.text
        first = await operator.get(started.headers["location"])
        # Each number once, in the file's order; the first chunk is done and the page asks for the next.
        assert "已处理 2 / 4 个快递单号" in first.text and 'data-finished="no"' in first.text
        batch_id = (await batches(db))[-1].id
        following = f"{SCAN}/batches/{batch_id}/next"
        second = await post_form(operator, started.headers["location"], following, {})
        assert "已处理 4 / 4 个快递单号" in second.text and 'data-finished="yes"' in second.text
        assert "下载 CSV" in second.text
        # Asked once more (a page left open): nothing is confirmed twice.
        third = await post_form(operator, started.headers["location"], following, {})
        assert "已处理 4 / 4 个快递单号" in third.text
    (batch,) = await batches(db)
    assert [a["waybill_no"] for a in batch.answers] == [numbers[0], "NOPE-1", numbers[1], numbers[2]]
    assert [a["outcome"] for a in batch.answers] == ["shipped", "refused", "shipped", "shipped"]
    assert batch.answers[1]["message"] == "没有快递单号为 NOPE-1 的包裹。"
    async with db.reading() as session:
        shipped = (await session.exec(select(StockMove).where(StockMove.kind == MoveKind.shipment))).all()
        statuses = {s.ref: s.status for s in (await session.exec(select(Shipment)))}
    assert len(shipped) == 3 and all(statuses[s.ref] == "shipped" for s in parcels.values())


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("waybills.csv", csv_workbook([["单号"], ["SF1"]]), "表头（第 1 行）需要有“运单号”（或 waybill_no）列。"),
        ("waybills.csv", csv_workbook([["waybill_no"], [""]]), "文件表头下方没有快递单号。"),
        ("waybills.txt", b"waybill_no\nSF1\n", "无法读取此文件：只能导入 .csv 和 .xlsx 文件"),
        ("waybills.xlsx", b"PK\x03\x04 not really a workbook", "无法读取此文件：不是可读取的 Excel 文件"),
        ("waybills.csv", b"", "无法读取此文件：文件是空的"),
    ],
)
async def test_a_bad_file_is_refused_with_the_reason_and_nothing_changes(server, db, filename, content, message):
    before = await stock_table(db)
    async with httpx.AsyncClient(base_url=server) as operator:
        await login(operator, "operator", "operator-demo-123")
        answer = await upload_form(operator, SCAN, f"{SCAN}/file", filename, content)
    assert answer.status_code == 400, answer.text
    assert 'data-testid="scan-file-error"' in answer.text and message in answer.text
    assert await batches(db) == [] and await stock_table(db) == before


async def test_a_wave_the_warehouse_does_not_have_is_refused_with_the_reason(server, db):
    async with httpx.AsyncClient(base_url=server) as operator:
        await login(operator, "operator", "operator-demo-123")
        answer = await operator.get(f"{SCAN}/wave", params={"warehouse": "SH01", "wave": "<b>19990101-0000</b>"})
    assert answer.status_code == 400
    assert 'data-testid="scan-wave-error"' in answer.text
    assert "仓库 SH01 没有波次 &lt;b&gt;19990101-0000&lt;/b&gt;。" in answer.text and "<b>1999" not in answer.text

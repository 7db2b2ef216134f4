"""凭证导出: approved, unexported vouchers go into one batch for Kingdee (金蝶云星空), Yonyou U8 or JSON and are
marked exported; the sheets open with openpyxl with the templates' columns and balanced totals; a second export
exports nothing new; a re-export needs a reason and is recorded; viewers and operators cannot export; bad input is
said plainly."""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlmodel import col, select

from app.db import Database
from app.domain.accounts.models import AuditEntry, Role, TokenScope
from app.domain.accounts.services import Actor
from app.domain.finance import exports, vouchers
from app.domain.finance.models import ExportFileStatus, ExportTarget, Voucher, VoucherExport, VoucherStatus
from app.domain.finance.vouchers import VoucherFilters
from tests.integration.finance.conftest import sale_lines
from tests.integration.forms import login, post_form

DAY = date(2026, 11, 3)

KINGDEE_HEADER = [
    "FBillHead(GL_VOUCHER)", "FAccountBookID", "FAccountBookID#Name", "FDate", "FBUSDATE", "FYEAR", "FPERIOD",
    "FVOUCHERGROUPID", "FVOUCHERGROUPID#Name", "FVOUCHERGROUPNO", "FATTACHMENTS", "FISADJUSTVOUCHER",
    "FCreatorId#Name", "*Split*1", "FEntity", "FEXPLANATION", "FACCOUNTID", "FACCOUNTID#Name", "FCURRENCYID",
    "FCURRENCYID#Name", "FEXCHANGERATETYPE", "FEXCHANGERATE", "FAMOUNTFOR", "FDEBIT", "FCREDIT",
]  # fmt: skip
U8_HEADER = ["制单日期", "凭证类别字", "凭证号", "附单据数", "摘要", "科目编码", "金额借方", "金额贷方"]


async def finance_user(client, make_user) -> None:
    await make_user(Role.finance, username="finance")
    await login(client, "finance")


async def approved_vouchers(client, make_voucher, count: int = 3, day: date = DAY) -> list[Voucher]:
    made = [await make_voucher(day, sale_lines(11300 * (i + 1), 500)) for i in range(count)]
    response = await post_form(
        client, "/finance/vouchers/", "/finance/vouchers/approve", {"scope": "checked", "ids": [v.id for v in made]}
    )
    assert response.status_code == 303
    return made


async def export(client, **fields: str):
    return await post_form(client, "/finance/exports/", "/finance/exports/", fields)


async def batches(db: Database) -> list[VoucherExport]:
    async with db.reading() as session:
        return list((await session.exec(select(VoucherExport).order_by(col(VoucherExport.id)))).all())


async def statuses(db: Database) -> dict[int, tuple[str, int | None]]:
    async with db.reading() as session:
        rows = (await session.exec(select(Voucher))).all()
        return {v.id: (v.status, v.export_batch_id) for v in rows if v.id is not None}


async def downloaded(client, db: Database, batch_id: int):
    """The batch's file once the export job has written it (the embedded worker, or the arq worker on PostgreSQL)."""
    deadline = time.monotonic() + 60
    while True:
        async with db.reading() as session:
            batch = await session.get(VoucherExport, batch_id)
            assert batch is not None
            if batch.file_status == ExportFileStatus.ready.value:
                break
        assert time.monotonic() < deadline, "the export job did not write the file"
        await asyncio.sleep(0.2)
    response = await client.get(f"/finance/exports/{batch_id}/file")
    assert response.status_code == 200
    return response


def sheet_rows(content: bytes) -> list[list[object]]:
    workbook = load_workbook(io.BytesIO(content))
    return [list(row) for row in workbook.active.iter_rows(values_only=True)]


async def test_a_kingdee_export_marks_the_approved_vouchers_and_its_sheet_balances(
    client, db, make_user, make_voucher, arq_worker
):
    await finance_user(client, make_user)
    exported = await approved_vouchers(client, make_voucher)
    draft = await make_voucher(DAY)

    response = await export(client, target="kingdee", date_from="2026-11-03", date_to="2026-11-03")

    assert response.status_code == 303
    (batch,) = await batches(db)
    assert batch.target == "kingdee" and batch.voucher_count == 3 and batch.created_by == "finance"
    assert sorted(batch.voucher_ids) == sorted(v.id for v in exported)
    assert batch.debit_fen == batch.credit_fen == (11300 + 22600 + 33900 + 3 * 500)
    now = await statuses(db)
    assert all(now[v.id] == (VoucherStatus.exported.value, batch.id) for v in exported)
    assert now[draft.id] == (VoucherStatus.draft.value, None)
    page = await client.get(response.headers["location"])
    assert "批次 #1 已导出" in page.text and 'data-testid="export-batch" data-id="1"' in page.text

    download = await downloaded(client, db, batch.id)
    assert f"/finance/exports/{batch.id}/file" in (await client.get("/finance/exports/")).text
    done = await client.get(f"/finance/exports/{batch.id}/progress", headers={"HX-Request": "true"})
    assert 'data-file="ready"' in done.text and "batch-download" in done.text
    assert download.status_code == 200
    assert 'filename="vouchers-kingdee-batch-1.xlsx"' in download.headers["content-disposition"]
    rows = sheet_rows(download.content)
    assert rows[0] == KINGDEE_HEADER
    assert rows[1][:4] == ["凭证(序号)", "账簿(编码)", "账簿(名称)", "日期"]
    debit_at, credit_at, head_at = KINGDEE_HEADER.index("FDEBIT"), KINGDEE_HEADER.index("FCREDIT"), 0
    per_voucher: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    current = ""
    for row in rows[2:]:
        current = str(row[head_at] or current)
        per_voucher[current][0] += Decimal(str(row[debit_at]))
        per_voucher[current][1] += Decimal(str(row[credit_at]))
    assert len(per_voucher) == 3
    assert all(debit == credit for debit, credit in per_voucher.values())
    assert sum(d for d, _ in per_voucher.values()) == Decimal("693.00")
    assert len(rows) - 2 == 3 * 5  # five lines a voucher, one row each
    # downloading again gives the same sheet
    assert sheet_rows((await downloaded(client, db, batch.id)).content) == rows


async def test_a_u8_export_has_the_tools_columns_and_balances_per_voucher(
    client, db, make_user, make_voucher, arq_worker
):
    await finance_user(client, make_user)
    await approved_vouchers(client, make_voucher, count=2)

    response = await export(client, target="yonyou", period="2026-11")

    assert response.status_code == 303
    (batch,) = await batches(db)
    rows = sheet_rows((await downloaded(client, db, batch.id)).content)
    assert rows[0] == U8_HEADER
    per_voucher: dict[tuple[object, object, object], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for row in rows[1:]:
        key = (row[0], row[1], row[2])  # 制单日期 + 凭证类别字 + 凭证号 is one voucher
        per_voucher[key][0] += Decimal(str(row[6]))
        per_voucher[key][1] += Decimal(str(row[7]))
    assert sorted(per_voucher) == [("2026-11-03", "记", "1"), ("2026-11-03", "记", "2")]
    assert all(debit == credit for debit, credit in per_voucher.values())
    assert sum(c for _, c in per_voucher.values()) == Decimal("349.00")
    workbook = load_workbook(io.BytesIO((await downloaded(client, db, batch.id)).content))
    assert workbook.active.cell(row=2, column=7).number_format == "0.00"


async def test_exporting_twice_exports_nothing_new(client, db, make_user, make_voucher):
    await finance_user(client, make_user)
    await approved_vouchers(client, make_voucher, count=2)
    assert (await export(client, target="kingdee", period="2026-11")).status_code == 303

    again = await export(client, target="kingdee", period="2026-11")
    other_target = await export(client, target="yonyou", period="2026-11")

    assert again.status_code == 400 and "没有可导出的凭证" in again.text
    assert other_target.status_code == 400
    assert len(await batches(db)) == 1


async def test_a_re_export_needs_a_reason_and_is_recorded_and_audited(client, db, make_user, make_voucher):
    await finance_user(client, make_user)
    exported = await approved_vouchers(client, make_voucher, count=2)
    await export(client, target="kingdee", period="2026-11")
    (first,) = await batches(db)

    no_reason = await post_form(
        client, "/finance/exports/", f"/finance/exports/{first.id}/re-export", {"target": "kingdee", "reason": "  "}
    )
    assert no_reason.status_code == 400 and "请填写重新导出这个批次的原因" in no_reason.text
    assert len(await batches(db)) == 1

    again = await post_form(
        client,
        "/finance/exports/",
        f"/finance/exports/{first.id}/re-export",
        {"target": "yonyou", "reason": "金蝶导入失败，改用用友"},
    )

    assert again.status_code == 303
    first_after, second = await batches(db)
    assert second.re_export_of == first.id and second.reason == "金蝶导入失败，改用用友"
    assert second.target == "yonyou" and sorted(second.voucher_ids) == sorted(v.id for v in exported)
    assert first_after.voucher_ids == first.voucher_ids  # the first batch still says what it held
    assert all(batch == second.id for _, batch in (await statuses(db)).values())
    page = (await client.get("/finance/exports/")).text
    assert "金蝶导入失败，改用用友" in page
    async with db.reading() as session:
        (entry,) = (
            await session.exec(select(AuditEntry).where(AuditEntry.action == "finance.vouchers_reexported"))
        ).all()
    assert entry.actor_name == "finance" and entry.after["reason"] == "金蝶导入失败，改用用友"
    assert entry.before == {"batch": first.id, "target": "kingdee"}


async def test_a_json_batch_is_downloaded_and_read_through_the_api(
    client, db, make_user, make_token, make_voucher, arq_worker
):
    await finance_user(client, make_user)
    exported = await approved_vouchers(client, make_voucher, count=2)
    await export(client, target="json", period="2026-11")
    (batch,) = await batches(db)

    download = await downloaded(client, db, batch.id)
    secret = await make_token(TokenScope.read)
    api = await client.get(f"/api/v1/finance/exports/{batch.id}", headers={"Authorization": f"Bearer {secret}"})

    assert download.headers["content-type"].startswith("application/json")
    assert download.json() == api.json()
    body = api.json()
    assert body["batch"]["voucher_count"] == 2 and body["batch"]["target"] == "json"
    assert [v["id"] for v in body["vouchers"]] == [v.id for v in exported]
    assert all(v["status"] == "exported" and v["export_batch_id"] == batch.id for v in body["vouchers"])
    missing = await client.get("/api/v1/finance/exports/999", headers={"Authorization": f"Bearer {secret}"})
    assert missing.status_code == 404


async def test_bad_export_input_is_said_plainly_and_exports_nothing(client, db, make_user, make_voucher):
    await finance_user(client, make_user)
    await approved_vouchers(client, make_voucher, count=1)

    for fields, message in (
        ({"target": "kingdee"}, "请选择要导出的会计期间"),
        ({"target": "sap", "period": "2026-11"}, "请选择导出目标"),
        ({"target": "kingdee", "period": "2031-02"}, "没有会计期间 2031-02"),
        ({"target": "kingdee", "period": "11/2026"}, "不是会计期间"),
        ({"target": "kingdee", "date_from": "2026-02-30"}, "2026-02-30"),
        ({"target": "kingdee", "date_from": "2026-12-01", "date_to": "2026-12-31"}, "没有可导出的凭证"),
    ):
        response = await export(client, **fields)
        assert response.status_code == 400, fields
        assert 'data-testid="export-error"' in response.text
        assert message in response.text, (fields, re.findall(r'export-error">([^<]*)', response.text))
    assert await batches(db) == []
    assert (await client.get("/finance/exports/999/file")).status_code == 404


async def test_viewers_and_operators_cannot_export(client, db, make_user, make_voucher):
    await make_voucher(DAY)
    await make_user(Role.operator, username="clerk")
    await login(client, "clerk")

    assert (await client.get("/finance/exports/")).status_code == 403
    refused = await post_form(client, "/", "/finance/exports/", {"target": "kingdee", "period": "2026-11"})
    assert refused.status_code == 403
    assert await batches(db) == []


async def test_the_export_job_writes_the_file_in_steps_counted_for_the_progress_bar_once(db, make_voucher, monkeypatch):
    """No worker runs here: the batch waits with its file pending (a download is refused with the rows written so
    far), then the job writes it four rows a step, and a second run writes nothing."""
    made = [await make_voucher(DAY) for _ in range(3)]  # five lines each: 15 rows and the caption row
    actor = Actor("user", 1, "finance")
    async with db.transaction() as session:
        await vouchers.approve(session, actor, [v.id for v in made])
        batch = await exports.export_vouchers(session, actor, ExportTarget.kingdee, VoucherFilters(period="2026-11"))
    async with db.reading() as session:
        with pytest.raises(exports.ExportError) as refused:
            await exports.batch_file(session, batch.id)
    assert refused.value.code == "file_pending" and refused.value.status == 409
    assert "0 / 0" not in refused.value.message
    steps: list[tuple[int, int]] = []
    original = exports._progress

    async def counted(db_: Database, batch_id: int, done: int, total: int) -> None:
        steps.append((done, total))
        await original(db_, batch_id, done, total)

    monkeypatch.setattr(exports, "PROGRESS_ROWS", 4)
    monkeypatch.setattr(exports, "_progress", counted)

    assert await exports.write_batch_file(db, batch.id) == 16
    assert steps == [(4, 16), (8, 16), (12, 16), (16, 16)]
    assert await exports.write_batch_file(db, batch.id) == 0
    async with db.reading() as session:
        stored = await session.get(VoucherExport, batch.id)
        assert stored is not None and stored.file_status == "ready" and stored.file_rows_done == 16
        found = await exports.batch_file(session, batch.id)
    assert sheet_rows(found.content)[0] == KINGDEE_HEADER


async def test_re_exporting_a_batch_that_does_not_exist_is_not_found_and_makes_no_batch(client, db, make_user):
    await finance_user(client, make_user)

    forms = ({"target": "kingdee", "reason": "重新导入金蝶"}, {"target": "kingdee", "reason": " "}, {"target": "x"})
    for form in forms:
        response = await post_form(client, "/finance/exports/", "/finance/exports/9999/re-export", form)
        assert response.status_code == 404, form
        assert "页面不存在" in response.text

    assert await batches(db) == []

"""凭证导出: approved vouchers not yet exported go into one export batch for Kingdee (金蝶云星空), Yonyou (用友 U8)
or other systems (JSON), and are marked exported — in one transaction, so a voucher is never exported twice unless
someone re-exports a batch on purpose, with a reason, which is audited. A batch's file is written from its vouchers
whenever it is downloaded (an exported voucher no longer changes), so downloading again gives the same file.

Marking is synchronous: set-based statements per thousand vouchers (10,000 vouchers: 0.3 s on SQLite, 1.6 s on
PostgreSQL on a loaded test machine). The file is not: openpyxl writes some 40,000 cells a second, so 10,000 two-line
vouchers take 10-15 s for Kingdee. An outbox job (``write_export_file``) writes it a few thousand rows at a time,
counting the rows written for the export page's progress bar, and keeps it in the database for any web process
to serve; downloading again serves the same file."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import outbox
from app.db import Database, utcnow
from app.domain.accounts.services import Actor, audit
from app.domain.finance.models import (
    ExportFileStatus,
    ExportTarget,
    Voucher,
    VoucherExport,
    VoucherExportFile,
    VoucherLine,
    VoucherStatus,
)
from app.domain.finance.vouchers import ID_CHUNK, VoucherFilters, check_period, lines_of, voucher_json
from app.errors import DomainError
from app.i18n import N_
from app.sheets import XLSX_MEDIA_TYPE, TableWriter

#: The most vouchers one batch holds: a month of a busy shop; a longer range is exported in parts.
MAX_EXPORT = 50_000
MAX_REASON = 300
#: The outbox job that writes a batch's file, and the rows it writes between two progress updates.
FILE_JOB = "write_export_file"
PROGRESS_ROWS = 2_000

TARGET_LABELS = {
    ExportTarget.kingdee.value: N_("Kingdee Cloud Galaxy (金蝶云星空)"),
    ExportTarget.yonyou.value: N_("Yonyou U8 (用友 U8)"),
    ExportTarget.json.value: N_("JSON (other systems)"),
}

# 金蝶云星空 总账凭证 (GL_VOUCHER) 引入模板: the field keys of the template's first row and the captions of its
# second, as the template downloaded from 引入数据 → 下载模板 carries them (source: "金蝶财务2023年最新模板",
# cnblogs.com/IBPM/p/17050097.html, and 金蝶云社区 "按列引入" vip.kingdee.com/article/469886594367808000). A
# voucher's head fields fill its first row only; each of its lines is one row of the entry (FEntity) fields.
KINGDEE_HEAD = (
    ("FBillHead(GL_VOUCHER)", "凭证(序号)"),
    ("FAccountBookID", "账簿(编码)"),
    ("FAccountBookID#Name", "账簿(名称)"),
    ("FDate", "日期"),
    ("FBUSDATE", "业务日期"),
    ("FYEAR", "会计年度"),
    ("FPERIOD", "期间"),
    ("FVOUCHERGROUPID", "凭证字(编码)"),
    ("FVOUCHERGROUPID#Name", "凭证字(名称)"),
    ("FVOUCHERGROUPNO", "凭证号"),
    ("FATTACHMENTS", "附件数"),
    ("FISADJUSTVOUCHER", "调整期凭证"),
    ("FCreatorId#Name", "制单人(名称)"),
)
KINGDEE_ENTRY = (
    ("*Split*1", "间隔列"),
    ("FEntity", "分录(序号)"),
    ("FEXPLANATION", "摘要"),
    ("FACCOUNTID", "科目编码(编码)"),
    ("FACCOUNTID#Name", "科目编码(名称)"),
    ("FCURRENCYID", "币别(编码)"),
    ("FCURRENCYID#Name", "币别(名称)"),
    ("FEXCHANGERATETYPE", "汇率类型(编码)"),
    ("FEXCHANGERATE", "汇率"),
    ("FAMOUNTFOR", "原币金额"),
    ("FDEBIT", "借方金额"),
    ("FCREDIT", "贷方金额"),
)
KINGDEE_COLUMNS = tuple(key for key, _ in KINGDEE_HEAD + KINGDEE_ENTRY)
KINGDEE_CAPTIONS = tuple(caption for _, caption in KINGDEE_HEAD + KINGDEE_ENTRY)
#: 金蝶's preset codes: 记 is PRE001 of 凭证字, 人民币 PRE001 of 币别, 固定汇率 HLTX01_SYS of 汇率类型.
KINGDEE_WORD_CODE = "PRE001"
KINGDEE_CNY = ("PRE001", "人民币")
KINGDEE_RATE_TYPE = "HLTX01_SYS"

# 用友 U8 总账工具 凭证引入: the eight columns every line must have, in the tool's order — 制单日期, 凭证类别字,
# 业务(凭证)号, 附单据数, 摘要, 科目编码, 金额借方, 金额贷方; [制单日期 + 凭证类别字 + 凭证号] identifies a voucher
# and each row is one line (source: "用友U8凭证导入工具的使用方法", 100ksw.com/jsj/yynl/3/228066.shtml).
U8_COLUMNS = ("制单日期", "凭证类别字", "凭证号", "附单据数", "摘要", "科目编码", "金额借方", "金额贷方")


class ExportError(DomainError):
    """An export that cannot be made or a batch that cannot be found; the message says why."""

    title = N_("Voucher exports")
    messages: ClassVar[Mapping[str, str]] = {
        "bad_target": N_("Choose what the export is for: Kingdee, Yonyou U8 or JSON."),
        "scope_required": N_("Choose a period, or a first and a last day, to export."),
        "nothing_to_export": N_(
            "Nothing to export: no approved voucher in %(scope)s is waiting (exported vouchers are not exported "
            "again; approve drafts first)."
        ),
        "batch_not_found": N_("There is no export batch %(id)s."),
        "reason_required": N_("Say why this batch is exported again."),
        "reason_too_long": N_("The reason has more than %(max)s characters."),
        "changed": N_(
            "Some of these vouchers changed while they were being exported; nothing was exported. Try again."
        ),
        "too_many": N_("At most %(max)s vouchers go into one export; choose a shorter range."),
        "file_pending.queued": N_("The file of batch %(id)s waits for the export job to write it; try again soon."),
        "file_pending": N_(
            "The file of batch %(id)s is still being written (%(done)s of %(total)s rows); try again soon."
        ),
    }
    statuses: ClassVar[Mapping[str, int]] = {"batch_not_found": 404, "file_pending": 409}
    fields: ClassVar[Mapping[str, str]] = {
        "bad_target": "target",
        "scope_required": "period",
        "reason_required": "reason",
        "reason_too_long": "reason",
    }


def parse_target(text: str) -> ExportTarget:
    if text not in TARGET_LABELS:
        raise ExportError("bad_target")
    return ExportTarget(text)


def scope_text(filters: VoucherFilters) -> str:
    """The range an export covers, as its messages and audit rows name it: 2026-11, 2026-11-03 – 2026-11-05."""
    days = " – ".join(d.isoformat() for d in (filters.date_from, filters.date_to) if d is not None)
    return " · ".join(part for part in (filters.period, days) if part)


def _waiting(filters: VoucherFilters) -> Any:
    """The approved, unexported vouchers of the period and days of ``filters`` (its other filters do not apply)."""
    scope = VoucherFilters(period=filters.period, date_from=filters.date_from, date_to=filters.date_to)
    return (
        select(Voucher.id)
        .where(*scope.conditions())
        .where(col(Voucher.status) == VoucherStatus.approved.value, col(Voucher.export_batch_id).is_(None))
        .order_by(col(Voucher.id))
    )


async def _totals(session: AsyncSession, ids: Sequence[int]) -> tuple[int, int]:
    debit = credit = 0
    for start in range(0, len(ids), ID_CHUNK):
        d, c = (
            await session.exec(
                select(
                    func.coalesce(func.sum(Voucher.debit_fen), 0), func.coalesce(func.sum(Voucher.credit_fen), 0)
                ).where(col(Voucher.id).in_(ids[start : start + ID_CHUNK]))
            )
        ).one()
        debit, credit = debit + int(d), credit + int(c)
    return debit, credit


async def _mark(
    session: AsyncSession, actor: Actor, ids: Sequence[int], batch: VoucherExport, *, previous: int | None
) -> None:
    """Mark ``ids`` exported in ``batch``: those still approved and unexported (a first export), or those still in
    the ``previous`` batch (a re-export). A voucher that changed meanwhile refuses the whole export."""
    now = utcnow()
    marked = 0
    for start in range(0, len(ids), ID_CHUNK):
        chunk = col(Voucher.id).in_(ids[start : start + ID_CHUNK])
        guard = (
            col(Voucher.export_batch_id) == previous
            if previous is not None
            else (col(Voucher.status) == VoucherStatus.approved.value) & col(Voucher.export_batch_id).is_(None)
        )
        result = await session.exec(
            update(Voucher)
            .where(chunk, guard)
            .values(
                status=VoucherStatus.exported.value,
                exported_by=actor.name[:64],
                exported_at=now,
                export_batch_id=batch.id,
            )
        )
        marked += result.rowcount
    if marked != len(ids):
        raise ExportError("changed")


async def _new_batch(
    session: AsyncSession,
    actor: Actor,
    target: ExportTarget,
    ids: Sequence[int],
    *,
    previous: VoucherExport | None = None,
    reason: str = "",
) -> VoucherExport:
    """A batch of ``ids`` with their totals, and the vouchers marked exported in it."""
    debit, credit = await _totals(session, ids)
    batch = VoucherExport(
        target=target.value,
        created_by=actor.name[:64],
        created_at=utcnow(),
        voucher_ids=list(ids),
        voucher_count=len(ids),
        debit_fen=debit,
        credit_fen=credit,
        re_export_of=previous.id if previous is not None else None,
        reason=reason,
    )
    session.add(batch)
    await session.flush()
    await _mark(session, actor, ids, batch, previous=previous.id if previous is not None else None)
    batch.file_status = ExportFileStatus.pending.value
    await outbox.stage(session, FILE_JOB, batch.id, dedupe_key=f"export-file:{batch.id}")
    return batch


async def export_vouchers(
    session: AsyncSession, actor: Actor, target: ExportTarget, filters: VoucherFilters, *, ip: str | None = None
) -> VoucherExport:
    """A new batch of the approved, not yet exported vouchers the period / days of ``filters`` keep, for
    ``target``; the vouchers are marked exported in it. Nothing waiting is a refusal, not an empty batch."""
    if not (filters.period or filters.date_from or filters.date_to):
        raise ExportError("scope_required")
    if filters.period:
        await check_period(session, filters.period)
    ids = list((await session.exec(_waiting(filters).limit(MAX_EXPORT + 1).with_for_update())).all())
    if not ids:
        raise ExportError("nothing_to_export", scope=scope_text(filters))
    if len(ids) > MAX_EXPORT:
        raise ExportError("too_many", max=f"{MAX_EXPORT:,}")
    batch = await _new_batch(session, actor, target, ids)
    debit = batch.debit_fen
    await audit(
        session,
        actor,
        "finance.vouchers_exported",
        target_type="voucher_export",
        target_id=batch.id,
        after={"target": target.value, "scope": scope_text(filters), "count": len(ids), "debit_fen": debit},
        ip=ip,
    )
    return batch


async def load_batch(session: AsyncSession, batch_id: int) -> VoucherExport:
    batch = await session.get(VoucherExport, batch_id)
    if batch is None:
        raise ExportError("batch_not_found", id=batch_id)
    return batch


async def re_export(
    session: AsyncSession,
    actor: Actor,
    batch_id: int,
    target_text: str,
    reason: str,
    *,
    ip: str | None = None,
) -> VoucherExport:
    """重新导出, on purpose: the vouchers still in batch ``batch_id`` go into a new batch for the target that names
    the old one and why (an import that failed on the other side, a second ledger); audited. A batch that does not
    exist is not found, whatever else the form says."""
    old = await load_batch(session, batch_id)
    target = parse_target(target_text)
    reason = " ".join(reason.split())
    if not reason:
        raise ExportError("reason_required")
    if len(reason) > MAX_REASON:
        raise ExportError("reason_too_long", max=MAX_REASON)
    held = select(Voucher.id).where(col(Voucher.export_batch_id) == batch_id).order_by(col(Voucher.id))
    ids = [voucher_id for voucher_id in (await session.exec(held.with_for_update())).all() if voucher_id is not None]
    if not ids:
        raise ExportError("nothing_to_export", scope=f"#{batch_id}")
    batch = await _new_batch(session, actor, target, ids, previous=old, reason=reason)
    await audit(
        session,
        actor,
        "finance.vouchers_reexported",
        target_type="voucher_export",
        target_id=batch.id,
        before={"batch": old.id, "target": old.target},
        after={"target": target.value, "reason": reason, "count": len(ids)},
        ip=ip,
    )
    return batch


async def recent_batches(session: AsyncSession, *, limit: int = 50) -> list[VoucherExport]:
    """The newest batches first."""
    query = select(VoucherExport).order_by(col(VoucherExport.id).desc()).limit(limit)
    return list((await session.exec(query)).all())


# --- a batch's file ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchFile:
    content: bytes
    filename: str
    media_type: str


async def batch_vouchers(session: AsyncSession, batch: VoucherExport) -> list[tuple[Voucher, list[VoucherLine]]]:
    """The batch's vouchers in number order, each with its lines."""
    ids = list(batch.voucher_ids)
    vouchers: list[Voucher] = []
    for start in range(0, len(ids), ID_CHUNK):
        vouchers.extend(
            (await session.exec(select(Voucher).where(col(Voucher.id).in_(ids[start : start + ID_CHUNK])))).all()
        )
    vouchers.sort(key=lambda v: (v.period, v.word, v.number))
    lines = await lines_of(session, [v.id for v in vouchers if v.id is not None])
    return [(voucher, lines.get(voucher.id or 0, [])) for voucher in vouchers]


def yuan_cell(fen: int) -> Decimal:
    """An amount as the sheets carry it: yuan, two decimals."""
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def kingdee_rows(vouchers: Sequence[tuple[Voucher, Sequence[VoucherLine]]]) -> list[list[Any]]:
    rows: list[list[Any]] = [list(KINGDEE_CAPTIONS)]
    for index, (voucher, lines) in enumerate(vouchers, start=1):
        year, month = voucher.period.split("-")
        head: list[Any] = [
            str(index),
            "",  # 账簿: the customer's own book code, filled in Kingdee's import dialog (引入时指定账簿)
            "",
            voucher.voucher_date.isoformat(),
            voucher.voucher_date.isoformat(),
            int(year),
            int(month),
            KINGDEE_WORD_CODE,
            voucher.word,
            voucher.number,
            0,
            "false",
            voucher.approved_by or "",
        ]
        for position, line in enumerate(lines, start=1):
            amount = line.debit_fen or line.credit_fen
            rows.append(
                [
                    *(head if position == 1 else [""] * len(head)),
                    "",
                    position,
                    line.summary,
                    line.account_code,
                    line.account_name,
                    *KINGDEE_CNY,
                    KINGDEE_RATE_TYPE,
                    1,
                    yuan_cell(amount),
                    yuan_cell(line.debit_fen),
                    yuan_cell(line.credit_fen),
                ]
            )
    return rows


def u8_rows(vouchers: Sequence[tuple[Voucher, Sequence[VoucherLine]]]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for voucher, lines in vouchers:
        for line in lines:
            rows.append(
                [
                    voucher.voucher_date.isoformat(),
                    voucher.word,
                    str(voucher.number),
                    0,
                    line.summary,
                    line.account_code,
                    yuan_cell(line.debit_fen),
                    yuan_cell(line.credit_fen),
                ]
            )
    return rows


def batch_json(batch: VoucherExport, vouchers: Sequence[tuple[Voucher, Sequence[VoucherLine]]]) -> dict[str, Any]:
    """A batch as the API gives it: what it is, and its vouchers with their lines."""
    return {
        "batch": {
            "id": batch.id,
            "target": batch.target,
            "created_by": batch.created_by,
            "created_at": batch.created_at.isoformat(),
            "voucher_count": batch.voucher_count,
            "debit_fen": batch.debit_fen,
            "credit_fen": batch.credit_fen,
            "re_export_of": batch.re_export_of,
            "reason": batch.reason,
        },
        "vouchers": [voucher_json(voucher, lines) for voucher, lines in vouchers],
    }


def _sheet_of(target: str) -> tuple[Sequence[str], Any] | None:
    """The headers and the row writer of a target's sheet; None for JSON."""
    if target == ExportTarget.kingdee.value:
        return KINGDEE_COLUMNS, kingdee_rows
    if target == ExportTarget.yonyou.value:
        return U8_COLUMNS, u8_rows
    return None


def _filename(batch: VoucherExport) -> str:
    return f"vouchers-{batch.target}-batch-{batch.id}.{'json' if _sheet_of(batch.target) is None else 'xlsx'}"


def render_batch(batch: VoucherExport, vouchers: Sequence[tuple[Voucher, Sequence[VoucherLine]]]) -> BatchFile:
    """A batch's file for its target, all at once: the Kingdee or U8 import sheet, or the JSON."""
    sheet = _sheet_of(batch.target)
    if sheet is None:
        body = json.dumps(batch_json(batch, vouchers), ensure_ascii=False, indent=1)
        return BatchFile(body.encode(), _filename(batch), "application/json")
    headers, rows_of = sheet
    writer = TableWriter("凭证", headers)
    writer.append(rows_of(vouchers))
    return BatchFile(writer.content(), _filename(batch), XLSX_MEDIA_TYPE)


async def _progress(db: Database, batch_id: int, done: int, total: int) -> None:
    async with db.transaction() as session:
        await session.exec(
            update(VoucherExport).where(col(VoucherExport.id) == batch_id).values(file_rows=total, file_rows_done=done)
        )


async def write_batch_file(db: Database, batch_id: int) -> int:
    """The export job's work: write the batch's file a few thousand rows at a time (each step counted for the
    progress bar, the writing in a thread), then keep it and mark the batch ready in one transaction. A batch
    whose file is kept already is left as it is (the job may run twice). Returns the rows written."""
    async with db.reading() as session:
        batch = await load_batch(session, batch_id)
        kept = await session.get(VoucherExportFile, batch_id)
        if kept is not None and batch.file_status == ExportFileStatus.ready.value:
            return 0
        vouchers = await batch_vouchers(session, batch)
    sheet = _sheet_of(batch.target)
    if sheet is None:
        found, total = render_batch(batch, vouchers), len(vouchers)
    else:
        headers, rows_of = sheet
        rows = rows_of(vouchers)
        total = len(rows)
        writer = await asyncio.to_thread(TableWriter, "凭证", headers)
        for start in range(0, total, PROGRESS_ROWS):
            await asyncio.to_thread(writer.append, rows[start : start + PROGRESS_ROWS])
            await _progress(db, batch_id, min(start + PROGRESS_ROWS, total), total)
        found = BatchFile(await asyncio.to_thread(writer.content), _filename(batch), XLSX_MEDIA_TYPE)
    async with db.transaction() as session:
        kept = await session.get(VoucherExportFile, batch_id)
        if kept is not None:
            await session.delete(kept)
            await session.flush()
        session.add(
            VoucherExportFile(
                batch_id=batch_id,
                filename=found.filename,
                media_type=found.media_type,
                content=found.content,
                written_at=utcnow(),
            )
        )
        await session.exec(
            update(VoucherExport)
            .where(col(VoucherExport.id) == batch_id)
            .values(file_status=ExportFileStatus.ready.value, file_rows=total, file_rows_done=total)
        )
    return total


async def batch_file(session: AsyncSession, batch_id: int) -> BatchFile:
    """The batch's file as the job kept it; a refusal while it is being written. A batch exported before files
    were kept has its file written now."""
    batch = await load_batch(session, batch_id)
    kept = await session.get(VoucherExportFile, batch_id)
    if kept is not None:
        return BatchFile(kept.content, kept.filename, kept.media_type)
    if batch.file_status == ExportFileStatus.pending.value:
        if not batch.file_rows:
            raise ExportError("file_pending", "queued", id=batch_id)
        raise ExportError("file_pending", id=batch_id, done=f"{batch.file_rows_done:,}", total=f"{batch.file_rows:,}")
    return render_batch(batch, await batch_vouchers(session, batch))


__all__ = [
    "FILE_JOB",
    "KINGDEE_CAPTIONS",
    "KINGDEE_COLUMNS",
    "MAX_EXPORT",
    "TARGET_LABELS",
    "U8_COLUMNS",
    "BatchFile",
    "ExportError",
    "batch_file",
    "batch_json",
    "batch_vouchers",
    "export_vouchers",
    "kingdee_rows",
    "load_batch",
    "parse_target",
    "re_export",
    "recent_batches",
    "render_batch",
    "scope_text",
    "u8_rows",
    "write_batch_file",
]

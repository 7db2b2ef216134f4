"""CSV / Excel import of orders: the upload is stored encrypted, a background job reads it and ingests order by
order, then the file is dropped (the orders are kept).

One row per order line; rows with the same shop and order id form one order. Columns (a header row, English
or Chinese names): shop, order_id, status, created_at, paid_at, buyer_nick, receiver_name, phone, province,
city, district, address, sku, title, qty, unit_price (yuan), line_paid (yuan, optional), shipping (yuan),
discount (yuan), buyer_message, seller_memo, tags (separated by ;), channel (optional, checked against the
shop). Each order becomes the generic JSON format (money in fen) and goes through the same pipeline as a
webhook, with the same bounds; an order that fails lands in the ingest-error queue with the row numbers it
came from.

Limits, so that one file cannot hold up the worker or exhaust its memory: the file is at most MAX_FILE_BYTES; an
Excel file unpacks to at most MAX_UNPACKED_BYTES (checked from the archive's directory before anything is
unpacked: a zip bomb is refused unread); at most MAX_ROWS rows of data (blank rows aside) in at most
MAX_SHEET_ROWS rows in all, MAX_COLUMNS columns, MAX_CELLS filled cells, MAX_CELL_CHARS characters a cell.
A file over any limit is refused as a whole and nothing of it is imported.

Parsing runs in a thread, so the event loop it shares with the web pages (the embedded worker) keeps
answering. Each order's ingest and the import's progress counter are one transaction, so a second run of the
same import (a redelivered job) carries on where the first stopped and never files an order or an error twice.
"""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from app import outbox
from app.db import Database, utcnow
from app.domain.accounts.services import Actor, audit
from app.domain.channels.adapters.base import NormalizeError, quantity, yuan_to_fen
from app.domain.channels.models import ImportStatus, IngestSource, OrderImport
from app.domain.channels.services import Checkpoint, IngestResult, ingest, record_error
from app.domain.orders import pii
from app.domain.shops import services as shop_readers
from app.domain.shops.models import Shop
from app.errors import DomainError
from app.i18n import N_, gettext
from app.settings import Settings

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_UNPACKED_BYTES = 50 * 1024 * 1024
MAX_ARCHIVE_ENTRIES = 1_000
MAX_ROWS = 10_000
MAX_SHEET_ROWS = 100_000
MAX_COLUMNS = 60
MAX_CELLS = 300_000
MAX_CELL_CHARS = 5_000

#: Accepted header names -> column.
HEADERS = {
    "shop": "shop",
    "店铺": "shop",
    "店铺编码": "shop",
    "channel": "channel",
    "渠道": "channel",
    "order_id": "order_id",
    "订单号": "order_id",
    "status": "status",
    "状态": "status",
    "created_at": "created_at",
    "下单时间": "created_at",
    "paid_at": "paid_at",
    "付款时间": "paid_at",
    "buyer_nick": "buyer_nick",
    "买家昵称": "buyer_nick",
    "receiver_name": "receiver_name",
    "收货人": "receiver_name",
    "phone": "phone",
    "手机": "phone",
    "手机号": "phone",
    "province": "province",
    "省份": "province",
    "city": "city",
    "城市": "city",
    "district": "district",
    "区县": "district",
    "address": "address",
    "详细地址": "address",
    "sku": "sku",
    "商品编码": "sku",
    "title": "title",
    "商品名称": "title",
    "qty": "qty",
    "数量": "qty",
    "unit_price": "unit_price",
    "单价": "unit_price",
    "line_paid": "line_paid",
    "行实付": "line_paid",
    "shipping": "shipping",
    "运费": "shipping",
    "discount": "discount",
    "优惠": "discount",
    "buyer_message": "buyer_message",
    "买家留言": "buyer_message",
    "seller_memo": "seller_memo",
    "卖家备注": "seller_memo",
    "tags": "tags",
    "标签": "tags",
}

#: The limits as the import page states them.
LIMITS = {"size": MAX_FILE_BYTES // 1024 // 1024, "rows": f"{MAX_ROWS:,}", "columns": MAX_COLUMNS}


class ImportFileError(DomainError, ValueError):
    """The file as a whole cannot be read (not CSV/Excel, no header, over a limit); the message says why."""

    messages: ClassVar[Mapping[str, str]] = {
        "empty": N_("the file is empty"),
        "too_large": N_("the file has %(size)s MB; at most %(max)s MB can be imported"),
        "not_excel": N_("not a readable Excel file"),
        "unpacks_too_large": N_("the Excel file unpacks to %(size)s MB; at most %(max)s MB can be imported"),
        "no_sheet": N_("the workbook has no sheet"),
        "not_text": N_("the CSV is neither UTF-8 nor GBK text"),
        "bad_csv": N_("the CSV cannot be read: %(reason)s"),
        "sheet_too_long": N_("the sheet has more than %(max)s rows"),
        "too_many_columns": N_("row %(row)s has more than %(max)s columns"),
        "too_many_rows": N_("the file has more than %(max)s rows; split it and import the parts"),
        "cell_too_long": N_("row %(row)s has a cell of more than %(max)s characters"),
        "too_many_cells": N_("the file has more than %(max)s filled cells"),
        "no_header": N_("the header row must name at least the shop and order_id columns"),
        "wrong_type": N_("only .csv and .xlsx files can be imported"),
    }


class ImportOvertaken(RuntimeError):
    """Another run of the same import got ahead of this one; this one stops and leaves the rest to it."""


@dataclass
class ImportedOrder:
    shop_code: str
    rows: list[int] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)
    problem: NormalizeError | None = None


def check_size(content: bytes) -> None:
    if not content:
        raise ImportFileError("empty")
    if len(content) > MAX_FILE_BYTES:
        raise ImportFileError("too_large", size=f"{len(content) / 1024 / 1024:.1f}", max=MAX_FILE_BYTES // 1024 // 1024)


def check_archive(content: bytes) -> None:
    """An Excel file is a zip archive: refuse one that would unpack to more than MAX_UNPACKED_BYTES.

    Only the archive's directory is read. Python's zipfile never inflates an entry beyond the size the
    directory declares, so checking the declared sizes bounds what parsing can unpack.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise ImportFileError("not_excel") from exc
    unpacked = sum(entry.file_size for entry in entries)
    if len(entries) > MAX_ARCHIVE_ENTRIES or unpacked > MAX_UNPACKED_BYTES:
        raise ImportFileError(
            "unpacks_too_large", size=f"{unpacked / 1024 / 1024:,.0f}", max=MAX_UNPACKED_BYTES // 1024 // 1024
        )


def _excel_rows(content: bytes) -> Iterator[Sequence[Any]]:
    from openpyxl import load_workbook

    check_archive(content)
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise ImportFileError("not_excel") from exc
    try:
        sheet = workbook.active
        if sheet is None:
            raise ImportFileError("no_sheet")
        try:
            yield from sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS + 1)
        except Exception as exc:  # a sheet that breaks half-way
            raise ImportFileError("not_excel") from exc
    finally:
        workbook.close()


def _csv_rows(content: bytes) -> Iterator[Sequence[Any]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            decoded = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ImportFileError("not_text")
    try:
        yield from csv.reader(io.StringIO(decoded))
    except csv.Error as exc:  # a cell over the csv module's own limit, a stray NUL
        raise ImportFileError("bad_csv", reason=str(exc)[:200]) from exc


def _bounded(rows: Iterable[Sequence[Any]]) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells as text) of the non-blank rows, refusing the file at the first limit it passes."""
    data_rows = cells = 0
    for number, raw in enumerate(rows, start=1):
        if number > MAX_SHEET_ROWS:
            raise ImportFileError("sheet_too_long", max=f"{MAX_SHEET_ROWS:,}")
        values = ["" if value is None else str(value) for value in raw]
        if not any(value.strip() for value in values):
            continue
        if len(values) > MAX_COLUMNS and any(value.strip() for value in values[MAX_COLUMNS:]):
            raise ImportFileError("too_many_columns", row=number, max=MAX_COLUMNS)
        data_rows += 1
        if data_rows > MAX_ROWS + 1:  # the header row, then at most MAX_ROWS
            raise ImportFileError("too_many_rows", max=f"{MAX_ROWS:,}")
        if any(len(value) > MAX_CELL_CHARS for value in values):
            raise ImportFileError("cell_too_long", row=number, max=f"{MAX_CELL_CHARS:,}")
        cells += sum(1 for value in values if value)
        if cells > MAX_CELLS:
            raise ImportFileError("too_many_cells", max=f"{MAX_CELLS:,}")
        yield number, values[:MAX_COLUMNS]


def read_rows(filename: str, content: bytes) -> list[tuple[int, dict[str, str]]]:
    """The file's rows as (row number, {column: text}) by our column names; Excel (.xlsx) or CSV (UTF-8 or GBK)."""
    check_size(content)
    source = _excel_rows(content) if filename.lower().endswith(".xlsx") else _csv_rows(content)
    table = _bounded(source)
    first = next(table, None)
    if first is None:
        raise ImportFileError("empty")
    header = [HEADERS.get(name.strip().lower(), HEADERS.get(name.strip(), "")) for name in first[1]]
    if "order_id" not in header or "shop" not in header:
        raise ImportFileError("no_header")
    return [
        (number, {name: value.strip() for name, value in zip(header, values, strict=False) if name})
        for number, values in table
    ]


def _money(row: dict[str, str], column: str, row_no: int, default: str = "0") -> int:
    try:
        return yuan_to_fen(row.get(column) or default, column)
    except NormalizeError as exc:
        label = gettext("row %(row)s, %(column)s") % {"row": row_no, "column": column}
        raise exc.renamed(f"row {row_no}: {column}", label=label) from exc


def group_orders(rows: list[tuple[int, dict[str, str]]]) -> list[ImportedOrder]:
    """Rows -> orders in the generic JSON format; a row that cannot be read marks its order as failed."""
    grouped: dict[tuple[str, str], ImportedOrder] = {}
    for index, row in rows:
        key = (row.get("shop", ""), row.get("order_id", ""))
        order = grouped.setdefault(key, ImportedOrder(shop_code=key[0]))
        order.rows.append(index)
        payload = order.payload
        try:
            if not payload:
                payload.update(
                    {
                        "shop": key[0],
                        "channel": row.get("channel", ""),
                        "order_id": key[1],
                        "status": row.get("status") or "paid",
                        "created_at": row.get("created_at", ""),
                        "paid_at": row.get("paid_at") or None,
                        "buyer": {"nick": row.get("buyer_nick", "")},
                        "receiver": {
                            key: row.get(column, "")
                            for key, column in (
                                ("name", "receiver_name"),
                                ("phone", "phone"),
                                ("province", "province"),
                                ("city", "city"),
                                ("district", "district"),
                                ("address", "address"),
                            )
                        },
                        "shipping_fen": _money(row, "shipping", index),
                        "discount_fen": _money(row, "discount", index),
                        "buyer_message": row.get("buyer_message", ""),
                        "seller_memo": row.get("seller_memo", ""),
                        "tags": [tag.strip() for tag in row.get("tags", "").split(";") if tag.strip()],
                        "lines": [],
                    }
                )
            qty = quantity(row.get("qty") or "1", f"row {index}: qty", index)
            unit = _money(row, "unit_price", index, default="")
            line = {
                "line_id": str(len(payload["lines"]) + 1),
                "sku": row.get("sku", ""),
                "title": row.get("title", ""),
                "qty": qty,
                "unit_price_fen": unit,
                "paid_fen": _money(row, "line_paid", index, default="") if row.get("line_paid") else unit * qty,
            }
            payload["lines"].append(line)
        except NormalizeError as exc:
            order.problem = order.problem or exc
    for order in grouped.values():
        if order.payload:
            lines = order.payload["lines"]
            order.payload["paid_fen"] = (
                sum(line["paid_fen"] for line in lines) + order.payload["shipping_fen"] - order.payload["discount_fen"]
            )
    return list(grouped.values())


def parse_file(filename: str, content: bytes) -> list[ImportedOrder]:
    """The orders of an uploaded file, within the limits (blocking: run it in a thread)."""
    return group_orders(read_rows(filename, content))


async def create_import(
    session: AsyncSession, settings: Settings, filename: str, content: bytes, actor: Actor, ip: str | None
) -> OrderImport:
    """Store the uploaded file (encrypted: it holds buyers' phones and addresses) and stage the job that reads
    it. What can be checked without parsing is checked here, so the operator hears of it at once."""
    if not filename.lower().endswith((".csv", ".xlsx")):
        raise ImportFileError("wrong_type")
    check_size(content)
    if filename.lower().endswith(".xlsx"):
        check_archive(content)
    job = OrderImport(
        filename=filename[:200],
        content=pii.seal(settings.secret_key, content),
        created_by=actor.name,
        created_at=utcnow(),
    )
    session.add(job)
    await session.flush()
    assert job.id is not None
    await outbox.stage(session, "import_orders", job.id, dedupe_key=f"import_orders:{job.id}")
    await audit(
        session,
        actor,
        "orders.import_started",
        target_type="order_import",
        target_id=job.id,
        after={"filename": filename, "bytes": len(content)},
        ip=ip,
    )
    return job


async def _finish(db: Database, import_id: int, status: ImportStatus, message: str = "") -> None:
    """End the import and drop the file: the orders (or the reason) are what is kept."""
    async with db.transaction() as session:
        job = await session.get(OrderImport, import_id)
        assert job is not None
        if job.status in (ImportStatus.done, ImportStatus.failed):
            return
        job.status, job.message, job.finished_at, job.content = status, message[:1000], utcnow(), b""
        session.add(job)


def _checkpoint(import_id: int, done: int) -> Checkpoint:
    """Count order ``done`` as read, in the transaction that filed it; refuse if another run already did."""

    async def checkpoint(session: AsyncSession, result: IngestResult) -> None:
        moved = await session.exec(
            update(OrderImport)
            .where(col(OrderImport.id) == import_id, col(OrderImport.processed_orders) == done - 1)
            .values(
                processed_orders=done,
                ok_orders=OrderImport.ok_orders + int(result.ok),
                failed_orders=OrderImport.failed_orders + int(not result.ok),
            )
        )
        if moved.rowcount != 1:
            raise ImportOvertaken(import_id)

    return checkpoint


async def run_import(db: Database, settings: Settings, import_id: int) -> dict[str, int]:
    """Read the file and ingest each order, counting progress as it goes.

    Safe to run twice, or twice at once: a run starts after the orders already counted, and an order is filed
    only together with its count, so a run that falls behind another stops without filing anything twice.
    """
    async with db.reading() as session:
        job = await session.get(OrderImport, import_id)
    if job is None or job.status in (ImportStatus.done, ImportStatus.failed):
        return {}
    content = pii.unseal(settings.secret_key, job.content)
    if content is None:
        await _finish(db, import_id, ImportStatus.failed, gettext("the stored file can no longer be read"))
        return {}
    try:
        orders = await asyncio.to_thread(parse_file, job.filename, content)
    except ImportFileError as exc:
        await _finish(db, import_id, ImportStatus.failed, str(exc))
        return {}
    async with db.transaction() as session:
        row = await session.get(OrderImport, import_id)
        assert row is not None
        if row.status in (ImportStatus.done, ImportStatus.failed):  # another run finished while this one parsed
            return {}
        row.status, row.total_orders = ImportStatus.running, len(orders)
        session.add(row)
        start = row.processed_orders
    async with db.reading() as session:
        shops: dict[str, Shop | None] = {
            code: await shop_readers.shop_by_code(session, code) for code in {o.shop_code for o in orders[start:]}
        }
    for done, order in enumerate(orders[start:], start=start + 1):
        try:
            await _ingest_imported(db, settings, shops.get(order.shop_code), order, import_id, done)
        except ImportOvertaken:
            return {"overtaken_at": done}
    await _finish(db, import_id, ImportStatus.done)
    async with db.reading() as session:
        final = await session.get(OrderImport, import_id)
    assert final is not None
    return {"orders": final.total_orders, "ok": final.ok_orders, "failed": final.failed_orders}


async def _ingest_imported(
    db: Database, settings: Settings, shop: Shop | None, order: ImportedOrder, import_id: int, done: int
) -> IngestResult:
    rows = ", ".join(str(n) for n in order.rows)
    checkpoint = _checkpoint(import_id, done)

    async def failed(field: str, message: str) -> IngestResult:
        return await record_error(
            db,
            shop,
            order.payload,
            IngestSource.csv_import,
            field,
            message,
            import_id=import_id,
            checkpoint=checkpoint,
            secret_key=settings.secret_key,
        )

    if order.problem is not None:
        return await failed(order.problem.field, order.problem.message)
    if shop is None:
        return await failed(
            f"rows {rows}: shop", gettext("no shop has the code %(code)s") % {"code": order.shop_code[:64]}
        )
    channel = order.payload.get("channel")
    if channel and channel != shop.channel.value:
        return await failed(
            f"rows {rows}: channel",
            gettext("shop %(shop)s is on %(channel)s, not %(given)s")
            % {"shop": shop.code, "channel": shop.channel.value, "given": str(channel)[:64]},
        )
    return await ingest(
        db, settings, shop, order.payload, IngestSource.csv_import, import_id=import_id, checkpoint=checkpoint
    )

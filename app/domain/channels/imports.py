"""CSV / Excel import of orders: the file is stored, a background job reads it and ingests order by order.

One row per order line; rows with the same shop and order id form one order. Columns (a header row, English
or Chinese names): shop, order_id, status, created_at, paid_at, buyer_nick, receiver_name, phone, province,
city, district, address, sku, title, qty, unit_price (yuan), line_paid (yuan, optional), shipping (yuan),
discount (yuan), buyer_message, seller_memo, tags (separated by ;), channel (optional, checked against the
shop). Each order becomes the generic JSON format (money in fen) and goes through the same pipeline as a
webhook; an order that fails lands in the ingest-error queue with the row numbers it came from.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app import outbox
from app.db import Database, utcnow
from app.domain.accounts.services import Actor, audit
from app.domain.channels.adapters.base import NormalizeError, yuan_to_fen
from app.domain.channels.models import ImportStatus, IngestSource, OrderImport, Shop
from app.domain.channels.services import IngestResult, ingest, record_error, shop_by_code
from app.settings import Settings

MAX_FILE_BYTES = 20 * 1024 * 1024
PROGRESS_EVERY = 10

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


class ImportFileError(ValueError):
    """The file as a whole cannot be read (not CSV/Excel, no header, too big)."""


@dataclass
class ImportedOrder:
    shop_code: str
    rows: list[int] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)
    problem: NormalizeError | None = None


def read_rows(filename: str, content: bytes) -> list[dict[str, str]]:
    """The file's rows as {column: text}, by our column names; Excel (.xlsx) or CSV (UTF-8 or GBK)."""
    if filename.lower().endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).active
        except Exception as exc:  # openpyxl raises many kinds for a broken file
            raise ImportFileError("not a readable Excel file") from exc
        if sheet is None:
            raise ImportFileError("the workbook has no sheet")
        table = [["" if value is None else str(value) for value in row] for row in sheet.iter_rows(values_only=True)]
    else:
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                decoded = content.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise ImportFileError("the CSV is neither UTF-8 nor GBK text")
        table = list(csv.reader(io.StringIO(decoded)))
    if not table:
        raise ImportFileError("the file is empty")
    header = [HEADERS.get(name.strip().lower(), HEADERS.get(name.strip(), "")) for name in table[0]]
    if "order_id" not in header or "shop" not in header:
        raise ImportFileError("the header row must name at least the shop and order_id columns")
    rows = []
    for values in table[1:]:
        if not any(value.strip() for value in values):
            continue
        rows.append({name: value.strip() for name, value in zip(header, values, strict=False) if name})
    return rows


def _money(row: dict[str, str], column: str, row_no: int, default: str = "0") -> int:
    try:
        return yuan_to_fen(row.get(column) or default, column)
    except NormalizeError as exc:
        raise NormalizeError(f"row {row_no}: {column}", exc.message) from exc


def group_orders(rows: list[dict[str, str]]) -> list[ImportedOrder]:
    """Rows -> orders in the generic JSON format; a row that cannot be read marks its order as failed."""
    grouped: dict[tuple[str, str], ImportedOrder] = {}
    for index, row in enumerate(rows, start=2):  # row 1 is the header
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
            qty_text = row.get("qty") or "1"
            if not qty_text.isdigit():
                raise NormalizeError(f"row {index}: qty", f"must be a whole number, got {qty_text!r}")
            unit = _money(row, "unit_price", index, default="")
            line = {
                "line_id": str(len(payload["lines"]) + 1),
                "sku": row.get("sku", ""),
                "title": row.get("title", ""),
                "qty": int(qty_text),
                "unit_price_fen": unit,
                "paid_fen": _money(row, "line_paid", index, default="")
                if row.get("line_paid")
                else unit * int(qty_text),
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


async def create_import(
    session: AsyncSession, filename: str, content: bytes, actor: Actor, ip: str | None
) -> OrderImport:
    """Store the uploaded file and stage the job that reads it."""
    if not content:
        raise ImportFileError("the file is empty")
    if len(content) > MAX_FILE_BYTES:
        raise ImportFileError("the file is larger than 20 MB")
    if not filename.lower().endswith((".csv", ".xlsx")):
        raise ImportFileError("only .csv and .xlsx files can be imported")
    job = OrderImport(filename=filename[:200], content=content, created_by=actor.name, created_at=utcnow())
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


async def _update(db: Database, import_id: int, **values: Any) -> None:
    async with db.transaction() as session:
        job = await session.get(OrderImport, import_id)
        assert job is not None
        for name, value in values.items():
            setattr(job, name, value)
        session.add(job)


async def run_import(db: Database, settings: Settings, import_id: int) -> dict[str, int]:
    """Read the file and ingest each order; counters are saved as it goes. Running it again changes nothing new."""
    async with db.reading() as session:
        job = await session.get(OrderImport, import_id)
    if job is None or job.status == ImportStatus.done:
        return {}
    try:
        orders = group_orders(read_rows(job.filename, job.content))
    except ImportFileError as exc:
        await _update(db, import_id, status=ImportStatus.failed, message=str(exc), finished_at=utcnow())
        return {}
    await _update(db, import_id, status=ImportStatus.running, total_orders=len(orders), processed_orders=0)
    ok = failed = 0
    async with db.reading() as session:
        shops: dict[str, Shop | None] = {
            code: await shop_by_code(session, code) for code in {o.shop_code for o in orders}
        }
    for done, order in enumerate(orders, start=1):
        result = await _ingest_imported(db, settings, shops.get(order.shop_code), order, import_id)
        ok, failed = (ok + 1, failed) if result.ok else (ok, failed + 1)
        if done % PROGRESS_EVERY == 0:
            await _update(db, import_id, processed_orders=done, ok_orders=ok, failed_orders=failed)
    await _update(
        db,
        import_id,
        status=ImportStatus.done,
        processed_orders=len(orders),
        ok_orders=ok,
        failed_orders=failed,
        finished_at=utcnow(),
    )
    return {"orders": len(orders), "ok": ok, "failed": failed}


async def _ingest_imported(
    db: Database, settings: Settings, shop: Shop | None, order: ImportedOrder, import_id: int
) -> IngestResult:
    rows = ", ".join(str(n) for n in order.rows)
    if order.problem is not None:
        return await record_error(
            db,
            shop,
            order.payload,
            IngestSource.csv_import,
            order.problem.field,
            order.problem.message,
            import_id=import_id,
        )
    if shop is None:
        return await record_error(
            db,
            None,
            order.payload,
            IngestSource.csv_import,
            f"rows {rows}: shop",
            f"no shop has the code {order.shop_code!r}",
            import_id=import_id,
        )
    channel = order.payload.get("channel")
    if channel and channel != shop.channel.value:
        return await record_error(
            db,
            shop,
            order.payload,
            IngestSource.csv_import,
            f"rows {rows}: channel",
            f"shop {shop.code} is on {shop.channel.value}, not {channel}",
            import_id=import_id,
        )
    return await ingest(db, settings, shop, order.payload, IngestSource.csv_import, import_id=import_id)

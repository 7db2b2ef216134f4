"""CSV / Excel import of orders: the upload is stored encrypted, a background job reads it and ingests order by
order, then the file is dropped (the orders are kept).

One row per order line; rows with the same shop and order id form one order. Columns (a header row, English
or Chinese names): shop, order_id, status, created_at, paid_at, buyer_nick, receiver_name, phone, province,
city, district, address, sku, title, qty, unit_price (yuan), line_paid (yuan, optional), shipping (yuan),
discount (yuan), buyer_message, seller_memo, tags (separated by ;), channel (optional, checked against the
shop); for 社区团购 leader_id / leader (团长), pickup_point_id / pickup_point / pickup_address (自提点), route_code /
route (线路). Each order becomes the generic JSON format (money in fen) and goes through the same pipeline as a
webhook, with the same bounds; an order that fails lands in the ingest-error queue with the row numbers it
came from.

The file is read within the limits of every uploaded sheet (``app.sheets``: size, unpacked size, rows, columns,
cells), so that one file cannot hold up the worker or exhaust its memory; a file over any limit is refused as a
whole and nothing of it is imported.

Parsing runs in a thread, so the event loop it shares with the web pages (the embedded worker) keeps
answering. Each order's ingest and the import's progress counter are one transaction, so a second run of the
same import (a redelivered job) carries on where the first stopped and never files an order or an error twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from app import outbox, sheets
from app.db import Database, utcnow
from app.domain.accounts.services import Actor, audit
from app.domain.channels.adapters.base import NormalizeError, quantity, yuan_to_fen
from app.domain.channels.models import ImportStatus, IngestSource, OrderImport
from app.domain.channels.services import SHOP_DISABLED, Checkpoint, IngestResult, ingest, record_error
from app.domain.orders import pii
from app.domain.shops import services as shop_readers
from app.domain.shops.models import Shop
from app.i18n import gettext
from app.settings import Settings
from app.sheets import SheetFileError

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
    "leader_id": "leader_id",
    "团长编号": "leader_id",
    "leader": "leader",
    "团长": "leader",
    "pickup_point_id": "pickup_point_id",
    "自提点编号": "pickup_point_id",
    "pickup_point": "pickup_point",
    "自提点": "pickup_point",
    "pickup_address": "pickup_address",
    "自提点地址": "pickup_address",
    "route_code": "route_code",
    "线路编号": "route_code",
    "route": "route",
    "线路": "route",
}
#: The 社区团购 columns: an order with any of them carries its leader, pickup point and route.
COMMUNITY_COLUMNS = ("leader_id", "leader", "pickup_point_id", "pickup_point", "pickup_address", "route_code", "route")

#: An order file that cannot be read as a whole (the one error of every sheet upload).
ImportFileError = SheetFileError
#: The limits as the import page states them.
LIMITS = sheets.LIMITS
MAX_FILE_BYTES = sheets.MAX_FILE_BYTES


class ImportOvertaken(RuntimeError):
    """Another run of the same import got ahead of this one; this one stops and leaves the rest to it."""


@dataclass
class ImportedOrder:
    shop_code: str
    rows: list[int] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)
    problem: NormalizeError | None = None


def read_rows(filename: str, content: bytes) -> list[tuple[int, dict[str, str]]]:
    """The file's rows as (row number, {column: text}) by our column names; Excel (.xlsx) or CSV (UTF-8 or GBK)."""
    table = sheets.read_table(filename, content)
    first = next(table, None)
    if first is None:
        raise ImportFileError("empty")
    header = [HEADERS.get(name.strip().lower(), HEADERS.get(name.strip(), "")) for name in first[1]]
    missing = [name for name in ("shop", "order_id") if name not in header]
    if missing:
        raise ImportFileError("missing_columns", columns="、".join(missing))
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
                if any(row.get(column) for column in COMMUNITY_COLUMNS):
                    payload["community"] = {
                        "leader": {"id": row.get("leader_id", ""), "name": row.get("leader", "")},
                        "pickup_point": {
                            "id": row.get("pickup_point_id", ""),
                            "name": row.get("pickup_point", ""),
                            "address": row.get("pickup_address", ""),
                        },
                        "route": {"code": row.get("route_code", ""), "name": row.get("route", "")},
                    }
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
    sheets.check_upload(filename, content)
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
    if not shop.is_active:
        return await failed(f"rows {rows}: shop", gettext(SHOP_DISABLED))
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

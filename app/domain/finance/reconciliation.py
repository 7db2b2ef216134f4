"""Settlement reconciliation (对账): a platform's bill against our orders and refunds, and what differs.

Each bill line is one platform order's sale (its money and the commission the platform kept, summed over the
bill's rows for it) or one refund. A sale is expected to bring the order's paid amount and to cost the
channel's commission rate of it (rounded half up); a refund to give back the case's refund plus its shipping
refund. A line is ``matched``, ``missing`` (it names an order or refund we do not have), ``amount`` (the money
differs) or ``commission`` (the commission differs); an order of the channel delivered within the bill's days
that no line names is ``not_billed``. The import and its lines are written in the caller's transaction; the
same file imported again is recognised by its SHA-256 and changes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import CHINA, insert_rows, utcnow
from app.domain.accounts.services import Actor, audit
from app.domain.aftersales.models import AfterSaleCase, CaseKind, CaseStatus
from app.domain.finance import bill_formats, ledger
from app.domain.finance.bill_formats import BillError, BillRow, ParsedBill, RowKind
from app.domain.finance.models import SettlementImport, SettlementLine, SettlementResult
from app.domain.orders.models import Order, OrderStatus
from app.domain.orders.presentation import CHANNEL_LABELS
from app.errors import DomainError
from app.i18n import N_, label_of
from app.sheets import table_workbook

#: Ids asked for in one IN (...) list: well under SQLite's and asyncpg's bind-parameter limits.
CHUNK = 500
#: Case kinds that give money back, and the states in which a case's refund is still owed or made.
REFUND_KINDS = (CaseKind.refund_only.value, CaseKind.return_refund.value)
LIVE_CASE_STATES = (CaseStatus.awaiting_return.value, CaseStatus.refunding.value, CaseStatus.completed.value)
#: Orders a platform settles: signed for, or completed after it.
SETTLED_ORDER_STATES = (OrderStatus.delivered, OrderStatus.completed)

RESULT_LABELS = {
    SettlementResult.matched.value: N_("Matched"),
    SettlementResult.missing.value: N_("Not ours"),
    SettlementResult.amount.value: N_("Amount differs"),
    SettlementResult.commission.value: N_("Commission differs"),
    SettlementResult.not_billed.value: N_("Not billed"),
}
KIND_LABELS = {RowKind.sale.value: N_("Sale"), RowKind.refund.value: N_("Refund")}


class ReconciliationError(DomainError):
    messages: ClassVar[dict[str, str]] = {
        "no_file": N_("Choose the settlement bill (CSV or Excel) to import."),
        "wrong_channel": N_("A bill of this kind settles the orders of %(channels)s, not of %(channel)s."),
        "not_found": N_("There is no settlement import %(import_id)s."),
    }
    statuses: ClassVar[dict[str, int]] = {"not_found": 404}


def commission_of(paid_fen: int, commission_bp: int) -> int:
    """The commission on ``paid_fen`` at ``commission_bp`` basis points, rounded half up to the fen."""
    return (paid_fen * commission_bp + 5_000) // 10_000 if paid_fen >= 0 else -commission_of(-paid_fen, commission_bp)


@dataclass
class BillLine:
    """A bill's rows for one order's sale or one refund, summed."""

    line_no: int
    kind: RowKind
    external_id: str
    refund_ref: str
    occurred_on: date | None
    amount_fen: int = 0
    commission_fen: int = 0


def bill_lines(rows: Iterable[BillRow]) -> list[BillLine]:
    """One line per sale of an order and per refund (by its reference, else one per order), in bill order."""
    lines: dict[tuple[RowKind, str, str], BillLine] = {}
    for row in rows:
        key = (row.kind, row.external_id, row.refund_ref)
        line = lines.get(key)
        if line is None:
            line = lines[key] = BillLine(row.row_no, row.kind, row.external_id, row.refund_ref, row.occurred_on)
        line.amount_fen += row.amount_fen
        line.commission_fen += row.commission_fen
        if line.occurred_on is None or (row.occurred_on is not None and row.occurred_on > line.occurred_on):
            line.occurred_on = row.occurred_on  # the last day money moved for it
    return list(lines.values())


def chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


@dataclass(frozen=True)
class OrderFacts:
    """What reconciliation reads of an order (not the whole row: a month's bill names thousands)."""

    id: int
    external_id: str
    paid_fen: int
    delivered_at: datetime | None


ORDER_FACTS = (col(Order.id), col(Order.external_id), col(Order.paid_fen), col(Order.delivered_at))


def facts(row: tuple[int | None, str, int, datetime | None]) -> OrderFacts:
    order_id, external_id, paid_fen, delivered_at = row
    assert order_id is not None  # a stored row has its id
    return OrderFacts(order_id, external_id, paid_fen, delivered_at)


async def orders_by_external_id(
    session: AsyncSession, channel: str, external_ids: Sequence[str]
) -> dict[str, OrderFacts]:
    found: dict[str, OrderFacts] = {}
    for part in chunks(sorted(set(external_ids))):
        query = select(*ORDER_FACTS).where(Order.channel == channel, col(Order.external_id).in_(part))
        for row in (await session.exec(query.order_by(col(Order.id)))).all():
            found.setdefault(row[1], facts(row))
    return found


async def refund_cases(
    session: AsyncSession, channel: str, refs: Sequence[str], order_ids: Sequence[int]
) -> tuple[dict[str, AfterSaleCase], dict[int, list[AfterSaleCase]]]:
    """Refund cases by their platform reference, and each order's refund cases, of those that give money back."""
    by_ref: dict[str, AfterSaleCase] = {}
    by_order: dict[int, list[AfterSaleCase]] = defaultdict(list)
    live = (col(AfterSaleCase.kind).in_(REFUND_KINDS), col(AfterSaleCase.status).in_(LIVE_CASE_STATES))
    for part in chunks(sorted({ref for ref in refs if ref})):
        query = select(AfterSaleCase).where(AfterSaleCase.channel == channel, col(AfterSaleCase.platform_ref).in_(part))
        for case in (await session.exec(query)).all():
            by_ref.setdefault(case.platform_ref, case)
    for part in chunks(sorted(set(order_ids))):
        query = select(AfterSaleCase).where(col(AfterSaleCase.order_id).in_(part), *live)
        for case in (await session.exec(query.order_by(col(AfterSaleCase.id)))).all():
            by_order[case.order_id].append(case)
    return by_ref, by_order


def china_day(moment: datetime | None) -> date | None:
    return moment.astimezone(CHINA).date() if moment is not None else None


async def unbilled_orders(
    session: AsyncSession, channel: str, start: date, end: date, billed: set[int]
) -> list[OrderFacts]:
    """The channel's orders delivered (China time) from ``start`` to ``end`` that the bill does not name."""
    since = datetime(start.year, start.month, start.day, tzinfo=CHINA)
    until = datetime(end.year, end.month, end.day, tzinfo=CHINA) + timedelta(days=1)
    query = (
        select(*ORDER_FACTS)
        .where(
            Order.channel == channel,
            col(Order.status).in_(SETTLED_ORDER_STATES),
            col(Order.delivered_at) >= since,
            col(Order.delivered_at) < until,
        )
        .order_by(col(Order.delivered_at), col(Order.id))
    )
    return [facts(row) for row in (await session.exec(query)).all() if row[0] not in billed]


@dataclass
class Judged:
    """A settlement line as reconciliation works it out, before it is stored (:class:`SettlementLine`'s columns)."""

    line_no: int
    kind: str
    external_id: str
    occurred_on: date | None
    amount_fen: int = 0
    commission_fen: int = 0
    order_id: int | None = None
    case_id: int | None = None
    expected_amount_fen: int | None = None
    expected_commission_fen: int | None = None
    result: str = ""

    def row(self, import_id: int) -> dict[str, Any]:
        return {"import_id": import_id, **asdict(self)}


def judged(line: Judged) -> str:
    """The result of a line whose expectations are set (None: we have nothing it could be)."""
    if line.expected_amount_fen is None:
        return SettlementResult.missing.value
    if line.amount_fen != line.expected_amount_fen:
        return SettlementResult.amount.value
    if line.expected_commission_fen is not None and line.commission_fen != line.expected_commission_fen:
        return SettlementResult.commission.value
    return SettlementResult.matched.value


async def reconcile_lines(
    session: AsyncSession, channel: str, bill: ParsedBill
) -> tuple[list[Judged], date | None, date | None]:
    """The bill's lines judged against our orders and refunds, then the orders it leaves out (not_billed)."""
    lines = bill_lines(bill.rows)
    orders = await orders_by_external_id(session, channel, [line.external_id for line in lines])
    refund_lines = [line for line in lines if line.kind is RowKind.refund]
    by_ref, by_order = await refund_cases(
        session,
        channel,
        [line.refund_ref for line in refund_lines],
        [order.id for line in refund_lines if (order := orders.get(line.external_id))],
    )
    bp = (await ledger.load_chart(session)).commission_bp(channel)
    stored: list[Judged] = []
    billed_orders: set[int] = set()
    for line in lines:
        order = orders.get(line.external_id)
        row = Judged(
            line_no=line.line_no,
            kind=line.kind.value,
            external_id=line.external_id[:64],
            occurred_on=line.occurred_on,
            amount_fen=line.amount_fen,
            commission_fen=line.commission_fen,
            order_id=order.id if order else None,
        )
        if line.kind is RowKind.sale:
            if order is not None:
                billed_orders.add(order.id)
                row.expected_amount_fen = order.paid_fen
                row.expected_commission_fen = commission_of(order.paid_fen, bp)
        else:
            case = by_ref.get(line.refund_ref) if line.refund_ref else None
            cases = [case] if case is not None else by_order.get(order.id, []) if order is not None else []
            if cases:
                row.case_id = cases[0].id
                row.order_id = row.order_id or cases[0].order_id
                row.expected_amount_fen = sum(c.refund_fen + c.shipping_refund_fen for c in cases)
        row.result = judged(row)
        stored.append(row)
    days = [line.occurred_on for line in lines if line.occurred_on is not None]
    start = bill.start or (min(days) if days else None)
    end = bill.end or (max(days) if days else None)
    if start is not None and end is not None:
        for order in await unbilled_orders(session, channel, start, end, billed_orders):
            stored.append(
                Judged(
                    line_no=0,
                    kind=RowKind.sale.value,
                    external_id=order.external_id,
                    occurred_on=china_day(order.delivered_at),
                    order_id=order.id,
                    expected_amount_fen=order.paid_fen,
                    expected_commission_fen=commission_of(order.paid_fen, bp),
                    result=SettlementResult.not_billed.value,
                )
            )
    return stored, start, end


# --- totals ----------------------------------------------------------------------------------------------


def signed(line: Judged) -> int:
    return -1 if line.kind == RowKind.refund.value else 1


def totals_of(lines: Iterable[Judged]) -> dict[str, int]:
    """Billed and expected money (sales in, refunds out) and commissions, with their differences."""
    totals = dict.fromkeys(("lines", "billed", "expected", "billed_commission", "expected_commission"), 0)
    for line in lines:
        sign = signed(line)
        totals["lines"] += 1
        totals["billed"] += sign * line.amount_fen
        totals["expected"] += sign * (line.expected_amount_fen or 0)
        totals["billed_commission"] += sign * line.commission_fen
        expected_commission = line.expected_commission_fen
        if expected_commission is None and line.kind == RowKind.refund.value:
            expected_commission = line.commission_fen  # a refund's commission is the platform's to give back
        totals["expected_commission"] += sign * (expected_commission or 0)
    totals["difference"] = totals["billed"] - totals["expected"]
    totals["commission_difference"] = totals["billed_commission"] - totals["expected_commission"]
    return totals


def summary_of(
    lines: Sequence[Judged], bill: ParsedBill, sha256: str, start: date | None, end: date | None
) -> dict[str, Any]:
    by_day: dict[str, list[Judged]] = defaultdict(list)
    for line in lines:
        by_day[line.occurred_on.isoformat() if line.occurred_on else ""].append(line)
    results = dict.fromkeys((result.value for result in SettlementResult), 0)
    for line in lines:
        results[line.result] += 1
    return {
        "sha256": sha256,
        "format": bill.format.value,
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
        "skipped_rows": bill.skipped,
        "results": results,
        "totals": totals_of(lines),
        "days": [{"day": day, **totals_of(day_lines)} for day, day_lines in sorted(by_day.items())],
    }


# --- importing -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportOutcome:
    """The import written, or the earlier one of the same file (``duplicate``: nothing was written)."""

    settlement: SettlementImport
    duplicate: bool


async def same_file(session: AsyncSession, channel: str, sha256: str) -> SettlementImport | None:
    """An earlier import of the same bytes for the channel, found by the hash its summary keeps (a channel has a
    few bills a month: reading their summaries costs less than a column and a migration would)."""
    query = select(SettlementImport).where(SettlementImport.channel == channel)
    for earlier in (await session.exec(query.order_by(col(SettlementImport.id)))).all():
        if earlier.summary.get("sha256") == sha256:
            return earlier
    return None


def channel_for(bill: ParsedBill, chosen: str) -> str:
    if not chosen:
        return bill.channels[0]
    if chosen not in bill.channels:
        raise ReconciliationError(
            "wrong_channel",
            channels="、".join(label_of(CHANNEL_LABELS, channel) for channel in bill.channels),
            channel=label_of(CHANNEL_LABELS, chosen),
        )
    return chosen


async def import_bill(
    session: AsyncSession, actor: Actor, filename: str, content: bytes, *, channel: str = "", ip: str | None = None
) -> ImportOutcome:
    """Read a settlement bill, match its lines and store the import with them (the caller's transaction).

    ``channel`` picks Tmall or Taobao for an Alipay bill (Tmall when empty); a JD or Douyin bill is its own.
    """
    bill = await asyncio.to_thread(bill_formats.parse_bill, filename, content)
    chosen = channel_for(bill, channel)
    sha256 = hashlib.sha256(content).hexdigest()
    earlier = await same_file(session, chosen, sha256)
    if earlier is not None:
        return ImportOutcome(earlier, duplicate=True)
    lines, start, end = await reconcile_lines(session, chosen, bill)
    settlement = SettlementImport(
        channel=chosen,
        filename=filename[-200:],
        imported_by=actor.name[:64],
        imported_at=utcnow(),
        line_count=len(lines),
        summary=summary_of(lines, bill, sha256, start, end),
    )
    session.add(settlement)
    await session.flush()
    assert settlement.id is not None
    await insert_rows(session, SettlementLine, [line.row(settlement.id) for line in lines])
    await audit(
        session,
        actor,
        "finance.settlement_import",
        target_type="settlement_import",
        target_id=settlement.id,
        after={"filename": settlement.filename, "channel": chosen, "results": settlement.summary["results"]},
        ip=ip,
    )
    return ImportOutcome(settlement, duplicate=False)


# --- reading ---------------------------------------------------------------------------------------------


async def recent_imports(session: AsyncSession, limit: int = 50) -> list[SettlementImport]:
    query = select(SettlementImport).order_by(col(SettlementImport.id).desc()).limit(limit)
    return list((await session.exec(query)).all())


async def import_count(session: AsyncSession) -> int:
    return int((await session.exec(select(func.count()).select_from(SettlementImport))).one())


@dataclass(frozen=True)
class ResultPage:
    settlement: SettlementImport
    lines: list[SettlementLine]
    show_all: bool


async def result_page(session: AsyncSession, import_id: int, *, show_all: bool = False) -> ResultPage:
    """An import with its lines: only those that differ unless ``show_all``; differences first, by line."""
    settlement = await session.get(SettlementImport, import_id)
    if settlement is None:
        raise ReconciliationError("not_found", import_id=import_id)
    query = select(SettlementLine).where(SettlementLine.import_id == import_id)
    if not show_all:
        query = query.where(SettlementLine.result != SettlementResult.matched.value)
    rows = (await session.exec(query.order_by(col(SettlementLine.line_no), col(SettlementLine.id)))).all()
    billed = sorted((row for row in rows if row.line_no), key=lambda row: row.line_no)
    return ResultPage(settlement, billed + [row for row in rows if not row.line_no], show_all)


DIFFERENCE_HEADERS = (
    "行号",
    "类型",
    "平台单号",
    "日期",
    "账单金额",
    "应有金额",
    "金额差额",
    "账单佣金",
    "应有佣金",
    "佣金差额",
    "结果",
)


def yuan_cell(fen: int | None) -> float | None:
    return None if fen is None else fen / 100


def differences_workbook(page: ResultPage) -> bytes:
    """The lines that differ as an .xlsx, in yuan, with Chinese headers."""
    from app.i18n import gettext

    rows = []
    for line in page.lines:
        if line.result == SettlementResult.matched.value:
            continue
        rows.append(
            [
                line.line_no or None,
                gettext(KIND_LABELS.get(line.kind, line.kind)),
                line.external_id,
                line.occurred_on.isoformat() if line.occurred_on else "",
                yuan_cell(line.amount_fen),
                yuan_cell(line.expected_amount_fen),
                yuan_cell(line.amount_fen - (line.expected_amount_fen or 0)),
                yuan_cell(line.commission_fen),
                yuan_cell(line.expected_commission_fen),
                yuan_cell(
                    None if line.expected_commission_fen is None else line.commission_fen - line.expected_commission_fen
                ),
                gettext(RESULT_LABELS.get(line.result, line.result)),
            ]
        )
    return table_workbook("对账差异", DIFFERENCE_HEADERS, rows)


__all__ = [
    "KIND_LABELS",
    "RESULT_LABELS",
    "BillError",
    "ImportOutcome",
    "ReconciliationError",
    "ResultPage",
    "bill_lines",
    "commission_of",
    "differences_workbook",
    "import_bill",
    "import_count",
    "recent_imports",
    "reconcile_lines",
    "result_page",
]

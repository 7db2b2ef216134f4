"""凭证: the voucher list with its filters and totals, one voucher with everything that concerns it, and the status
changes finance makes by hand — 审核 (draft → approved), one voucher, the chosen ones or all drafts of a day, and
反审核 (back to draft) while a voucher has not been exported. Posting writes vouchers (``posting.py``); the export
marking lives in ``exports.py``. Every change is one guarded UPDATE in the caller's transaction, audited."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

from sqlalchemy import case as when
from sqlalchemy import func, or_, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import utcnow
from app.domain.accounts.services import Actor, audit
from app.domain.aftersales.models import AfterSaleCase
from app.domain.finance.models import (
    FinanceEvent,
    Period,
    Voucher,
    VoucherExport,
    VoucherKind,
    VoucherLine,
    VoucherStatus,
)
from app.domain.orders.models import Order
from app.errors import DomainError, excerpt
from app.i18n import N_
from app.params import ParameterError, parse_day, parse_int

PAGE_SIZE = 50
#: The most vouchers one approval may name (the checked rows of a page, or one day's drafts).
MAX_APPROVE = 20_000
#: Ids per ``IN (...)`` list: well under SQLite's and asyncpg's parameter limits.
ID_CHUNK = 1_000
_PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")

STATUS_LABELS = {
    VoucherStatus.draft.value: N_("Not approved"),
    VoucherStatus.approved.value: N_("Approved"),
    VoucherStatus.exported.value: N_("Exported"),
}
KIND_LABELS = {
    VoucherKind.sale.value: N_("Sale"),
    VoucherKind.refund.value: N_("Refund"),
    VoucherKind.carrier_bill.value: N_("Carrier bill"),
}
EVENT_OUTCOME_LABELS = {
    "booked": N_("Voucher written"),
    "already_booked": N_("Already booked"),
    "nothing_to_book": N_("Nothing to book"),
}


class VoucherError(DomainError):
    """A voucher filter or status change that cannot be done; the message says why."""

    title = N_("Vouchers")
    messages: ClassVar[Mapping[str, str]] = {
        "not_found": N_("There is no voucher %(id)s."),
        "bad_period": N_("%(value)s is not an accounting period; write it as 2026-11."),
        "bad_day": N_("%(value)s is not a day between %(first)s and %(last)s."),
        "unknown_period": N_("There is no accounting period %(value)s: no voucher has been booked in it."),
        "bad_range": N_("The first day (%(first)s) is after the last day (%(last)s)."),
        "bad_status": N_("There is no voucher status %(value)s."),
        "bad_kind": N_("There is no voucher kind %(value)s."),
        "none_chosen": N_("Tick the vouchers to approve first."),
        "day_required": N_("Filter to one day (the same first and last day) to approve all its drafts."),
        "nothing_to_approve": N_("Nothing to approve: none of these vouchers is a draft."),
        "too_many": N_("At most %(max)s vouchers can be approved at once; filter to fewer."),
        "unapprove_exported": N_(
            "Voucher %(number)s has been exported (batch %(batch)s) and can no longer go back to draft."
        ),
        "unapprove_draft": N_("Voucher %(number)s is not approved."),
    }
    statuses: ClassVar[Mapping[str, int]] = {"not_found": 404}
    fields: ClassVar[Mapping[str, str]] = {
        "bad_period": "period",
        "unknown_period": "period",
        "bad_range": "date_from",
        "bad_status": "status",
        "bad_kind": "kind",
    }


def voucher_number(voucher: Voucher) -> str:
    """How accountants name a voucher: 2026-11 记-0042."""
    return f"{voucher.period} {voucher.word}-{voucher.number:04d}"


# --- the list ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VoucherFilters:
    """The list's filters as the query string (or the API) gives them. A bad day or period is refused with a
    message; an unknown status or kind is ignored on the page and refused by the API (``strict``)."""

    period: str = ""
    date_from: date | None = None
    date_to: date | None = None
    status: str = ""
    kind: str = ""
    channel: str = ""
    red: str = ""  # "" every voucher, "yes" only red-letter ones, "no" only blue ones
    q: str = ""
    page: int = 1

    @classmethod
    def from_query(cls, query: Mapping[str, str], *, strict: bool = False) -> VoucherFilters:
        period = query.get("period", "").strip()
        if period and not _PERIOD.fullmatch(period):
            raise VoucherError("bad_period", value=excerpt(period, 20))
        try:
            first = parse_day(query.get("date_from", ""), "date_from")
            last = parse_day(query.get("date_to", ""), "date_to")
        except ParameterError as exc:  # shown beside the filters or the export form, not on an error page
            raise VoucherError("bad_day", field=exc.field, **exc.params) from exc
        if first and last and first > last:
            raise VoucherError("bad_range", first=first.isoformat(), last=last.isoformat())
        status, kind = query.get("status", "").strip(), query.get("kind", "").strip()
        if strict and status and status not in STATUS_LABELS:
            raise VoucherError("bad_status", value=excerpt(status, 20))
        if strict and kind and kind not in KIND_LABELS:
            raise VoucherError("bad_kind", value=excerpt(kind, 20))
        red = query.get("red", "").strip()
        return cls(
            period=period,
            date_from=first,
            date_to=last,
            status=status if status in STATUS_LABELS else "",
            kind=kind if kind in KIND_LABELS else "",
            channel=query.get("channel", "").strip()[:32],
            red=red if red in ("yes", "no") else "",
            q=query.get("q", "").strip()[:64],
            page=parse_int(query.get("page", "1"), minimum=1, maximum=100_000) or 1,
        )

    @property
    def one_day(self) -> date | None:
        """The day the filters name when their first and last day are the same."""
        return self.date_from if self.date_from is not None and self.date_from == self.date_to else None

    def as_query(self, **changes: object) -> dict[str, str]:
        values = {
            "period": self.period,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
            "status": self.status,
            "kind": self.kind,
            "channel": self.channel,
            "red": self.red,
            "q": self.q,
            "page": str(self.page),
        }
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v and not (k == "page" and v == "1")}

    def conditions(self) -> list[ColumnElement[bool]]:
        """The WHERE of the filtered set (the text filter needs the order joined: see :func:`filtered`)."""
        found: list[ColumnElement[bool]] = []
        if self.period:
            found.append(col(Voucher.period) == self.period)
        if self.date_from:
            found.append(col(Voucher.voucher_date) >= self.date_from)
        if self.date_to:
            found.append(col(Voucher.voucher_date) <= self.date_to)
        if self.status:
            found.append(col(Voucher.status) == self.status)
        if self.kind:
            found.append(col(Voucher.kind) == self.kind)
        if self.channel:
            found.append(col(Voucher.channel) == self.channel)
        if self.red:
            found.append(col(Voucher.red).is_(self.red == "yes"))
        if self.q:
            found.append(
                or_(
                    col(Voucher.summary).contains(self.q, autoescape=True),
                    col(Order.external_id) == self.q,
                    col(Voucher.source_key) == self.q,
                )
            )
        return found


def filtered(columns: Sequence[Any], filters: VoucherFilters) -> Any:
    """SELECT ``columns`` of the vouchers the filters keep, with each one's order (if any) joined."""
    return (
        select(*columns)
        .select_from(Voucher)
        .outerjoin(Order, col(Order.id) == col(Voucher.order_id))
        .where(*filters.conditions())
    )


@dataclass(frozen=True)
class VoucherRow:
    voucher: Voucher
    order_external_id: str | None


@dataclass
class VoucherList:
    """A page of the filtered vouchers, and the count and totals of the whole filtered set."""

    rows: list[VoucherRow]
    count: int
    debit_fen: int
    credit_fen: int
    draft_count: int
    has_next: bool
    channels: list[str] = field(default_factory=list)


async def check_period(session: AsyncSession, period: str) -> None:
    """Refuse a well-formed period finance has never booked in (a typo such as 2062-11)."""
    known = await session.get(Period, period)
    if (
        known is None
        and (await session.exec(select(Voucher.id).where(Voucher.period == period).limit(1))).first() is None
    ):
        raise VoucherError("unknown_period", value=period)


async def list_vouchers(session: AsyncSession, filters: VoucherFilters, *, page_size: int = PAGE_SIZE) -> VoucherList:
    """The newest first (by date, then number); totals over everything the filters keep, not only this page."""
    if filters.period:
        await check_period(session, filters.period)
    query = (
        filtered([Voucher, Order.external_id], filters)
        .order_by(col(Voucher.voucher_date).desc(), col(Voucher.period).desc(), col(Voucher.number).desc())
        .offset((filters.page - 1) * page_size)
        .limit(page_size + 1)
    )
    found = [VoucherRow(voucher, external_id) for voucher, external_id in (await session.exec(query)).all()]
    drafts = func.coalesce(func.sum(when((col(Voucher.status) == VoucherStatus.draft.value, 1), else_=0)), 0)
    count, debit, credit, draft_count = (
        await session.exec(
            filtered(
                [
                    func.count(),
                    func.coalesce(func.sum(Voucher.debit_fen), 0),
                    func.coalesce(func.sum(Voucher.credit_fen), 0),
                    drafts,
                ],
                filters,
            )
        )
    ).one()
    channels = (await session.exec(select(Voucher.channel).distinct().where(Voucher.channel != ""))).all()
    return VoucherList(
        rows=found[:page_size],
        count=int(count),
        debit_fen=int(debit),
        credit_fen=int(credit),
        draft_count=int(draft_count or 0),
        has_next=len(found) > page_size,
        channels=sorted(channels),
    )


# --- one voucher ---------------------------------------------------------------------------------------------


@dataclass
class VoucherDetail:
    """A voucher with its lines and everything that concerns it, as its page shows it."""

    voucher: Voucher
    lines: list[VoucherLine]
    order: Order | None
    case: AfterSaleCase | None
    events: list[FinanceEvent]
    reverses: Voucher | None
    reversed_by: list[Voucher]
    batch: VoucherExport | None


async def load_voucher(session: AsyncSession, voucher_id: int) -> Voucher:
    voucher = await session.get(Voucher, voucher_id)
    if voucher is None:
        raise VoucherError("not_found", id=voucher_id)
    return voucher


async def lines_of(session: AsyncSession, voucher_ids: Sequence[int]) -> dict[int, list[VoucherLine]]:
    """The lines of each voucher, in their order."""
    lines: dict[int, list[VoucherLine]] = {voucher_id: [] for voucher_id in voucher_ids}
    ids = list(voucher_ids)
    for start in range(0, len(ids), ID_CHUNK):
        query = (
            select(VoucherLine)
            .where(col(VoucherLine.voucher_id).in_(ids[start : start + ID_CHUNK]))
            .order_by(col(VoucherLine.voucher_id), col(VoucherLine.position))
        )
        for line in (await session.exec(query)).all():
            lines[line.voucher_id].append(line)
    return lines


async def voucher_detail(session: AsyncSession, voucher_id: int) -> VoucherDetail:
    voucher = await load_voucher(session, voucher_id)
    concerns: list[ColumnElement[bool]] = [col(FinanceEvent.voucher_id) == voucher_id]
    if voucher.order_id is not None:
        concerns.append(col(FinanceEvent.order_id) == voucher.order_id)
    if voucher.case_id is not None:
        concerns.append(col(FinanceEvent.case_id) == voucher.case_id)
    events = (await session.exec(select(FinanceEvent).where(or_(*concerns)).order_by(col(FinanceEvent.at)))).all()
    reversed_by = (
        await session.exec(select(Voucher).where(Voucher.reverses_id == voucher_id).order_by(col(Voucher.id)))
    ).all()
    return VoucherDetail(
        voucher=voucher,
        lines=(await lines_of(session, [voucher_id]))[voucher_id],
        order=await session.get(Order, voucher.order_id) if voucher.order_id else None,
        case=await session.get(AfterSaleCase, voucher.case_id) if voucher.case_id else None,
        events=list(events),
        reverses=await session.get(Voucher, voucher.reverses_id) if voucher.reverses_id else None,
        reversed_by=list(reversed_by),
        batch=await session.get(VoucherExport, voucher.export_batch_id) if voucher.export_batch_id else None,
    )


# --- approving -----------------------------------------------------------------------------------------------


async def _approve_ids(session: AsyncSession, actor: Actor, ids: Sequence[int], ip: str | None) -> list[int]:
    """Approve those of ``ids`` that are drafts (one guarded UPDATE per chunk); audited; the ids approved."""
    wanted = sorted(set(ids))
    if len(wanted) > MAX_APPROVE:
        raise VoucherError("too_many", max=f"{MAX_APPROVE:,}")
    now = utcnow()
    approved: list[int] = []
    for start in range(0, len(wanted), ID_CHUNK):
        result = await session.exec(
            update(Voucher)
            .where(
                col(Voucher.id).in_(wanted[start : start + ID_CHUNK]),
                col(Voucher.status) == VoucherStatus.draft.value,
            )
            .values(status=VoucherStatus.approved.value, approved_by=actor.name[:64], approved_at=now)
            .returning(col(Voucher.id))
        )
        approved.extend(result.scalars().all())
    if not approved:
        raise VoucherError("nothing_to_approve")
    approved.sort()
    await audit(
        session,
        actor,
        "finance.vouchers_approved",
        target_type="vouchers",
        target_id=approved[0] if len(approved) == 1 else f"{len(approved)} vouchers",
        after={"ids": approved, "count": len(approved)},
        ip=ip,
    )
    return approved


async def approve(session: AsyncSession, actor: Actor, ids: Sequence[int], *, ip: str | None = None) -> list[int]:
    """审核 the chosen vouchers: those that are drafts become approved (the others are left as they are)."""
    if not ids:
        raise VoucherError("none_chosen")
    return await _approve_ids(session, actor, ids, ip)


async def approve_day(
    session: AsyncSession, actor: Actor, filters: VoucherFilters, *, ip: str | None = None
) -> list[int]:
    """审核 every draft the filters keep on the one day they name (its channel, kind… filters apply too)."""
    if filters.one_day is None:
        raise VoucherError("day_required")
    if filters.period:
        await check_period(session, filters.period)
    drafts = filtered([Voucher.id], filters).where(col(Voucher.status) == VoucherStatus.draft.value)
    ids = list((await session.exec(drafts.limit(MAX_APPROVE + 1))).all())
    return await _approve_ids(session, actor, ids, ip)


async def unapprove(session: AsyncSession, actor: Actor, voucher_id: int, *, ip: str | None = None) -> Voucher:
    """反审核: an approved voucher not yet exported goes back to draft (the undo of a hasty approval)."""
    voucher = await load_voucher(session, voucher_id)
    result = await session.exec(
        update(Voucher)
        .where(
            col(Voucher.id) == voucher_id,
            col(Voucher.status) == VoucherStatus.approved.value,
            col(Voucher.export_batch_id).is_(None),
        )
        .values(status=VoucherStatus.draft.value, approved_by=None, approved_at=None)
        .returning(col(Voucher.id))
    )
    if result.scalars().first() is None:
        await session.refresh(voucher)
        if voucher.export_batch_id is not None or voucher.status == VoucherStatus.exported.value:
            raise VoucherError("unapprove_exported", number=voucher_number(voucher), batch=voucher.export_batch_id)
        raise VoucherError("unapprove_draft", number=voucher_number(voucher))
    before = {"status": VoucherStatus.approved.value, "approved_by": voucher.approved_by}
    await session.refresh(voucher)
    await audit(
        session,
        actor,
        "finance.voucher_unapproved",
        target_type="voucher",
        target_id=voucher_id,
        before=before,
        after={"status": voucher.status},
        ip=ip,
    )
    return voucher


def voucher_json(
    voucher: Voucher, lines: Sequence[VoucherLine], order_external_id: str | None = None
) -> dict[str, Any]:
    """A voucher as the API gives it to other systems: amounts in fen (integers) and in yuan (text, 2 decimals)."""

    def yuan(fen: int) -> str:
        return f"{fen / 100:.2f}" if abs(fen) < 10**15 else str(fen)

    return {
        "id": voucher.id,
        "number": voucher_number(voucher),
        "period": voucher.period,
        "word": voucher.word,
        "voucher_no": voucher.number,
        "date": voucher.voucher_date.isoformat(),
        "kind": voucher.kind,
        "red": voucher.red,
        "status": voucher.status,
        "summary": voucher.summary,
        "channel": voucher.channel,
        "order_id": voucher.order_id,
        "order_external_id": order_external_id,
        "case_id": voucher.case_id,
        "reverses_id": voucher.reverses_id,
        "source_key": voucher.source_key,
        "debit_fen": voucher.debit_fen,
        "credit_fen": voucher.credit_fen,
        "debit": yuan(voucher.debit_fen),
        "credit": yuan(voucher.credit_fen),
        "note": voucher.note,
        "approved_by": voucher.approved_by,
        "approved_at": voucher.approved_at.isoformat() if voucher.approved_at else None,
        "exported_by": voucher.exported_by,
        "exported_at": voucher.exported_at.isoformat() if voucher.exported_at else None,
        "export_batch_id": voucher.export_batch_id,
        "lines": [
            {
                "position": line.position,
                "kind": line.line_kind,
                "account_code": line.account_code,
                "account_name": line.account_name,
                "summary": line.summary,
                "debit_fen": line.debit_fen,
                "credit_fen": line.credit_fen,
                "debit": yuan(line.debit_fen),
                "credit": yuan(line.credit_fen),
                "partner": line.partner,
                "sku": line.sku,
            }
            for line in lines
        ],
    }


async def api_vouchers(session: AsyncSession, filters: VoucherFilters, *, limit: int) -> dict[str, Any]:
    """The filtered vouchers with their lines, a page of ``limit``, and the filtered set's count and totals."""
    result = await list_vouchers(session, filters, page_size=limit)
    lines = await lines_of(session, [row.voucher.id for row in result.rows if row.voucher.id is not None])
    return {
        "vouchers": [
            voucher_json(row.voucher, lines.get(row.voucher.id or 0, []), row.order_external_id) for row in result.rows
        ],
        "count": result.count,
        "debit_fen": result.debit_fen,
        "credit_fen": result.credit_fen,
        "page": filters.page,
        "next_page": filters.page + 1 if result.has_next else None,
    }


__all__ = [
    "EVENT_OUTCOME_LABELS",
    "KIND_LABELS",
    "PAGE_SIZE",
    "STATUS_LABELS",
    "VoucherDetail",
    "VoucherError",
    "VoucherFilters",
    "VoucherList",
    "VoucherRow",
    "api_vouchers",
    "approve",
    "approve_day",
    "check_period",
    "filtered",
    "lines_of",
    "list_vouchers",
    "load_voucher",
    "unapprove",
    "voucher_detail",
    "voucher_json",
    "voucher_number",
]

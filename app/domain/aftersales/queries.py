"""What the after-sales pages read: the queue with its SLA timers and filters, a case with the orders it covers,
what a new case may claim of an order (and of the same buyer's other orders), and the store counter's look-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case as when
from sqlalchemy import or_
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import utcnow
from app.domain.aftersales.models import OPEN_STATUSES, AfterSaleCase, AfterSaleLine, CaseKind, CaseStatus
from app.domain.aftersales.services import SHIPPED_STATUSES, AfterSaleError, CaseView, claimed_units, load_case
from app.domain.inventory import services as inventory
from app.domain.inventory.models import Warehouse, WarehouseKind
from app.domain.orders.models import Order, OrderLine, OrderStatus
from app.i18n import N_, gettext
from app.params import parse_id, parse_int

PAGE_SIZE = 50
#: The most orders the store counter lists for one look-up, and the other orders a merged refund offers.
FOUND_LIMIT = 20
OPEN_VALUES = tuple(s.value for s in OPEN_STATUSES)

#: Labels the pages show (English message ids, translated by a labeller).
KIND_LABELS = {
    CaseKind.refund_only.value: N_("Refund only"),
    CaseKind.return_refund.value: N_("Return and refund"),
    CaseKind.exchange.value: N_("Exchange"),
    CaseKind.reissue.value: N_("Reissue"),
}
STATUS_LABELS = {
    CaseStatus.requested.value: N_("Awaiting decision"),
    CaseStatus.awaiting_return.value: N_("Awaiting return"),
    CaseStatus.refunding.value: N_("Refunding"),
    CaseStatus.completed.value: N_("Completed"),
    CaseStatus.refused.value: N_("Refused"),
    CaseStatus.cancelled.value: N_("Withdrawn"),
}
#: What an open case waits for.
WAITS_FOR = {
    CaseStatus.requested.value: N_("our decision"),
    CaseStatus.awaiting_return.value: N_("the goods to come back"),
    CaseStatus.refunding.value: N_("the platform's refund"),
}
SOURCE_LABELS = {"platform": N_("Platform"), "operator": N_("Customer service"), "store": N_("Store counter")}
REFUND_LABELS = {
    "none": N_("No refund"),
    "pending": N_("Refund pending"),
    "refunded": N_("Refunded"),
    "failed": N_("Refund failed"),
}


@dataclass(frozen=True)
class QueueFilters:
    """The queue's filters as the page's query string gives them; unknown values are ignored."""

    status: str = ""
    kind: str = ""
    channel: str = ""
    shop_id: int | None = None
    overdue: bool = False
    page: int = 1

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> QueueFilters:
        status = query.get("status", "")
        kind = query.get("kind", "")
        return cls(
            status=status if status in STATUS_LABELS or status == "open" else "",
            kind=kind if kind in KIND_LABELS else "",
            channel=query.get("channel", "").strip()[:32],
            shop_id=parse_id(query.get("shop", "")),
            overdue=query.get("overdue") == "1",
            page=parse_int(query.get("page", "1"), minimum=1, maximum=10_000) or 1,
        )

    def as_query(self, **changes: object) -> dict[str, str]:
        values = {
            "status": self.status,
            "kind": self.kind,
            "channel": self.channel,
            "shop": str(self.shop_id or ""),
            "overdue": "1" if self.overdue else "",
            "page": str(self.page),
        }
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v and not (k == "page" and v == "1")}


@dataclass(frozen=True)
class Sla:
    """The timer of an open case: time left to its deadline, or how long it is overdue."""

    overdue: bool
    minutes: int

    @property
    def text(self) -> str:
        hours, minutes = divmod(self.minutes, 60)
        message = N_("overdue %(h)s h %(m)s min") if self.overdue else N_("%(h)s h %(m)s min left")
        return gettext(message) % {"h": hours, "m": minutes}


def sla_of(case: AfterSaleCase, now: datetime) -> Sla | None:
    if case.status not in OPEN_VALUES:
        return None
    seconds = int((case.due_at - now).total_seconds())
    return Sla(seconds < 0, abs(seconds) // 60)


@dataclass(frozen=True)
class QueueRow:
    case: AfterSaleCase
    order: Order | None
    sla: Sla | None


@dataclass
class QueuePage:
    rows: list[QueueRow]
    has_next: bool
    open_count: int
    overdue_count: int


async def queue(session: AsyncSession, filters: QueueFilters, *, now: datetime | None = None) -> QueuePage:
    """Open cases first (the nearest deadline first), then the closed ones, newest first."""
    now = now or utcnow()
    query = select(AfterSaleCase)
    if filters.status == "open":
        query = query.where(col(AfterSaleCase.status).in_(OPEN_VALUES))
    elif filters.status:
        query = query.where(AfterSaleCase.status == filters.status)
    if filters.kind:
        query = query.where(AfterSaleCase.kind == filters.kind)
    if filters.channel:
        query = query.where(AfterSaleCase.channel == filters.channel)
    if filters.shop_id:
        query = query.where(AfterSaleCase.shop_id == filters.shop_id)
    if filters.overdue:
        query = query.where(col(AfterSaleCase.status).in_(OPEN_VALUES), col(AfterSaleCase.due_at) < now)
    is_open = when((col(AfterSaleCase.status).in_(OPEN_VALUES), 0), else_=1)
    due_first = when((col(AfterSaleCase.status).in_(OPEN_VALUES), col(AfterSaleCase.due_at)), else_=None)
    query = (
        query.order_by(is_open, due_first, col(AfterSaleCase.id).desc())
        .offset((filters.page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    )
    cases = list((await session.exec(query)).all())
    order_ids = {c.order_id for c in cases}
    orders = (
        {o.id: o for o in (await session.exec(select(Order).where(col(Order.id).in_(order_ids)))).all()}
        if order_ids
        else {}
    )
    counts = (
        await session.exec(
            select(
                func.count(),
                func.sum(when((col(AfterSaleCase.due_at) < now, 1), else_=0)),
            ).where(col(AfterSaleCase.status).in_(OPEN_VALUES))
        )
    ).one()
    rows = [QueueRow(c, orders.get(c.order_id), sla_of(c, now)) for c in cases[:PAGE_SIZE]]
    return QueuePage(rows, len(cases) > PAGE_SIZE, int(counts[0] or 0), int(counts[1] or 0))


# --- one case ----------------------------------------------------------------------------------------------------


@dataclass
class CasePage:
    view: CaseView
    orders: dict[int, Order]
    sla: Sla | None
    warehouse: Warehouse | None


async def case_page(session: AsyncSession, case_id: int, *, now: datetime | None = None) -> CasePage:
    view = await load_case(session, case_id)
    ids = view.orders or [view.case.order_id]
    orders = {o.id: o for o in (await session.exec(select(Order).where(col(Order.id).in_(ids)))).all() if o.id}
    warehouse = (
        await inventory.get_warehouse(session, view.case.return_warehouse_code)
        if view.case.return_warehouse_code
        else None
    )
    return CasePage(view, orders, sla_of(view.case, now or utcnow()), warehouse)


async def awaiting_by_scan(session: AsyncSession, scanned: str) -> AfterSaleCase | None:
    """退货收货 at the warehouse: the case a scanned return waybill number (or a typed case number) names, among those
    waiting for their goods; the newest when one waybill came back for several."""
    text = scanned.strip()
    if not text:
        return None
    query = (
        select(AfterSaleCase)
        .where(
            AfterSaleCase.status == CaseStatus.awaiting_return.value,
            or_(col(AfterSaleCase.return_waybill_no) == text, col(AfterSaleCase.platform_ref) == text),
        )
        .order_by(col(AfterSaleCase.id).desc())
        .limit(1)
    )
    return (await session.exec(query)).first()


# --- a new case --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimableLine:
    """An order line a new case may claim: units left (not covered by another case) and their paid share."""

    line: OrderLine
    left: int

    @property
    def share_fen(self) -> int:
        """What the buyer paid for the units left."""
        return self.line.paid_fen * self.left // self.line.qty if self.line.qty else 0


@dataclass
class ClaimableOrder:
    order: Order
    lines: list[ClaimableLine] = field(default_factory=list)

    @property
    def shipped(self) -> bool:
        return self.order.status in SHIPPED_STATUSES


async def claimable(session: AsyncSession, orders: list[Order]) -> list[ClaimableOrder]:
    """Each order with its lines and the units of each still free for a case."""
    ids = [o.id for o in orders if o.id is not None]
    if not ids:
        return []
    claimed = await claimed_units(session, ids)
    lines = (
        await session.exec(select(OrderLine).where(col(OrderLine.order_id).in_(ids)).order_by(col(OrderLine.position)))
    ).all()
    found = {o.id: ClaimableOrder(o) for o in orders}
    for line in lines:
        left = max(line.qty - claimed.get((line.order_id, line.line_id), 0), 0)
        found[line.order_id].lines.append(ClaimableLine(line, left))
    return list(found.values())


async def new_case_form(session: AsyncSession, order_id: int) -> tuple[ClaimableOrder, list[ClaimableOrder]]:
    """The order a case is opened from, and the same buyer's other orders of the shop a merged refund may add."""
    order = await session.get(Order, order_id)
    if order is None:
        raise AfterSaleError("order_not_found")
    if order.customer_id is not None:
        same_buyer = col(Order.customer_id) == order.customer_id
    elif order.channel_buyer_id:
        same_buyer = col(Order.channel_buyer_id) == order.channel_buyer_id
    else:
        same_buyer = None
    others: list[Order] = []
    if same_buyer is not None:
        others = list(
            (
                await session.exec(
                    select(Order)
                    .where(
                        same_buyer,
                        Order.shop_id == order.shop_id,
                        Order.id != order.id,
                        Order.status != OrderStatus.cancelled,
                    )
                    .order_by(col(Order.placed_at).desc())
                    .limit(FOUND_LIMIT)
                )
            ).all()
        )
    primary, *rest = await claimable(session, [order, *others])
    return primary, rest


# --- the store counter -------------------------------------------------------------------------------------------


async def stores(session: AsyncSession) -> list[Warehouse]:
    return [w for w in await inventory.list_warehouses(session) if w.kind == WarehouseKind.store and w.is_active]


async def find_for_store(session: AsyncSession, order_no: str, phone4: str, name: str) -> list[Order]:
    """The shipped orders a buyer at the counter names: by order number, or by the last four digits of the phone
    and the receiver's (or buyer's) name. Nothing when neither is given whole."""
    order_no, phone4, name = order_no.strip(), phone4.strip(), name.strip()
    query = select(Order).where(col(Order.status).in_(SHIPPED_STATUSES))
    if order_no:
        query = query.where(Order.external_id == order_no)
    elif len(phone4) == 4 and phone4.isascii() and phone4.isdigit() and name:
        query = query.where(
            Order.phone_suffix == phone4, or_(col(Order.receiver_name) == name, col(Order.buyer_nick) == name)
        )
    else:
        return []
    query = query.order_by(col(Order.placed_at).desc()).limit(FOUND_LIMIT)
    return list((await session.exec(query)).all())


# --- returns, for the reports ---------------------------------------------------------------------------------

#: Cases whose goods come back: 退货退款, and 换货 (the goods come back and another is sent).
RETURN_KINDS = (CaseKind.return_refund.value, CaseKind.exchange.value)
#: Cases that came to nothing: refused by us, or withdrawn by the buyer.
NOT_RETURNED = (CaseStatus.refused.value, CaseStatus.cancelled.value)


@dataclass(frozen=True)
class ReturnedUnits:
    """Units of one SKU that return cases asked back for one reason (the buyer's or the platform's words)."""

    sku: str
    reason: str
    units: int


async def returned_units(
    session: AsyncSession, start: datetime, end: datetime, *, channel: str = "", shop_id: int | None = None
) -> list[ReturnedUnits]:
    """Units per SKU and reason of the return cases (``RETURN_KINDS``) opened from ``start`` until ``end``, of a
    channel or shop when given; refused and withdrawn cases, and lines of no SKU of ours, left out."""
    cases, line = AfterSaleCase, AfterSaleLine
    query = (
        select(col(line.sku), col(cases.reason), func.sum(col(line.qty)))
        .join(cases, col(cases.id) == col(line.case_id))
        .where(
            col(cases.created_at) >= start,
            col(cases.created_at) < end,
            col(cases.kind).in_(RETURN_KINDS),
            col(cases.status).notin_(NOT_RETURNED),
            col(line.sku) != "",
        )
        .group_by(col(line.sku), col(cases.reason))
    )
    if channel:
        query = query.where(col(cases.channel) == channel)
    if shop_id is not None:
        query = query.where(col(cases.shop_id) == shop_id)
    return [ReturnedUnits(sku, reason, int(units)) for sku, reason, units in (await session.exec(query)).all()]

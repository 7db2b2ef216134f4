"""After-sales services: open a case, decide it, receive the goods back, refund, send again.

What each kind of case does once approved:

- 仅退款 before shipping: the lines are cancelled. When that leaves nothing of an order to ship, the order is
  cancelled as a platform cancel does (parcels not waybilled cancelled, waybilled ones intercepted, the stock
  given back); otherwise the lines leave their parcel (not waybilled yet) and give their stock back.
- 仅退款 after shipping: the refund only; nothing comes back.
- 退货退款 and 换货: the case waits for the goods (the buyer's return waybill is recorded when known). On receipt
  each unit is checked: passed, back on hand where it arrived, sellable at once (the next order may reserve it);
  failed, into that warehouse's defective stock with the reason. Once every unit is in, a return is refunded, an
  exchange sends its replacement.
- 补发: a new order for the lines, at no charge, through the same routing as any order.

A store counter (就近门店退货) takes the goods at once: the case opens, is approved and received into the store's
own stock in one step. Every step is an event on each order's timeline; a refund and a completion are events
finance takes (``aftersale.refunded``, ``aftersale.completed``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import outbox
from app.db import utcnow
from app.domain.accounts.services import Actor, audit
from app.domain.aftersales.models import (
    OPEN_STATUSES,
    AfterSaleCase,
    AfterSaleLine,
    CaseKind,
    CaseSource,
    CaseStatus,
    QcResult,
    RefundStatus,
)
from app.domain.fulfillment import interceptions, writebacks
from app.domain.fulfillment import services as fulfillment
from app.domain.inventory import services as inventory
from app.domain.inventory.models import ReservationStatus, WarehouseKind
from app.domain.orders import pii
from app.domain.orders import services as orders
from app.domain.orders.models import Order, OrderLine, OrderStatus
from app.domain.processing import services as processing
from app.errors import DomainError
from app.events import EventType, record
from app.i18n import N_, gettext

#: Hours a case may wait for the seller's answer before the platform decides for the buyer or penalises the shop.
#: The platforms' rules differ by case type and change; 48 h is the common answer window (to be set per shop).
RESPONSE_HOURS = 48
#: The job that tells a case's platform its refund is agreed (``channels.refunds``); one per case, and per 重试.
REFUND_JOB = "write_back_refund"
#: Channels whose platform makes the refund of a case it told us of: the refund is agreed there (同意退款) through
#: ``REFUND_JOB`` and made once the platform accepts. Every other case (our web shop, a till, a 小程序 without a
#: refund API, one an operator entered) records its refund at once.
WRITTEN_BACK_CHANNELS = frozenset({"taobao", "tmall", "jd", "douyin", "kuaishou", "youzan", "wechat_channels"})
#: The job that runs the published after-sales flows on a case that just opened (``aftersales.rules.decide``).
DECIDE_JOB = "decide_case"
SHIPPED_STATUSES = (OrderStatus.shipped, OrderStatus.delivered, OrderStatus.completed)
#: What a reissue copies of the original order: the buyer and the receiver (sealed values stay sealed).
RECEIVER_FIELDS = (
    "channel_buyer_id",
    "buyer_nick",
    "customer_id",
    "receiver_name",
    "phone_masked",
    "phone_cipher",
    "phone_suffix",
    "province",
    "city",
    "district",
    "town",
    "address_masked",
    "address_cipher",
    "address_key",
    "receiver_protected",
    "receiver_tokens_cipher",
)


#: Who records what a platform did on its own (its refund, its refusal, a closed case).
SYSTEM_ACTOR = Actor("system", None, "platform")


class AfterSaleError(DomainError):
    """A case that cannot be opened or a step that cannot be taken; ``code`` picks the message."""

    messages: ClassVar[Mapping[str, str]] = {
        "order_not_found": N_("The order does not exist"),
        "case_not_found": N_("The after-sales case does not exist"),
        "no_lines": N_("Choose at least one item and its quantity"),
        "line_not_found": N_("Order %(order)s has no item %(line)s"),
        "other_buyer": N_("Order %(order)s belongs to another buyer: one refund may only cover one buyer's orders"),
        "other_shop": N_("Order %(order)s is from another shop: one refund covers one shop's orders"),
        "bad_qty": N_("The quantity of %(sku)s must be between 1 and %(max)s"),
        "bad_refund": N_("The refund for %(sku)s must be between ¥0.00 and %(max)s"),
        "bad_shipping": N_("The shipping refund must be between ¥0.00 and %(max)s"),
        "not_shipped": N_("Order %(order)s has not shipped yet: choose 仅退款 to cancel its items"),
        "mixed_shipping": N_("Some of these orders have shipped and some have not: open one case for each"),
        "refund_only_kind": N_("A store takes goods back: choose 退货退款 or 换货"),
        "bad_kind": N_("Unknown after-sales type: %(kind)s"),
        "exchange_sku": N_("Choose the item to send in exchange for %(sku)s"),
        "unknown_sku": N_("Unknown SKU: %(sku)s"),
        "not_a_store": N_("%(warehouse)s is not a store: store returns go into a store's stock"),
        "waybilled": N_(
            "The parcel carrying %(sku)s already has a waybill: refund the whole order, or refund after it ships"
        ),
        "not_open": N_("This case is already %(state)s"),
        "not_awaiting_return": N_("This case is not waiting for goods to come back"),
        "receipt_changed": N_("Someone else recorded a receipt for this case meanwhile: check the page and try again"),
        "too_many_received": N_("Only %(max)s of %(sku)s are still to come back"),
        "nothing_received": N_("Enter how many units came back"),
        "qc_reason": N_("Say why %(sku)s failed quality check"),
        "platform_ref_taken": N_("This platform after-sales number is already a case: %(ref)s"),
        "bad_form_qty": N_("Quantities are whole numbers from 0 up"),
        "bad_form_refund": N_("Enter the refund of %(sku)s in yuan, e.g. 12.50"),
        "waybill_required": N_("Enter the return's carrier and waybill number"),
        "refuse_reason": N_("Say why the case is refused"),
        "refund_not_failed": N_("Only a refund the platform refused can be retried: this one is %(state)s"),
    }
    statuses: ClassVar[Mapping[str, int]] = {"order_not_found": 404, "case_not_found": 404}


@dataclass(frozen=True)
class LineRequest:
    """One item of a case: which order line, how many units, the refund for them (None: their share of what was
    paid) and, for an exchange, the SKU sent instead (empty: the same)."""

    order_id: int
    line_id: str
    qty: int
    refund_fen: int | None = None
    exchange_sku: str = ""


@dataclass(frozen=True)
class CaseRequest:
    kind: CaseKind
    order_id: int
    lines: Sequence[LineRequest]
    reason: str = ""
    source: CaseSource = CaseSource.operator
    #: Refund the order's shipping too (its full shipping fee, once per order).
    refund_shipping: bool = False
    #: The platform's after-sales id (a case from the platform).
    platform_ref: str = ""
    #: The store taking the goods back at its counter.
    store_code: str = ""
    note: str = ""


@dataclass(frozen=True)
class Receipt:
    """Units of one case line that came back: how many passed quality check, how many failed and why."""

    line_id: int
    passed: int = 0
    failed: int = 0
    reason: str = ""


@dataclass
class CaseView:
    case: AfterSaleCase
    lines: list[AfterSaleLine] = field(default_factory=list)

    @property
    def orders(self) -> list[int]:
        return sorted({line.order_id for line in self.lines})

    @property
    def outstanding(self) -> int:
        """Units still to come back."""
        return sum(line.qty - line.received_qty for line in self.lines)


def refund_error_message(case: AfterSaleCase) -> str:
    """Why the platform did not take the case's refund, in the reader's language, with the platform's own words."""
    if not case.refund_error_code:
        return case.refund_error
    template = writebacks.ERROR_MESSAGES.get(case.refund_error_code)
    if template is None:
        return case.refund_error or case.refund_error_code
    return gettext(template) % {"detail": case.refund_error}


def yuan(fen: int) -> str:
    return f"¥{fen / 100:,.2f}"


def case_ref(case_id: int) -> str:
    """Our own case number, e.g. AS00000042."""
    return f"AS{case_id:08d}"


# --- reading ---------------------------------------------------------------------------------------------------


async def load_case(session: AsyncSession, case_id: int, *, lock: bool = False) -> CaseView:
    query = select(AfterSaleCase).where(AfterSaleCase.id == case_id)
    if lock:
        query = query.with_for_update()
    case = (await session.exec(query.execution_options(populate_existing=True))).first()
    if case is None:
        raise AfterSaleError("case_not_found")
    lines = (
        await session.exec(
            select(AfterSaleLine).where(AfterSaleLine.case_id == case_id).order_by(col(AfterSaleLine.id))
        )
    ).all()
    return CaseView(case, list(lines))


async def order_of(session: AsyncSession, case: AfterSaleCase) -> Order:
    """The order the case was opened from."""
    order = await session.get(Order, case.order_id)
    if order is None:
        raise AfterSaleError("order_not_found")
    return order


async def cases_of_order(session: AsyncSession, order_id: int) -> list[AfterSaleCase]:
    """Every case with a line of this order (a merged refund opened from another order included), newest first."""
    ids = select(AfterSaleLine.case_id).where(AfterSaleLine.order_id == order_id)
    query = select(AfterSaleCase).where(col(AfterSaleCase.id).in_(ids)).order_by(col(AfterSaleCase.id).desc())
    return list((await session.exec(query)).all())


async def claimed_units(session: AsyncSession, order_ids: Sequence[int]) -> dict[tuple[int, str], int]:
    """Units of each order line that open or completed cases already cover (refused and withdrawn ones do not)."""
    rows = (
        await session.exec(
            select(AfterSaleLine.order_id, AfterSaleLine.line_id, AfterSaleLine.qty)
            .join(AfterSaleCase, col(AfterSaleCase.id) == col(AfterSaleLine.case_id))
            .where(
                col(AfterSaleLine.order_id).in_(order_ids),
                col(AfterSaleCase.status).notin_([CaseStatus.refused.value, CaseStatus.cancelled.value]),
            )
        )
    ).all()
    claimed: dict[tuple[int, str], int] = defaultdict(int)
    for order_id, line_id, qty in rows:
        claimed[(order_id, line_id)] += qty
    return dict(claimed)


# --- opening ---------------------------------------------------------------------------------------------------


def line_share(line: OrderLine, qty: int) -> int:
    """What the buyer paid for ``qty`` units of the line (the line's paid amount is for all its units)."""
    return line.paid_fen * qty // line.qty if line.qty else 0


async def open_case(
    session: AsyncSession, actor: Actor, request: CaseRequest, *, now: datetime | None = None
) -> CaseView:
    """Open a case after checking it against the orders: the lines exist, belong to one buyer's orders of one shop,
    and are not covered by another case already; quantities and refunds within what was bought and paid."""
    now = now or utcnow()
    if request.kind not in tuple(CaseKind):
        raise AfterSaleError("bad_kind", field="kind", kind=str(request.kind))
    wanted = [line for line in request.lines if line.qty]
    if not wanted:
        raise AfterSaleError("no_lines", field="lines")
    primary = await session.get(Order, request.order_id)
    if primary is None:
        raise AfterSaleError("order_not_found")
    order_ids = sorted({request.order_id, *(line.order_id for line in wanted)})
    found = {o.id: o for o in (await session.exec(select(Order).where(col(Order.id).in_(order_ids)))).all()}
    for order_id in order_ids:
        other = found.get(order_id)
        if other is None:
            raise AfterSaleError("order_not_found")
        if other.shop_id != primary.shop_id:
            raise AfterSaleError("other_shop", field="lines", order=str(order_id))
        same_buyer = (
            other.customer_id == primary.customer_id
            if primary.customer_id is not None
            else other.channel_buyer_id == primary.channel_buyer_id and bool(primary.channel_buyer_id)
        )
        if order_id != primary.id and not same_buyer:
            raise AfterSaleError("other_buyer", field="lines", order=str(order_id))
    if request.platform_ref:
        taken = (
            await session.exec(
                select(AfterSaleCase.id).where(
                    AfterSaleCase.shop_id == primary.shop_id, AfterSaleCase.platform_ref == request.platform_ref
                )
            )
        ).first()
        if taken is not None:
            raise AfterSaleError("platform_ref_taken", field="platform_ref", ref=request.platform_ref)
    shipped = {order_id: found[order_id].status in SHIPPED_STATUSES for order_id in order_ids}
    if len(set(shipped.values())) > 1:
        raise AfterSaleError("mixed_shipping", field="lines")
    after_shipping = next(iter(shipped.values()))
    if request.kind != CaseKind.refund_only and not after_shipping:
        raise AfterSaleError("not_shipped", field="kind", order=found[order_ids[0]].external_id)
    if request.source == CaseSource.store:
        if request.kind not in (CaseKind.return_refund, CaseKind.exchange):
            raise AfterSaleError("refund_only_kind", field="kind")
        store = await inventory.get_warehouse(session, request.store_code)
        if store is None or store.kind != WarehouseKind.store:
            raise AfterSaleError("not_a_store", field="store", warehouse=request.store_code or "-")

    lines_of: dict[tuple[int, str], OrderLine] = {
        (line.order_id, line.line_id): line
        for line in (await session.exec(select(OrderLine).where(col(OrderLine.order_id).in_(order_ids)))).all()
    }
    claimed = await claimed_units(session, order_ids)
    asked: dict[tuple[int, str], int] = defaultdict(int)
    rows: list[AfterSaleLine] = []
    for want in wanted:
        key = (want.order_id, want.line_id)
        line = lines_of.get(key)
        if line is None:
            raise AfterSaleError("line_not_found", field="lines", order=str(want.order_id), line=want.line_id)
        asked[key] += want.qty
        left = line.qty - claimed.get(key, 0)
        if want.qty < 0 or asked[key] > left:
            raise AfterSaleError("bad_qty", field="lines", sku=line.sku or line.title, max=str(max(left, 0)))
        share = line_share(line, want.qty)
        refund = 0 if request.kind in (CaseKind.exchange, CaseKind.reissue) else share
        if want.refund_fen is not None and request.kind in (CaseKind.refund_only, CaseKind.return_refund):
            if not 0 <= want.refund_fen <= share:
                raise AfterSaleError("bad_refund", field="lines", sku=line.sku or line.title, max=yuan(share))
            refund = want.refund_fen
        exchange_sku = ""
        if request.kind == CaseKind.exchange:
            exchange_sku = (want.exchange_sku or line.sku).strip()
            if not exchange_sku:
                raise AfterSaleError("exchange_sku", field="lines", sku=line.title)
            if await inventory.get_sku(session, exchange_sku) is None:
                raise AfterSaleError("unknown_sku", field="lines", sku=exchange_sku)
        rows.append(
            AfterSaleLine(
                case_id=0,
                order_id=want.order_id,
                line_id=want.line_id,
                sku=line.sku,
                title=line.title[:300],
                qty=want.qty,
                refund_fen=refund,
                exchange_sku=exchange_sku,
            )
        )
    shipping = 0
    if request.refund_shipping and request.kind in (CaseKind.refund_only, CaseKind.return_refund):
        shipping = sum(found[order_id].shipping_fen for order_id in order_ids)
    case = AfterSaleCase(
        kind=request.kind.value,
        source=request.source.value,
        channel=primary.channel,
        shop_id=primary.shop_id,
        platform_ref=request.platform_ref or f"pending:{now.timestamp()}:{request.order_id}",
        order_id=request.order_id,
        customer_id=primary.customer_id,
        shipped=after_shipping,
        # Free text from a buyer, a platform or a person: a phone number in it is masked like the order's own.
        reason=pii.redact_text(request.reason.strip(), limit=200),
        note=pii.redact_text(request.note.strip(), limit=500),
        refund_fen=sum(row.refund_fen for row in rows) + shipping,
        shipping_refund_fen=shipping,
        refund_status=(
            RefundStatus.none.value
            if request.kind in (CaseKind.exchange, CaseKind.reissue)
            else RefundStatus.pending.value
        ),
        return_warehouse_code=request.store_code if request.source == CaseSource.store else "",
        due_at=now + timedelta(hours=RESPONSE_HOURS),
        opened_by=actor.name,
        created_at=now,
        updated_at=now,
    )
    session.add(case)
    await session.flush()
    assert case.id is not None
    if not request.platform_ref:
        case.platform_ref = case_ref(case.id)
    for row in rows:
        row.case_id = case.id
        session.add(row)
    await session.flush()
    view = CaseView(case, rows)
    await _timeline(session, view, "aftersale_opened", actor, kind=case.kind, refund_fen=case.refund_fen)
    # The published after-sales flows decide it after commit (see ``app.domain.aftersales.rules``).
    await outbox.stage(session, DECIDE_JOB, case.id, dedupe_key=f"{DECIDE_JOB}:{case.id}")
    return view


# --- deciding --------------------------------------------------------------------------------------------------


def _require_open(case: AfterSaleCase, *allowed: CaseStatus) -> None:
    if case.status not in {s.value for s in (allowed or OPEN_STATUSES)}:
        raise AfterSaleError("not_open", state=status_label(case.status))


def status_label(status: str) -> str:
    return {
        CaseStatus.requested.value: "待处理",
        CaseStatus.awaiting_return.value: "待退货",
        CaseStatus.refunding.value: "退款中",
        CaseStatus.completed.value: "已完成",
        CaseStatus.refused.value: "已拒绝",
        CaseStatus.cancelled.value: "已撤销",
    }.get(status, status)


async def approve(
    session: AsyncSession,
    case_id: int,
    actor: Actor,
    *,
    now: datetime | None = None,
    refunded_on_platform: bool = False,
) -> CaseView:
    """同意: carry the case out as its kind says (see the module). ``refunded_on_platform``: the platform says it has
    made the refund already (it agreed for the shop, e.g. when the answer window ran out): nothing is written back."""
    now = now or utcnow()
    view = await load_case(session, case_id, lock=True)
    case = view.case
    _require_open(case, CaseStatus.requested)
    case.decided_by, case.decided_at, case.updated_at = actor.name, now, now
    await _timeline(session, view, "aftersale_approved", actor)
    kind = CaseKind(case.kind)
    if kind == CaseKind.refund_only:
        if not case.shipped:
            await _cancel_lines(session, view, actor)
        await _refund(session, view, actor, now, made=refunded_on_platform)
    elif kind == CaseKind.reissue:
        await _send_again(session, view, actor, now)
        await _close(session, view, actor, now)
    else:
        if not case.return_warehouse_code:
            case.return_warehouse_code = await _shipped_from(session, view)
        case.status = CaseStatus.awaiting_return.value
    session.add(case)
    return view


async def refuse(
    session: AsyncSession, case_id: int, actor: Actor, reason: str, *, now: datetime | None = None
) -> CaseView:
    """拒绝: the case closes with nothing done; its lines may be claimed again by a new case."""
    now = now or utcnow()
    view = await load_case(session, case_id, lock=True)
    _require_open(view.case, CaseStatus.requested)
    case = view.case
    case.status = CaseStatus.refused.value
    case.refund_status = RefundStatus.none.value
    case.decided_by, case.decided_at, case.updated_at, case.closed_at = actor.name, now, now, now
    case.note = (reason.strip() or case.note)[:500]
    session.add(case)
    await _timeline(session, view, "aftersale_refused", actor, reason=reason.strip()[:200])
    return view


async def refer_to_supervisor(
    session: AsyncSession, case_id: int, actor: Actor, reason: str, *, now: datetime | None = None
) -> CaseView:
    """转主管审核: the case stays requested, flagged for a supervisor (高价值, …) with the reason shown."""
    view = await load_case(session, case_id, lock=True)
    _require_open(view.case, CaseStatus.requested)
    case = view.case
    case.needs_supervisor = True
    case.supervisor_reason = reason.strip()[:200]
    case.updated_at = now or utcnow()
    session.add(case)
    await _timeline(session, view, "aftersale_to_supervisor", actor, reason=case.supervisor_reason)
    return view


async def record_return_waybill(
    session: AsyncSession, case_id: int, carrier: str, waybill_no: str, actor: Actor
) -> CaseView:
    """The buyer's return parcel (退货物流): its carrier and waybill number, shown to the receiving warehouse."""
    view = await load_case(session, case_id, lock=True)
    _require_open(view.case, CaseStatus.awaiting_return, CaseStatus.requested)
    view.case.return_carrier = carrier.strip()[:32]
    view.case.return_waybill_no = waybill_no.strip()[:64]
    view.case.updated_at = utcnow()
    session.add(view.case)
    await _timeline(session, view, "aftersale_return_shipped", actor, waybill_no=view.case.return_waybill_no)
    return view


async def receive(
    session: AsyncSession,
    case_id: int,
    receipts: Sequence[Receipt],
    actor: Actor,
    *,
    expected_outstanding: int | None = None,
    now: datetime | None = None,
) -> CaseView:
    """收货质检: book the units that came back (passed: on hand, sellable at once; failed: defective, with the
    reason) where the case receives them. When the last unit is in, a return is refunded and an exchange sends
    its replacement. ``expected_outstanding`` is what the receiving page showed as still to come: a second submit
    of the same page, or another receiver's, finds it changed and books nothing."""
    now = now or utcnow()
    view = await load_case(session, case_id, lock=True)
    case = view.case
    if case.status != CaseStatus.awaiting_return.value:
        raise AfterSaleError("not_awaiting_return")
    if expected_outstanding is not None and expected_outstanding != view.outstanding:
        raise AfterSaleError("receipt_changed")
    by_id = {line.id: line for line in view.lines}
    booked = 0
    for receipt in receipts:
        line = by_id.get(receipt.line_id)
        if line is None or receipt.passed < 0 or receipt.failed < 0:
            raise AfterSaleError("nothing_received")
        units = receipt.passed + receipt.failed
        if not units:
            continue
        if units > line.qty - line.received_qty:
            raise AfterSaleError("too_many_received", sku=line.sku, max=str(line.qty - line.received_qty))
        if receipt.failed and not receipt.reason.strip():
            raise AfterSaleError("qc_reason", field="reason", sku=line.sku)
        order_key = inventory.order_key(line.order_id)
        for result, qty in ((QcResult.passed, receipt.passed), (QcResult.failed, receipt.failed)):
            if qty:
                await inventory.restock_return(
                    session,
                    order_key,
                    line.line_id,
                    qty,
                    result == QcResult.passed,
                    actor,
                    ref=f"{case.platform_ref}:{line.id}:{line.received_qty}:{result.value}",
                    warehouse_code=case.return_warehouse_code or None,
                    reason=receipt.reason.strip()[:100],
                )
        line.received_qty += units
        line.passed_qty += receipt.passed
        if receipt.failed:
            line.qc_note = receipt.reason.strip()[:200]
        session.add(line)
        booked += units
        await _timeline(
            session,
            view,
            "aftersale_received",
            actor,
            sku=line.sku,
            passed=receipt.passed,
            failed=receipt.failed,
            reason=receipt.reason.strip()[:100],
            warehouse=case.return_warehouse_code,
        )
    if not booked:
        raise AfterSaleError("nothing_received")
    case.updated_at = now
    session.add(case)
    if view.outstanding == 0:
        if case.kind == CaseKind.exchange.value:
            await _send_again(session, view, actor, now)
            await _close(session, view, actor, now)
        else:
            await _refund(session, view, actor, now)
    return view


async def take_at_store(
    session: AsyncSession, actor: Actor, request: CaseRequest, receipts_passed: Mapping[str, tuple[int, int, str]]
) -> CaseView:
    """就近门店退货: the store's counter opens the case, approves it and receives the goods into its own stock in
    one transaction. ``receipts_passed`` gives per order line id (passed, failed, reason) of what the counter
    checked; the refund follows the original channel's rules as any return's does."""
    view = await open_case(session, actor, request)
    assert view.case.id is not None
    view = await approve(session, view.case.id, actor)
    assert view.case.id is not None
    receipts = []
    for line in view.lines:
        passed, failed, reason = receipts_passed.get(line.line_id, (line.qty, 0, ""))
        assert line.id is not None
        receipts.append(Receipt(line.id, passed, failed, reason))
    return await receive(session, view.case.id, receipts, actor)


# --- the platform's side -------------------------------------------------------------------------------------


async def refund_made(
    session: AsyncSession, case_id: int, actor: Actor, *, reply_id: str = "", now: datetime | None = None
) -> CaseView:
    """The platform accepted the agreed refund (or says it made it): the case is refunded and completes. A case
    already refunded is left as it is (the job ran twice, or the platform's own message came after our call)."""
    now = now or utcnow()
    view = await load_case(session, case_id, lock=True)
    case = view.case
    if case.refund_status == RefundStatus.refunded.value or case.status != CaseStatus.refunding.value:
        return view
    case.refund_attempts += 1
    case.refund_reply_id = reply_id[:100]
    case.refund_error_code = case.refund_error = ""
    await _refunded(session, view, actor, now)
    return view


async def refund_failed(
    session: AsyncSession,
    case_id: int,
    code: str,
    message: str,
    *,
    final: bool,
    now: datetime | None = None,
) -> CaseView:
    """One refused or failed agree-refund call: counted, with the platform's words. ``final``: the platform refused
    it for good (or could not be reached after every attempt): 退款失败, shown on the case and the orders'
    timelines until someone retries (:func:`retry_refund`)."""
    now = now or utcnow()
    view = await load_case(session, case_id, lock=True)
    case = view.case
    if case.status != CaseStatus.refunding.value or case.refund_status != RefundStatus.pending.value:
        return view
    case.refund_attempts += 1
    case.refund_error_code, case.refund_error = code[:32], message[:1000]
    case.updated_at = now
    if final:
        case.refund_status = RefundStatus.failed.value
        await _timeline(session, view, "aftersale_refund_failed", SYSTEM_ACTOR, error=code, message=message[:200])
    session.add(case)
    return view


async def retry_refund(
    session: AsyncSession, case_id: int, actor: Actor, *, ip: str | None = None, now: datetime | None = None
) -> CaseView:
    """重试: a refund the platform refused is agreed again, with a new job; audited and on the orders' timelines."""
    now = now or utcnow()
    view = await load_case(session, case_id, lock=True)
    case = view.case
    if case.refund_status != RefundStatus.failed.value or case.status != CaseStatus.refunding.value:
        raise AfterSaleError("refund_not_failed", state=status_label(case.status))
    before = {"refund_status": case.refund_status, "error": case.refund_error_code, "attempts": case.refund_attempts}
    case.refund_status = RefundStatus.pending.value
    case.refund_attempts = 0
    case.refund_retries += 1
    case.updated_at = now
    session.add(case)
    await outbox.stage(session, REFUND_JOB, case.id, dedupe_key=f"{REFUND_JOB}:{case.id}:retry:{case.refund_retries}")
    await _timeline(session, view, "aftersale_refund_retried", actor)
    await audit(
        session,
        actor,
        "aftersale.refund_retry",
        target_type="aftersale_case",
        target_id=case_id,
        before=before,
        after={"refund_status": case.refund_status, "retries": case.refund_retries},
        ip=ip,
    )
    return view


async def withdraw(
    session: AsyncSession, case_id: int, actor: Actor, reason: str = "", *, now: datetime | None = None
) -> CaseView:
    """撤销: the buyer withdrew the request, or the platform closed it: an open case closes with nothing more done
    (its lines may be claimed again); one already closed is left as it is."""
    now = now or utcnow()
    view = await load_case(session, case_id, lock=True)
    case = view.case
    if case.status not in {s.value for s in OPEN_STATUSES}:
        return view
    case.status = CaseStatus.cancelled.value
    if case.refund_status != RefundStatus.refunded.value:
        case.refund_status = RefundStatus.none.value
    case.updated_at = case.closed_at = now
    case.note = (reason.strip() or case.note)[:500]
    session.add(case)
    await _timeline(session, view, "aftersale_cancelled", actor, reason=reason.strip()[:200])
    return view


async def refunded_by_platform(
    session: AsyncSession, case_id: int, actor: Actor, *, now: datetime | None = None
) -> CaseView:
    """The platform says the refund is made (its own timeout agreed it, or our agreement landed): the case is carried
    to its end without a write-back. A case still waiting for a decision is approved as refunded; one waiting for
    its goods, or for our agreement's answer, is refunded and completes."""
    now = now or utcnow()
    view = await load_case(session, case_id, lock=True)
    case = view.case
    if case.status == CaseStatus.requested.value and case.kind == CaseKind.refund_only.value:
        return await approve(session, case_id, actor, now=now, refunded_on_platform=True)
    if case.status not in {s.value for s in OPEN_STATUSES} or case.refund_status == RefundStatus.refunded.value:
        return view
    if case.kind in (CaseKind.exchange.value, CaseKind.reissue.value):
        return view
    if case.status == CaseStatus.requested.value:
        case.decided_by, case.decided_at = actor.name, now
    await _refunded(session, view, actor, now)
    return view


# --- carrying out ----------------------------------------------------------------------------------------------


async def _shipped_from(session: AsyncSession, view: CaseView) -> str:
    """The warehouse the case's first line left from (returns go back there unless a store takes them)."""
    line = view.lines[0]
    for row in await inventory.reservations(session, inventory.order_key(line.order_id)):
        if row.line_key == line.line_id and row.status == ReservationStatus.shipped:
            return row.warehouse_code
    return ""


async def _cancel_lines(session: AsyncSession, view: CaseView, actor: Actor) -> None:
    """仅退款 before shipping: an order with nothing left to ship is cancelled; otherwise its refunded lines leave
    their parcel (one not waybilled yet) and give their stock back."""
    claimed = await claimed_units(session, view.orders)
    for order_id in view.orders:
        order_lines = (await session.exec(select(OrderLine).where(OrderLine.order_id == order_id))).all()
        refunded_all = all(claimed.get((order_id, line.line_id), 0) >= line.qty for line in order_lines)
        if refunded_all:
            await processing.cancel_refunded(session, order_id, actor, f"售后仅退款 {view.case.platform_ref}")
            continue
        mine = {line.line_id for line in view.lines if line.order_id == order_id}
        fully = {
            line.line_id
            for line in order_lines
            if line.line_id in mine and claimed.get((order_id, line.line_id), 0) >= line.qty
        }
        await _take_off_parcels(session, order_id, fully, view)
        if fully:
            await inventory.release(
                session,
                inventory.order_key(order_id),
                actor,
                line_keys=fully,
                note=f"售后仅退款 {view.case.platform_ref}",
            )


async def _take_off_parcels(session: AsyncSession, order_id: int, line_ids: set[str], view: CaseView) -> None:
    """Take fully refunded lines off the order's open parcels; a parcel left empty is cancelled. A waybilled parcel
    is not changed behind the carrier's back: the refund is refused (whole order, or after shipping)."""
    for shipment in await fulfillment.shipments_of(session, order_id):
        if shipment.status == "cancelled":
            continue
        carried = [line for line in shipment.lines if str(line.get("line_id")) in line_ids]
        if not carried:
            continue
        if shipment.waybill_no or shipment.status in interceptions.LEFT:
            raise AfterSaleError("waybilled", sku=str(carried[0].get("sku", "")))
        kept = [line for line in shipment.lines if str(line.get("line_id")) not in line_ids]
        if kept:
            shipment.lines = kept
            shipment.updated_at = utcnow()
            session.add(shipment)
        else:
            await fulfillment.cancel_shipments(session, [shipment])


def writes_back(case: AfterSaleCase) -> bool:
    """Whether the case's refund is made by its platform (agreed there through ``REFUND_JOB``)."""
    return case.source == CaseSource.platform.value and case.channel in WRITTEN_BACK_CHANNELS


async def _refund(session: AsyncSession, view: CaseView, actor: Actor, now: datetime, *, made: bool = False) -> None:
    """The agreed refund: a platform's case is 退款中 until its platform accepts the agreement (``REFUND_JOB``, one
    per case); any other case's refund (or one the platform ``made`` already) is made at once."""
    case = view.case
    if writes_back(case) and not made:
        case.status = CaseStatus.refunding.value
        case.refund_status = RefundStatus.pending.value
        case.refund_error_code = case.refund_error = ""
        case.updated_at = now
        session.add(case)
        await session.flush()
        await outbox.stage(session, REFUND_JOB, case.id, dedupe_key=f"{REFUND_JOB}:{case.id}")
        await _timeline(session, view, "aftersale_refund_requested", actor, refund_fen=case.refund_fen)
        return
    await _refunded(session, view, actor, now)


async def _refunded(session: AsyncSession, view: CaseView, actor: Actor, now: datetime) -> None:
    """The agreed refund is made: recorded per line with who approved it, and announced for finance."""
    case = view.case
    case.refund_status = RefundStatus.refunded.value
    await _timeline(session, view, "aftersale_refunded", actor, refund_fen=case.refund_fen)
    await record(
        session,
        EventType.aftersale_refunded,
        _event_data(view),
        key=f"aftersale.refunded:{case.id}",
    )
    await _close(session, view, actor, now)


async def _close(session: AsyncSession, view: CaseView, actor: Actor, now: datetime) -> None:
    case = view.case
    case.status = CaseStatus.completed.value
    case.closed_at = case.updated_at = now
    session.add(case)
    await _timeline(session, view, "aftersale_completed", actor)
    await record(session, EventType.aftersale_completed, _event_data(view), key=f"aftersale.completed:{case.id}")


async def _send_again(session: AsyncSession, view: CaseView, actor: Actor, now: datetime) -> Order:
    """补发 / 换货: a new order of the case's items (an exchange's replacements) to the same receiver, at no charge,
    queued for processing like any order: the flows route it, reserve its stock and print its waybill."""
    case = view.case
    original = await session.get(Order, case.order_id)
    if original is None:
        raise AfterSaleError("order_not_found")
    kind_tag = "换货" if case.kind == CaseKind.exchange.value else "补发"
    order = Order(
        channel=original.channel,
        shop_id=original.shop_id,
        external_id=f"{original.external_id}-{case.platform_ref}"[-64:],
        raw_status="",
        status=OrderStatus.received,
        placed_at=now,
        paid_at=now,
        source_updated_at=now,
        received_at=now,
        updated_at=now,
        reissue_of=original.id,
        tags=[kind_tag],
        raw={"aftersale_case": case.platform_ref, "reissue_of": original.id},
    )
    for name in RECEIVER_FIELDS:
        setattr(order, name, getattr(original, name))
    session.add(order)
    await session.flush()
    assert order.id is not None
    for position, line in enumerate(view.lines):
        sku = line.exchange_sku or line.sku
        session.add(
            OrderLine(
                order_id=order.id,
                position=position,
                line_id=f"{line.line_id}-{kind_tag}",
                sku=sku,
                seller_sku=sku,
                title=line.title,
                qty=line.qty,
            )
        )
    await orders.add_tags(session, order, [kind_tag])
    await orders.add_event(session, order, "received", {"status": order.status.value, "reissue_of": original.id})
    await processing.queue(session, order, new=True)
    case.reissue_order_id = order.id
    session.add(case)
    await _timeline(session, view, "aftersale_sent_again", actor, order=order.id)
    return order


def _event_data(view: CaseView) -> dict[str, Any]:
    """What finance and subscribers get: amounts per line, no personal data."""
    case = view.case
    return {
        "case_id": case.id,
        "case": case.platform_ref,
        "kind": case.kind,
        "source": case.source,
        "channel": case.channel,
        "shop_id": case.shop_id,
        "orders": view.orders,
        "refund_fen": case.refund_fen,
        "shipping_refund_fen": case.shipping_refund_fen,
        "return_warehouse": case.return_warehouse_code,
        "approved_by": case.decided_by,
        "reissue_order_id": case.reissue_order_id,
        "lines": [
            {
                "order_id": line.order_id,
                "line_id": line.line_id,
                "sku": line.sku,
                "qty": line.qty,
                "refund_fen": line.refund_fen,
                "passed_qty": line.passed_qty,
                "failed_qty": line.received_qty - line.passed_qty,
            }
            for line in view.lines
        ],
    }


async def _timeline(session: AsyncSession, view: CaseView, step: str, actor: Actor, **detail: Any) -> None:
    """The step, on the timeline of every order the case covers."""
    for order_id in view.orders or [view.case.order_id]:
        order = await session.get(Order, order_id)
        if order is not None:
            await orders.add_event(
                session,
                order,
                step,
                {"case": view.case.platform_ref, "case_id": view.case.id, **detail},
                actor=actor.name,
            )

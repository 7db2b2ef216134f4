"""售后 pages: the queue with its SLA timers, a case with the actions its status allows (同意, 拒绝, 登记退货物流,
收货质检), a new case from an order's page, and the store counter (门店退货). Every action is one service call; a
refusal changes nothing and is shown in place on the page it came from. Viewers read; operators act."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template
from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.accounts.services import Actor
from app.domain.aftersales import queries, services
from app.domain.aftersales.models import CaseKind, CaseSource
from app.domain.aftersales.services import AfterSaleError, CaseRequest, LineRequest, Receipt
from app.domain.orders import presentation
from app.domain.orders.models import Order
from app.domain.shops import services as shop_readers
from app.errors import DomainError, excerpt
from app.forms import Form, one
from app.i18n import labeller
from app.params import parse_fen, parse_id, parse_int
from app.web import client_ip, page, refusals_shown_by

#: Who may act on cases (operators and admins); everyone who reads orders may read them.
WORK = "returns.work"
#: The largest refund a form may name (¥10,000,000.00): beyond it the amount is a typing mistake.
MAX_REFUND_FEN = 1_000_000_000
#: Steps whose success the case page announces after its redirect (``?done=``).
DONE_STEPS = ("opened", "approved", "refused", "waybill", "received", "refund_retried")


def _page(request: HTMXRequest, template: str, fragment: str | None = None, **context: Any) -> Template:
    """Render with the labels every after-sales page shows."""
    return page(
        request,
        template,
        fragment,
        kind_label=labeller(queries.KIND_LABELS),
        case_status_label=labeller(queries.STATUS_LABELS),
        waits_for_label=labeller(queries.WAITS_FOR),
        source_label=labeller(queries.SOURCE_LABELS),
        refund_label=labeller(queries.REFUND_LABELS),
        refund_error=services.refund_error_message,
        case_statuses=list(queries.STATUS_LABELS),
        case_kinds=list(queries.KIND_LABELS),
        waits_for=queries.WAITS_FOR,
        **presentation.helpers(),
        **context,
    )


def _count(data: dict[str, Any], name: str) -> int:
    """A unit count from the form: empty is 0, anything but a whole number from 0 is refused."""
    raw = one(data, name)
    value = parse_int(raw or "0", minimum=0, maximum=1_000_000)
    if value is None:
        raise AfterSaleError("bad_form_qty", field=name)
    return value


def _line_fields(data: dict[str, Any], prefix: str) -> list[tuple[int, str]]:
    """(order id, order line id) of each ``<prefix>.<order id>.<line id>`` field of the form."""
    found = []
    for key in data:
        head, _, rest = str(key).partition(".")
        order_text, _, line_id = rest.partition(".")
        order_id = parse_id(order_text)
        if head == prefix and order_id is not None and line_id:
            found.append((order_id, line_id))
    return found


def _kind(data: dict[str, Any]) -> CaseKind:
    value = one(data, "kind")
    if value not in tuple(CaseKind):
        raise AfterSaleError("bad_kind", field="kind", kind=value[:20] or "-")
    return CaseKind(value)


def case_lines(data: dict[str, Any]) -> list[LineRequest]:
    """The lines of a new case: units, refund in yuan (blank: the paid share) and exchange SKU per order line."""
    lines = []
    for order_id, line_id in _line_fields(data, "qty"):
        key = f"{order_id}.{line_id}"
        qty = _count(data, f"qty.{key}")
        if not qty:
            continue
        refund_text = one(data, f"refund.{key}")
        refund = parse_fen(refund_text, maximum=MAX_REFUND_FEN) if refund_text else None
        if refund_text and refund is None:
            raise AfterSaleError("bad_form_refund", field=f"refund.{key}", sku=line_id)
        lines.append(LineRequest(order_id, line_id, qty, refund, one(data, f"exchange.{key}")))
    return lines


# --- the pages and their refusals ----------------------------------------------------------------------------


async def queue_page(request: HTMXRequest, db_session: AsyncSession, *, scan_missed: str = "") -> Template:
    filters = queries.QueueFilters.from_query(request.query_params)
    result = await queries.queue(db_session, filters)
    shops = await shop_readers.shops_by_id(db_session)
    return _page(
        request,
        "aftersales/page.html",
        "aftersales/_rows.html",
        filters=filters,
        result=result,
        shops=shops,
        channels=sorted({s.channel for s in shops.values()}),
        scan_missed=scan_missed,
    )


async def case_page(request: HTMXRequest, db_session: AsyncSession, case_id: int, **context: Any) -> Template:
    done = request.query_params.get("done", "")
    return _page(
        request,
        "aftersales/case.html",
        info=await queries.case_page(db_session, case_id),
        shops=await shop_readers.shops_by_id(db_session),
        **{"error": None, "done": done if done in DONE_STEPS else "", **context},
    )


async def case_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    """The case page again, as it is stored, with the reason the step was refused."""
    case_id = int(request.path_params["case_id"])
    return await case_page(request, db_session, case_id, error=error.message)


async def new_case_page(request: HTMXRequest, db_session: AsyncSession, order_id: int, **context: Any) -> Template:
    primary, others = await queries.new_case_form(db_session, order_id)
    return _page(
        request,
        "aftersales/new.html",
        primary=primary,
        others=others,
        **{"error": None, "sent": {}, **context},
    )


async def new_case_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    """The form again with what was typed and the reason."""
    sent = {str(key): str(value) for key, value in (await request.form()).items()}
    order_id = int(request.path_params["order_id"])
    return await new_case_page(request, db_session, order_id, error=error.message, sent=sent)


async def store_page(request: HTMXRequest, db_session: AsyncSession, **context: Any) -> Template:
    """门店退货: the store, the look-up (order number, or last 4 phone digits and name), the order's lines."""
    query = request.query_params
    stores = await queries.stores(db_session)
    code = context.pop("store_code", None) or query.get("store", "")
    store = next((s for s in stores if s.code == code), stores[0] if len(stores) == 1 else None)
    order_no, phone4, name = query.get("order_no", ""), query.get("phone4", ""), query.get("name", "")
    found = await queries.find_for_store(db_session, order_no, phone4, name) if store else []
    chosen_id = context.pop("order_id", None) or parse_id(query.get("order_id", ""))
    chosen = None
    if store and chosen_id:
        order = await db_session.get(Order, chosen_id)
        if order is not None and order.status in services.SHIPPED_STATUSES:
            (chosen,) = await queries.claimable(db_session, [order])
    return _page(
        request,
        "aftersales/store.html",
        stores=stores,
        store=store,
        order_no=order_no,
        phone4=phone4,
        name=name,
        searched=bool(order_no or phone4 or name),
        found=found,
        chosen=chosen,
        shops=await shop_readers.shops_by_id(db_session),
        **{"error": None, "result": None, **context},
    )


async def store_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    data = await request.form()
    return await store_page(
        request,
        db_session,
        store_code=str(request.path_params["code"]),
        order_id=parse_id(data.get("order_id", "")),
        error=error.message,
    )


CASE_FORM = {"permission": WORK, **refusals_shown_by(case_refused)}
NEW_FORM = {"permission": WORK, **refusals_shown_by(new_case_refused)}
STORE_FORM = {"permission": WORK, **refusals_shown_by(store_refused)}


class AfterSalesController(Controller):
    path = "/aftersales"
    tags = ["aftersales"]  # noqa: RUF012
    opt = {"permission": "orders.read"}  # noqa: RUF012

    @get("/", name="aftersales:index")
    async def index(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        """售后: open cases first with their SLA timers and what each waits for; filters and paging."""
        return await queue_page(request, db_session)

    @get("/scan", name="aftersales:scan", opt={"permission": WORK})
    async def scan(self, request: HTMXRequest, db_session: AsyncSession) -> Template | Redirect:
        """退货收货: the return parcel's waybill number scanned (or a case number typed) opens its case at the
        receipt and quality check; a number no waiting case has is said on the queue."""
        scanned = request.query_params.get("number", "")
        found = await queries.awaiting_by_scan(db_session, scanned)
        if found is not None and found.id is not None:
            return Redirect(
                f"{request.app.route_reverse('aftersales:case', case_id=found.id)}#receive", status_code=303
            )
        return await queue_page(request, db_session, scan_missed=excerpt(scanned.strip()) or "-")

    @get("/of-order/{order_id:int}", name="aftersales:of_order")
    async def of_order(self, request: HTMXRequest, order_id: int, db_session: AsyncSession) -> Template:
        """The order page's 售后 section (loaded into it): the order's cases, and 新建售后 for those who may."""
        order = await db_session.get(Order, order_id)
        if order is None:
            raise AfterSaleError("order_not_found")
        return _page(
            request,
            "aftersales/_of_order.html",
            order=order,
            aftersales=await services.cases_of_order(db_session, order_id),
        )

    @get("/{case_id:int}", name="aftersales:case")
    async def case(self, request: HTMXRequest, case_id: int, db_session: AsyncSession) -> Template:
        """One case: its lines, status and refund, the orders it covers, and the actions its status allows."""
        return await case_page(request, db_session, case_id)

    @post("/{case_id:int}/approve", name="aftersales:approve", opt=CASE_FORM, status_code=303)
    async def approve(self, request: HTMXRequest, case_id: int, db_session: AsyncSession, actor: Actor) -> Redirect:
        await services.approve(db_session, case_id, actor)
        return _back(request, case_id, "approved")

    @post("/{case_id:int}/refund/retry", name="aftersales:retry_refund", opt=CASE_FORM, status_code=303)
    async def retry_refund(
        self, request: HTMXRequest, case_id: int, db_session: AsyncSession, actor: Actor
    ) -> Redirect:
        """重试: a refund the platform refused is agreed on it again (a new write-back job)."""
        await services.retry_refund(db_session, case_id, actor, ip=client_ip(request))
        return _back(request, case_id, "refund_retried")

    @post("/{case_id:int}/refuse", name="aftersales:refuse", opt=CASE_FORM, status_code=303)
    async def refuse(
        self, request: HTMXRequest, case_id: int, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Redirect:
        reason = one(data, "reason")
        if not reason:
            raise AfterSaleError("refuse_reason", field="reason")
        await services.refuse(db_session, case_id, actor, reason)
        return _back(request, case_id, "refused")

    @post("/{case_id:int}/waybill", name="aftersales:waybill", opt=CASE_FORM, status_code=303)
    async def waybill(
        self, request: HTMXRequest, case_id: int, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Redirect:
        """登记退货物流: the buyer's return parcel."""
        carrier, number = one(data, "carrier"), one(data, "waybill_no")
        if not carrier or not number:
            raise AfterSaleError("waybill_required", field="waybill_no")
        await services.record_return_waybill(db_session, case_id, carrier, number, actor)
        return _back(request, case_id, "waybill")

    @post("/{case_id:int}/receive", name="aftersales:receive", opt=CASE_FORM, status_code=303)
    async def receive(
        self, request: HTMXRequest, case_id: int, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Redirect:
        """收货质检: passed and failed units per line; ``expected_outstanding`` makes a second submit book nothing."""
        view = await services.load_case(db_session, case_id)
        receipts = [
            Receipt(
                line.id,
                _count(data, f"passed.{line.id}"),
                _count(data, f"failed.{line.id}"),
                one(data, f"reason.{line.id}"),
            )
            for line in view.lines
            if line.id is not None
        ]
        expected = parse_int(one(data, "expected_outstanding"), minimum=0)
        await services.receive(db_session, case_id, receipts, actor, expected_outstanding=expected)
        return _back(request, case_id, "received")

    @get("/new/{order_id:int}", name="aftersales:new", opt={"permission": WORK})
    async def new(self, request: HTMXRequest, order_id: int, db_session: AsyncSession) -> Template:
        """新建售后 from an order: its lines (and the same buyer's other orders, for one merged refund)."""
        return await new_case_page(request, db_session, order_id)

    @post("/new/{order_id:int}", name="aftersales:create", opt=NEW_FORM, status_code=303)
    async def create(
        self, request: HTMXRequest, order_id: int, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Redirect:
        request_ = CaseRequest(
            kind=_kind(data),
            order_id=order_id,
            lines=case_lines(data),
            reason=one(data, "reason"),
            refund_shipping=one(data, "refund_shipping") == "1",
            note=one(data, "note"),
        )
        view = await services.open_case(db_session, actor, request_)
        assert view.case.id is not None
        return _back(request, view.case.id, "opened")

    @get("/store", name="aftersales:store", opt={"permission": WORK})
    async def store(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        """门店退货: the counter finds the buyer's order and takes its goods back into the store."""
        return await store_page(request, db_session)

    @post("/store/{code:str}", name="aftersales:store_take", opt=STORE_FORM, status_code=200)
    async def store_take(
        self, request: HTMXRequest, code: str, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Template:
        """Open, approve and receive the return at the counter in one step; the page shows the case and refund."""
        order_id = parse_id(one(data, "order_id"))
        if order_id is None:
            raise AfterSaleError("order_not_found")
        lines, receipts = [], {}
        for line_order, line_id in _line_fields(data, "passed"):
            key = f"{line_order}.{line_id}"
            passed, failed = _count(data, f"passed.{key}"), _count(data, f"failed.{key}")
            if line_order == order_id and passed + failed:
                lines.append(LineRequest(order_id, line_id, passed + failed))
                receipts[line_id] = (passed, failed, one(data, f"reason.{key}"))
        request_ = CaseRequest(
            kind=_kind(data),
            order_id=order_id,
            lines=lines,
            reason=one(data, "reason"),
            source=CaseSource.store,
            store_code=code,
        )
        view = await services.take_at_store(db_session, actor, request_, receipts)
        return await store_page(request, db_session, store_code=code, result=view)


def _back(request: HTMXRequest, case_id: int, done: str) -> Redirect:
    url = request.app.route_reverse("aftersales:case", case_id=case_id)
    return Redirect(f"{url}?done={done}", status_code=303)

"""凭证 and 凭证导出 pages, and the vouchers for other systems through the API. Each action is one service call
(``vouchers``, ``exports``); a refusal changes nothing and is shown on the page it came from. Finance reads;
finance.manage approves and exports."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Response, get, post
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template
from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.accounts.services import Actor
from app.domain.finance import exports, vouchers
from app.domain.finance.vouchers import VoucherFilters
from app.domain.orders import presentation
from app.errors import DomainError
from app.forms import Form, many, one
from app.i18n import labeller
from app.params import parse_id, parse_int, parse_limit
from app.web import client_ip, page, refusals_shown_by

MANAGE = "finance.manage"
#: What the voucher page announces after its redirect (``?done=``).
DONE_STEPS = ("approved", "unapproved")
API_PAGE_LIMIT = 500


def _page(request: HTMXRequest, template: str, fragment: str | None = None, **context: Any) -> Template:
    """Render with the labels every voucher page shows."""
    return page(
        request,
        template,
        fragment,
        voucher_status_label=labeller(vouchers.STATUS_LABELS),
        voucher_kind_label=labeller(vouchers.KIND_LABELS),
        event_outcome_label=labeller(vouchers.EVENT_OUTCOME_LABELS),
        target_label=labeller(exports.TARGET_LABELS),
        voucher_statuses=list(vouchers.STATUS_LABELS),
        voucher_kinds=list(vouchers.KIND_LABELS),
        targets=list(exports.TARGET_LABELS),
        voucher_number=vouchers.voucher_number,
        **presentation.helpers(),
        **context,
    )


async def list_page(request: HTMXRequest, db_session: AsyncSession, *, error: str | None = None) -> Template:
    """The list with the query string's filters; a filter that cannot be used is said above an empty list."""
    query = request.query_params
    result = None
    try:
        filters = VoucherFilters.from_query(query)
        result = await vouchers.list_vouchers(db_session, filters)
    except DomainError as exc:
        filters, error = VoucherFilters(), exc.message
    approved = parse_int(query.get("approved", ""), minimum=0)
    shown = _page(
        request,
        "finance/vouchers.html",
        "finance/_voucher_rows.html",
        filters=filters,
        typed={key: query.get(key, "") for key in ("period", "date_from", "date_to", "q")},
        result=result,
        error=error,
        approved=approved,
    )
    if result is None:
        shown.status_code = 400
    return shown


async def list_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    return await list_page(request, db_session, error=error.message)


async def detail_page(request: HTMXRequest, db_session: AsyncSession, voucher_id: int, **context: Any) -> Template:
    done = request.query_params.get("done", "")
    return _page(
        request,
        "finance/voucher.html",
        info=await vouchers.voucher_detail(db_session, voucher_id),
        **{"error": None, "done": done if done in DONE_STEPS else "", **context},
    )


async def detail_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    return await detail_page(request, db_session, int(request.path_params["voucher_id"]), error=error.message)


async def exports_page(request: HTMXRequest, db_session: AsyncSession, **context: Any) -> Template:
    done = parse_id(request.query_params.get("done", ""))
    return _page(
        request,
        "finance/exports.html",
        batches=await exports.recent_batches(db_session),
        done=done,
        **{"error": None, "sent": {}, **context},
    )


async def exports_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    sent = {str(key): str(value) for key, value in (await request.form()).items() if key != "_csrf_token"}
    return await exports_page(request, db_session, error=error.message, sent=sent)


LIST_FORM = {"permission": MANAGE, **refusals_shown_by(list_refused)}
DETAIL_FORM = {"permission": MANAGE, **refusals_shown_by(detail_refused)}
EXPORT_FORM = {"permission": MANAGE, **refusals_shown_by(exports_refused)}


class VouchersController(Controller):
    path = "/finance/vouchers"
    tags = ["finance"]  # noqa: RUF012
    opt = {"permission": "finance.read"}  # noqa: RUF012

    @get("/", name="finance:vouchers")
    async def index(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        """凭证: filters (period, days, status, kind, channel, red-letter, text), a page of vouchers, the totals."""
        return await list_page(request, db_session)

    @post("/approve", name="finance:vouchers_approve", opt=LIST_FORM, status_code=303)
    async def approve(self, request: HTMXRequest, data: Form, db_session: AsyncSession, actor: Actor) -> Redirect:
        """审核 the ticked vouchers (``scope=checked``) or every draft of the filtered day (``scope=day``); the
        form is posted with the list's query string, so the list comes back as it was."""
        filters = VoucherFilters.from_query(request.query_params)
        ip = client_ip(request)
        if one(data, "scope") == "day":
            approved = await vouchers.approve_day(db_session, actor, filters, ip=ip)
        else:
            ids = [i for i in (parse_id(v) for v in many(data, "ids")) if i is not None]
            approved = await vouchers.approve(db_session, actor, ids, ip=ip)
        target = request.app.route_reverse("finance:vouchers")
        return Redirect(f"{target}?{urlencode(filters.as_query(approved=len(approved)))}", status_code=303)

    @get("/{voucher_id:int}", name="finance:voucher")
    async def detail(self, request: HTMXRequest, voucher_id: int, db_session: AsyncSession) -> Template:
        """One voucher: its lines and totals, its source, the finance events, who approved and exported it."""
        return await detail_page(request, db_session, voucher_id)

    @post("/{voucher_id:int}/approve", name="finance:voucher_approve", opt=DETAIL_FORM, status_code=303)
    async def approve_one(
        self, request: HTMXRequest, voucher_id: int, db_session: AsyncSession, actor: Actor
    ) -> Redirect:
        await vouchers.approve(db_session, actor, [voucher_id], ip=client_ip(request))
        return _back(request, voucher_id, "approved")

    @post("/{voucher_id:int}/unapprove", name="finance:voucher_unapprove", opt=DETAIL_FORM, status_code=303)
    async def unapprove(
        self, request: HTMXRequest, voucher_id: int, db_session: AsyncSession, actor: Actor
    ) -> Redirect:
        """反审核: back to draft, while not exported."""
        await vouchers.unapprove(db_session, actor, voucher_id, ip=client_ip(request))
        return _back(request, voucher_id, "unapproved")


class VoucherExportsController(Controller):
    path = "/finance/exports"
    tags = ["finance"]  # noqa: RUF012
    opt = {"permission": MANAGE}  # noqa: RUF012

    @get("/", name="finance:exports")
    async def index(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        """凭证导出: the form (target, period or days) and the batches, newest first, with their files."""
        return await exports_page(request, db_session)

    @post("/", name="finance:exports_create", opt=EXPORT_FORM, status_code=303)
    async def create(self, request: HTMXRequest, data: Form, db_session: AsyncSession, actor: Actor) -> Redirect:
        target = exports.parse_target(one(data, "target"))
        filters = VoucherFilters.from_query({key: one(data, key) for key in ("period", "date_from", "date_to")})
        batch = await exports.export_vouchers(db_session, actor, target, filters, ip=client_ip(request))
        return Redirect(f"{request.app.route_reverse('finance:exports')}?done={batch.id}", status_code=303)

    @get("/{batch_id:int}/file", name="finance:export_file")
    async def file(self, batch_id: int, db_session: AsyncSession) -> Response[bytes]:
        """The batch's file (Kingdee or U8 sheet, or JSON), the same whenever it is downloaded."""
        found = await exports.batch_file(db_session, batch_id)
        return Response(
            found.content,
            media_type=found.media_type,
            headers={"Content-Disposition": f'attachment; filename="{found.filename}"'},
        )

    @get("/{batch_id:int}/progress", name="finance:export_progress")
    async def progress(self, request: HTMXRequest, batch_id: int, db_session: AsyncSession) -> Template:
        """A batch's row of the page, polled while its file is being written (progress bar, then the download)."""
        return _page(request, "finance/_export_batch.html", b=await exports.load_batch(db_session, batch_id))

    @post("/{batch_id:int}/re-export", name="finance:export_again", opt=EXPORT_FORM, status_code=303)
    async def again(
        self, request: HTMXRequest, batch_id: int, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Redirect:
        """重新导出 a batch's vouchers into a new batch, with the reason (audited)."""
        batch = await exports.re_export(
            db_session, actor, batch_id, one(data, "target"), one(data, "reason"), ip=client_ip(request)
        )
        return Redirect(f"{request.app.route_reverse('finance:exports')}?done={batch.id}", status_code=303)


class FinanceApiController(Controller):
    """Vouchers for other systems (API tokens with the ``read`` scope)."""

    path = "/api/v1/finance"
    tags = ["finance"]  # noqa: RUF012
    opt = {"scope": "read"}  # noqa: RUF012

    @get("/vouchers", name="api:finance_vouchers")
    async def vouchers(
        self,
        db_session: AsyncSession,
        period: str = "",
        date_from: str = "",
        date_to: str = "",
        status: str = "",
        kind: str = "",
        channel: str = "",
        red: str = "",
        q: str = "",
        page: str = "",
        limit: str = "",
    ) -> Response[dict[str, Any]]:
        """The voucher list's filters, paged (``page``, ``limit``): vouchers with their lines, the count and totals."""
        query = {k: v for k, v in locals().items() if isinstance(v, str)}
        filters = VoucherFilters.from_query(query, strict=True)
        size = parse_limit(limit, maximum=API_PAGE_LIMIT, default=vouchers.PAGE_SIZE)
        return Response(await vouchers.api_vouchers(db_session, filters, limit=size))

    @get("/exports/{batch_id:int}", name="api:finance_export")
    async def export(self, batch_id: int, db_session: AsyncSession) -> Response[dict[str, Any]]:
        """An export batch with its vouchers and their lines."""
        batch = await exports.load_batch(db_session, batch_id)
        return Response(exports.batch_json(batch, await exports.batch_vouchers(db_session, batch)))


def _back(request: HTMXRequest, voucher_id: int, done: str) -> Redirect:
    url = request.app.route_reverse("finance:voucher", voucher_id=voucher_id)
    return Redirect(f"{url}?done={done}", status_code=303)


__all__ = ["FinanceApiController", "VoucherExportsController", "VouchersController"]

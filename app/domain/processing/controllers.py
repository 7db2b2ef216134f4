"""审核 and 处理监控: the manual-review queue with its actions (放行, 修改地址, 驳回, 尾款已付) and the live
processing monitor. Each action is one call into the processing services; a refused action changes nothing
and shows the reason. Also an order's detail page and its read API, which show where the order stands with
processing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Controller, get, post
from litestar.exceptions import NotFoundException
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Response, Template
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import utcnow
from app.domain.accounts.services import Actor, audit
from app.domain.flows import services as flows
from app.domain.flows.services import FlowError
from app.domain.fulfillment import tracking, writebacks
from app.domain.inventory import catalogue
from app.domain.inventory.sku_mappings import SkuMappingError
from app.domain.orders import pii, presentation
from app.domain.orders import services as orders
from app.domain.processing import hits, queries, services
from app.domain.processing.models import OrderProcessing
from app.domain.processing.services import ReviewError
from app.domain.shops import services as shop_readers
from app.forms import Form, one
from app.i18n import gettext, labeller
from app.params import parse_id
from app.settings import Settings
from app.web import client_ip, page

#: The most SKUs offered for an unknown line at once (typing more narrows them).
SKU_CHOICES = 20
#: The fields of the 修改地址 form, in the order the service reads them.
ADDRESS_FIELDS = ("receiver_name", "phone", "province", "city", "district", "address")


def _mapped_notice(mapped: services.Mapped) -> str:
    """What the operator is told after mapping an unknown SKU in review."""
    if mapped.remaining:
        message = gettext("Mapped. %(n)s more lines of this order still need one of our SKUs.")
        return message % {"n": mapped.remaining}
    if mapped.requeued:
        message = gettext(
            "Mapped: the order is processed again, and so are %(n)s other held orders of this shop with this SKU."
        )
        return message % {"n": mapped.requeued}
    return gettext("Mapped: the order is processed again.")


def _page(request: HTMXRequest, template: str, fragment: str | None = None, **context: Any) -> Template:
    """Render with the order and processing label helpers."""
    return page(request, template, fragment, **presentation.helpers(), **queries.helpers(), **context)


async def _detail_context(db_session: AsyncSession, order_id: int, settings: Settings) -> dict[str, Any]:
    view = await orders.load_order_view(db_session, order_id, with_events=True)
    others = []
    if view.order.customer_id is not None:
        others = await orders.customer_orders(db_session, view.order.customer_id)
    return {
        "view": view,
        "order": view.order,
        "customer_orders": others,
        "shops": await shop_readers.shops_by_id(db_session),
        "revealed": None,
        "original": None,
        "processing": await queries.order_processing(db_session, order_id),
        "tracking": await tracking.events_of_order(db_session, order_id),
        "tracking_label": labeller(tracking.STATUS_LABELS),
        # 模拟签收 is offered where the sandbox carrier is served (development, a staging site).
        "sandbox_carrier": settings.sandbox_carrier,
        "writebacks": await writebacks.writeback_section(db_session, view.order),
        "notice": None,
    }


class OrderDetailController(Controller):
    """One order's page, with where it stands with processing (the 处理 section), under /orders."""

    path = "/orders"
    tags = ["orders"]  # noqa: RUF012
    opt = {"permission": "orders.read"}  # noqa: RUF012

    @get("/{order_id:int}", name="orders:detail")
    async def detail(
        self, request: HTMXRequest, order_id: int, db_session: AsyncSession, settings: Settings
    ) -> Template:
        """One order: normalised view, lines, timeline, its parcels' tracking, raw payload, and the customer's
        orders on every channel."""
        return _page(request, "orders/detail.html", **await _detail_context(db_session, order_id, settings))

    @post("/{order_id:int}/reveal", name="orders:reveal", opt={"permission": "pii.reveal"}, status_code=200)
    async def reveal(
        self, request: HTMXRequest, order_id: int, db_session: AsyncSession, actor: Actor, settings: Settings
    ) -> Template:
        """Show the receiver's phone and address in clear; every reveal is written to the audit log."""
        revealed = await orders.reveal_personal_data(
            db_session, settings.secret_key, order_id, actor, client_ip(request)
        )
        context = await _detail_context(db_session, order_id, settings)
        return _page(request, "orders/detail.html", "orders/_pii.html", **{**context, "revealed": revealed})

    @post("/{order_id:int}/payload", name="orders:reveal_payload", opt={"permission": "pii.reveal"}, status_code=200)
    async def reveal_payload(
        self, request: HTMXRequest, order_id: int, db_session: AsyncSession, actor: Actor, settings: Settings
    ) -> Template:
        """Show the platform's payload as received; every look is written to the audit log and the timeline."""
        original = await orders.reveal_original_payload(
            db_session, settings.secret_key, order_id, actor, client_ip(request)
        )
        context = await _detail_context(db_session, order_id, settings)
        return _page(request, "orders/detail.html", "orders/_raw.html", **{**context, "original": original})

    @post(
        "/{order_id:int}/writebacks/{writeback_id:int}/retry",
        name="orders:writeback_retry",
        opt={"permission": "shipments.confirm"},
        status_code=200,
    )
    async def retry_writeback(
        self,
        request: HTMXRequest,
        order_id: int,
        writeback_id: int,
        db_session: AsyncSession,
        actor: Actor,
        settings: Settings,
    ) -> Template:
        """重试 a failed 发货回传: it is pending again with a new job; the section shows it so."""
        await writebacks.retry_writeback(db_session, order_id, writeback_id, actor, client_ip(request))
        context = await _detail_context(db_session, order_id, settings)
        notice = gettext("Retrying: the write-back is sent to the platform again.")
        return _page(request, "orders/detail.html", "orders/_writebacks.html", **{**context, "notice": notice})


class OrderApiController(Controller):
    """One order for machines (API tokens with the ``read`` scope), with where it goes; the list is the orders'."""

    path = "/api/v1/orders"
    tags = ["orders"]  # noqa: RUF012
    opt = {"scope": "read"}  # noqa: RUF012

    @get("/{order_id:int}", name="api:order")
    async def order(self, order_id: int, db_session: AsyncSession) -> Response[dict[str, Any]]:
        """The canonical order (as the rule flows see it), with personal data masked and the payload redacted,
        and ``processing``: state, hold, warehouse, carrier, waybills, shipments and the flows' paths."""
        return Response(await queries.api_order(db_session, order_id))


class ProcessingController(Controller):
    """The review queue (review.work) and the processing monitor (orders.read), under /orders."""

    path = "/orders"
    tags = ["processing"]  # noqa: RUF012
    opt = {"permission": "review.work"}  # noqa: RUF012

    # --- the review queue ------------------------------------------------------------------------------

    @get("/review", name="orders:review")
    async def review(self, request: HTMXRequest, db_session: AsyncSession, code: str = "") -> Template:
        """审核: orders a flow held, out of stock or awaiting the balance, each with why and the flow's trace."""
        return _page(
            request,
            "processing/review.html",
            "processing/_review_list.html",
            **await self._queue_context(db_session, code),
        )

    async def _queue_context(self, db_session: AsyncSession, code: str, **extra: Any) -> dict[str, Any]:
        groups = await queries.held_by_code(db_session)
        code = code if code in {g.code for g in groups} | set(queries.HOLD_CODE_LABELS) else ""
        return {
            "rows": await queries.review_queue(db_session, hold_code=code),
            "groups": groups,
            "total": sum(g.count for g in groups),
            "code": code,
            "limit": queries.REVIEW_LIMIT,
            "focus_id": None,
            "editing": None,
            "form": {},
            "notice": None,
            "error": None,
            **extra,
        }

    @get("/review/{order_id:int}/address", name="processing:address_form")
    async def address_form(self, request: HTMXRequest, order_id: int, db_session: AsyncSession) -> Template:
        """The 修改地址 form, opened inline in the order's card (or on the whole page without htmx)."""
        row = await queries.review_item(db_session, order_id)
        if row is None:
            raise NotFoundException()
        form = {
            "receiver_name": pii.mask_name(row.order.receiver_name),
            "province": row.order.province,
            "city": row.order.city,
            "district": row.order.district,
        }
        if request.htmx:
            return _page(request, "processing/review.html", "processing/_address_form.html", row=row, form=form)
        return _page(
            request,
            "processing/review.html",
            **await self._queue_context(db_session, "", focus_id=order_id, editing=order_id, form=form),
        )

    @post("/review/{order_id:int}/approve", name="processing:approve", status_code=200)
    async def approve(
        self, request: HTMXRequest, order_id: int, db_session: AsyncSession, actor: Actor
    ) -> Template | Redirect:
        """放行: the flows run again, this time knowing a person approved the order."""

        async def act() -> OrderProcessing:
            before = await queries.hold_snapshot(db_session, order_id)
            proc = await services.approve(db_session, order_id, actor)
            await audit(
                db_session,
                actor,
                "review.approve",
                target_type="order",
                target_id=order_id,
                before=before,
                ip=client_ip(request),
            )
            return proc

        return await self._act(request, db_session, order_id, act, gettext("Approved: the order is processed again."))

    @post("/review/{order_id:int}/reject", name="processing:reject", status_code=200)
    async def reject(
        self, request: HTMXRequest, order_id: int, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Template | Redirect:
        """驳回: the order is cancelled in the OMS and gives back any stock it holds."""
        reason = one(data, "reason")

        async def act() -> OrderProcessing:
            before = await queries.hold_snapshot(db_session, order_id)
            proc = await services.reject(db_session, order_id, actor, reason)
            await audit(
                db_session,
                actor,
                "review.reject",
                target_type="order",
                target_id=order_id,
                before=before,
                after={"reason": reason},
                ip=client_ip(request),
            )
            return proc

        return await self._act(request, db_session, order_id, act, gettext("Rejected: the order is cancelled."))

    @post("/review/{order_id:int}/address", name="processing:edit_address", status_code=200)
    async def edit_address(
        self,
        request: HTMXRequest,
        order_id: int,
        data: Form,
        db_session: AsyncSession,
        actor: Actor,
        settings: Settings,
    ) -> Template | Redirect:
        """修改地址: correct the receiver, then the order is processed again from the start."""
        fields = {name: one(data, name) for name in ADDRESS_FIELDS}

        async def act() -> OrderProcessing:
            before = await queries.receiver_snapshot(db_session, order_id)
            proc = await services.edit_address(db_session, order_id, actor, settings.secret_key, fields)
            await audit(
                db_session,
                actor,
                "review.edit_address",
                target_type="order",
                target_id=order_id,
                before=before,
                after=await queries.receiver_snapshot(db_session, order_id),
                ip=client_ip(request),
            )
            return proc

        return await self._act(
            request,
            db_session,
            order_id,
            act,
            gettext("Address corrected: the order is processed again."),
            form=fields,
        )

    @get("/review/{order_id:int}/skus", name="processing:sku_choices")
    async def sku_choices(
        self, request: HTMXRequest, order_id: int, db_session: AsyncSession, line: str = "", q: str = ""
    ) -> Template:
        """Our SKUs whose code, name or barcode contains what the operator typed, to pick for an unknown line
        (the choices alone: they belong inside the line's form on the review page)."""
        return _page(
            request,
            "processing/_sku_choices.html",
            skus=(await catalogue.search_skus(db_session, q=q, status="active", limit=SKU_CHOICES)).skus
            if q.strip()
            else [],
            q=q,
            line_id=parse_id(line),
            order_id=order_id,
        )

    @post("/review/{order_id:int}/map-sku", name="processing:map_sku", status_code=200)
    async def map_sku(
        self, request: HTMXRequest, order_id: int, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Template | Redirect:
        """映射商品: the unknown line is one of our SKUs (remembered for the shop unless unticked); the order and
        the shop's other orders held for the same SKU are processed again."""
        line_id, code = parse_id(one(data, "line")), one(data, "sku") or one(data, "q")
        remember = one(data, "remember") in ("on", "true", "1")
        mapped: list[services.Mapped] = []

        async def act() -> OrderProcessing:
            before = await queries.hold_snapshot(db_session, order_id)
            result = await services.map_unknown_sku(
                db_session, order_id, line_id, code, actor, remember=remember, ip=client_ip(request)
            )
            await audit(
                db_session,
                actor,
                "review.map_sku",
                target_type="order",
                target_id=order_id,
                before=before,
                after={"line": line_id, "sku": code, "remembered": remember, "requeued": result.requeued},
                ip=client_ip(request),
            )
            mapped.append(result)
            return result.proc

        return await self._act(request, db_session, order_id, act, lambda: _mapped_notice(mapped[0]))

    @post("/review/{order_id:int}/balance-paid", name="processing:balance_paid", status_code=200)
    async def balance_paid(
        self, request: HTMXRequest, order_id: int, db_session: AsyncSession, actor: Actor
    ) -> Template | Redirect:
        """尾款已付: for channels that do not report the presale balance payment themselves."""

        async def act() -> OrderProcessing:
            proc = await services.mark_balance_paid(db_session, order_id, actor)
            await audit(
                db_session,
                actor,
                "review.balance_paid",
                target_type="order",
                target_id=order_id,
                ip=client_ip(request),
            )
            return proc

        return await self._act(
            request, db_session, order_id, act, gettext("Balance marked as paid: the order is processed again.")
        )

    async def _act(
        self,
        request: HTMXRequest,
        db_session: AsyncSession,
        order_id: int,
        action: Callable[[], Awaitable[OrderProcessing]],
        done: str | Callable[[], str],
        *,
        form: dict[str, str] | None = None,
    ) -> Template | Redirect:
        """Run one review action. htmx gets the order's card back; a plain form post goes back to the queue.

        A ReviewError shows its reason on the card (the 400 response rolls the request's transaction back, so
        nothing changed), with the address form still open and filled in when that was the action.
        """
        try:
            await action()
        except (ReviewError, SkuMappingError) as exc:
            editing = order_id if form is not None else None
            if request.htmx:
                row = await queries.review_item(db_session, order_id)
                if row is None:
                    raise NotFoundException() from exc
                response = _page(
                    request,
                    "processing/review.html",
                    "processing/_review_item.html",
                    row=row,
                    focus_id=order_id,
                    editing=editing,
                    form=form or {},
                    notice=None,
                    error=exc.message,
                )
            else:
                response = _page(
                    request,
                    "processing/review.html",
                    **await self._queue_context(
                        db_session, "", focus_id=order_id, editing=editing, form=form or {}, error=exc.message
                    ),
                )
            response.status_code = 400
            return response
        if not request.htmx:
            return Redirect(request.app.route_reverse("orders:review"), status_code=303)
        row = await queries.review_item(db_session, order_id)
        if row is None:
            raise NotFoundException()
        return _page(
            request,
            "processing/review.html",
            "processing/_review_item.html",
            row=row,
            focus_id=order_id,
            editing=None,
            form={},
            notice=done if isinstance(done, str) else done(),
            error=None,
        )

    # --- the monitor ---------------------------------------------------------------------------------------

    @get("/processing", name="processing:monitor", opt={"permission": "orders.read"})
    async def monitor(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        """处理监控: queue depth, orders per minute, held orders by reason, failures; refreshes every 5 s."""
        return _page(
            request,
            "processing/monitor.html",
            "processing/_monitor.html",
            stats=await queries.monitor_stats(db_session),
        )


class FlowHitsController(Controller):
    """The live hit counts on a flow's canvas and the orders behind a count, for designers, under /flows."""

    path = "/flows"
    tags = ["flows"]  # noqa: RUF012
    opt = {"permission": "flows.edit"}  # noqa: RUF012
    include_in_schema = False

    @get("/{flow_id:int}/hits", name="flows:hits")
    async def counts(self, flow_id: int, db_session: AsyncSession) -> dict[str, Any]:
        """The live version's passes per node (since it went live, last 24 hours) and each exit's share, and
        the running canary's beside them."""
        try:
            return await hits.live_hits(db_session, flow_id, now=utcnow())
        except FlowError as exc:
            raise NotFoundException(exc.message) from None

    @get("/{flow_id:int}/hits/orders", name="flows:hit_orders")
    async def orders(
        self,
        request: HTMXRequest,
        flow_id: int,
        db_session: AsyncSession,
        node: str,
        port: str | None = None,
        version: int | None = None,
        before_at: str | None = None,
        before_id: str | None = None,
    ) -> Template:
        """The orders behind a count: the most recent whose processing by the version (the live one unless
        given) passed the node, or took one of its exits, newest first, a page at a time."""
        before = hits.page_start(before_at, before_id)
        try:
            flow = await flows.get_flow(db_session, flow_id)
            version_id = version if version is not None else flow.live_version_id
            shown_version = None if version_id is None else await flows.get_version(db_session, flow_id, version_id)
        except FlowError as exc:
            raise NotFoundException(exc.message) from None
        found = counts = None
        node_doc: dict[str, Any] = {}
        if shown_version is not None:
            found = await hits.orders_through(db_session, shown_version, node, port=port or None, before=before)
            counts = await hits.version_hits(db_session, version_id or 0, now=utcnow())
            node_doc = next(
                (n for n in shown_version.document.get("nodes") or [] if isinstance(n, dict) and n.get("id") == node),
                {},
            )
        return _page(
            request,
            "processing/flow_hits.html",
            "processing/_flow_hits.html",
            flow=flow,
            version=shown_version,
            node_id=node,
            node=node_doc,
            branches=hits.exit_names(node_doc),
            port=port or "",
            page=found,
            counts=counts,
        )

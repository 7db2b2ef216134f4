"""Pages of the orders area: the unified list, the detail, revealing personal data, the ingest-error queue and
the CSV/Excel import; and the read API for one canonical order."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.datastructures import State, UploadFile
from litestar.exceptions import NotFoundException
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Response, Template
from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.accounts.services import Actor
from app.domain.channels import imports
from app.domain.channels import services as channels
from app.domain.channels.models import Channel, IngestError, OrderImport
from app.domain.orders import presentation, services
from app.domain.orders.models import OrderStatus
from app.domain.processing import queries as processing
from app.forms import MULTIPART_OVERHEAD_BYTES, Form, Upload, one
from app.i18n import gettext
from app.settings import Settings
from app.web import client_ip, page


def _page(request: HTMXRequest, template: str, fragment: str | None = None, **context: Any) -> Template:
    """Render with the label helpers every order page uses."""
    return page(request, template, fragment, **presentation.helpers(), import_limits=imports.LIMITS, **context)


async def _detail_context(db_session: AsyncSession, order_id: int) -> dict[str, Any]:
    view = await services.load_order_view(db_session, order_id, with_events=True)
    others = []
    if view.order.customer_id is not None:
        others = await services.customer_orders(db_session, view.order.customer_id)
    return {
        "view": view,
        "order": view.order,
        "customer_orders": others,
        "shops": await services.shops_by_id(db_session),
        "revealed": None,
        "original": None,
        "processing": await processing.order_processing(db_session, order_id),
        **processing.helpers(),
    }


class OrdersController(Controller):
    path = "/orders"
    tags = ["orders"]  # noqa: RUF012
    opt = {"permission": "orders.read"}  # noqa: RUF012

    @get("/", name="orders:index")
    async def index(
        self,
        request: HTMXRequest,
        db_session: AsyncSession,
        channel: str = "",
        shop: str = "",
        status: str = "",
        date_from: str = "",
        date_to: str = "",
        province: str = "",
        tag: str = "",
        sku: str = "",
        q: str = "",
        after: str = "",
    ) -> Template:
        """订单: every channel's orders in one list, filtered, newest first, keyset-paginated."""
        filters = services.OrderFilters.from_query(
            channel=channel,
            shop=shop,
            status=status,
            date_from=date_from,
            date_to=date_to,
            province=province,
            tag=tag,
            sku=sku,
            q=q,
        )
        rows, next_cursor = await services.list_orders(db_session, filters, after=after or None)
        query = {**filters.as_query(), "date_from": date_from, "date_to": date_to}
        return _page(
            request,
            "orders/page.html",
            "orders/_rows.html",
            orders=rows,
            next_cursor=next_cursor,
            filters=filters,
            query={key: value for key, value in query.items() if value},
            date_from=date_from,
            date_to=date_to,
            shops=await services.shops_by_id(db_session),
            channels=list(Channel),
            statuses=list(OrderStatus),
            is_continuation=bool(after),
        )

    @get("/{order_id:int}", name="orders:detail")
    async def detail(self, request: HTMXRequest, order_id: int, db_session: AsyncSession) -> Template:
        """One order: normalised view, lines, timeline, raw payload, and the customer's orders on every channel."""
        return _page(request, "orders/detail.html", **await _detail_context(db_session, order_id))

    @post("/{order_id:int}/reveal", name="orders:reveal", opt={"permission": "pii.reveal"}, status_code=200)
    async def reveal(
        self, request: HTMXRequest, order_id: int, db_session: AsyncSession, actor: Actor, settings: Settings
    ) -> Template:
        """Show the receiver's phone and address in clear; every reveal is written to the audit log."""
        revealed = await services.reveal_personal_data(
            db_session, settings.secret_key, order_id, actor, client_ip(request)
        )
        context = await _detail_context(db_session, order_id)
        return _page(request, "orders/detail.html", "orders/_pii.html", **{**context, "revealed": revealed})

    @post("/{order_id:int}/payload", name="orders:reveal_payload", opt={"permission": "pii.reveal"}, status_code=200)
    async def reveal_payload(
        self, request: HTMXRequest, order_id: int, db_session: AsyncSession, actor: Actor, settings: Settings
    ) -> Template:
        """Show the platform's payload as received; every look is written to the audit log and the timeline."""
        original = await services.reveal_original_payload(
            db_session, settings.secret_key, order_id, actor, client_ip(request)
        )
        context = await _detail_context(db_session, order_id)
        return _page(request, "orders/detail.html", "orders/_raw.html", **{**context, "original": original})

    # --- ingest errors -------------------------------------------------------------------------------------

    @get("/errors", name="orders:errors")
    async def errors(self, request: HTMXRequest, db_session: AsyncSession, status: str = "open") -> Template:
        """The ingest-error queue: payloads that could not become orders, waiting to be fixed and replayed."""
        rows = await channels.list_errors(db_session, status if status in ("open", "replayed", "discarded") else "")
        return _page(
            request, "orders/errors.html", errors=rows, status=status, shops=await services.shops_by_id(db_session)
        )

    @get("/errors/{error_id:int}", name="orders:error")
    async def error(self, request: HTMXRequest, error_id: int, db_session: AsyncSession) -> Template:
        row = await db_session.get(IngestError, error_id)
        if row is None:
            raise NotFoundException()
        return _page(request, "orders/error.html", error=row, payload=row.payload, result=None, original=False)

    @post(
        "/errors/{error_id:int}/payload",
        name="orders:reveal_error_payload",
        opt={"permission": "pii.reveal"},
        status_code=200,
    )
    async def reveal_error_payload(
        self, request: HTMXRequest, error_id: int, db_session: AsyncSession, actor: Actor, settings: Settings
    ) -> Template:
        """The payload as received, to read or fix and replay; every look is written to the audit log."""
        try:
            payload = await channels.reveal_error_payload(
                db_session, settings.secret_key, error_id, actor, client_ip(request)
            )
        except LookupError as exc:
            raise NotFoundException() from exc
        row = await db_session.get(IngestError, error_id)
        return _page(
            request,
            "orders/error.html",
            "orders/_error_form.html",
            error=row,
            payload=payload,
            result=None,
            original=True,
        )

    @post(
        "/errors/{error_id:int}/replay",
        name="orders:replay",
        opt={"permission": "orders.import"},
        status_code=200,
        # The corrected payload, up to a webhook's size, percent-encoded (which can triple it).
        request_max_body_size=3 * channels.WEBHOOK_MAX_BYTES,
    )
    async def replay(
        self, request: HTMXRequest, error_id: int, data: Form, state: State, actor: Actor, settings: Settings
    ) -> Template:
        """Run the (corrected) payload through the pipeline again."""
        payload = one(data, "payload", strip=False)
        try:
            result = await channels.replay_error(state.db, settings, error_id, payload, actor, client_ip(request))
        except LookupError as exc:
            raise NotFoundException() from exc
        state.background.kick()
        async with state.db.reading() as session:
            row = await session.get(IngestError, error_id)
        # The form shows back what was typed (the original only if it was revealed and edited).
        response = _page(
            request,
            "orders/error.html",
            "orders/_error_form.html",
            error=row,
            payload=payload,
            result=result,
            original=False,
        )
        if not result.ok:
            response.status_code = 422
        return response

    @post("/errors/{error_id:int}/discard", name="orders:discard", opt={"permission": "orders.import"}, status_code=200)
    async def discard(self, request: HTMXRequest, error_id: int, db_session: AsyncSession, actor: Actor) -> Template:
        try:
            await channels.discard_error(db_session, error_id, actor, client_ip(request))
        except LookupError as exc:
            raise NotFoundException() from exc
        row = await db_session.get(IngestError, error_id)
        return _page(
            request,
            "orders/error.html",
            "orders/_error_form.html",
            error=row,
            payload=row.payload if row else "",
            result=None,
            original=False,
        )

    # --- import --------------------------------------------------------------------------------------------

    @get("/import", name="orders:import", opt={"permission": "orders.import"})
    async def import_page(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        """Upload a CSV or Excel file of orders; it is read in the background with a progress bar."""
        return _page(request, "orders/import.html", job=None, error=None)

    @post(
        "/import",
        name="orders:import_upload",
        opt={"permission": "orders.import"},
        status_code=200,
        request_max_body_size=imports.MAX_FILE_BYTES + MULTIPART_OVERHEAD_BYTES,
    )
    async def upload(
        self, request: HTMXRequest, data: Upload, db_session: AsyncSession, actor: Actor, settings: Settings
    ) -> Template:
        """Store the file and answer at once with the progress bar; the worker reads it."""
        upload = data.get("file")
        if not isinstance(upload, UploadFile):
            return self._import_error(request, gettext("Choose a CSV or Excel file to import."))
        content = await upload.read()
        try:
            job = await imports.create_import(
                db_session, settings, upload.filename or "orders.csv", content, actor, client_ip(request)
            )
        except imports.ImportFileError as exc:
            reason = exc.message
            return self._import_error(request, gettext("This file cannot be imported: %(reason)s") % {"reason": reason})
        return _page(request, "orders/import.html", "orders/_import_progress.html", job=job, error=None)

    @get("/import/{import_id:int}", name="orders:import_progress", opt={"permission": "orders.import"})
    async def import_progress(self, request: HTMXRequest, import_id: int, db_session: AsyncSession) -> Template:
        """The progress bar; it polls itself until the import is done."""
        job = await db_session.get(OrderImport, import_id)
        if job is None:
            raise NotFoundException()
        return _page(request, "orders/import.html", "orders/_import_progress.html", job=job, error=None)

    def _import_error(self, request: HTMXRequest, message: str) -> Template:
        response = _page(request, "orders/import.html", "orders/_import_progress.html", job=None, error=message)
        response.status_code = 400
        return response


class OrdersApiController(Controller):
    """Machine access to orders (API tokens with the ``read`` scope)."""

    path = "/api/v1/orders"
    tags = ["orders"]  # noqa: RUF012
    opt = {"scope": "read"}  # noqa: RUF012

    @get("/{order_id:int}", name="api:order")
    async def order(self, order_id: int, db_session: AsyncSession) -> Response[dict[str, Any]]:
        """The canonical order (as the rule flows see it), with personal data masked and the payload redacted."""
        return Response(await services.api_order(db_session, order_id))

"""Fulfillment pages: carriers and their rate tables (admin, and their API), the buyer message templates (admin),
shipping documents to print, the scan station and the intercepted parcels (拦截件) to pull, the sandbox message
outbox, the carriers' tracking webhook, and the sandbox carrier's waybill endpoints (issue, void) and pushes."""

from __future__ import annotations

import hmac
import json
from dataclasses import asdict
from typing import Any

from litestar import Controller, Request, get, patch, post
from litestar.datastructures import State
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import JSONBody
from litestar.plugins.htmx import HTMXRequest, HTMXTemplate
from litestar.response import Redirect, Response, Template
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import utcnow
from app.domain.accounts.services import Actor
from app.domain.fulfillment import (
    carrier_master,
    confirmation,
    interceptions,
    message_templates,
    notifications,
    scan_batches,
    services,
    tracking,
)
from app.domain.fulfillment.carriers import sandbox_waybill_number, sign
from app.domain.fulfillment.models import ScanBatch, ShippingDocument
from app.domain.inventory import services as inventory
from app.domain.inventory.models import Sku
from app.domain.orders.models import Order
from app.errors import DomainError
from app.forms import MULTIPART_OVERHEAD_BYTES, Form, Upload, one
from app.i18n import labeller
from app.settings import Settings
from app.sheets import (
    LIMITS,
    MAX_FILE_BYTES,
    csv_download,
    export_sheet,
    import_upload,
    table_csv,
    table_workbook,
    template_workbook,
    uploaded_file,
    xlsx_download,
)
from app.web import client_ip, page, refusals_shown_by

#: Who may confirm parcels as shipped at the scan station (warehouse operators and admins).
SHIP_CONFIRM = "shipments.confirm"


async def scan_page(
    request: HTMXRequest, db_session: AsyncSession, fragment: str | None = None, **context: Any
) -> Template:
    """扫描发货: the scan input and its last answer, the waves to confirm whole, the file upload."""
    defaults: dict[str, Any] = {"answer": None, "wave_error": None, "file_error": None}
    alone = fragment is not None and request.htmx and not request.htmx.boosted
    return page(
        request,
        "fulfillment/scan.html",
        fragment,
        waves=[] if alone else await services.recent_waves(db_session),  # a scan's answer alone needs no waves
        limits=LIMITS,
        chunk=confirmation.MAX_WAYBILLS,
        # Every parcel still to pull, in red above the input (a scan's answer alone needs none).
        open_interceptions=[] if alone else await interceptions.open_interceptions(db_session),
        **{**defaults, **context},
    )


async def scan_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    """The scan station again with the reason beside the wave picker or the upload it came from."""
    where = "file_error" if error.field == "file" else "wave_error"
    return await scan_page(request, db_session, **{where: error.message})


async def wave_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    """The wave's confirmation step again, with its count as it is now, when the wave changed under it."""
    if error.code != "wave_changed":
        return await scan_refused(request, db_session, error)
    data = dict(await request.form())
    preview = await scan_batches.preview_wave(db_session, one(data, "warehouse"), one(data, "wave"))
    return page(request, "fulfillment/scan_wave.html", preview=preview, error=error.message)


SCAN_FORM = {"permission": SHIP_CONFIRM, **refusals_shown_by(scan_refused)}
WAVE_FORM = {"permission": SHIP_CONFIRM, **refusals_shown_by(wave_refused)}


def batch_page(request: HTMXRequest, batch: ScanBatch) -> Template:
    return page(
        request,
        "fulfillment/scan_batch.html",
        "fulfillment/_scan_batch.html",
        batch=batch,
        progress=scan_batches.progress(batch),
        chunk=confirmation.MAX_WAYBILLS,
    )


async def interceptions_page(request: HTMXRequest, db_session: AsyncSession, **context: Any) -> Template:
    """拦截件 of one warehouse (``?warehouse=``) or all, with what was just confirmed or refused."""
    warehouses = await inventory.list_warehouses(db_session)
    shown = request.query_params.get("warehouse") or ""
    selected = shown if any(w.code == shown for w in warehouses) else ""
    return page(
        request,
        "fulfillment/interceptions.html",
        interceptions=await interceptions.open_interceptions(db_session, selected),
        warehouses=warehouses,
        selected=selected,
        void_label=labeller(interceptions.VOID_LABELS),
        **{"pulled": None, "error": None, **context},
    )


async def interceptions_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    return await interceptions_page(request, db_session, error=error.message)


class FulfillmentController(Controller):
    path = "/fulfillment"
    tags = ["fulfillment"]  # noqa: RUF012
    opt = {"permission": "orders.read"}  # noqa: RUF012

    @get("/documents", name="fulfillment:documents")
    async def documents(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        return page(request, "fulfillment/documents.html", documents=await services.documents_for(db_session))

    @get("/documents/{document_id:int}", name="fulfillment:document")
    async def document(self, request: HTMXRequest, document_id: int, db_session: AsyncSession) -> Template:
        """The printable document: an outbound order lists each shipment with its lines; a pick list adds up
        what to take off the shelves, SKU by SKU."""
        document = await db_session.get(ShippingDocument, document_id)
        if document is None:
            raise NotFoundException()
        refs = await services.document_refs(db_session, document_id)
        printing = request.query_params.get("printing") == "1"
        context = await printable(db_session, refs)
        return page(request, "fulfillment/print.html", document=document, printing=printing, **context)

    @post(
        "/documents/{document_id:int}/print",
        name="fulfillment:document_print",
        opt={"permission": SHIP_CONFIRM},
        status_code=303,
    )
    async def document_print(
        self, request: HTMXRequest, document_id: int, db_session: AsyncSession, actor: Actor
    ) -> Redirect:
        """Printing the document from its page: the first print is recorded (when, by whom), then the page comes
        back and has the browser print it."""
        await services.mark_printed(db_session, document_id, actor, utcnow(), ip=client_ip(request))
        url = request.app.route_reverse("fulfillment:document", document_id=document_id)
        return Redirect(f"{url}?printing=1", status_code=303)

    @get("/interceptions", name="fulfillment:interceptions")
    async def interceptions(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        """拦截件: the parcels each warehouse is still to pull, ``?warehouse=`` one warehouse's."""
        return await interceptions_page(request, db_session)

    @post(
        "/interceptions/{interception_id:int}/pulled",
        name="fulfillment:interception_pulled",
        opt={"permission": SHIP_CONFIRM, **refusals_shown_by(interceptions_refused)},
        status_code=200,
    )
    async def interception_pulled(
        self, request: HTMXRequest, interception_id: int, db_session: AsyncSession, actor: Actor
    ) -> Template:
        """The warehouse confirms a parcel pulled and back on the shelf (已拦截，已放回货架): its stock is released."""
        done = await interceptions.confirm_pulled(db_session, interception_id, actor, utcnow(), ip=client_ip(request))
        return await interceptions_page(request, db_session, pulled=done)

    @get("/scan", name="fulfillment:scan", opt={"permission": SHIP_CONFIRM})
    async def scan(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        """The scan station: one input for the waybill number of a parcel leaving the warehouse, a wave to confirm
        whole, a file of waybill numbers to confirm."""
        return await scan_page(request, db_session)

    @post("/scan", name="fulfillment:scan_confirm", opt={"permission": SHIP_CONFIRM}, status_code=200)
    async def scan_confirm(self, request: HTMXRequest, data: Form, db_session: AsyncSession, actor: Actor) -> Template:
        """Confirm one scanned waybill number; the answer (shipped, already shipped or refused) in place."""
        (answer,) = await confirmation.confirm_many(
            db_session, [one(data, "waybill_no")], actor, utcnow(), ip=client_ip(request)
        )
        return await scan_page(request, db_session, "fulfillment/_scan_result.html", answer=answer)

    @get("/scan/wave", name="fulfillment:scan_wave", opt=SCAN_FORM)
    async def scan_wave(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        """The confirmation step of a whole wave (``?warehouse=&wave=``): how many parcels it would send."""
        query = request.query_params
        # The scan station's picker sends both as one ``pick`` (warehouse|wave); the document page sends each.
        warehouse, _, wave = (query.get("pick") or "").partition("|")
        preview = await scan_batches.preview_wave(
            db_session, query.get("warehouse") or warehouse, query.get("wave") or wave
        )
        return page(request, "fulfillment/scan_wave.html", preview=preview, error=None)

    @post("/scan/wave", name="fulfillment:scan_wave_start", opt=WAVE_FORM, status_code=303)
    async def scan_wave_start(
        self, request: HTMXRequest, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Redirect:
        """Confirm every waybilled parcel of the wave: its first chunk now, the rest from the result page."""
        batch = await scan_batches.start_wave(
            db_session, one(data, "warehouse"), one(data, "wave"), one(data, "expected"), actor, utcnow()
        )
        await scan_batches.advance(db_session, batch.id or 0, actor, utcnow(), ip=client_ip(request))
        return Redirect(request.app.route_reverse("fulfillment:scan_batch", batch_id=batch.id), status_code=303)

    @post(
        "/scan/file",
        name="fulfillment:scan_file",
        opt=SCAN_FORM,
        status_code=303,
        request_max_body_size=MAX_FILE_BYTES + MULTIPART_OVERHEAD_BYTES,
    )
    async def scan_file(self, request: HTMXRequest, data: Upload, db_session: AsyncSession, actor: Actor) -> Redirect:
        """Confirm the waybill numbers of an uploaded CSV/Excel file (column 运单号 or waybill_no)."""
        upload = uploaded_file(data)
        if upload is None or not upload.filename:
            raise scan_batches.ScanBatchRefused("file_required")
        batch = await scan_batches.start_file(db_session, upload.filename, await upload.read(), actor, utcnow())
        await scan_batches.advance(db_session, batch.id or 0, actor, utcnow(), ip=client_ip(request))
        return Redirect(request.app.route_reverse("fulfillment:scan_batch", batch_id=batch.id), status_code=303)

    @get("/scan/batches/{batch_id:int}", name="fulfillment:scan_batch", opt={"permission": SHIP_CONFIRM})
    async def scan_batch(self, request: HTMXRequest, batch_id: int, db_session: AsyncSession) -> Template:
        """A wave's or a file's result: shipped, already shipped and refused (with the reasons), and the progress
        while chunks are left."""
        return batch_page(request, await scan_batches.batch_named(db_session, batch_id))

    @post(
        "/scan/batches/{batch_id:int}/next",
        name="fulfillment:scan_batch_next",
        opt={"permission": SHIP_CONFIRM},
        status_code=200,
    )
    async def scan_batch_next(
        self, request: HTMXRequest, batch_id: int, db_session: AsyncSession, actor: Actor
    ) -> Template:
        """Confirm the batch's next chunk; the result page asks for it again until none is left."""
        batch = await scan_batches.advance(db_session, batch_id, actor, utcnow(), ip=client_ip(request))
        return batch_page(request, batch)

    @get(
        "/scan/batches/{batch_id:int}/export",
        name="fulfillment:scan_batch_export",
        opt={"permission": SHIP_CONFIRM},
    )
    async def scan_batch_export(self, request: HTMXRequest, batch_id: int, db_session: AsyncSession) -> Response[bytes]:
        """The result as a download: ``?format=xlsx`` for Excel, else CSV."""
        batch = await scan_batches.batch_named(db_session, batch_id)
        headers, rows = scan_batches.result_table(batch)
        if request.query_params.get("format") == "xlsx":
            return xlsx_download(table_workbook("scan", headers, rows), scan_batches.filename_of(batch, "xlsx"))
        return csv_download(table_csv(headers, rows), scan_batches.filename_of(batch, "csv"))

    @get("/messages", name="fulfillment:messages")
    async def messages(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        """The sandbox outbox: every buyer message the senders were given."""
        return page(
            request,
            "fulfillment/messages.html",
            "fulfillment/_messages.html",
            messages=await services.recent_notifications(db_session),
            via_label=labeller(message_templates.CHANNELS),
            status_label=labeller(notifications.STATUS_LABELS),
        )


async def printable(db_session: AsyncSession, refs: list[str]) -> dict[str, Any]:
    """What a printed document shows: the shipments in order, their receivers' cities, the pick totals, and the
    parcels intercepted since it was printed (flagged, so that the warehouse pulls them)."""
    shipments = await services.shipments_by_ref(db_session, refs)
    orders = {
        o.id: o
        for o in (await db_session.exec(select(Order).where(col(Order.id).in_({s.order_id for s in shipments})))).all()
    }
    # Gift units are picked on their own row, so that the picker sees what goes in free.
    totals: dict[tuple[str, bool], int] = {}
    for shipment in shipments:
        for line in shipment.lines:
            key = (line["sku"], bool(line.get("is_gift")))
            totals[key] = totals.get(key, 0) + int(line["qty"])
    codes = {sku for sku, _ in totals}
    names = {k.code: k.name for k in (await db_session.exec(select(Sku).where(col(Sku.code).in_(codes)))).all()}
    return {
        "shipments": shipments,
        "intercepted": await interceptions.interceptions_for(db_session, refs),
        "orders": orders,
        "pick": [(sku, names.get(sku, ""), qty, gift) for (sku, gift), qty in sorted(totals.items())],
    }


async def carriers_page(request: HTMXRequest, db_session: AsyncSession, **context: Any) -> Template:
    """快递公司: every carrier with its settings form, and the new-carrier form."""
    defaults: dict[str, Any] = {"error": None, "error_code": None, "typed": {}}
    rates: dict[str, int] = {}
    for rate in await carrier_master.list_rates(db_session):
        rates[rate.carrier_code] = rates.get(rate.carrier_code, 0) + 1
    return page(
        request,
        "fulfillment/carriers.html",
        carriers=await carrier_master.list_carriers(db_session),
        rate_counts=rates,
        sheet=carrier_master.carrier_sheet(""),
        limits=LIMITS,
        **{"sheet_result": None, "sheet_error": None, **defaults, **context},
    )


#: What the carrier forms send (the CSRF token is the middleware's); ticked boxes send ``on``, unticked nothing.
CARRIER_FORM_FIELDS = ("code", "name", "api_base_url", "customer_code", "api_key", "api_secret")


def carrier_values(data: dict[str, Any]) -> dict[str, Any]:
    """A carrier form's fields as the service takes them: the boxes as yes/no whether ticked or not."""
    values: dict[str, Any] = {key: one(data, key) for key in CARRIER_FORM_FIELDS if key in data}
    for box in ("supports_cold_chain", "is_active"):
        values[box] = one(data, box) == "on"
    return values


async def carriers_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    """The carriers page again with the reason on the form it came from, what was typed kept (but the secret)."""
    typed = {key: one(dict(await request.form()), key) for key in CARRIER_FORM_FIELDS if key != "api_secret"}
    code = request.path_params.get("code")
    return await carriers_page(request, db_session, error=error.message, error_code=code or "", typed=typed)


CARRIER_FORM = {"permission": "settings.manage", **refusals_shown_by(carriers_refused)}


class CarriersController(Controller):
    """快递公司: add and edit carriers (code, name, cold chain, their own API settings), enable or disable them."""

    path = "/settings/carriers"
    tags = ["fulfillment"]  # noqa: RUF012
    opt = {"permission": "settings.manage"}  # noqa: RUF012

    @get("/", name="fulfillment:carriers")
    async def index(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        return await carriers_page(request, db_session)

    @post("/new", name="fulfillment:carrier_create", opt=CARRIER_FORM, status_code=303)
    async def create(
        self, request: HTMXRequest, data: Form, db_session: AsyncSession, actor: Actor, settings: Settings
    ) -> Redirect:
        carrier = await carrier_master.create_carrier(
            db_session, settings.secret_key, carrier_values(data), actor, client_ip(request)
        )
        return Redirect(f"{request.app.route_reverse('fulfillment:carriers')}#carrier-{carrier.code}", status_code=303)

    @post(
        "/sheet",
        name="fulfillment:carriers_import",
        status_code=200,
        request_max_body_size=MAX_FILE_BYTES + MULTIPART_OVERHEAD_BYTES,
    )
    async def sheet_import(
        self, request: HTMXRequest, data: Upload, db_session: AsyncSession, actor: Actor, settings: Settings
    ) -> Template:
        """Import carriers from Excel/CSV: a new code adds one, a known one changes what the row names."""
        sheet = carrier_master.carrier_sheet(settings.secret_key)
        outcome = await import_upload(db_session, sheet, data, actor, client_ip(request))
        response = await carriers_page(request, db_session, sheet_result=outcome.result, sheet_error=outcome.error)
        response.status_code = outcome.status
        return response

    @get("/sheet/export", name="fulfillment:carriers_export")
    async def sheet_export(self, db_session: AsyncSession) -> Response[bytes]:
        """Every carrier as an .xlsx the import takes back unchanged (no secret is written)."""
        return xlsx_download(await export_sheet(db_session, carrier_master.carrier_sheet("")), "carriers.xlsx")

    @get("/sheet/template", name="fulfillment:carriers_template")
    async def sheet_template(self) -> Response[bytes]:
        return xlsx_download(template_workbook(carrier_master.carrier_sheet("")), "carriers-template.xlsx")

    @post("/{code:str}/save", name="fulfillment:carrier_save", opt=CARRIER_FORM, status_code=303)
    async def save(
        self, request: HTMXRequest, code: str, data: Form, db_session: AsyncSession, actor: Actor, settings: Settings
    ) -> Redirect:
        """Save a carrier's settings; a blank secret keeps the stored one."""
        carrier = await carrier_master.carrier_named(db_session, code)
        values = carrier_values(data)
        values.pop("code", None)
        await carrier_master.update_carrier(db_session, settings.secret_key, carrier, values, actor, client_ip(request))
        return Redirect(f"{request.app.route_reverse('fulfillment:carriers')}#carrier-{carrier.code}", status_code=303)


async def rates_page(request: HTMXRequest, db_session: AsyncSession, **context: Any) -> Template:
    """快递价格表, of one carrier when ``?carrier=`` names one."""
    shown = request.query_params.get("carrier") or ""
    carriers = await carrier_master.list_carriers(db_session)
    selected = shown if any(c.code == shown for c in carriers) else ""
    return page(
        request,
        "fulfillment/rates.html",
        rates=await carrier_master.list_rates(db_session, selected or None),
        carriers=carriers,
        selected=selected,
        sheet=carrier_master.RATE_SHEET,
        limits=LIMITS,
        **{"error": None, "sheet_result": None, "sheet_error": None, **context},
    )


async def rates_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    return await rates_page(request, db_session, error=error.message)


class CarrierRatesController(Controller):
    """快递价格表: what each carrier charges per lane, weight band and temperature zone. Admins maintain it."""

    path = "/settings/carrier-rates"
    tags = ["fulfillment"]  # noqa: RUF012
    opt = {"permission": "settings.manage"}  # noqa: RUF012

    @get("/", name="fulfillment:rates")
    async def index(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        return await rates_page(request, db_session)

    @post("/", name="fulfillment:add_rate", status_code=200, opt=refusals_shown_by(rates_refused))
    async def add(self, request: HTMXRequest, data: Form, db_session: AsyncSession, actor: Actor) -> Template:
        await carrier_master.add_rate(db_session, data, actor)
        return await rates_page(request, db_session)

    @post(
        "/sheet",
        name="fulfillment:rates_import",
        status_code=200,
        request_max_body_size=MAX_FILE_BYTES + MULTIPART_OVERHEAD_BYTES,
    )
    async def sheet_import(
        self, request: HTMXRequest, data: Upload, db_session: AsyncSession, actor: Actor
    ) -> Template:
        """Import rate lines from Excel/CSV: a lane, zone and weight band already there gets the row's prices."""
        outcome = await import_upload(db_session, carrier_master.RATE_SHEET, data, actor, client_ip(request))
        response = await rates_page(request, db_session, sheet_result=outcome.result, sheet_error=outcome.error)
        response.status_code = outcome.status
        return response

    @get("/sheet/export", name="fulfillment:rates_export")
    async def sheet_export(self, db_session: AsyncSession) -> Response[bytes]:
        """Every carrier's rate lines as an .xlsx the import takes back unchanged."""
        return xlsx_download(await export_sheet(db_session, carrier_master.RATE_SHEET), "carrier-rates.xlsx")

    @get("/sheet/template", name="fulfillment:rates_template")
    async def sheet_template(self) -> Response[bytes]:
        return xlsx_download(template_workbook(carrier_master.RATE_SHEET), "carrier-rates-template.xlsx")

    @post("/{rate_id:int}/delete", name="fulfillment:delete_rate", status_code=303)
    async def delete(self, request: HTMXRequest, rate_id: int, db_session: AsyncSession, actor: Actor) -> Redirect:
        """Take a line out of the table."""
        await carrier_master.delete_rate(db_session, rate_id, actor, client_ip(request))
        return Redirect(request.app.route_reverse("fulfillment:rates"), status_code=303)


async def message_templates_page(request: HTMXRequest, db_session: AsyncSession, **context: Any) -> Template:
    """消息模板: every buyer message on every channel, with its variables, its preview and its form."""
    return page(
        request,
        "fulfillment/message_templates.html",
        views=await message_templates.template_views(db_session),
        template_label=labeller(message_templates.TEMPLATE_LABELS),
        channel_label=labeller(message_templates.CHANNELS),
        variable_label=labeller(message_templates.VARIABLES),
        **{"error": None, "error_key": "", "typed": "", **context},
    )


async def message_template_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    """The template page again with the reason on the form it came from and the text as typed."""
    typed = one(dict(await request.form()), "text", strip=False)
    key = f"{request.path_params.get('template')}:{request.path_params.get('via')}"
    return await message_templates_page(request, db_session, error=error.message, error_key=key, typed=typed)


MESSAGE_TEMPLATE_FORM = {"permission": "settings.manage", **refusals_shown_by(message_template_refused)}


class MessageTemplatesController(Controller):
    """消息模板: admins write the text of each buyer message, with a live preview, and can restore the default."""

    path = "/settings/message-templates"
    tags = ["fulfillment"]  # noqa: RUF012
    opt = {"permission": "settings.manage"}  # noqa: RUF012

    @get("/", name="fulfillment:message_templates")
    async def index(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        return await message_templates_page(request, db_session)

    @post("/{template:str}/{via:str}/preview", name="fulfillment:message_template_preview", status_code=200)
    async def preview(self, template: str, via: str, data: Form, db_session: AsyncSession) -> Template:
        """The preview of the text being typed, filled with a sample order (or why it cannot be saved)."""
        shop = await message_templates.sample_shop(db_session)
        checked = message_templates.check_typed(template, via, one(data, "text", strip=False), shop)
        return HTMXTemplate(
            template_name="fulfillment/_message_preview.html",
            context={"checked": checked, "key": f"{template}-{via}"},
        )

    @post(
        "/{template:str}/{via:str}/save",
        name="fulfillment:message_template_save",
        opt=MESSAGE_TEMPLATE_FORM,
        status_code=303,
    )
    async def save(
        self, request: HTMXRequest, template: str, via: str, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Redirect:
        """Keep the text; the next message of this template is written with it."""
        text = one(data, "text", strip=False)
        await message_templates.save_text(db_session, template, via, text, actor, client_ip(request))
        return Redirect(template_anchor(request, template, via), status_code=303)

    @post(
        "/{template:str}/{via:str}/restore",
        name="fulfillment:message_template_restore",
        opt=MESSAGE_TEMPLATE_FORM,
        status_code=303,
    )
    async def restore(
        self, request: HTMXRequest, template: str, via: str, db_session: AsyncSession, actor: Actor
    ) -> Redirect:
        """Go back to the product's text."""
        await message_templates.restore_default(db_session, template, via, actor, client_ip(request))
        return Redirect(template_anchor(request, template, via), status_code=303)


def template_anchor(request: HTMXRequest, template: str, via: str) -> str:
    return f"{request.app.route_reverse('fulfillment:message_templates')}#template-{template}-{via}"


class CarriersApiController(Controller):
    """Carriers and their rate tables for integrators: read with the ``read`` scope, added and changed with the
    ``admin`` scope; no secret is given back (only whether it is set)."""

    path = "/api/v1/carriers"
    tags = ["fulfillment"]  # noqa: RUF012

    @get("/", name="api:carriers", opt={"scope": "read"})
    async def list_carriers(self, db_session: AsyncSession) -> Response[dict[str, Any]]:
        """Every carrier, by code."""
        carriers = await carrier_master.list_carriers(db_session)
        return Response({"items": [carrier_master.carrier_read(c) for c in carriers]})

    @post("/", name="api:carriers_create", opt={"scope": "admin"}, status_code=201)
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[dict[str, Any]],
        db_session: AsyncSession,
        actor: Actor,
        settings: Settings,
    ) -> Response[dict[str, Any]]:
        """Add a carrier: ``code``, ``name``; optionally ``supports_cold_chain``, ``is_active``, ``api_base_url``,
        ``customer_code``, ``api_key``, ``api_secret``."""
        carrier = await carrier_master.create_carrier(db_session, settings.secret_key, data, actor, client_ip(request))
        return Response(carrier_master.carrier_read(carrier), status_code=201)

    @get("/{code:str}", name="api:carrier", opt={"scope": "read"})
    async def detail(self, code: str, db_session: AsyncSession) -> Response[dict[str, Any]]:
        return Response(carrier_master.carrier_read(await carrier_master.carrier_named(db_session, code)))

    @patch("/{code:str}", name="api:carrier_update", opt={"scope": "admin"})
    async def update(
        self,
        request: Request[Any, Any, Any],
        code: str,
        data: JSONBody[dict[str, Any]],
        db_session: AsyncSession,
        actor: Actor,
        settings: Settings,
    ) -> Response[dict[str, Any]]:
        """Change what the body names; fields left out keep their values."""
        carrier = await carrier_master.carrier_named(db_session, code)
        await carrier_master.update_carrier(db_session, settings.secret_key, carrier, data, actor, client_ip(request))
        return Response(carrier_master.carrier_read(carrier))

    # Public to the app-wide guard (carriers cannot send our bearer tokens): the service checks the carrier's
    # signature before it reads the body.
    @post(
        "/{code:str}/tracking",
        name="api:carrier_tracking",
        opt={"public": True},
        status_code=200,
        request_max_body_size=tracking.MAX_BODY_BYTES,
    )
    async def tracking_push(
        self, request: Request[Any, Any, Any], code: str, db_session: AsyncSession, settings: Settings
    ) -> Response[dict[str, Any]]:
        """A carrier pushes the tracking events of one waybill: ``{"waybill_no", "events": [{"event_id",
        "status", "occurred_at", "description", "location"}]}``, signed with ``X-App-Key`` and ``X-Sign`` (the hex
        HMAC-SHA256 of the raw body with the carrier's API secret). Each event is stored once; a delivered one
        delivers a shipped parcel. 404 for an unknown carrier or waybill, 401 for a bad signature, 400 for a
        body that is not such a push: nothing changed."""
        result = await tracking.receive_push(
            db_session,
            settings,
            code,
            await request.body(),
            request.headers.get("x-app-key", ""),
            request.headers.get("x-sign", ""),
            utcnow(),
        )
        return Response(asdict(result))

    @get("/{code:str}/rates", name="api:carrier_rates", opt={"scope": "read"})
    async def rates(self, code: str, db_session: AsyncSession) -> Response[dict[str, Any]]:
        """The carrier's rate lines: fees in fen (``first_fee_fen`` for the first kilogram, ``extra_fee_fen_per_kg``
        for each further started one), weights in grams, ``*`` for any origin, destination or zone."""
        carrier = await carrier_master.carrier_named(db_session, code)
        rates = await carrier_master.list_rates(db_session, carrier.code)
        return Response({"carrier": carrier.code, "items": [carrier_master.rate_read(r) for r in rates]})


class ShipmentsApiController(Controller):
    """Shipment confirmation for a WMS: API tokens with the ``shipments`` scope (which may do nothing else) or
    the ``admin`` scope."""

    path = "/api/v1/shipments"
    tags = ["fulfillment"]  # noqa: RUF012
    opt = {"scope": "shipments"}  # noqa: RUF012

    @post("/confirm", name="api:shipments_confirm", status_code=200)
    async def confirm(
        self, request: Request[Any, Any, Any], data: JSONBody[dict[str, Any]], db_session: AsyncSession, actor: Actor
    ) -> Response[dict[str, Any]]:
        """Confirm parcels as shipped by ``waybill_numbers`` (at most 500): an answer per number, in order, with
        ``outcome`` ``shipped`` (the stock left), ``already_shipped`` (nothing changed) or ``refused`` (``error``
        and ``message`` say why; nothing changed)."""
        items = await confirmation.confirm_many(
            db_session, data.get("waybill_numbers"), actor, utcnow(), ip=client_ip(request)
        )
        return Response({"items": items})


class SandboxCarrierController(Controller):
    """The sandbox carrier: issues waybill numbers like a carrier's e-waybill API would (demo and tests only)."""

    path = "/sandbox/carrier"
    tags = ["sandbox"]  # noqa: RUF012
    include_in_schema = False

    @post("/waybills", name="sandbox:waybills", opt={"public": True}, status_code=200, exclude_from_csrf=True)
    async def create(self, request: Request[Any, Any, Any], settings: Settings) -> Response[dict[str, Any]]:
        body = await signed_body(request, settings)
        try:
            data = json.loads(body)
            carrier, key = str(data["carrier_code"]), str(data["request_key"])
        except (ValueError, KeyError, TypeError):
            return Response({"error": "invalid request"}, status_code=400)
        return Response(
            {
                "waybill_no": sandbox_waybill_number(carrier, key),
                "carrier_code": carrier,
                "sort_code": f"{data.get('dest_province', '')}-{data.get('dest_city', '')}",
                # Like a real e-waybill API, the label's print data echoes the receiver back.
                "print_data": {
                    "receiver": {
                        "name": data.get("receiver_name", ""),
                        "mobile": data.get("receiver_phone", ""),
                        "address": data.get("receiver_address", ""),
                    }
                },
            }
        )

    @post(
        "/waybills/cancel", name="sandbox:waybill_void", opt={"public": True}, status_code=200, exclude_from_csrf=True
    )
    async def void(self, request: Request[Any, Any, Any], settings: Settings) -> Response[dict[str, Any]]:
        """Void a waybill it issued (取消电子面单); a number voided before answers ``already`` (still voided)."""
        body = await signed_body(request, settings)
        try:
            data = json.loads(body)
            carrier, number = str(data["carrier_code"]), str(data["waybill_no"])
        except (ValueError, KeyError, TypeError):
            return Response({"error": "invalid request"}, status_code=400)
        if not number.startswith(carrier):
            return Response({"error": "unknown waybill"}, status_code=400)
        voids = sandbox_voids(request)
        already = number in voids
        voids[number] = voids.get(number, 0) + 1
        return Response({"waybill_no": number, "status": "voided", "already": already})

    @get("/waybills/{waybill_no:str}", name="sandbox:waybill", opt={"public": True})
    async def status(self, request: Request[Any, Any, Any], waybill_no: str) -> Response[dict[str, Any]]:
        """What the sandbox knows of a number: voided or not, and how many void requests it got for it (for the
        demo and the tests to look at)."""
        requests = sandbox_voids(request).get(waybill_no, 0)
        return Response({"waybill_no": waybill_no, "voided": requests > 0, "void_requests": requests})


async def signed_body(request: Request[Any, Any, Any], settings: Settings) -> bytes:
    """The request's body when it is signed with the configured app key and secret; 403 otherwise."""
    body = await request.body()
    presented = request.headers.get("x-sign", "")
    if request.headers.get("x-app-key") != settings.carrier_api_key or not hmac.compare_digest(
        presented, sign(settings.carrier_api_secret, body)
    ):
        raise PermissionDeniedException("bad signature")
    return body


def sandbox_voids(request: Request[Any, Any, Any]) -> dict[str, int]:
    """The numbers the sandbox voided, with how many void requests each got: its memory lasts as long as the
    process, as a sandbox's may."""
    voids: dict[str, int] = request.app.state.setdefault("sandbox_voids", {})
    return voids


class SandboxTrackingController(Controller):
    """模拟签收 (demo and tests only, served with the sandbox carrier): the sandbox carrier pushes the journey of an
    order's shipped parcels to the tracking webhook, over HTTP like a real carrier."""

    path = "/orders"
    tags = ["sandbox"]  # noqa: RUF012
    include_in_schema = False

    @post(
        "/{order_id:int}/sandbox-delivery",
        name="orders:sandbox_delivery",
        opt={"permission": SHIP_CONFIRM},
        status_code=303,
    )
    async def deliver(self, request: HTMXRequest, order_id: int, state: State, settings: Settings) -> Redirect:
        # No request session: the push is a request of its own, which must not wait for this one's transaction.
        await tracking.sandbox_deliver(state.db, settings, order_id, utcnow())
        detail = request.app.route_reverse("orders:detail", order_id=order_id)
        return Redirect(f"{detail}#tracking", status_code=303)

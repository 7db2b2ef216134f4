"""Fulfillment pages: carrier rate tables (admin), shipping documents to print, the sandbox message outbox,
and the sandbox carrier's waybill endpoint."""

from __future__ import annotations

import hmac
import json
from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Response, Template
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.accounts.services import Actor
from app.domain.fulfillment import services
from app.domain.fulfillment.carriers import sandbox_waybill_number, sign
from app.domain.fulfillment.models import Carrier, CarrierRate, ShippingDocument
from app.domain.inventory.models import Sku
from app.domain.orders.models import Order
from app.forms import Form
from app.settings import Settings
from app.web import page


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
        return page(request, "fulfillment/print.html", document=document, **await printable(db_session, refs))

    @get("/messages", name="fulfillment:messages")
    async def messages(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        """The sandbox outbox: every buyer message the senders were given."""
        return page(
            request,
            "fulfillment/messages.html",
            "fulfillment/_messages.html",
            messages=await services.recent_notifications(db_session),
        )


async def printable(db_session: AsyncSession, refs: list[str]) -> dict[str, Any]:
    """What a printed document shows: the shipments in order, their receivers' cities, and the pick totals."""
    shipments = await services.shipments_by_ref(db_session, refs)
    orders = {
        o.id: o
        for o in (await db_session.exec(select(Order).where(col(Order.id).in_({s.order_id for s in shipments})))).all()
    }
    totals: dict[str, int] = {}
    for shipment in shipments:
        for line in shipment.lines:
            totals[line["sku"]] = totals.get(line["sku"], 0) + int(line["qty"])
    names = {k.code: k.name for k in (await db_session.exec(select(Sku).where(col(Sku.code).in_(totals)))).all()}
    return {
        "shipments": shipments,
        "orders": orders,
        "pick": [(sku, names.get(sku, ""), qty) for sku, qty in sorted(totals.items())],
    }


class CarrierRatesController(Controller):
    """快递价格表: what each carrier charges per lane, weight band and temperature zone. Admins maintain it."""

    path = "/settings/carrier-rates"
    tags = ["fulfillment"]  # noqa: RUF012
    opt = {"permission": "settings.manage"}  # noqa: RUF012

    async def _context(self, db_session: AsyncSession, **extra: Any) -> dict[str, Any]:
        rates = (
            await db_session.exec(select(CarrierRate).order_by(col(CarrierRate.carrier_code), col(CarrierRate.id)))
        ).all()
        carriers = (await db_session.exec(select(Carrier).order_by(col(Carrier.code)))).all()
        return {"rates": rates, "carriers": carriers, "error": None, **extra}

    @get("/", name="fulfillment:rates")
    async def index(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        return page(request, "fulfillment/rates.html", **await self._context(db_session))

    @post("/", name="fulfillment:add_rate", status_code=200)
    async def add(self, request: HTMXRequest, data: Form, db_session: AsyncSession, actor: Actor) -> Template:
        try:
            await services.add_rate(db_session, data, actor)
        except services.RateFormError as exc:
            # A 400 response: the request's transaction is rolled back.
            response = page(request, "fulfillment/rates.html", **await self._context(db_session, error=exc.message))
            response.status_code = 400
            return response
        return page(request, "fulfillment/rates.html", **await self._context(db_session))


class SandboxCarrierController(Controller):
    """The sandbox carrier: issues waybill numbers like a carrier's e-waybill API would (demo and tests only)."""

    path = "/sandbox/carrier"
    tags = ["sandbox"]  # noqa: RUF012
    include_in_schema = False

    @post("/waybills", name="sandbox:waybills", opt={"public": True}, status_code=200, exclude_from_csrf=True)
    async def create(self, request: Request[Any, Any, Any], settings: Settings) -> Response[dict[str, Any]]:
        body = await request.body()
        presented = request.headers.get("x-sign", "")
        if request.headers.get("x-app-key") != settings.carrier_api_key or not hmac.compare_digest(
            presented, sign(settings.carrier_api_secret, body)
        ):
            raise PermissionDeniedException("bad signature")
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

"""Finance pages that check bills against ours (对账, 运费账单) and show the margins per order."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Response, Template
from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.accounts.services import Actor
from app.domain.finance import carrier_bills, margins, reconciliation
from app.domain.finance.bill_formats import FORMAT_CHANNELS, FORMAT_LABELS
from app.domain.fulfillment import carrier_master
from app.domain.orders import presentation
from app.domain.shops import services as shop_readers
from app.domain.shops.models import Channel
from app.errors import DomainError
from app.forms import MULTIPART_OVERHEAD_BYTES, Upload, one
from app.i18n import labeller
from app.params import parse_day, parse_id
from app.sheets import LIMITS, MAX_FILE_BYTES, uploaded_file, xlsx_download
from app.web import client_ip, page, refusals_shown_by

#: The channels a bill can be imported for, in the order the upload form offers them.
BILL_CHANNELS = tuple(dict.fromkeys(channel for channels in FORMAT_CHANNELS.values() for channel in channels))


def helpers() -> dict[str, Any]:
    return {
        "channel_label": presentation.helpers()["channel_label"],
        "result_label": labeller(reconciliation.RESULT_LABELS),
        "kind_label": labeller(reconciliation.KIND_LABELS),
        "format_label": labeller(FORMAT_LABELS),
        "outcome_label": labeller(carrier_bills.OUTCOME_LABELS),
    }


async def reconciliation_page(
    request: HTMXRequest, session: AsyncSession, *, error: str | None = None, duplicate: Any = None
) -> Template:
    return page(
        request,
        "finance/reconciliation.html",
        imports=await reconciliation.recent_imports(session),
        bill_channels=BILL_CHANNELS,
        limits=LIMITS,
        error=error,
        duplicate=duplicate,
        **helpers(),
    )


async def bill_refused(request: HTMXRequest, session: AsyncSession, error: DomainError) -> Template:
    """The reconciliation page again with why the bill was refused (the request's writes rolled back)."""
    return await reconciliation_page(request, session, error=error.message)


async def carrier_bill_refused(request: HTMXRequest, session: AsyncSession, error: DomainError) -> Template:
    """The carrier bills page again with why the bill was refused (nothing of it booked)."""
    return await carrier_bills_page(request, session, error=error.message)


async def carrier_bills_page(
    request: HTMXRequest,
    session: AsyncSession,
    *,
    result: carrier_bills.CarrierBillResult | None = None,
    error: str | None = None,
) -> Template:
    return page(
        request,
        "finance/carrier_bills.html",
        carriers=await carrier_master.list_carriers(session),
        limits=LIMITS,
        result=result,
        error=error,
        **helpers(),
    )


async def margin_filters(
    start: str = "", end: str = "", channel: str = "", shop: str = "", order: str = ""
) -> margins.MarginFilters:
    """The filters of the margins page and its download, from the query; a day that is not one is refused."""
    return margins.MarginFilters(
        start=parse_day(start, "start"),
        end=parse_day(end, "end"),
        channel=channel if channel in {c.value for c in Channel} else "",
        shop_id=parse_id(shop),
        order="desc" if order == "desc" else "asc",
    )


class ReconcileController(Controller):
    path = "/finance"
    tags = ["finance"]  # noqa: RUF012
    opt = {"permission": "finance.read"}  # noqa: RUF012

    @get("/reconciliation", name="finance:reconciliation")
    async def index(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        """Upload a platform's settlement bill; the imports so far, newest first."""
        return await reconciliation_page(request, db_session)

    @post(
        "/reconciliation",
        name="finance:reconciliation_upload",
        opt={"permission": "finance.manage", **refusals_shown_by(bill_refused)},
        status_code=200,
        request_max_body_size=MAX_FILE_BYTES + MULTIPART_OVERHEAD_BYTES,
    )
    async def upload(
        self, request: HTMXRequest, data: Upload, db_session: AsyncSession, actor: Actor
    ) -> Template | Redirect:
        """Import the bill and show what differs; the same file again is said to be imported already."""
        upload = uploaded_file(data)
        if upload is None:
            raise reconciliation.ReconciliationError("no_file")
        outcome = await reconciliation.import_bill(
            db_session,
            actor,
            upload.filename or "bill.csv",
            await upload.read(),
            channel=one(data, "channel"),
            ip=client_ip(request),
        )
        if outcome.duplicate:
            return await reconciliation_page(request, db_session, duplicate=outcome.settlement)
        return Redirect(
            request.url_for("finance:reconciliation_result", import_id=outcome.settlement.id), status_code=303
        )

    @get("/reconciliation/{import_id:int}", name="finance:reconciliation_result")
    async def result(self, request: HTMXRequest, import_id: int, db_session: AsyncSession, show: str = "") -> Template:
        """What the bill says against what we expected: the lines that differ, or all with ``show=all``."""
        result = await reconciliation.result_page(db_session, import_id, show_all=show == "all")
        return page(
            request,
            "finance/reconciliation_result.html",
            "finance/_reconciliation_lines.html",
            result=result,
            **helpers(),
        )

    @get("/reconciliation/{import_id:int}/differences", name="finance:reconciliation_differences")
    async def differences(self, import_id: int, db_session: AsyncSession) -> Response[bytes]:
        """The lines that differ as an Excel file."""
        result = await reconciliation.result_page(db_session, import_id)
        return xlsx_download(reconciliation.differences_workbook(result), f"reconciliation-{import_id}.xlsx")

    @get("/carrier-bills", name="finance:carrier_bills")
    async def carrier_bills_index(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        """Upload a carrier's monthly bill to book what it asks beyond the fees we booked."""
        return await carrier_bills_page(request, db_session)

    @post(
        "/carrier-bills",
        name="finance:carrier_bills_upload",
        opt={"permission": "finance.manage", **refusals_shown_by(carrier_bill_refused)},
        status_code=200,
        request_max_body_size=MAX_FILE_BYTES + MULTIPART_OVERHEAD_BYTES,
    )
    async def carrier_bills_upload(
        self, request: HTMXRequest, data: Upload, db_session: AsyncSession, actor: Actor
    ) -> Template:
        """Match the bill to the carrier's shipments, book each difference once and list the unknown waybills."""
        upload = uploaded_file(data)
        if upload is None:
            raise carrier_bills.CarrierBillError("no_file")
        result = await carrier_bills.import_carrier_bill(
            db_session,
            actor,
            one(data, "carrier"),
            upload.filename or "carrier-bill.csv",
            await upload.read(),
            ip=client_ip(request),
        )
        return await carrier_bills_page(request, db_session, result=result)

    @get("/margins", name="finance:margins", dependencies={"filters": Provide(margin_filters)})
    async def margins_page(
        self, request: HTMXRequest, db_session: AsyncSession, filters: margins.MarginFilters
    ) -> Template:
        """Margins per order, sorted by margin, with the totals and the margin rate of all the filtered orders."""
        report = await margins.margin_report(db_session, filters)
        return page(
            request,
            "finance/margins.html",
            "finance/_margins_rows.html",
            report=report,
            channels=[c.value for c in Channel],
            shops=await shop_readers.shops_by_id(db_session),
            **helpers(),
        )

    @get("/margins/download", name="finance:margins_download", dependencies={"filters": Provide(margin_filters)})
    async def margins_download(self, db_session: AsyncSession, filters: margins.MarginFilters) -> Response[bytes]:
        """The same margins as an Excel file, every order of the filters."""
        report = await margins.margin_report(db_session, filters, limit=margins.MAX_DOWNLOAD_ROWS)
        return xlsx_download(margins.margins_workbook(report, helpers()["channel_label"]), "margins.xlsx")


__all__ = ["ReconcileController"]

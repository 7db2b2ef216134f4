"""报表: the reports page (every chart with its table, by the filters) and each report's CSV / Excel download."""

from __future__ import annotations

from collections.abc import Mapping

from litestar import Controller, Response, get
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import may
from app.domain.accounts.services import Actor
from app.domain.orders import presentation as order_labels
from app.domain.reports import presentation, queries
from app.domain.shops import services as shop_readers
from app.domain.shops.models import Channel
from app.sheets import csv_download, xlsx_download
from app.web import page

DOWNLOADS = ("csv", "xlsx")


def _query(request: HTMXRequest) -> Mapping[str, str]:
    return {key: request.query_params.get(key, "") for key in ("date_from", "date_to", "channel", "shop")}


def _readable(actor: Actor) -> list[str]:
    """The reports this person may read."""
    return [key for key in queries.REPORTS if may(actor, queries.PERMISSION_OF.get(key, "reports.read"))]


class ReportsController(Controller):
    path = "/reports"
    tags = ["reports"]  # noqa: RUF012
    opt = {"permission": "reports.read"}  # noqa: RUF012

    @get("/", name="reports:index")
    async def index(self, request: HTMXRequest, db_session: AsyncSession, actor: Actor) -> Template:
        """报表: each report's chart, table and downloads for the date range, channel and shop asked for."""
        filters = await queries.ReportFilters.kept(db_session, _query(request))
        return page(
            request,
            "reports/page.html",
            reports=await queries.all_reports(db_session, filters, _readable(actor)),
            filters=filters,
            query=filters.as_query(),
            shops=await shop_readers.shops_by_id(db_session),
            channels=list(Channel),
            channel_label=order_labels.helpers()["channel_label"],
            report_title=presentation.title_of,
            report_note=presentation.note_of,
            report_headers=presentation.headers_of,
            report_table=presentation.table_of,
            report_chart=presentation.chart_of,
        )

    @get("/{key:str}/download/{kind:str}", name="reports:download")
    async def download(
        self, request: HTMXRequest, key: str, kind: str, db_session: AsyncSession, actor: Actor
    ) -> Response[bytes]:
        """One report's table as ``csv`` or ``xlsx``, for the same filters as the page it was linked from."""
        report_query = queries.REPORTS.get(key)
        if report_query is None or kind not in DOWNLOADS:
            raise NotFoundException()
        if key not in _readable(actor):
            raise PermissionDeniedException()
        filters = await queries.ReportFilters.kept(db_session, _query(request))
        report = await report_query(db_session, filters)
        filename = f"report-{key}-{filters.first.isoformat()}-{filters.last.isoformat()}.{kind}"
        content = presentation.download(report, kind)
        return csv_download(content, filename) if kind == "csv" else xlsx_download(content, filename)

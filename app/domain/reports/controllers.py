"""Pages of the reports area. Their content grows with later issues; today they explain what will be here."""

from __future__ import annotations

from litestar import Controller, get
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template

from app.web import page


class ReportsController(Controller):
    path = "/reports"
    tags = ["reports"]  # noqa: RUF012
    opt = {"permission": "reports.read"}  # noqa: RUF012

    @get("/", name="reports:index")
    async def index(self, request: HTMXRequest) -> Template:
        return page(request, "reports/page.html")

"""Pages of the finance area. Their content grows with later issues; today they explain what will be here."""

from __future__ import annotations

from litestar import Controller, get
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template

from app.web import page


class FinanceController(Controller):
    path = "/finance"
    tags = ["finance"]  # noqa: RUF012
    opt = {"permission": "finance.read"}  # noqa: RUF012

    @get("/", name="finance:index")
    async def index(self, request: HTMXRequest) -> Template:
        return page(request, "finance/page.html")

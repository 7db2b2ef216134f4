"""Pages of the flows area. Their content grows with later issues; today they explain what will be here."""

from __future__ import annotations

from litestar import Controller, get
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template

from app.web import page


class FlowsController(Controller):
    path = "/flows"
    tags = ["flows"]  # noqa: RUF012
    opt = {"permission": "flows.edit"}  # noqa: RUF012

    @get("/", name="flows:index")
    async def index(self, request: HTMXRequest) -> Template:
        return page(request, "flows/page.html")

"""Pages of the orders area. Their content grows with later issues; today they explain what will be here."""

from __future__ import annotations

from litestar import Controller, get
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template

from app.web import page


class OrdersController(Controller):
    path = "/orders"
    tags = ["orders"]  # noqa: RUF012
    opt = {"permission": "orders.read"}  # noqa: RUF012

    @get("/", name="orders:index")
    async def index(self, request: HTMXRequest) -> Template:
        return page(request, "orders/page.html")

    @get("/review", name="orders:review", opt={"permission": "review.work"})
    async def review(self, request: HTMXRequest) -> Template:
        """审核: the manual-review queue. Empty until orders are processed."""
        return page(request, "orders/review.html")

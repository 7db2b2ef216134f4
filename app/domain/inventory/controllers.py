"""库存: the stock pages."""

from __future__ import annotations

from litestar import Controller, get
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template
from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.inventory import services
from app.web import page


class InventoryController(Controller):
    path = "/inventory"
    tags = ["inventory"]  # noqa: RUF012
    opt = {"permission": "inventory.read"}  # noqa: RUF012

    @get("/", name="inventory:index")
    async def index(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        return page(
            request,
            "inventory/page.html",
            warehouses=await services.list_warehouses(db_session),
            skus=await services.list_skus(db_session),
        )

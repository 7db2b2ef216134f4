"""财务 overview: this month's books, what waits for finance, the latest vouchers and exports, and the way to each
finance page."""

from __future__ import annotations

from litestar import Controller, get
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template
from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.finance import exports, overview, vouchers
from app.i18n import labeller
from app.web import page


class FinanceController(Controller):
    path = "/finance"
    tags = ["finance"]  # noqa: RUF012
    opt = {"permission": "finance.read"}  # noqa: RUF012

    @get("/", name="finance:index")
    async def index(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        return page(
            request,
            "finance/page.html",
            books=await overview.overview(db_session),
            voucher_status_label=labeller(vouchers.STATUS_LABELS),
            voucher_kind_label=labeller(vouchers.KIND_LABELS),
            target_label=labeller(exports.TARGET_LABELS),
            voucher_number=vouchers.voucher_number,
        )

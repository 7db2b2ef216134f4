"""财务设置: the chart of accounts per kind of line and channel, the channels' commissions, VAT per SKU category,
and the accounting periods (close a month, open it again). Finance reads it; ``finance.manage`` changes it."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import CHINA, utcnow
from app.domain.accounts.services import Actor
from app.domain.finance import ledger
from app.domain.finance.models import PeriodStatus
from app.domain.orders import presentation
from app.errors import DomainError
from app.forms import Form, one
from app.i18n import labeller
from app.web import client_ip, page, refusals_shown_by

MANAGE = "finance.manage"


async def settings_page(request: HTMXRequest, db_session: AsyncSession, **context: Any) -> Template:
    today = utcnow().astimezone(CHINA).date()
    return page(
        request,
        "finance/settings.html",
        **await ledger.settings_view(db_session, today),
        kind_label=labeller(ledger.LINE_KIND_LABELS),
        period_status_label=labeller(ledger.PERIOD_STATUS_LABELS),
        channel_label=presentation.helpers()["channel_label"],
        **{"error": None, "error_at": None, **context},
    )


async def settings_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    """The page again with the reason beside the form it came from (``at`` names it)."""
    at = one(dict(await request.form()), "at")
    return await settings_page(request, db_session, error=error.message, error_at=at)


CHANGE = {"permission": MANAGE, **refusals_shown_by(settings_refused)}


def back(request: HTMXRequest, anchor: str) -> Redirect:
    return Redirect(f"{request.app.route_reverse('finance:settings')}#{anchor}", status_code=303)


class LedgerController(Controller):
    path = "/finance/settings"
    tags = ["finance"]  # noqa: RUF012
    opt = {"permission": "finance.read"}  # noqa: RUF012

    @get("/", name="finance:settings")
    async def index(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        return await settings_page(request, db_session)

    @post("/accounts", name="finance:account_save", opt=CHANGE, status_code=303)
    async def account_save(self, request: HTMXRequest, data: Form, db_session: AsyncSession, actor: Actor) -> Redirect:
        kind = one(data, "line_kind")
        await ledger.save_account(
            db_session,
            actor,
            kind,
            one(data, "channel"),
            one(data, "account_code"),
            one(data, "account_name"),
            ip=client_ip(request),
        )
        return back(request, f"accounts-{kind}")

    @post("/accounts/remove", name="finance:account_remove", opt=CHANGE, status_code=303)
    async def account_remove(
        self, request: HTMXRequest, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Redirect:
        kind = one(data, "line_kind")
        await ledger.remove_account(db_session, actor, kind, one(data, "channel"), ip=client_ip(request))
        return back(request, f"accounts-{kind}")

    @post("/channels", name="finance:channel_save", opt=CHANGE, status_code=303)
    async def channel_save(self, request: HTMXRequest, data: Form, db_session: AsyncSession, actor: Actor) -> Redirect:
        channel = one(data, "channel")
        await ledger.save_channel(
            db_session, actor, channel, one(data, "percent"), one(data, "partner"), ip=client_ip(request)
        )
        return back(request, f"channel-{channel}")

    @post("/tax-rates", name="finance:tax_rate_save", opt=CHANGE, status_code=303)
    async def tax_rate_save(self, request: HTMXRequest, data: Form, db_session: AsyncSession, actor: Actor) -> Redirect:
        await ledger.save_tax_rate(
            db_session, actor, one(data, "category"), one(data, "percent"), ip=client_ip(request)
        )
        return back(request, "tax-rates")

    @post("/periods", name="finance:period_status", opt=CHANGE, status_code=303)
    async def period_status(self, request: HTMXRequest, data: Form, db_session: AsyncSession, actor: Actor) -> Redirect:
        wanted = PeriodStatus.closed if one(data, "action") == "close" else PeriodStatus.open
        await ledger.set_period_status(db_session, actor, one(data, "period"), wanted, ip=client_ip(request))
        return back(request, "periods")


__all__ = ["LedgerController"]

"""Channel settings pages (shops: secrets, pull schedule, last cursor, last error, pull now) and the webhook."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.params import HeaderParameter, QueryParameter
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Response, Template
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import actor_of
from app.domain.accounts.services import Actor
from app.domain.channels import services
from app.domain.channels.adapters import PULLABLE
from app.domain.channels.models import Shop
from app.errors import DomainError
from app.forms import Form
from app.i18n import gettext
from app.settings import Settings
from app.web import client_ip, page, refusals_shown_by


async def shop_card(
    request: HTMXRequest,
    db_session: AsyncSession,
    shop: Shop | None,
    *,
    new_secret: str | None = None,
    error: str | None = None,
    notice: str | None = None,
) -> Template:
    """The shop's card (htmx), or the whole page with the message on that shop's card."""
    if shop is None:
        raise NotFoundException()
    return page(
        request,
        "channels/page.html",
        "channels/_shop.html",
        shop=shop,
        shops=await services.list_shops(db_session),
        focus_id=shop.id,
        pullable=PULLABLE,
        new_secret=new_secret,
        error=error,
        notice=notice,
    )


async def settings_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    """The shop's card with the reason its settings were refused, showing them as stored."""
    shop = await db_session.get(Shop, int(request.path_params["shop_id"]))
    return await shop_card(request, db_session, shop, error=error.message)


class ChannelsController(Controller):
    """渠道与店铺: per-shop webhook secret and pull settings. Admins only."""

    path = "/channels"
    tags = ["channels"]  # noqa: RUF012
    opt = {"permission": "settings.manage"}  # noqa: RUF012

    @get("/", name="channels:index")
    async def index(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        return page(
            request,
            "channels/page.html",
            shops=await services.list_shops(db_session),
            pullable=PULLABLE,
            new_secret=None,
            error=None,
            notice=None,
            focus_id=None,
        )

    @post("/{shop_id:int}/settings", name="channels:save", status_code=200, opt=refusals_shown_by(settings_refused))
    async def save(
        self, request: HTMXRequest, shop_id: int, data: Form, db_session: AsyncSession, actor: Actor, settings: Settings
    ) -> Template:
        shop = await services.update_shop_settings(
            db_session, settings.secret_key, shop_id, data, actor, client_ip(request)
        )
        return await shop_card(request, db_session, shop, notice=gettext("Saved."))

    @post("/{shop_id:int}/secret", name="channels:rotate_secret", status_code=200)
    async def rotate_secret(
        self, request: HTMXRequest, shop_id: int, db_session: AsyncSession, actor: Actor, settings: Settings
    ) -> Template:
        secret = await services.rotate_webhook_secret(
            db_session, settings.secret_key, shop_id, actor, client_ip(request)
        )
        return await shop_card(request, db_session, await db_session.get(Shop, shop_id), new_secret=secret)

    @post("/{shop_id:int}/pull", name="channels:pull", status_code=200)
    async def pull_now(self, request: HTMXRequest, shop_id: int, db_session: AsyncSession, actor: Actor) -> Template:
        """Pull now: the pull job runs in the background; the card shows its outcome when reloaded."""
        await services.request_pull(db_session, shop_id, actor, client_ip(request))
        return await shop_card(
            request, db_session, await db_session.get(Shop, shop_id), notice=gettext("Pull started.")
        )


class ChannelWebhookController(Controller):
    """Where platforms and the brand's own systems deliver orders."""

    path = "/api/v1/channels"
    tags = ["channels"]  # noqa: RUF012

    # Public to the app-wide guard (platforms cannot send our bearer tokens): the service checks the HMAC
    # signature or the ingest token itself, before it reads anything.
    @post(
        "/{channel:str}/orders",
        name="api:channel_orders",
        opt={"public": True},
        status_code=200,
        request_max_body_size=services.WEBHOOK_MAX_BYTES,
    )
    async def deliver(
        self,
        request: Request[Any, Any, Any],
        channel: str,
        state: State,
        settings: Settings,
        shop: Annotated[str | None, QueryParameter(name="shop", required=False)] = None,
        shop_header: Annotated[str | None, HeaderParameter(name=services.SHOP_HEADER, required=False)] = None,
        signature: Annotated[str | None, HeaderParameter(name=services.SIGNATURE_HEADER, required=False)] = None,
    ) -> Response[dict[str, Any]]:
        """Deliver one order (the platform's own payload) for a shop.

        Authenticate with ``X-Ruleflow-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the shop's
        webhook secret>`` or ``Authorization: Bearer <token with the ingest scope>``. Name the shop (its code)
        in ``X-Ruleflow-Shop`` or ``?shop=``. Redelivering is safe: the same content is recognised and ignored.
        """
        body = await request.body()
        try:
            result = await services.receive_webhook(
                state.db, settings, channel, shop_header or shop or "", body, signature, actor_of(request)
            )
        except services.WebhookRefused as exc:
            return Response(
                {"status_code": exc.status, "error": "refused", "detail": exc.reason}, status_code=exc.status
            )
        state.background.kick()
        if not result.ok:
            # 400: the body is not a JSON document we can read at all; 422: it is, but not an order within bounds.
            # Either way the payload is in the error queue (error_id), to be fixed and replayed.
            status = 400 if result.field == "body" else 422
            return Response(
                {
                    "status_code": status,
                    "error": "invalid order",
                    "field": result.field,
                    "detail": result.message,
                    "error_id": result.error_id,
                },
                status_code=status,
            )
        return Response({"outcome": result.outcome, "order_id": result.order_id})

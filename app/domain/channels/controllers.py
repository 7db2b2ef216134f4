"""Channel settings pages (shops: add, rename, enable/disable, secrets, pull schedule, last cursor, last error,
pull now), the shops API, the webhook, and the intake's pages under /orders: the ingest-error queue and the
CSV/Excel import."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, patch, post
from litestar.datastructures import State, UploadFile
from litestar.exceptions import NotFoundException
from litestar.params import HeaderParameter, JSONBody, QueryParameter
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Response, Template
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import actor_of
from app.domain.accounts.services import Actor
from app.domain.channels import aftersale_messages, imports, push, services, shops
from app.domain.channels.adapters import PULLABLE
from app.domain.channels.models import IngestError, OrderImport
from app.domain.orders import presentation
from app.domain.shops import services as shop_readers
from app.domain.shops.models import MAX_COMPLETE_AFTER_DAYS, MAX_PRESALE_BALANCE_HOURS, Channel, Shop
from app.errors import DomainError
from app.forms import MULTIPART_OVERHEAD_BYTES, Form, Upload, one
from app.i18n import gettext
from app.settings import Settings
from app.sheets import LIMITS, MAX_FILE_BYTES, export_sheet, import_upload, template_workbook, xlsx_download
from app.web import client_ip, page, refusals_shown_by


async def channels_page(
    request: HTMXRequest, db_session: AsyncSession, fragment: str | None = None, **context: Any
) -> Template:
    """渠道与店铺 (or, for htmx, one of its fragments), with every shop and the new-shop form."""
    defaults: dict[str, Any] = {
        "new_secret": None,
        "error": None,
        "notice": None,
        "focus_id": None,
        "new_shop": {},
        "new_shop_error": None,
        "new_shop_field": None,
        "sheet_result": None,
        "sheet_error": None,
    }
    return page(
        request,
        "channels/page.html",
        fragment,
        shops=await shop_readers.list_shops(db_session),
        pullable=PULLABLE,
        max_presale_hours=MAX_PRESALE_BALANCE_HOURS,
        max_complete_days=MAX_COMPLETE_AFTER_DAYS,
        message_keyed=push.MESSAGE_KEYED,
        channels=list(Channel),
        channel_label=presentation.helpers()["channel_label"],
        sheet=shops.shop_sheet(""),
        limits=LIMITS,
        **{**defaults, **context},
    )


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
    return await channels_page(
        request,
        db_session,
        "channels/_shop.html",
        shop=shop,
        focus_id=shop.id,
        new_secret=new_secret,
        error=error,
        notice=notice,
    )


async def settings_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    """The shop's card with the reason its settings were refused, showing them as stored."""
    shop = await shop_readers.shop_of(db_session, int(request.path_params["shop_id"]))
    return await shop_card(request, db_session, shop, error=error.message)


async def new_shop_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    """The page again with the reason in the new-shop form, what was typed kept (but the secrets)."""
    typed = {key: one(dict(await request.form()), key) for key in NEW_SHOP_SHOWN}
    return await channels_page(
        request, db_session, new_shop=typed, new_shop_error=error.message, new_shop_field=error.field
    )


#: What the new-shop form shows back after a refusal: all it asked but the secrets.
NEW_SHOP_SHOWN = ("channel", "code", "name", "api_base_url", "app_key", "pull_interval_minutes")
#: The fields of the new-shop form (the CSRF token is the middleware's).
NEW_SHOP_FIELDS = (*NEW_SHOP_SHOWN, "app_secret", "access_token")


class ChannelsController(Controller):
    """渠道与店铺: add shops, rename, enable or disable them, their webhook secret and pull settings. Admins only."""

    path = "/channels"
    tags = ["channels"]  # noqa: RUF012
    opt = {"permission": "settings.manage"}  # noqa: RUF012

    @get("/", name="channels:index")
    async def index(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        return await channels_page(request, db_session)

    @post("/new", name="channels:create", status_code=303, opt=refusals_shown_by(new_shop_refused))
    async def create(
        self, request: HTMXRequest, data: Form, db_session: AsyncSession, actor: Actor, settings: Settings
    ) -> Redirect:
        """新增店铺: the new shop's card is shown, in its place on the page."""
        values = {key: one(data, key) for key in NEW_SHOP_FIELDS}
        shop = await shops.create_shop(db_session, settings.secret_key, values, actor, client_ip(request))
        return Redirect(f"{request.app.route_reverse('channels:index')}#shop-{shop.id}", status_code=303)

    @post(
        "/sheet",
        name="channels:sheet_import",
        status_code=200,
        request_max_body_size=MAX_FILE_BYTES + MULTIPART_OVERHEAD_BYTES,
    )
    async def sheet_import(
        self, request: HTMXRequest, data: Upload, db_session: AsyncSession, actor: Actor, settings: Settings
    ) -> Template:
        """Import shops from Excel/CSV (nothing when a row is bad, or only the good rows, as chosen)."""
        sheet = shops.shop_sheet(settings.secret_key)
        outcome = await import_upload(db_session, sheet, data, actor, client_ip(request))
        response = await channels_page(request, db_session, sheet_result=outcome.result, sheet_error=outcome.error)
        response.status_code = outcome.status
        return response

    @get("/sheet/export", name="channels:sheet_export")
    async def sheet_export(self, db_session: AsyncSession) -> Response[bytes]:
        """Every shop as an .xlsx the import takes back unchanged (no secret is written)."""
        return xlsx_download(await export_sheet(db_session, shops.shop_sheet("")), "shops.xlsx")

    @get("/sheet/template", name="channels:sheet_template")
    async def sheet_template(self) -> Response[bytes]:
        return xlsx_download(template_workbook(shops.shop_sheet("")), "shops-template.xlsx")

    @post("/{shop_id:int}/profile", name="channels:profile", status_code=200, opt=refusals_shown_by(settings_refused))
    async def profile(
        self, request: HTMXRequest, shop_id: int, data: Form, db_session: AsyncSession, actor: Actor, settings: Settings
    ) -> Template:
        """Rename the shop."""
        shop = await shops.shop_with_id(db_session, shop_id)
        await shops.update_shop(
            db_session, settings.secret_key, shop, {"name": one(data, "name")}, actor, client_ip(request)
        )
        return await shop_card(request, db_session, shop, notice=gettext("Saved."))

    @post("/{shop_id:int}/active", name="channels:active", status_code=200, opt=refusals_shown_by(settings_refused))
    async def active(
        self, request: HTMXRequest, shop_id: int, data: Form, db_session: AsyncSession, actor: Actor, settings: Settings
    ) -> Template:
        """Enable or disable the shop: a disabled shop's webhooks are refused and its pulls stop."""
        shop = await shops.shop_with_id(db_session, shop_id)
        wanted = one(data, "is_active") == "on"
        await shops.update_shop(db_session, settings.secret_key, shop, {"is_active": wanted}, actor, client_ip(request))
        notice = gettext("The shop is enabled.") if wanted else gettext("The shop is disabled.")
        return await shop_card(request, db_session, shop, notice=notice)

    @post("/{shop_id:int}/settings", name="channels:save", status_code=200, opt=refusals_shown_by(settings_refused))
    async def save(
        self, request: HTMXRequest, shop_id: int, data: Form, db_session: AsyncSession, actor: Actor, settings: Settings
    ) -> Template:
        shop = await services.update_shop_settings(
            db_session, settings.secret_key, shop_id, data, actor, client_ip(request)
        )
        return await shop_card(request, db_session, shop, notice=gettext("Saved."))

    @post("/{shop_id:int}/push-key", name="channels:push_key", status_code=200, opt=refusals_shown_by(settings_refused))
    async def save_push_key(
        self, request: HTMXRequest, shop_id: int, data: Form, db_session: AsyncSession, actor: Actor, settings: Settings
    ) -> Template:
        """The key the platform encrypts its push with (快手 消息密钥), kept encrypted and never shown back."""
        shop = await push.save_message_key(db_session, settings.secret_key, shop_id, data, actor, client_ip(request))
        return await shop_card(request, db_session, shop, notice=gettext("Saved."))

    @post("/{shop_id:int}/secret", name="channels:rotate_secret", status_code=200)
    async def rotate_secret(
        self, request: HTMXRequest, shop_id: int, db_session: AsyncSession, actor: Actor, settings: Settings
    ) -> Template:
        secret = await services.rotate_webhook_secret(
            db_session, settings.secret_key, shop_id, actor, client_ip(request)
        )
        return await shop_card(request, db_session, await shop_readers.shop_of(db_session, shop_id), new_secret=secret)

    @post("/{shop_id:int}/pull", name="channels:pull", status_code=200, opt=refusals_shown_by(settings_refused))
    async def pull_now(self, request: HTMXRequest, shop_id: int, db_session: AsyncSession, actor: Actor) -> Template:
        """Pull now: the pull job runs in the background; the card shows its outcome when reloaded."""
        await services.request_pull(db_session, shop_id, actor, client_ip(request))
        return await shop_card(
            request, db_session, await shop_readers.shop_of(db_session, shop_id), notice=gettext("Pull started.")
        )


class ShopsApiController(Controller):
    """Shops for integrators: read with the ``read`` scope, add and change with the ``admin`` scope. No secret is
    ever given back (only whether it is set)."""

    path = "/api/v1/shops"
    tags = ["channels"]  # noqa: RUF012

    @get("/", name="api:shops", opt={"scope": "read"})
    async def list_shops(self, db_session: AsyncSession) -> Response[dict[str, Any]]:
        """Every shop, by channel then code."""
        return Response({"items": [shops.shop_read(s) for s in await shop_readers.list_shops(db_session)]})

    @post("/", name="api:shops_create", opt={"scope": "admin"}, status_code=201)
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[dict[str, Any]],
        db_session: AsyncSession,
        actor: Actor,
        settings: Settings,
    ) -> Response[dict[str, Any]]:
        """Add a shop: ``channel``, ``code``, ``name``; optionally ``is_active``, ``api_base_url``, ``app_key``,
        ``app_secret``, ``access_token``, ``pull_interval_minutes``."""
        shop = await shops.create_shop(db_session, settings.secret_key, data, actor, client_ip(request))
        return Response(shops.shop_read(shop), status_code=201)

    @get("/{code:str}", name="api:shop", opt={"scope": "read"})
    async def detail(self, code: str, db_session: AsyncSession) -> Response[dict[str, Any]]:
        """One shop by its code."""
        return Response(shops.shop_read(await shops.shop_named(db_session, code)))

    @patch("/{code:str}", name="api:shop_update", opt={"scope": "admin"})
    async def update(
        self,
        request: Request[Any, Any, Any],
        code: str,
        data: JSONBody[dict[str, Any]],
        db_session: AsyncSession,
        actor: Actor,
        settings: Settings,
    ) -> Response[dict[str, Any]]:
        """Change a shop's ``name``, ``is_active`` or pull settings; fields left out keep their values."""
        shop = await shops.shop_named(db_session, code)
        await shops.update_shop(db_session, settings.secret_key, shop, data, actor, client_ip(request))
        return Response(shops.shop_read(shop))


def refusal(exc: services.WebhookRefused) -> Response[dict[str, Any]]:
    """A webhook or push the caller could not prove it may send: its status and reason, nothing stored."""
    return Response({"status_code": exc.status, "error": "refused", "detail": exc.reason}, status_code=exc.status)


def kept_as_error(result: services.IngestResult, error: str) -> Response[dict[str, Any]]:
    """A delivery kept in the ingest-error queue (``error_id``), to be fixed and replayed: 400 when the body is not a
    JSON document we can read at all, 422 when it is but not what it should be."""
    status = 400 if result.field == "body" else 422
    return Response(
        {
            "status_code": status,
            "error": error,
            "field": result.field,
            "detail": result.message,
            "error_id": result.error_id,
        },
        status_code=status,
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
            return refusal(exc)
        state.background.kick()
        if not result.ok:
            return kept_as_error(result, "invalid order")
        return Response({"outcome": result.outcome, "order_id": result.order_id})

    # Public like the order webhook, and authenticated the same way before anything is read.
    @post(
        "/{channel:str}/aftersales",
        name="api:channel_aftersales",
        opt={"public": True},
        status_code=200,
        request_max_body_size=services.WEBHOOK_MAX_BYTES,
    )
    async def deliver_aftersale(
        self,
        request: Request[Any, Any, Any],
        channel: str,
        state: State,
        settings: Settings,
        shop: Annotated[str | None, QueryParameter(name="shop", required=False)] = None,
        shop_header: Annotated[str | None, HeaderParameter(name=services.SHOP_HEADER, required=False)] = None,
        signature: Annotated[str | None, HeaderParameter(name=services.SIGNATURE_HEADER, required=False)] = None,
    ) -> Response[dict[str, Any]]:
        """Deliver one refund / after-sale message (the platform's own: TOP's ``refund``, JD's ``RefundApplyVo``,
        视频号小店's ``after_sale_order``; see ``channels.aftersale_messages``) for a shop, authenticated as the order
        webhook is. It opens the after-sales case, or moves the one it opened on; delivering it again changes
        nothing. A message that cannot be read, or names an order we do not have, is kept in the ingest-error
        queue (422)."""
        body = await request.body()
        try:
            result = await services.receive_webhook(
                state.db,
                settings,
                channel,
                shop_header or shop or "",
                body,
                signature,
                actor_of(request),
                taker=aftersale_messages.take,
            )
        except services.WebhookRefused as exc:
            return refusal(exc)
        state.background.kick()
        if not result.ok:
            return kept_as_error(result, "invalid after-sale message")
        return Response({"outcome": result.outcome, "order_id": result.order_id, "case_id": result.case_id})

    # Public like the webhook: the platform signs with the shop's app secret, which the service checks first.
    @post(
        "/{channel:str}/push",
        name="api:channel_push",
        opt={"public": True},
        status_code=200,
        request_max_body_size=services.WEBHOOK_MAX_BYTES,
    )
    async def push(
        self,
        request: Request[Any, Any, Any],
        channel: str,
        state: State,
        settings: Settings,
        shop: Annotated[str | None, QueryParameter(name="shop", required=False)] = None,
    ) -> Response[dict[str, Any]]:
        """The platform's own message push (抖店 and 有赞 signed, 快手 encrypted) for a shop named by ``?shop=<code>``.

        Verified with the shop's app key and app secret as the platform signs, or opened with its message key
        (see ``channels.push``); a push whose time is more than 5 minutes off is refused, a message taken before is
        answered as a duplicate.
        """
        body = await request.body()
        try:
            result = await push.receive_push(state.db, settings, channel, shop or "", request.headers, body)
        except services.WebhookRefused as exc:
            return refusal(exc)
        state.background.kick()
        if result.invalid:
            # The order a message carried is in the error queue; the platform's redelivery is then a duplicate.
            return Response(
                {"status_code": 422, "error": "invalid order", "messages": result.messages}, status_code=422
            )
        # 抖店 and 有赞 take ``code`` 0, 快手 ``result`` 1 as "received", and stop redelivering.
        return Response({"code": 0, "result": 1, "msg": "success", "messages": result.messages})


def _orders_page(request: HTMXRequest, template: str, fragment: str | None = None, **context: Any) -> Template:
    """Render an intake page of the orders area, with the label helpers every order page uses."""
    return page(request, template, fragment, **presentation.helpers(), import_limits=imports.LIMITS, **context)


class IntakeController(Controller):
    """The ingest-error queue and the CSV/Excel import, under /orders."""

    path = "/orders"
    tags = ["orders"]  # noqa: RUF012
    opt = {"permission": "orders.read"}  # noqa: RUF012

    # --- ingest errors -------------------------------------------------------------------------------------

    @get("/errors", name="orders:errors")
    async def errors(self, request: HTMXRequest, db_session: AsyncSession, status: str = "open") -> Template:
        """The ingest-error queue: payloads that could not become orders, waiting to be fixed and replayed."""
        rows = await services.list_errors(db_session, status if status in ("open", "replayed", "discarded") else "")
        return _orders_page(
            request, "orders/errors.html", errors=rows, status=status, shops=await shop_readers.shops_by_id(db_session)
        )

    @get("/errors/{error_id:int}", name="orders:error")
    async def error(self, request: HTMXRequest, error_id: int, db_session: AsyncSession) -> Template:
        row = await db_session.get(IngestError, error_id)
        if row is None:
            raise NotFoundException()
        return _orders_page(request, "orders/error.html", error=row, payload=row.payload, result=None, original=False)

    @post(
        "/errors/{error_id:int}/payload",
        name="orders:reveal_error_payload",
        opt={"permission": "pii.reveal"},
        status_code=200,
    )
    async def reveal_error_payload(
        self, request: HTMXRequest, error_id: int, db_session: AsyncSession, actor: Actor, settings: Settings
    ) -> Template:
        """The payload as received, to read or fix and replay; every look is written to the audit log."""
        try:
            payload = await services.reveal_error_payload(
                db_session, settings.secret_key, error_id, actor, client_ip(request)
            )
        except LookupError as exc:
            raise NotFoundException() from exc
        row = await db_session.get(IngestError, error_id)
        return _orders_page(
            request,
            "orders/error.html",
            "orders/_error_form.html",
            error=row,
            payload=payload,
            result=None,
            original=True,
        )

    @post(
        "/errors/{error_id:int}/replay",
        name="orders:replay",
        opt={"permission": "orders.import"},
        status_code=200,
        # The corrected payload, up to a webhook's size, percent-encoded (which can triple it).
        request_max_body_size=3 * services.WEBHOOK_MAX_BYTES,
    )
    async def replay(
        self, request: HTMXRequest, error_id: int, data: Form, state: State, actor: Actor, settings: Settings
    ) -> Template:
        """Run the (corrected) payload through the pipeline again."""
        payload = one(data, "payload", strip=False)
        try:
            result = await services.replay_error(
                state.db, settings, error_id, payload, actor, client_ip(request), taker=aftersale_messages.take
            )
        except LookupError as exc:
            raise NotFoundException() from exc
        state.background.kick()
        async with state.db.reading() as session:
            row = await session.get(IngestError, error_id)
        # The form shows back what was typed (the original only if it was revealed and edited).
        response = _orders_page(
            request,
            "orders/error.html",
            "orders/_error_form.html",
            error=row,
            payload=payload,
            result=result,
            original=False,
        )
        if not result.ok:
            response.status_code = 422
        return response

    @post("/errors/{error_id:int}/discard", name="orders:discard", opt={"permission": "orders.import"}, status_code=200)
    async def discard(self, request: HTMXRequest, error_id: int, db_session: AsyncSession, actor: Actor) -> Template:
        try:
            await services.discard_error(db_session, error_id, actor, client_ip(request))
        except LookupError as exc:
            raise NotFoundException() from exc
        row = await db_session.get(IngestError, error_id)
        return _orders_page(
            request,
            "orders/error.html",
            "orders/_error_form.html",
            error=row,
            payload=row.payload if row else "",
            result=None,
            original=False,
        )

    # --- import --------------------------------------------------------------------------------------------

    @get("/import", name="orders:import", opt={"permission": "orders.import"})
    async def import_page(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        """Upload a CSV or Excel file of orders; it is read in the background with a progress bar."""
        return _orders_page(request, "orders/import.html", job=None, error=None)

    @post(
        "/import",
        name="orders:import_upload",
        opt={"permission": "orders.import"},
        status_code=200,
        request_max_body_size=imports.MAX_FILE_BYTES + MULTIPART_OVERHEAD_BYTES,
    )
    async def upload(
        self, request: HTMXRequest, data: Upload, db_session: AsyncSession, actor: Actor, settings: Settings
    ) -> Template:
        """Store the file and answer at once with the progress bar; the worker reads it."""
        upload = data.get("file")
        if not isinstance(upload, UploadFile):
            return self._import_error(request, gettext("Choose a CSV or Excel file to import."))
        content = await upload.read()
        try:
            job = await imports.create_import(
                db_session, settings, upload.filename or "orders.csv", content, actor, client_ip(request)
            )
        except imports.ImportFileError as exc:
            reason = exc.message
            return self._import_error(request, gettext("This file cannot be imported: %(reason)s") % {"reason": reason})
        return _orders_page(request, "orders/import.html", "orders/_import_progress.html", job=job, error=None)

    @get("/import/{import_id:int}", name="orders:import_progress", opt={"permission": "orders.import"})
    async def import_progress(self, request: HTMXRequest, import_id: int, db_session: AsyncSession) -> Template:
        """The progress bar; it polls itself until the import is done."""
        job = await db_session.get(OrderImport, import_id)
        if job is None:
            raise NotFoundException()
        return _orders_page(request, "orders/import.html", "orders/_import_progress.html", job=job, error=None)

    def _import_error(self, request: HTMXRequest, message: str) -> Template:
        response = _orders_page(request, "orders/import.html", "orders/_import_progress.html", job=None, error=message)
        response.status_code = 400
        return response

"""The Litestar application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.logging.config import LoggingConfig
from litestar.openapi.config import OpenAPIConfig
from litestar.plugins.htmx import ClientRedirect, HTMXPlugin
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router

from app import demo_history, i18n
from app.auth import CallerMiddleware, access_guard, is_api_path
from app.csrf import CsrfMiddleware
from app.db import Database
from app.domain.accounts.controllers import AuthController, SettingsController
from app.domain.aftersales.controllers import AfterSalesController
from app.domain.channels.controllers import (
    ChannelsController,
    ChannelWebhookController,
    IntakeController,
    ShopsApiController,
)
from app.domain.finance.controllers import FinanceController
from app.domain.finance.ledger_controllers import LedgerController
from app.domain.finance.reconcile_controllers import ReconcileController
from app.domain.finance.voucher_controllers import (
    FinanceApiController,
    VoucherExportsController,
    VouchersController,
)
from app.domain.flows.controllers import FlowsApiController, FlowsController
from app.domain.fulfillment.controllers import (
    CarrierRatesController,
    CarriersApiController,
    CarriersController,
    FulfillmentController,
    MessageTemplatesController,
    SandboxCarrierController,
    SandboxTrackingController,
    ShipmentsApiController,
)
from app.domain.inventory.controllers import (
    CatalogueController,
    InventoryApiController,
    InventoryController,
    SkuApiController,
    StockApiController,
    WarehousesApiController,
)
from app.domain.inventory.sku_mapping_controllers import SkuMappingApiController, SkuMappingController
from app.domain.orders.controllers import OrdersApiController, OrdersController
from app.domain.processing.controllers import (
    FlowHitsController,
    OrderApiController,
    OrderDetailController,
    ProcessingController,
)
from app.domain.reports.controllers import ReportsController
from app.domain.webhooks.controllers import WebhooksApiController, WebhooksController
from app.errors import DomainError
from app.forms import FORM_MAX_BYTES, BodyTooLarge, FormLimitMiddleware, too_large_message
from app.i18n import gettext
from app.json_input import AppRequest
from app.params import usable_parameters
from app.security import add_security_headers
from app.settings import PROJECT_ROOT, Settings, get_settings
from app.system import HealthController, HomeController, SystemApiController
from app.templating import template_config
from app.web import (
    REFUSAL_VIEW,
    RefusalPage,
    end_request_transaction,
    open_request_transaction,
    provide_actor,
    provide_db_session,
)
from app.worker import EmbeddedWorker, background_for


def _wants_json(request: Request[Any, Any, Any]) -> bool:
    return is_api_path(request.url.path) or request.url.path == "/healthz"


def _error_page(request: Request[Any, Any, Any], status: int, title: str, message: str) -> Response[Any]:
    if _wants_json(request):
        return Response({"status_code": status, "error": title, "detail": message}, status_code=status)
    return Template(
        "errors/error.html",
        status_code=status,
        context={"status": status, "title": title, "message": message, "actor": request.scope.get("auth")},
    )


def on_not_authorized(request: Request[Any, Any, Any], exc: NotAuthorizedException) -> Response[Any]:
    if _wants_json(request):
        return Response(
            {"status_code": 401, "error": "unauthorized", "detail": exc.detail},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = f"/login?next={quote(wanted, safe='/')}"
    if request.headers.get("hx-request"):
        return ClientRedirect(target)
    return Redirect(target, status_code=303)


def on_forbidden(request: Request[Any, Any, Any], exc: PermissionDeniedException) -> Response[Any]:
    if "CSRF" in str(exc.detail):
        return _error_page(
            request,
            403,
            gettext("Form expired"),
            gettext("This form is out of date or was not sent from our page. Reload the page and try again."),
        )
    return _error_page(
        request,
        403,
        gettext("Not allowed"),
        gettext("Your role does not allow this page. Ask an administrator if you need it."),
    )


def on_not_found(request: Request[Any, Any, Any], exc: NotFoundException) -> Response[Any]:
    return _error_page(request, 404, gettext("Not found"), gettext("There is nothing at this address."))


def on_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    if _wants_json(request):
        return Response(
            {"status_code": 400, "error": "invalid request", "detail": exc.detail, "extra": exc.extra}, status_code=400
        )
    return _error_page(
        request,
        400,
        gettext("Invalid request"),
        gettext("Some of what was sent could not be understood. Go back and check the form."),
    )


def on_domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    """Any refusal, in the request's language: JSON for the API (and for a JSON body, as the flow editor
    sends), else the page's own display of it.

    A route whose page shows refusals in place names its view with :func:`app.web.refusals_shown_by`; other
    htmx requests get the refusal as a fragment, a plain page the error page. The request's transaction was
    rolled back before this runs (the handler raised), so what a view reads is what is stored.
    """
    if _wants_json(request) or request.content_type[0] == "application/json":
        return Response(exc.body(), status_code=exc.status)
    if exc.status == 404:
        # Nothing there: the same page as any unknown address.
        return on_not_found(request, NotFoundException(exc.message))
    view = request.route_handler.opt.get(REFUSAL_VIEW)
    if view is not None and exc.in_place:
        return RefusalPage(view, request, exc)
    if request.headers.get("hx-request") and exc.in_place:
        return Template(
            "errors/_refusal.html",
            status_code=exc.status,
            context={"message": exc.message, "code": exc.code, "field": exc.field},
        )
    return _error_page(request, exc.status, gettext(exc.title), exc.message)


def on_too_large(request: Request[Any, Any, Any], exc: RequestEntityTooLarge) -> Response[Any]:
    # Litestar's own refusal (the route's request_max_body_size) says only "Request Entity Too Large".
    message = (
        str(exc.detail)
        if isinstance(exc, BodyTooLarge)
        else too_large_message(request.route_handler.resolve_request_max_body_size())
    )
    return _error_page(request, 413, gettext("Request too large"), message)


def on_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    return _error_page(request, exc.status_code, str(exc.detail), str(exc.detail))


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the web application; tests pass their own settings."""
    settings = settings or get_settings()
    i18n.compile_catalogs()
    db = Database(settings)
    background = background_for(db, settings)
    # A demo history that `seed-demo --background` began is made on beside the embedded worker (it takes the
    # worker's turn for each of its steps); with Redis the workers are elsewhere and `seed-demo` makes it.
    history = (
        demo_history.BackgroundHistory(db, settings, background)
        if isinstance(background, EmbeddedWorker) and settings.is_development
        else None
    )

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        background.start()
        if history is not None:
            history.start()
        try:
            yield
        finally:
            if history is not None:
                await history.stop()
            await background.stop()
            await db.dispose()

    static = create_static_files_router(
        path="/static",
        directories=[PROJECT_ROOT / "static"],
        opt={"public": True},
        include_in_schema=False,
        name="static",
    )
    return Litestar(
        route_handlers=[
            HomeController,
            HealthController,
            SystemApiController,
            AuthController,
            SettingsController,
            WebhooksController,
            WebhooksApiController,
            OrdersController,
            OrderDetailController,
            OrderApiController,
            IntakeController,
            OrdersApiController,
            ProcessingController,
            AfterSalesController,
            ChannelsController,
            ChannelWebhookController,
            ShopsApiController,
            InventoryController,
            InventoryApiController,
            StockApiController,
            CatalogueController,
            SkuApiController,
            SkuMappingController,
            SkuMappingApiController,
            WarehousesApiController,
            FlowsController,
            FlowsApiController,
            FlowHitsController,
            FinanceController,
            LedgerController,
            ReconcileController,
            VouchersController,
            VoucherExportsController,
            FinanceApiController,
            ReportsController,
            FulfillmentController,
            CarriersController,
            CarrierRatesController,
            MessageTemplatesController,
            CarriersApiController,
            ShipmentsApiController,
            # Off in production unless SANDBOX_CARRIER is on: it hands out waybill numbers to whoever signs.
            *([SandboxCarrierController, SandboxTrackingController] if settings.sandbox_carrier else []),
            static,
        ],
        state=State({"settings": settings, "db": db, "background": background, "demo_history": history}),
        dependencies={
            "db_session": Provide(provide_db_session),
            "actor": Provide(provide_actor, sync_to_thread=False),
            "settings": Provide(lambda: settings, sync_to_thread=False, use_cache=True),
        },
        guards=[access_guard, usable_parameters],
        # The caller is resolved first: the CSRF token is bound to the session it finds.
        # Oversized forms are refused before the CSRF check parses them.
        middleware=[CallerMiddleware(), FormLimitMiddleware(), CsrfMiddleware()],
        request_max_body_size=FORM_MAX_BYTES,
        before_send=[add_security_headers],
        # The request's transaction commits only when its response succeeds (app.web).
        before_request=open_request_transaction,
        after_request=end_request_transaction,
        plugins=[HTMXPlugin()],
        request_class=AppRequest,
        template_config=template_config(),
        exception_handlers={
            NotAuthorizedException: on_not_authorized,
            PermissionDeniedException: on_forbidden,
            NotFoundException: on_not_found,
            ValidationException: on_validation,
            DomainError: on_domain_error,
            RequestEntityTooLarge: on_too_large,
            HTTPException: on_http_error,
        },
        openapi_config=OpenAPIConfig(title="Ruleflow OMS", version="0.1.0", path="/schema"),
        lifespan=[lifespan],
        logging_config=LoggingConfig(
            log_exceptions="always", disable_stack_trace={400, 401, 403, 404, 405, 413, DomainError}
        ),
        debug=False,
    )

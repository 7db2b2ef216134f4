"""设置 → 事件订阅: an admin's subscriptions to outbound events and every delivery with its answers."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.params import QueryParameter
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Response, Template
from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.accounts.services import Actor
from app.domain.webhooks import services
from app.domain.webhooks.models import DeliveryStatus, SubscriptionKind
from app.errors import DomainError
from app.forms import Form, many, one
from app.i18n import gettext, labeller
from app.params import MAX_ID, parse_limit
from app.settings import Settings
from app.web import page, refusals_shown_by


async def webhooks_page(
    request: HTMXRequest,
    db_session: AsyncSession,
    *,
    fragment: str | None = None,
    subscription_id: int | None = None,
    status: str = "",
    **extra: Any,
) -> Template:
    """The page (or one of its fragments for htmx): subscriptions, the form for a new one, recent deliveries."""
    context: dict[str, Any] = {
        "subscriptions": await services.list_subscriptions(db_session),
        "deliveries": await services.recent_deliveries(db_session, subscription_id=subscription_id, status=status),
        "kinds": list(SubscriptionKind),
        "choices": {kind.value: [event.value for event in events] for kind, events in services.CHOICES.items()},
        "statuses": list(DeliveryStatus),
        "filter_subscription": subscription_id,
        "filter_status": status,
        "event_label": labeller(services.EVENT_LABELS),
        "kind_label": labeller(services.KIND_LABELS),
        "delivery_status_label": labeller(services.STATUS_LABELS),
        "error": None,
        #: Which list shows the refusal: subscriptions or deliveries.
        "error_in": "",
        "notice": None,
        "new_secret": None,
        "form": {},
        **extra,
    }
    return page(request, "webhooks/page.html", fragment, **context)


async def subscription_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    """The subscriptions again with the reason, and the new subscription's form as it was filled in."""
    data = await request.form()
    form = {name: data.get(name, "") for name in ("name", "kind", "url", "held_threshold")}
    form["events"] = data.getall("events", [])
    return await webhooks_page(
        request,
        db_session,
        fragment="webhooks/_subscriptions.html",
        error=error.message,
        error_in="subscriptions",
        form=form,
    )


async def delivery_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    """The deliveries again with the reason."""
    return await webhooks_page(
        request, db_session, fragment="webhooks/_deliveries.html", error=error.message, error_in="deliveries"
    )


SUBSCRIPTION_FORM = refusals_shown_by(subscription_refused)
DELIVERY_FORM = refusals_shown_by(delivery_refused)


class WebhooksController(Controller):
    """事件订阅 / Webhooks. Admins only."""

    path = "/settings/webhooks"
    tags = ["settings"]  # noqa: RUF012
    opt = {"permission": "settings.manage"}  # noqa: RUF012

    @get("/", name="webhooks:index")
    async def index(
        self,
        request: HTMXRequest,
        db_session: AsyncSession,
        subscription: Annotated[int | None, QueryParameter(name="subscription", ge=1, le=MAX_ID)] = None,
        status: Annotated[str | None, QueryParameter(name="status")] = None,
    ) -> Template:
        """The page; htmx asking for the deliveries (a filter, a refresh) gets that list alone."""
        return await webhooks_page(
            request,
            db_session,
            fragment="webhooks/_deliveries.html",
            subscription_id=subscription,
            status=status or "",
        )

    @post("/", name="webhooks:create", status_code=200, opt=SUBSCRIPTION_FORM)
    async def create(
        self, request: HTMXRequest, data: Form, db_session: AsyncSession, actor: Actor, settings: Settings
    ) -> Template:
        form = services.SubscriptionForm(
            name=one(data, "name"),
            kind=one(data, "kind"),
            url=one(data, "url"),
            events=many(data, "events"),
            secret=one(data, "secret"),
            held_threshold=one(data, "held_threshold"),
        )
        subscription, secret = await services.create_subscription(db_session, settings, form, actor)
        return await webhooks_page(
            request, db_session, fragment="webhooks/_subscriptions.html", new_secret=secret, focus=subscription.id
        )

    @post("/{subscription_id:int}/enable", name="webhooks:enable", status_code=200, opt=SUBSCRIPTION_FORM)
    async def enable(
        self, request: HTMXRequest, subscription_id: int, db_session: AsyncSession, actor: Actor
    ) -> Template:
        await services.set_enabled(db_session, subscription_id, True, actor)
        return await webhooks_page(request, db_session, fragment="webhooks/_subscriptions.html")

    @post("/{subscription_id:int}/disable", name="webhooks:disable", status_code=200, opt=SUBSCRIPTION_FORM)
    async def disable(
        self, request: HTMXRequest, subscription_id: int, db_session: AsyncSession, actor: Actor
    ) -> Template:
        await services.set_enabled(db_session, subscription_id, False, actor)
        return await webhooks_page(request, db_session, fragment="webhooks/_subscriptions.html")

    @post("/{subscription_id:int}/secret", name="webhooks:rotate_secret", status_code=200, opt=SUBSCRIPTION_FORM)
    async def rotate_secret(
        self, request: HTMXRequest, subscription_id: int, db_session: AsyncSession, actor: Actor, settings: Settings
    ) -> Template:
        secret = await services.rotate_secret(db_session, settings, subscription_id, actor)
        return await webhooks_page(
            request, db_session, fragment="webhooks/_subscriptions.html", new_secret=secret, focus=subscription_id
        )

    @post("/deliveries/{delivery_id:int}/retry", name="webhooks:retry", status_code=200, opt=DELIVERY_FORM)
    async def retry(self, request: HTMXRequest, delivery_id: int, db_session: AsyncSession, actor: Actor) -> Template:
        await services.retry_delivery(db_session, delivery_id, actor)
        return await webhooks_page(
            request,
            db_session,
            fragment="webhooks/_deliveries.html",
            notice=gettext("The delivery will be sent again shortly."),
        )


class WebhooksApiController(Controller):
    """Subscriptions and deliveries for integrators (API tokens with the ``admin`` scope)."""

    path = "/api/v1/webhooks"
    tags = ["settings"]  # noqa: RUF012
    opt = {"scope": "admin"}  # noqa: RUF012

    @get("/", name="api:webhooks")
    async def subscriptions(self, db_session: AsyncSession) -> Response[dict[str, Any]]:
        """Every subscription: kind, URL (query values masked), events, on or off; never a secret."""
        found = await services.list_subscriptions(db_session)
        return Response({"items": [services.api_subscription(s) for s in found]})

    @get("/deliveries", name="api:webhook_deliveries")
    async def deliveries(
        self, db_session: AsyncSession, subscription: str = "", status: str = "", cursor: str = "", limit: str = ""
    ) -> Response[dict[str, Any]]:
        """Deliveries newest first, with status, attempts, next try and every answer; ``next_cursor`` pages on."""
        size = parse_limit(limit, maximum=services.API_DELIVERY_LIMIT, default=services.API_DELIVERY_PAGE)
        return Response(
            await services.api_deliveries(
                db_session, subscription=subscription, status=status, cursor=cursor, limit=size
            )
        )

"""Pages of the orders area: the unified list; and the read API's order list.

The order's detail page and the read API's one order show where it stands with processing, so they are served
by ``processing.controllers``; the ingest-error queue and the CSV/Excel import are the intake's, served by
``channels.controllers``.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.di import Provide
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Response, Template
from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.orders import presentation, services
from app.domain.orders.models import OrderStatus
from app.domain.shops import services as shop_readers
from app.domain.shops.models import Channel
from app.params import parse_limit
from app.web import page


def provide_list_query(
    channel: str = "",
    shop: str = "",
    status: str = "",
    date_from: str = "",
    date_to: str = "",
    province: str = "",
    tag: str = "",
    sku: str = "",
    q: str = "",
) -> dict[str, str]:
    """The order list's filters as typed into the query string, by name: declared once for the page and the API
    (a dependency, so that Litestar reads and documents them as query parameters of both)."""
    return dict(locals())


def _page(request: HTMXRequest, template: str, fragment: str | None = None, **context: Any) -> Template:
    """Render with the label helpers every order page uses."""
    return page(request, template, fragment, **presentation.helpers(), **context)


class OrdersController(Controller):
    path = "/orders"
    tags = ["orders"]  # noqa: RUF012
    opt = {"permission": "orders.read"}  # noqa: RUF012

    dependencies = {"list_query": Provide(provide_list_query, sync_to_thread=False)}  # noqa: RUF012

    @get("/", name="orders:index")
    async def index(
        self, request: HTMXRequest, db_session: AsyncSession, list_query: dict[str, str], after: str = ""
    ) -> Template:
        """订单: every channel's orders in one list, filtered, newest first, keyset-paginated."""
        filters = services.OrderFilters.from_query(list_query)
        date_from, date_to = list_query["date_from"], list_query["date_to"]
        rows, next_cursor = await services.list_orders(db_session, filters, after=after or None)
        query = {**filters.as_query(), "date_from": date_from, "date_to": date_to}
        return _page(
            request,
            "orders/page.html",
            "orders/_rows.html",
            orders=rows,
            next_cursor=next_cursor,
            filters=filters,
            query={key: value for key, value in query.items() if value},
            date_from=date_from,
            date_to=date_to,
            shops=await shop_readers.shops_by_id(db_session),
            channels=list(Channel),
            statuses=list(OrderStatus),
            is_continuation=bool(after),
        )


class OrdersApiController(Controller):
    """Machine access to orders (API tokens with the ``read`` scope)."""

    path = "/api/v1/orders"
    tags = ["orders"]  # noqa: RUF012
    opt = {"scope": "read"}  # noqa: RUF012

    dependencies = {"list_query": Provide(provide_list_query, sync_to_thread=False)}  # noqa: RUF012

    @get("/", name="api:orders")
    async def orders(
        self, db_session: AsyncSession, list_query: dict[str, str], cursor: str = "", limit: str = ""
    ) -> Response[dict[str, Any]]:
        """The order list's filters and keyset paging: canonical orders, masked, newest first; ``next_cursor``."""
        filters = services.OrderFilters.from_query(list_query, strict=True)
        size = parse_limit(limit, maximum=services.API_PAGE_LIMIT, default=services.PAGE_SIZE)
        return Response(await services.api_orders(db_session, filters, cursor=cursor or None, limit=size))

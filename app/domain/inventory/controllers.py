"""库存: the global stock page, a SKU's page with its ledger, stock counts, warehouse settings, channel stock
rules, and the read API the channel jobs use for stock sync."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.exceptions import NotFoundException
from litestar.params import QueryParameter
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Response, Template
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import utcnow
from app.domain.accounts.services import Actor
from app.domain.inventory import services
from app.domain.inventory.models import WarehouseKind
from app.domain.inventory.services import InventoryError, WarehouseForm
from app.forms import Form, one
from app.params import parse_int
from app.web import client_ip, page


def _int(data: dict[str, Any], name: str, default: int | None = None) -> int:
    """A whole number from a form field, or an InventoryError naming the field."""
    raw = one(data, name)
    if not raw and default is not None:
        return default
    value = parse_int(raw)
    if value is None:
        raise InventoryError("bad_number", f"{name} 须为整数", field=name)
    return value


def parse_count_lines(raw: str) -> dict[str, int]:
    """Counted quantities typed one per line as ``SKU quantity`` (space, tab, comma or = between)."""
    counted: dict[str, int] = {}
    for number, line in enumerate(raw.splitlines(), start=1):
        parts = line.replace(",", " ").replace("=", " ").replace("，", " ").split()
        if not parts:
            continue
        qty = parse_int(parts[1]) if len(parts) == 2 else None
        if qty is None:
            raise InventoryError("bad_line", f"第 {number} 行应为「SKU 数量」", field="lines")
        counted[parts[0]] = qty
    return counted


async def _error_page(
    request: HTMXRequest, db_session: AsyncSession, template: str, error: InventoryError, **context: Any
) -> Template:
    """The page again with the reason. The caller has rolled the request's transaction back (so nothing
    changed) before loading ``context``; rolling back again here would expire what it loaded."""
    response = page(request, template, error=error.message, error_field=error.field, **context)
    response.status_code = 400
    return response


class InventoryController(Controller):
    path = "/inventory"
    tags = ["inventory"]  # noqa: RUF012
    opt = {"permission": "inventory.read"}  # noqa: RUF012

    @get("/", name="inventory:index")
    async def index(
        self,
        request: HTMXRequest,
        db_session: AsyncSession,
        category: Annotated[str | None, QueryParameter(name="category")] = None,
        warehouse: Annotated[str | None, QueryParameter(name="warehouse")] = None,
        live: Annotated[str | None, QueryParameter(name="live")] = None,
    ) -> Template:
        """SKU × warehouse grid with how old each SKU's published channel stock is; htmx asks for just the grid
        when filtering or refreshing live."""
        grid = await services.stock_grid(db_session, category=category or None, warehouse=warehouse or None)
        return page(
            request,
            "inventory/page.html",
            "inventory/_grid.html",
            grid=grid,
            freshness=await services.channel_freshness(db_session, [row.sku.code for row in grid.rows]),
            now=utcnow(),
            all_warehouses=await services.list_warehouses(db_session),
            low_stock=await services.low_stock_alerts(db_session),
            shortfalls=await services.channel_shortfalls(db_session),
            category=category or "",
            warehouse=warehouse or "",
            live=bool(live),
        )

    @get("/sku/{code:str}", name="inventory:sku")
    async def sku(self, request: HTMXRequest, code: str, db_session: AsyncSession) -> Template:
        return page(request, "inventory/sku.html", **await self._sku_context(db_session, code))

    async def _sku_context(self, db_session: AsyncSession, code: str) -> dict[str, Any]:
        sku = await services.get_sku(db_session, code)
        if sku is None:
            raise NotFoundException(f"no SKU {code}")
        shops = {s.id: s for s in await services.list_shops(db_session)}
        channel = [(c, shops.get(c.shop_id)) for c in await services.channel_stock_for_sku(db_session, code)]
        parts = (await services.bundle_components(db_session, [code])).get(code, [])
        return {
            "sku": sku,
            "stock": await services.sku_stock(db_session, code),
            "moves": await services.ledger(db_session, sku_code=code, limit=200),
            "warehouses": await services.list_warehouses(db_session),
            "channel": channel,
            "freshness": (await services.channel_freshness(db_session, [code]))[code],
            "now": utcnow(),
            "parts": parts,
            "bundle_available": await services.stock_by_warehouse(db_session, [code]) if parts else {},
        }

    async def _sku_action(
        self, request: HTMXRequest, db_session: AsyncSession, code: str, action: Callable[[], Awaitable[None]]
    ) -> Template | Redirect:
        try:
            await action()
        except InventoryError as exc:
            await db_session.rollback()
            context = await self._sku_context(db_session, code)
            return await _error_page(request, db_session, "inventory/sku.html", exc, **context)
        return Redirect(request.app.route_reverse("inventory:sku", code=code), status_code=303)

    @post("/sku/{code:str}/receive", name="inventory:receive", opt={"permission": "inventory.adjust"}, status_code=303)
    async def receive(
        self, request: HTMXRequest, code: str, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Template | Redirect:
        async def act() -> None:
            await services.receive(
                db_session, one(data, "warehouse"), code, _int(data, "qty"), actor, note=one(data, "note")
            )

        return await self._sku_action(request, db_session, code, act)

    @post(
        "/sku/{code:str}/transfer", name="inventory:transfer", opt={"permission": "inventory.adjust"}, status_code=303
    )
    async def transfer(
        self, request: HTMXRequest, code: str, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Template | Redirect:
        async def act() -> None:
            await services.transfer(
                db_session,
                one(data, "from_warehouse"),
                one(data, "to_warehouse"),
                code,
                _int(data, "qty"),
                actor,
                note=one(data, "note"),
            )

        return await self._sku_action(request, db_session, code, act)

    @post("/sku/{code:str}/safety", name="inventory:safety", opt={"permission": "inventory.adjust"}, status_code=303)
    async def safety(
        self, request: HTMXRequest, code: str, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Template | Redirect:
        async def act() -> None:
            await services.set_safety_stock(
                db_session, one(data, "warehouse"), code, _int(data, "safety_stock"), actor, ip=client_ip(request)
            )

        return await self._sku_action(request, db_session, code, act)

    @post(
        "/sku/{code:str}/threshold", name="inventory:threshold", opt={"permission": "inventory.adjust"}, status_code=303
    )
    async def threshold(
        self, request: HTMXRequest, code: str, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Template | Redirect:
        async def act() -> None:
            await services.set_low_stock_threshold(db_session, code, _int(data, "low_stock_threshold"), actor)

        return await self._sku_action(request, db_session, code, act)

    @get("/counts", name="inventory:counts")
    async def counts(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        return page(request, "inventory/counts.html", **await self._counts_context(db_session))

    async def _counts_context(self, db_session: AsyncSession) -> dict[str, Any]:
        return {
            "warehouses": await services.list_warehouses(db_session),
            "counts": await services.recent_counts(db_session),
        }

    @post("/counts", name="inventory:count_submit", opt={"permission": "inventory.adjust"}, status_code=303)
    async def count_submit(
        self, request: HTMXRequest, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Template | Redirect:
        try:
            await services.record_count(
                db_session,
                one(data, "warehouse"),
                parse_count_lines(one(data, "lines", strip=False)),
                actor,
                note=one(data, "note"),
            )
        except InventoryError as exc:
            await db_session.rollback()
            return await _error_page(
                request,
                db_session,
                "inventory/counts.html",
                exc,
                lines=one(data, "lines", strip=False),
                **await self._counts_context(db_session),
            )
        return Redirect(request.app.route_reverse("inventory:counts"), status_code=303)

    @get("/warehouses", name="inventory:warehouses", opt={"permission": "inventory.manage"})
    async def warehouses(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        return page(request, "inventory/warehouses.html", **await self._warehouse_context(db_session))

    async def _warehouse_context(self, db_session: AsyncSession) -> dict[str, Any]:
        return {
            "warehouses": await services.list_warehouses(db_session),
            "kinds": list(WarehouseKind),
            "shops": await services.list_shops(db_session),
            "rules": await services.channel_rules(db_session),
        }

    @post("/warehouses", name="inventory:warehouse_save", opt={"permission": "inventory.manage"}, status_code=303)
    async def warehouse_save(
        self, request: HTMXRequest, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Template | Redirect:
        try:
            form = WarehouseForm(
                code=one(data, "code"),
                name=one(data, "name"),
                kind=one(data, "kind"),
                province=one(data, "province"),
                city=one(data, "city"),
                priority=_int(data, "priority", 100),
                serves_regions=one(data, "serves_regions").replace("、", ",").replace("，", ",").split(","),
                per_order_fen=_int(data, "per_order_fen", 0),
                per_item_fen=_int(data, "per_item_fen", 0),
                is_active=one(data, "is_active") in ("on", "true", "1"),
            )
            await services.save_warehouse(db_session, form, actor, ip=client_ip(request))
        except InventoryError as exc:
            await db_session.rollback()
            return await _error_page(
                request, db_session, "inventory/warehouses.html", exc, **await self._warehouse_context(db_session)
            )
        return Redirect(request.app.route_reverse("inventory:warehouses"), status_code=303)

    @post("/channel-rules", name="inventory:channel_rule", opt={"permission": "inventory.manage"}, status_code=303)
    async def channel_rule(
        self, request: HTMXRequest, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Template | Redirect:
        try:
            await services.set_channel_rule(
                db_session,
                _int(data, "shop_id"),
                one(data, "sku") or None,
                _int(data, "ratio_pct"),
                _int(data, "buffer", 0),
                actor,
            )
        except InventoryError as exc:
            await db_session.rollback()
            return await _error_page(
                request, db_session, "inventory/warehouses.html", exc, **await self._warehouse_context(db_session)
            )
        return Redirect(request.app.route_reverse("inventory:warehouses"), status_code=303)


class InventoryApiController(Controller):
    """Machine access for the channel jobs (API tokens with the ``read`` scope)."""

    path = "/api/v1/inventory"
    tags = ["inventory"]  # noqa: RUF012
    opt = {"scope": "read"}  # noqa: RUF012

    @get("/channel-stock", name="api:channel_stock")
    async def channel_stock(
        self, db_session: AsyncSession, shop: Annotated[str | None, QueryParameter(name="shop")] = None
    ) -> Response[dict[str, Any]]:
        """What one shop should publish per SKU: available × ratio − buffer, never negative."""
        if not shop:
            return Response(
                {"status_code": 400, "error": "bad request", "field": "shop", "detail": "shop is required"},
                status_code=400,
            )
        found = await services.find_shop(db_session, shop)
        if found is None or found.id is None:
            return Response(
                {"status_code": 404, "error": "not found", "field": "shop", "detail": f"no shop {shop}"},
                status_code=404,
            )
        rows = await services.channel_stock(db_session, found.id)
        return Response(
            {
                "shop": {"id": found.id, "code": found.code, "channel": found.channel.value},
                "items": [
                    {
                        "sku": r.sku_code,
                        "quantity": r.quantity,
                        "available": r.available,
                        "shortfall": r.shortfall,
                        "computed_at": r.computed_at.isoformat(),
                    }
                    for r in rows
                ],
            }
        )

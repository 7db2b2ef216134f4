"""库存: the global stock page, a SKU's page with its ledger, stock counts, warehouse settings, channel stock
rules, the catalogue (商品: SKUs and bundles, their sheets), and the APIs for stock sync, stock and SKUs."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, patch, post
from litestar.exceptions import NotFoundException
from litestar.params import JSONBody, QueryParameter
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Response, Template
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import may
from app.db import utcnow
from app.domain.accounts.services import Actor
from app.domain.inventory import catalogue, services, sku_mappings, warehouses
from app.domain.inventory.models import WarehouseKind
from app.domain.inventory.services import InventoryError, WarehouseForm
from app.domain.shops import services as shop_readers
from app.errors import DomainError
from app.forms import MULTIPART_OVERHEAD_BYTES, Form, Upload, one
from app.params import parse_int, parse_limit
from app.sheets import (
    LIMITS,
    MAX_FILE_BYTES,
    Sheet,
    export_sheet,
    import_upload,
    read_values,
    template_workbook,
    xlsx_download,
)
from app.web import client_ip, page, refusals_shown_by


def _int(data: dict[str, Any], name: str, default: int | None = None) -> int:
    """A whole number from a form field, or an InventoryError naming the field."""
    raw = one(data, name)
    if not raw and default is not None:
        return default
    value = parse_int(raw)
    if value is None:
        raise InventoryError("bad_number", "not_whole", field=name, name=name)
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
            raise InventoryError("bad_line", field="lines", line=number)
        counted[parts[0]] = qty
    return counted


async def sku_context(db_session: AsyncSession, code: str) -> dict[str, Any]:
    """What a SKU's page shows: its stock per warehouse, ledger, channel stock and bundle parts."""
    sku = await services.get_sku(db_session, code)
    if sku is None:
        raise NotFoundException(f"no SKU {code}")
    shops = {s.id: s for s in await shop_readers.list_shops(db_session, order="id")}
    mapped = await sku_mappings.mapped_pairs(db_session, [i for i in shops if i is not None], [code])
    channel = []
    for row in await services.channel_stock_for_sku(db_session, code):
        shop = shops.get(row.shop_id)
        state = services.push_state(row, shop, (row.shop_id, code) in mapped)
        error = (
            services.push_error_text(row.push_error) if state is services.PushState.failed and row.push_error else ""
        )
        channel.append((row, shop, state, error))
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


async def counts_context(db_session: AsyncSession) -> dict[str, Any]:
    """What the stock-count page shows: the warehouses to count in and the recent counts."""
    return {
        "warehouses": await services.list_warehouses(db_session),
        "counts": await services.recent_counts(db_session),
    }


async def warehouse_context(db_session: AsyncSession) -> dict[str, Any]:
    """What the warehouse settings page shows: warehouses, their kinds, shops and channel stock rules."""
    return {
        "warehouses": await services.list_warehouses(db_session),
        "kinds": list(WarehouseKind),
        "shops": await shop_readers.list_shops(db_session, order="id"),
        "rules": await services.channel_rules(db_session),
        "sheet": warehouses.WAREHOUSE_SHEET,
        "limits": LIMITS,
        "sheet_result": None,
        "sheet_error": None,
    }


def _refused_page(request: HTMXRequest, template: str, error: DomainError, **context: Any) -> Template:
    return page(request, template, error=error.message, error_field=error.field, **context)


async def sku_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    """The SKU's page again with the reason, showing its stock as stored (nothing was changed)."""
    context = await sku_context(db_session, str(request.path_params["code"]))
    return _refused_page(request, "inventory/sku.html", error, **context)


async def count_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    """The count form again, with what was typed and the reason."""
    lines = one(dict(await request.form()), "lines", strip=False)
    return _refused_page(request, "inventory/counts.html", error, lines=lines, **await counts_context(db_session))


async def warehouses_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    """The warehouse settings again with the reason."""
    return _refused_page(request, "inventory/warehouses.html", error, **await warehouse_context(db_session))


def _back_to_sku(request: HTMXRequest, code: str) -> Redirect:
    return Redirect(request.app.route_reverse("inventory:sku", code=code), status_code=303)


#: The options of the forms on a SKU's page and on the warehouse settings page.
SKU_FORM = {"permission": "inventory.adjust", **refusals_shown_by(sku_refused)}
WAREHOUSE_FORM = {"permission": "inventory.manage", **refusals_shown_by(warehouses_refused)}


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
        return page(request, "inventory/sku.html", **await sku_context(db_session, code))

    @post("/sku/{code:str}/receive", name="inventory:receive", opt=SKU_FORM, status_code=303)
    async def receive(
        self, request: HTMXRequest, code: str, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Redirect:
        await services.receive(
            db_session, one(data, "warehouse"), code, _int(data, "qty"), actor, note=one(data, "note")
        )
        return _back_to_sku(request, code)

    @post("/sku/{code:str}/transfer", name="inventory:transfer", opt=SKU_FORM, status_code=303)
    async def transfer(
        self, request: HTMXRequest, code: str, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Redirect:
        await services.transfer(
            db_session,
            one(data, "from_warehouse"),
            one(data, "to_warehouse"),
            code,
            _int(data, "qty"),
            actor,
            note=one(data, "note"),
        )
        return _back_to_sku(request, code)

    @post("/sku/{code:str}/push/{shop_id:int}", name="inventory:push_again", opt=SKU_FORM, status_code=303)
    async def push_again(
        self, request: HTMXRequest, code: str, shop_id: int, db_session: AsyncSession, actor: Actor
    ) -> Redirect:
        """重新推送: tell the shop's platform its current figure for this SKU again."""
        await services.push_again(db_session, shop_id, code, actor, ip=client_ip(request))
        return _back_to_sku(request, code)

    @post("/sku/{code:str}/safety", name="inventory:safety", opt=SKU_FORM, status_code=303)
    async def safety(
        self, request: HTMXRequest, code: str, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Redirect:
        await services.set_safety_stock(
            db_session, one(data, "warehouse"), code, _int(data, "safety_stock"), actor, ip=client_ip(request)
        )
        return _back_to_sku(request, code)

    @post("/sku/{code:str}/threshold", name="inventory:threshold", opt=SKU_FORM, status_code=303)
    async def threshold(
        self, request: HTMXRequest, code: str, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Redirect:
        await services.set_low_stock_threshold(db_session, code, _int(data, "low_stock_threshold"), actor)
        return _back_to_sku(request, code)

    @get("/counts", name="inventory:counts")
    async def counts(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        return page(request, "inventory/counts.html", **await counts_context(db_session))

    @post(
        "/counts",
        name="inventory:count_submit",
        opt={"permission": "inventory.adjust", **refusals_shown_by(count_refused)},
        status_code=303,
    )
    async def count_submit(self, request: HTMXRequest, data: Form, db_session: AsyncSession, actor: Actor) -> Redirect:
        await services.record_count(
            db_session,
            one(data, "warehouse"),
            parse_count_lines(one(data, "lines", strip=False)),
            actor,
            note=one(data, "note"),
        )
        return Redirect(request.app.route_reverse("inventory:counts"), status_code=303)

    @get("/warehouses", name="inventory:warehouses", opt={"permission": "inventory.manage"})
    async def warehouses(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        return page(request, "inventory/warehouses.html", **await warehouse_context(db_session))

    @post("/warehouses", name="inventory:warehouse_save", opt=WAREHOUSE_FORM, status_code=303)
    async def warehouse_save(
        self, request: HTMXRequest, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Template | Redirect:
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
        # The new-warehouse form says so: a code that exists is then refused rather than overwritten.
        creating = {"new": True, "edit": False}.get(one(data, "mode"))
        await services.save_warehouse(db_session, form, actor, ip=client_ip(request), creating=creating)
        return Redirect(request.app.route_reverse("inventory:warehouses"), status_code=303)

    @post(
        "/warehouses/sheet",
        name="inventory:warehouses_import",
        opt={"permission": "inventory.manage"},
        status_code=200,
        request_max_body_size=MAX_FILE_BYTES + MULTIPART_OVERHEAD_BYTES,
    )
    async def warehouses_import(
        self, request: HTMXRequest, data: Upload, db_session: AsyncSession, actor: Actor
    ) -> Template:
        """Import warehouses from Excel/CSV: a new code adds one, a known one changes what the row names."""
        outcome = await import_upload(db_session, warehouses.WAREHOUSE_SHEET, data, actor, client_ip(request))
        context = {**await warehouse_context(db_session), "sheet_result": outcome.result, "sheet_error": outcome.error}
        response = page(request, "inventory/warehouses.html", **context)
        response.status_code = outcome.status
        return response

    @get("/warehouses/sheet/export", name="inventory:warehouses_export", opt={"permission": "inventory.manage"})
    async def warehouses_export(self, db_session: AsyncSession) -> Response[bytes]:
        """Every warehouse as an .xlsx the import takes back unchanged."""
        return xlsx_download(await export_sheet(db_session, warehouses.WAREHOUSE_SHEET), "warehouses.xlsx")

    @get("/warehouses/sheet/template", name="inventory:warehouses_template", opt={"permission": "inventory.manage"})
    async def warehouses_template(self) -> Response[bytes]:
        return xlsx_download(template_workbook(warehouses.WAREHOUSE_SHEET), "warehouses-template.xlsx")

    @post("/channel-rules", name="inventory:channel_rule", opt=WAREHOUSE_FORM, status_code=303)
    async def channel_rule(self, request: HTMXRequest, data: Form, db_session: AsyncSession, actor: Actor) -> Redirect:
        await services.set_channel_rule(
            db_session,
            _int(data, "shop_id"),
            one(data, "sku") or None,
            _int(data, "ratio_pct"),
            _int(data, "buffer", 0),
            actor,
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


class StockApiController(Controller):
    """Stock by SKU and warehouse for ERP / WMS integrations (API tokens with the ``read`` scope)."""

    path = "/api/v1/stock"
    tags = ["inventory"]  # noqa: RUF012
    opt = {"scope": "read"}  # noqa: RUF012

    @get("/", name="api:stock")
    async def stock(
        self, db_session: AsyncSession, sku: str = "", warehouse: str = "", cursor: str = "", limit: str = ""
    ) -> Response[dict[str, Any]]:
        """On hand, reserved and available per SKU and warehouse, by SKU; ``next_cursor`` pages on."""
        size = parse_limit(limit, maximum=services.API_STOCK_LIMIT, default=services.API_STOCK_PAGE)
        return Response(await services.api_stock(db_session, sku=sku, warehouse=warehouse, cursor=cursor, limit=size))


# --- the catalogue (商品) ------------------------------------------------------------------------------------

#: The 商品 pages' forms: admins (and whoever manages inventory) write; everyone who reads stock reads them.
CATALOGUE_WRITE = "inventory.manage"


def _sheet_of(name: str) -> Sheet:
    sheet = catalogue.SHEETS.get(name)
    if sheet is None:
        raise NotFoundException(f"no sheet {name}")
    return sheet


async def sku_form_context(db_session: AsyncSession, code: str | None) -> dict[str, Any]:
    """What the SKU form shows: the SKU (None for a new one), its components and the bundles it belongs to."""
    sku = await services.get_sku(db_session, code) if code is not None else None
    if code is not None and sku is None:
        raise NotFoundException(f"no SKU {code}")
    return {
        "sku": sku,
        "values": catalogue.sku_values(sku) if sku else {"is_active": True, "temperature_zone": "ambient"},
        "columns": catalogue.SKU_COLUMNS,
        "zones": catalogue.ZONE.names,
        "parts": (await services.bundle_components(db_session, [code])).get(code, []) if code else [],
        "in_bundles": await catalogue.bundles_containing(db_session, code) if code else [],
        "error": None,
        "error_field": None,
    }


async def sku_form_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    """The SKU form again with what was typed and the reason (nothing was saved)."""
    code = request.path_params.get("code")
    context = await sku_form_context(db_session, str(code) if code is not None else None)
    typed = {key: one(dict(await request.form()), key) for key in ("code", *catalogue.EDITABLE)}
    context["values"] = {**context["values"], **{k: v for k, v in typed.items() if k != "is_active"}, "typed": True}
    return page(request, "inventory/sku_form.html", **{**context, "error": error.message, "error_field": error.field})


SKU_EDIT = {"permission": CATALOGUE_WRITE, **refusals_shown_by(sku_form_refused)}


def _sheet_page(request: HTMXRequest, status: int = 200, **context: Any) -> Template:
    response = page(
        request,
        "inventory/sheets.html",
        "sheets/_result.html",
        sheets=catalogue.SHEETS,
        limits=LIMITS,
        **{"result": None, "error": None, "sheet_name": None, **context},
    )
    response.status_code = status
    return response


class CatalogueController(Controller):
    """商品: the catalogue list with search, a SKU's form (new, edit, enable/disable, bundle components) and the
    SKU and bundle sheets (import, export, template)."""

    path = "/inventory/skus"
    tags = ["inventory"]  # noqa: RUF012
    opt = {"permission": "inventory.read"}  # noqa: RUF012

    @get("/", name="inventory:catalogue")
    async def index(
        self,
        request: HTMXRequest,
        db_session: AsyncSession,
        q: str = "",
        category: str = "",
        status: str = "",
        cursor: str = "",
    ) -> Template:
        """Every SKU by code, 100 a page; htmx asks for just the list when searching."""
        found = await catalogue.search_skus(db_session, q=q, category=category, status=status, cursor=cursor)
        return page(
            request,
            "inventory/catalogue.html",
            "inventory/_catalogue_list.html",
            found=found,
            q=q,
            category=category,
            status=status,
            zones=catalogue.ZONE.names,
        )

    @get("/new", name="inventory:sku_new", opt={"permission": CATALOGUE_WRITE})
    async def new(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        return page(request, "inventory/sku_form.html", **await sku_form_context(db_session, None))

    @post("/new", name="inventory:sku_create", opt=SKU_EDIT, status_code=303)
    async def create(self, request: HTMXRequest, data: Form, db_session: AsyncSession, actor: Actor) -> Redirect:
        values = catalogue.form_values({key: one(data, key) for key in ("code", *catalogue.EDITABLE) if key in data})
        code = values.pop("code", "")
        await catalogue.save_sku(db_session, code, values, actor, mode="create", ip=client_ip(request))
        return Redirect(request.app.route_reverse("inventory:sku_edit", code=code), status_code=303)

    @get("/{code:str}/edit", name="inventory:sku_edit")
    async def edit(self, request: HTMXRequest, code: str, db_session: AsyncSession) -> Template:
        return page(request, "inventory/sku_form.html", **await sku_form_context(db_session, code))

    @post("/{code:str}/edit", name="inventory:sku_update", opt=SKU_EDIT, status_code=303)
    async def update(
        self, request: HTMXRequest, code: str, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Redirect:
        fields = [key for key in catalogue.EDITABLE if key in data and key != "is_active"]
        values = catalogue.form_values({key: one(data, key) for key in fields})
        await catalogue.save_sku(db_session, code, values, actor, mode="update", ip=client_ip(request))
        return Redirect(request.app.route_reverse("inventory:sku_edit", code=code), status_code=303)

    @post("/{code:str}/active", name="inventory:sku_active", opt=SKU_EDIT, status_code=303)
    async def set_active(
        self, request: HTMXRequest, code: str, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Redirect:
        await catalogue.set_active(db_session, code, one(data, "active") == "1", actor, ip=client_ip(request))
        return Redirect(request.app.route_reverse("inventory:sku_edit", code=code), status_code=303)

    @post("/{code:str}/components", name="inventory:component_save", opt=SKU_EDIT, status_code=303)
    async def component_save(
        self, request: HTMXRequest, code: str, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Redirect:
        texts = {"bundle_code": code, "component_code": one(data, "component_code"), "qty": one(data, "qty")}
        values = read_values(catalogue.COMPONENT_COLUMNS, texts)
        await catalogue.save_component(db_session, values, actor, ip=client_ip(request))
        return Redirect(request.app.route_reverse("inventory:sku_edit", code=code), status_code=303)

    @post(
        "/{code:str}/components/{component:str}/remove",
        name="inventory:component_remove",
        opt=SKU_EDIT,
        status_code=303,
    )
    async def component_remove(
        self, request: HTMXRequest, code: str, component: str, db_session: AsyncSession, actor: Actor
    ) -> Redirect:
        await catalogue.remove_component(db_session, code, component, actor, ip=client_ip(request))
        return Redirect(request.app.route_reverse("inventory:sku_edit", code=code), status_code=303)

    # --- sheets ----------------------------------------------------------------------------------------------

    @get("/sheets", name="inventory:sheets", opt={"permission": CATALOGUE_WRITE})
    async def sheets(self, request: HTMXRequest) -> Template:
        """Import the catalogue or the bundles from Excel/CSV; download them, or a template to fill in."""
        return _sheet_page(request)

    @post(
        "/sheets/{sheet_name:str}",
        name="inventory:sheet_import",
        opt={"permission": CATALOGUE_WRITE},
        status_code=200,
        request_max_body_size=MAX_FILE_BYTES + MULTIPART_OVERHEAD_BYTES,
    )
    async def sheet_import(
        self, request: HTMXRequest, sheet_name: str, data: Upload, db_session: AsyncSession, actor: Actor
    ) -> Template:
        """Import the file as the user chose (nothing when a row is bad, or only the good rows) and list what
        was created, updated and refused. A refused import answers 400 and changes nothing."""
        outcome = await import_upload(db_session, _sheet_of(sheet_name), data, actor, client_ip(request))
        return _sheet_page(request, outcome.status, sheet_name=sheet_name, result=outcome.result, error=outcome.error)

    @get("/sheets/{sheet_name:str}/export", name="inventory:sheet_export")
    async def sheet_export(self, sheet_name: str, db_session: AsyncSession, actor: Actor) -> Response[bytes]:
        """Everything stored, as an .xlsx the import takes back unchanged (cost prices only to those who see them)."""
        sheet = _sheet_of(sheet_name)
        if not may(actor, catalogue.COST_PERMISSION):
            sheet = catalogue.sheet_without_cost(sheet)
        return xlsx_download(await export_sheet(db_session, sheet), f"{sheet.name}.xlsx")

    @get("/sheets/{sheet_name:str}/template", name="inventory:sheet_template")
    async def sheet_template(self, sheet_name: str) -> Response[bytes]:
        sheet = _sheet_of(sheet_name)
        return xlsx_download(template_workbook(sheet), f"{sheet.name}-template.xlsx")


class SkuApiController(Controller):
    """The catalogue for ERP / WMS integrations: read with the ``read`` scope, write with ``admin``."""

    path = "/api/v1/skus"
    tags = ["inventory"]  # noqa: RUF012
    opt = {"scope": "read"}  # noqa: RUF012

    @get("/", name="api:skus")
    async def skus(
        self,
        db_session: AsyncSession,
        q: str = "",
        category: str = "",
        status: str = "",
        cursor: str = "",
        limit: str = "",
    ) -> Response[dict[str, Any]]:
        """SKUs by code (``q`` in code, name or barcode; ``category``; ``status`` active / inactive) in keyset
        pages; money in fen; bundles with their components."""
        size = parse_limit(limit, maximum=catalogue.API_LIMIT, default=catalogue.API_PAGE)
        return Response(
            await catalogue.api_skus(db_session, q=q, category=category, status=status, cursor=cursor, limit=size)
        )

    @get("/{code:str}", name="api:sku")
    async def sku(self, code: str, db_session: AsyncSession) -> Response[dict[str, Any]]:
        return Response(await catalogue.api_sku_of(db_session, code))

    @post("/", name="api:sku_create", opt={"scope": "admin"}, status_code=201)
    async def create(
        self, request: HTMXRequest, data: JSONBody[Any], db_session: AsyncSession, actor: Actor
    ) -> Response[dict[str, Any]]:
        """Create a SKU: ``code`` and ``name`` at least; ``components`` makes it a bundle."""
        values = catalogue.api_values(data, keys=("code", *catalogue.EDITABLE))
        if "code" not in values:
            raise catalogue.CatalogueError("bad_code", code="—")
        code = values.pop("code")
        await catalogue.save_sku(db_session, code, values, actor, mode="create", ip=client_ip(request))
        components = catalogue.api_components(data)
        if components is not None:
            await catalogue.set_bundle(db_session, code, components, actor, ip=client_ip(request))
        return Response(await catalogue.api_sku_of(db_session, code), status_code=201)

    @patch("/{code:str}", name="api:sku_update", opt={"scope": "admin"})
    async def update(
        self, request: HTMXRequest, code: str, data: JSONBody[Any], db_session: AsyncSession, actor: Actor
    ) -> Response[dict[str, Any]]:
        """Change the fields given (``is_active`` false disables it); ``components`` replaces a bundle's parts."""
        values = catalogue.api_values(data, keys=catalogue.EDITABLE)
        await catalogue.save_sku(db_session, code, values, actor, mode="update", ip=client_ip(request))
        components = catalogue.api_components(data)
        if components is not None:
            await catalogue.set_bundle(db_session, code, components, actor, ip=client_ip(request))
        return Response(await catalogue.api_sku_of(db_session, code))


class WarehousesApiController(Controller):
    """Warehouses for integrators: read with the ``read`` scope, added and changed with the ``admin`` scope.
    Handling fees are in fen."""

    path = "/api/v1/warehouses"
    tags = ["inventory"]  # noqa: RUF012

    @get("/", name="api:warehouses", opt={"scope": "read"})
    async def list_warehouses(self, db_session: AsyncSession) -> Response[dict[str, Any]]:
        """Every warehouse, by priority then code."""
        rows = await services.list_warehouses(db_session)
        return Response({"items": [warehouses.warehouse_read(w) for w in rows]})

    @post("/", name="api:warehouses_create", opt={"scope": "admin"}, status_code=201)
    async def create(
        self, request: Request[Any, Any, Any], data: JSONBody[dict[str, Any]], db_session: AsyncSession, actor: Actor
    ) -> Response[dict[str, Any]]:
        """Add a warehouse: ``code``, ``name``, ``province``; optionally ``kind`` (regional, store, front), ``city``,
        ``priority``, ``serves_regions`` (a list), ``per_order_fen``, ``per_item_fen``, ``is_active``."""
        warehouse = await warehouses.create_warehouse(db_session, data, actor, client_ip(request))
        return Response(warehouses.warehouse_read(warehouse), status_code=201)

    @get("/{code:str}", name="api:warehouse", opt={"scope": "read"})
    async def detail(self, code: str, db_session: AsyncSession) -> Response[dict[str, Any]]:
        return Response(warehouses.warehouse_read(await warehouses.warehouse_named(db_session, code)))

    @patch("/{code:str}", name="api:warehouse_update", opt={"scope": "admin"})
    async def update(
        self,
        request: Request[Any, Any, Any],
        code: str,
        data: JSONBody[dict[str, Any]],
        db_session: AsyncSession,
        actor: Actor,
    ) -> Response[dict[str, Any]]:
        """Change what the body names; fields left out keep their values."""
        warehouse = await warehouses.warehouse_named(db_session, code)
        await warehouses.update_warehouse(db_session, warehouse, data, actor, client_ip(request))
        return Response(warehouses.warehouse_read(warehouse))

"""商品映射: each shop's platform SKUs that are ours — the page per shop (list, search, add, remove with undo,
Excel import and export) and ``/api/v1/sku-mappings``. Reading needs ``inventory.read``; changing needs what
the review queue needs (``review.work``): the operators who map unknown SKUs there keep the list here."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import JSONBody
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Response, Template
from sqlmodel.ext.asyncio.session import AsyncSession

from app.domain.accounts.services import Actor
from app.domain.inventory import sku_mappings
from app.domain.inventory.models import SkuMapping
from app.domain.shops import services as shop_readers
from app.domain.shops.models import Shop
from app.errors import DomainError
from app.forms import MULTIPART_OVERHEAD_BYTES, Form, Upload, one
from app.i18n import gettext
from app.params import parse_id, parse_limit
from app.sheets import LIMITS, MAX_FILE_BYTES, export_sheet, import_upload, template_workbook, xlsx_download
from app.web import client_ip, page, refusals_shown_by

#: Writes on the mapping page: what operators use for the review queue.
CHANGE = "review.work"


async def _shop(db_session: AsyncSession, shop_id: int) -> Shop:
    shop = await shop_readers.shop_of(db_session, shop_id)
    if shop is None:
        raise NotFoundException()
    return shop


async def mappings_context(
    db_session: AsyncSession, shop_id: int, *, q: str = "", after: str = "", **extra: Any
) -> dict[str, Any]:
    """What a shop's mapping page shows: a page of its mappings (searched), and what an action left to say."""
    shop = await _shop(db_session, shop_id)
    rows, next_after = await sku_mappings.list_mappings(db_session, shop_id, q=q, after_id=parse_id(after))
    return {
        "shop": shop,
        "mappings": rows,
        "next_after": next_after,
        "q": q,
        "import_limits": LIMITS,
        "sheet_columns": "、".join(column.label for column in sku_mappings.COLUMNS),
        "notice": None,
        "removed": None,
        "result": None,
        "error": None,
        "form": {},
        **extra,
    }


async def mappings_refused(request: HTMXRequest, db_session: AsyncSession, error: DomainError) -> Template:
    """The shop's mapping page again with the reason and what was typed (nothing was changed)."""
    form = {k: one(dict(await request.form()), k) for k in ("platform_sku_id", "outer_id", "sku", "platform_item_id")}
    context = await mappings_context(db_session, int(request.path_params["shop_id"]), error=error.message, form=form)
    return page(request, "inventory/sku_mappings.html", "inventory/_sku_mapping_list.html", **context)


CHANGE_FORM = {"permission": CHANGE, **refusals_shown_by(mappings_refused)}


class SkuMappingController(Controller):
    path = "/inventory/sku-mappings"
    tags = ["inventory"]  # noqa: RUF012
    opt = {"permission": "inventory.read"}  # noqa: RUF012

    @get("/", name="inventory:sku_mapping_shops")
    async def shops(self, request: HTMXRequest, db_session: AsyncSession) -> Template:
        """Every shop with how many of its platform SKUs are mapped."""
        return page(
            request,
            "inventory/sku_mapping_shops.html",
            shops=await shop_readers.list_shops(db_session),
            counts=await sku_mappings.counts_by_shop(db_session),
        )

    @get("/{shop_id:int}", name="inventory:sku_mappings")
    async def mappings(
        self, request: HTMXRequest, shop_id: int, db_session: AsyncSession, q: str = "", after: str = ""
    ) -> Template:
        """One shop's mappings, a page at a time; htmx asks for just the list when searching."""
        context = await mappings_context(db_session, shop_id, q=q.strip()[:100], after=after)
        return page(request, "inventory/sku_mappings.html", "inventory/_sku_mapping_list.html", **context)

    @post("/{shop_id:int}", name="inventory:sku_mapping_save", opt=CHANGE_FORM, status_code=200)
    async def save(
        self, request: HTMXRequest, shop_id: int, data: Form, db_session: AsyncSession, actor: Actor
    ) -> Template | Redirect:
        """Add or change a mapping (also the undo of a removal)."""
        saved = await sku_mappings.save_mapping(
            db_session,
            shop_id,
            one(data, "platform_sku_id"),
            one(data, "outer_id"),
            one(data, "sku"),
            actor,
            item_id=one(data, "platform_item_id"),
            ip=client_ip(request),
        )
        if not request.htmx:
            return Redirect(request.app.route_reverse("inventory:sku_mappings", shop_id=shop_id), status_code=303)
        notice = gettext("Saved: %(key)s → %(sku)s.") % {"key": _key(saved.mapping), "sku": saved.mapping.sku_code}
        context = await mappings_context(db_session, shop_id, notice=notice)
        return page(request, "inventory/sku_mappings.html", "inventory/_sku_mapping_list.html", **context)

    @post(
        "/{shop_id:int}/{mapping_id:int}/delete", name="inventory:sku_mapping_delete", opt=CHANGE_FORM, status_code=200
    )
    async def delete(
        self, request: HTMXRequest, shop_id: int, mapping_id: int, db_session: AsyncSession, actor: Actor
    ) -> Template | Redirect:
        """Remove a mapping; the list then offers to put it back (撤销)."""
        removed = await sku_mappings.delete_mapping(db_session, shop_id, mapping_id, actor, ip=client_ip(request))
        if not request.htmx:
            return Redirect(request.app.route_reverse("inventory:sku_mappings", shop_id=shop_id), status_code=303)
        context = await mappings_context(db_session, shop_id, removed=removed)
        return page(request, "inventory/sku_mappings.html", "inventory/_sku_mapping_list.html", **context)

    @get("/{shop_id:int}/export", name="inventory:sku_mapping_export")
    async def export(self, shop_id: int, db_session: AsyncSession, template: str = "") -> Response[bytes]:
        """The shop's mappings as an .xlsx that the import reads back unchanged (``template=1``: an empty one)."""
        sheet = sku_mappings.mapping_sheet(await _shop(db_session, shop_id))
        content = template_workbook(sheet) if template else await export_sheet(db_session, sheet)
        return xlsx_download(content, f"{sheet.name}-template.xlsx" if template else f"{sheet.name}.xlsx")

    @post(
        "/{shop_id:int}/import",
        name="inventory:sku_mapping_import",
        opt={"permission": CHANGE},
        status_code=200,
        request_max_body_size=MAX_FILE_BYTES + MULTIPART_OVERHEAD_BYTES,
    )
    async def upload(
        self, request: HTMXRequest, shop_id: int, data: Upload, db_session: AsyncSession, actor: Actor
    ) -> Template:
        """Import a sheet of mappings: nothing when a row is bad, or only the good rows, as chosen."""
        sheet = sku_mappings.mapping_sheet(await _shop(db_session, shop_id))
        outcome = await import_upload(db_session, sheet, data, actor, client_ip(request))
        context = await mappings_context(db_session, shop_id, result=outcome.result, error=outcome.error)
        response = page(request, "inventory/sku_mappings.html", "inventory/_sku_mapping_list.html", **context)
        response.status_code = outcome.status
        return response


def _key(mapping: SkuMapping) -> str:
    return " / ".join(part for part in (mapping.platform_sku_id, mapping.outer_id) if part)


class SkuMappingApiController(Controller):
    """A shop's mappings for integrators: read with the ``read`` scope, saved with the ``admin`` scope."""

    path = "/api/v1/sku-mappings"
    tags = ["inventory"]  # noqa: RUF012

    @get("/", name="api:sku_mappings", opt={"scope": "read"})
    async def list_mappings(
        self, db_session: AsyncSession, shop: str = "", q: str = "", cursor: str = "", limit: str = ""
    ) -> Response[dict[str, Any]]:
        """The shop's (``shop``: its code) mappings by id; ``q`` finds a sku id, outer id or SKU code."""
        size = parse_limit(limit, maximum=sku_mappings.API_LIMIT, default=sku_mappings.API_PAGE)
        return Response(await sku_mappings.api_mappings(db_session, shop=shop, q=q, cursor=cursor, limit=size))

    @post("/", name="api:sku_mapping_save", opt={"scope": "admin"}, status_code=200)
    async def save(
        self, request: Request[Any, Any, Any], data: JSONBody[dict[str, Any]], db_session: AsyncSession, actor: Actor
    ) -> Response[dict[str, Any]]:
        """Map a platform SKU: ``shop`` (code), ``platform_sku_id`` and/or ``outer_id``, ``sku`` (ours); 201 when
        new, 200 when an existing mapping of the key was changed (or already so)."""
        read, outcome = await sku_mappings.api_save(db_session, data, actor, client_ip(request))
        return Response(read, status_code=201 if outcome.value == "created" else 200)


__all__ = ["SkuMappingApiController", "SkuMappingController"]

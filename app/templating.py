"""The Jinja environment: translations, navigation per role, money and time formatting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from app import i18n
from app.auth import may
from app.db import CHINA
from app.domain.accounts.models import Role
from app.domain.accounts.services import Actor
from app.domain.inventory.models import MoveKind, WarehouseKind
from app.i18n import N_
from app.settings import PROJECT_ROOT

#: Labels of values that several pages show (English message ids; ``role_label`` etc. translate them).
ROLE_LABELS = {
    Role.viewer.value: N_("Viewer"),
    Role.operator.value: N_("Operator"),
    Role.designer.value: N_("Designer"),
    Role.finance.value: N_("Finance"),
    Role.admin.value: N_("Admin"),
}
WAREHOUSE_KIND_LABELS = {
    WarehouseKind.regional.value: N_("Regional"),
    WarehouseKind.store.value: N_("Store"),
    WarehouseKind.front.value: N_("Front"),
}
#: Temperature zones of SKUs and rate lines; ``*`` (a rate line for any zone).
ZONE_LABELS = {"*": N_("Any"), "ambient": N_("Ambient"), "chilled": N_("Chilled"), "frozen": N_("Frozen")}
MOVE_KIND_LABELS = {
    MoveKind.receipt.value: N_("Receipt"),
    MoveKind.reservation.value: N_("Reservation"),
    MoveKind.release.value: N_("Release"),
    MoveKind.shipment.value: N_("Shipment"),
    MoveKind.returned.value: N_("Returned"),
    MoveKind.adjustment.value: N_("Adjustment"),
    MoveKind.transfer_out.value: N_("Transfer out"),
    MoveKind.transfer_in.value: N_("Transfer in"),
    MoveKind.pos_sale.value: N_("Store till sale"),
}


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str  # an English message id, translated at render time
    route: str
    permission: str

    @property
    def text(self) -> str:
        """The label in the reader's language."""
        return i18n.gettext(self.label)


#: The main navigation: 订单 · 审核 · 售后 · 库存 · 规则流 · 财务 · 报表 · 设置, each only for roles that may use it.
NAVIGATION = (
    NavItem("orders", N_("Orders"), "orders:index", "orders.read"),
    NavItem("review", N_("Review"), "orders:review", "review.work"),
    NavItem("aftersales", N_("After-sales"), "aftersales:index", "orders.read"),
    NavItem("inventory", N_("Inventory"), "inventory:index", "inventory.read"),
    NavItem("flows", N_("Rule flows"), "flows:index", "flows.edit"),
    NavItem("finance", N_("Finance"), "finance:index", "finance.read"),
    NavItem("reports", N_("Reports"), "reports:index", "reports.read"),
    NavItem("settings", N_("Settings"), "settings:index", "settings.manage"),
)


def navigation_for(actor: Actor) -> list[NavItem]:
    return [item for item in NAVIGATION if may(actor, item.permission)]


def yuan(fen: int | None) -> str:
    """Money is stored in fen and shown as ¥1,234.50."""
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


def china_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Times are stored in UTC and shown in China time (in UTC, marked so, past the calendar's last day there)."""
    if value is None:
        return "—"
    try:
        return value.astimezone(CHINA).strftime(fmt)
    except OverflowError:  # an order kept before its times were bounded: 9999-12-31 23:00 UTC
        return value.strftime(fmt) + " UTC"


def updated_ago(seconds: int | None) -> str:
    """How long ago figures were computed, in the reader's language: 3 秒前更新 / updated 3 s ago."""
    if seconds is None:
        return i18n.gettext("not computed yet")
    for unit, message in (
        (86400, N_("updated %(n)s d ago")),
        (3600, N_("updated %(n)s h ago")),
        (60, N_("updated %(n)s min ago")),
    ):
        if seconds >= unit:
            return i18n.gettext(message) % {"n": seconds // unit}
    return i18n.gettext(N_("updated %(n)s s ago")) % {"n": seconds}


def mask_name(name: str) -> str:
    """The receiver's name as pages show it to everyone (李**); the audited reveal shows it whole."""
    from app.domain.orders.pii import mask_name as masked  # here: the domain packages import this module

    return masked(name or "")


def build_environment(template_dir: Path | None = None) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(template_dir or PROJECT_ROOT / "templates")),
        autoescape=select_autoescape(["html", "xml"]),
        extensions=["jinja2.ext.i18n"],
        auto_reload=True,
    )
    # |tojson keeps Chinese as written (it still escapes < > & ' for HTML): JSON a page shows reads as typed.
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False}
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=i18n.gettext, ngettext=i18n.ngettext, newstyle=True
    )
    env.globals.update(
        navigation_for=navigation_for,
        may=may,
        current_locale=lambda: i18n.current_locale.get(),
        supported_locales=i18n.SUPPORTED,
        role_label=i18n.labeller(ROLE_LABELS),
        warehouse_kind_label=i18n.labeller(WAREHOUSE_KIND_LABELS),
        move_kind_label=i18n.labeller(MOVE_KIND_LABELS),
        zone_label=i18n.labeller(ZONE_LABELS),
    )
    env.filters.update(yuan=yuan, china_time=china_time, mask_name=mask_name, updated_ago=updated_ago)
    return env


def template_config() -> TemplateConfig[Any]:
    env = build_environment()
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(env))

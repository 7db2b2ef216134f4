"""Buyer message templates (设置 → 消息模板): the text of each message a flow can send, per channel, with the
variables it may use; the product's defaults, an admin's own texts (``message_templates`` table), checking
and rendering.

A template is text with ``{variable}`` places; the values (shop names, order numbers, carrier names) come from
outside and are put in as plain text, never as format specs or attribute lookups, and the pages that show a
message escape it. A text is checked when it is saved, so a stored template always renders.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from string import Formatter
from typing import ClassVar

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import utcnow
from app.domain.accounts.services import Actor, audit
from app.domain.fulfillment.models import MessageTemplate
from app.domain.shops import services as shop_readers
from app.errors import DomainError, excerpt
from app.i18n import N_

#: The channels a message goes out on, with their names in the template page (English message ids).
CHANNELS = {"sms": N_("SMS"), "wechat": N_("WeChat")}
#: The messages a notify action can send, with the product's default text (the same on every channel).
DEFAULT_TEXTS = {
    "order_processed": "【{shop}】您的订单 {external_id} 已安排发货，将由{warehouse}交{carrier}发出，"
    "发货后再告诉您运单号。",
    "presale_balance_reminder": "【{shop}】您预订的商品尾款将于 {due} 截止，请及时支付尾款。",
    "order_shipped": "【{shop}】您的订单 {external_id} 已发货，{carrier}运单号 {waybill_no}，请留意查收。",
}
#: What each template is called in the flow editor's picker and the template page: which moment it is sent at.
TEMPLATE_LABELS = {
    "order_processed": N_("Order arranged for shipping (sent when the order is routed)"),
    "presale_balance_reminder": N_("Presale balance reminder (sent when the order waits for its balance)"),
    "order_shipped": N_("Order shipped (sent when its parcel is confirmed shipped, with the waybill number)"),
}
#: The templates whose message waits for the parcel to ship: one per parcel, sent at ship confirmation.
AT_SHIPMENT = frozenset({"order_shipped"})
#: Every variable a template may name, with what it stands for (English message ids).
VARIABLES = {
    "shop": N_("Shop name"),
    "external_id": N_("Platform order number"),
    "warehouse": N_("Shipping warehouse"),
    "carrier": N_("Carrier"),
    "waybill_no": N_("Waybill number"),
    "due": N_("Balance due time"),
}
_COMMON = ("shop", "external_id", "warehouse", "carrier")
#: The variables each template may use: what is known at the moment it is sent.
TEMPLATE_VARIABLES: dict[str, tuple[str, ...]] = {
    "order_processed": _COMMON,
    "presale_balance_reminder": (*_COMMON, "due"),
    "order_shipped": (*_COMMON, "waybill_no"),
}
assert set(TEMPLATE_LABELS) == set(DEFAULT_TEXTS) == set(TEMPLATE_VARIABLES)
#: The text of a template this version does not know (a flow naming one removed since).
GENERIC_MESSAGE = "【{shop}】您的订单 {external_id} 有新进展，请留意。"
#: One SMS segment holds 70 characters (【签名】 included); a longer message goes in segments of 67.
SMS_SEGMENT = 70
SMS_LONG_SEGMENT = 67
#: The longest text a template may be, and so a message (the outbox keeps 500 characters).
MAX_CHARS = 500
#: The order the preview is filled with (the shop's name is a real shop's when there is one).
SAMPLE_VALUES = {
    "shop": "示例旗舰店",
    "external_id": "TB20261111000123",
    "warehouse": "上海仓",
    "carrier": "顺丰速运",
    "waybill_no": "SF1234567890123",
    "due": "2026-11-11 20:00",
}


class TemplateRefused(DomainError):
    """A message template that cannot be saved; nothing was changed."""

    messages: ClassVar[Mapping[str, str]] = {
        "unknown_template": N_("There is no message template %(template)s for %(via)s."),
        "empty": N_("Enter the text of the message."),
        "unbalanced": N_(
            "The braces do not match: each variable is written as {name}; write {{ or }} for a brace itself."
        ),
        "unknown_variable": N_("This message cannot use the variable %(variable)s. It can use: %(known)s."),
        "too_long": N_("The message is %(length)s characters long; at most %(limit)s are allowed."),
    }
    statuses: ClassVar[Mapping[str, int]] = {"unknown_template": 404}
    fields: ClassVar[Mapping[str, str]] = {
        "empty": "text",
        "unbalanced": "text",
        "unknown_variable": "text",
        "too_long": "text",
    }


@dataclass(frozen=True)
class Rendered:
    """A template filled in: the message, its length and, for an SMS, how many segments it is billed as."""

    text: str
    length: int
    segments: int | None


def sms_segments(length: int) -> int:
    """How many SMS a message of ``length`` characters is sent (and billed) as."""
    return 1 if length <= SMS_SEGMENT else math.ceil(length / SMS_LONG_SEGMENT)


def _pieces(text: str) -> list[tuple[str, str | None]]:
    """(literal, variable) pieces of a template; ValueError when its braces do not match."""
    pieces: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in Formatter().parse(text):
        if name is None:
            pieces.append((literal, None))
            continue
        if spec or conversion or not name.isidentifier():
            # {shop!r}, {shop:>10}, {shop.upper}, {0}: only plain names are variables.
            whole = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise TemplateRefused("unknown_variable", variable=excerpt("{" + whole + "}"), known="")
        pieces.append((literal, name))
    return pieces


def check(template: str, via: str, text: str) -> str:
    """The text as it is stored (trimmed), or :class:`TemplateRefused` saying what is wrong with it."""
    if template not in DEFAULT_TEXTS or via not in CHANNELS:
        raise TemplateRefused("unknown_template", template=excerpt(template), via=excerpt(via))
    text = text.strip()
    if not text:
        raise TemplateRefused("empty")
    if len(text) > MAX_CHARS:
        raise TemplateRefused("too_long", length=len(text), limit=MAX_CHARS)
    known = TEMPLATE_VARIABLES[template]
    shown = "、".join("{" + name + "}" for name in known)
    try:
        pieces = _pieces(text)
    except ValueError:
        raise TemplateRefused("unbalanced") from None
    except TemplateRefused as refused:
        raise TemplateRefused("unknown_variable", variable=refused.params["variable"], known=shown) from None
    for _, name in pieces:
        if name is not None and name not in known:
            raise TemplateRefused("unknown_variable", variable=excerpt("{" + name + "}"), known=shown)
    rendered = render(text, SAMPLE_VALUES)
    if len(rendered) > MAX_CHARS:
        raise TemplateRefused("too_long", length=len(rendered), limit=MAX_CHARS)
    return text


def render(text: str, values: Mapping[str, str]) -> str:
    """The message: each ``{variable}`` replaced by its value as plain text (an unknown one left as written)."""
    try:
        pieces = _pieces(text)
    except (ValueError, TemplateRefused):
        return text
    return "".join(literal + ("" if name is None else values.get(name, "{" + name + "}")) for literal, name in pieces)


def preview(template: str, via: str, text: str, shop: str | None = None) -> Rendered:
    """The text checked (:class:`TemplateRefused` when it cannot be saved) and filled with the sample order."""
    stored = check(template, via, text)
    body = render(stored, {**SAMPLE_VALUES, **({"shop": shop} if shop else {})})
    return Rendered(body, len(body), sms_segments(len(body)) if via == "sms" else None)


@dataclass(frozen=True)
class Checked:
    """What the template page says of a text being typed: its preview, or why it cannot be saved."""

    preview: Rendered | None
    error: str | None


def check_typed(template: str, via: str, text: str, shop: str | None = None) -> Checked:
    """The live preview of a text being typed: filled with the sample order, or the refusal's message."""
    try:
        return Checked(preview(template, via, text, shop), None)
    except TemplateRefused as refused:
        return Checked(None, refused.message)


@dataclass(frozen=True)
class Texts:
    """The text of every template on every channel as an admin left them (the defaults where untouched)."""

    edited: Mapping[tuple[str, str], str]

    def text_of(self, template: str, via: str) -> str:
        return self.edited.get((template, via)) or DEFAULT_TEXTS.get(template, GENERIC_MESSAGE)

    def message(self, template: str, via: str, values: Mapping[str, str]) -> str:
        """The message of ``template`` on ``via`` with these values, as it is sent (cut to what is kept)."""
        return render(self.text_of(template, via), values)[:MAX_CHARS]


async def load_texts(session: AsyncSession) -> Texts:
    """The templates' texts, read once (a processing batch reads them once for all its orders)."""
    rows = (await session.exec(select(MessageTemplate))).all()
    return Texts({(row.template, row.via): row.text for row in rows})


async def _row(session: AsyncSession, template: str, via: str) -> MessageTemplate | None:
    query = select(MessageTemplate).where(MessageTemplate.template == template, MessageTemplate.via == via)
    return (await session.exec(query.with_for_update())).first()


async def save_text(
    session: AsyncSession, template: str, via: str, text: str, actor: Actor, ip: str | None = None
) -> str:
    """Keep an admin's text of a template (checked first: a refusal changes nothing), audited; the next message
    of that template is written with it. Returns the stored text."""
    stored = check(template, via, text)
    row = await _row(session, template, via)
    before = row.text if row is not None else DEFAULT_TEXTS[template]
    if row is None:
        row = MessageTemplate(template=template, via=via, text=stored)
    row.text, row.updated_by, row.updated_at = stored, actor.name, utcnow()
    session.add(row)
    await audit(
        session,
        actor,
        "message_template.saved",
        target_type="message_template",
        target_id=f"{template}:{via}",
        before={"text": before},
        after={"text": stored},
        ip=ip,
    )
    return stored


async def restore_default(session: AsyncSession, template: str, via: str, actor: Actor, ip: str | None = None) -> None:
    """Go back to the product's text of a template, audited (nothing to do when it has it already)."""
    check(template, via, DEFAULT_TEXTS.get(template, "-"))
    row = await _row(session, template, via)
    if row is None:
        return
    await session.delete(row)
    await audit(
        session,
        actor,
        "message_template.restored",
        target_type="message_template",
        target_id=f"{template}:{via}",
        before={"text": row.text},
        after={"text": DEFAULT_TEXTS[template]},
        ip=ip,
    )


async def sample_shop(session: AsyncSession) -> str | None:
    """The name of a real shop for the preview (the first one), so that it reads as the buyers will see it."""
    shops = await shop_readers.list_shops(session, order="id")
    return shops[0].name if shops else None


@dataclass(frozen=True)
class TemplateView:
    """One template on one channel as the template page shows it."""

    template: str
    via: str
    text: str
    edited: bool
    variables: tuple[str, ...]
    preview: Rendered


async def template_views(session: AsyncSession) -> list[TemplateView]:
    """Every template on every channel with its current text and its preview, for the template page."""
    texts = await load_texts(session)
    shop = await sample_shop(session)
    views = []
    for template in DEFAULT_TEXTS:
        for via in CHANNELS:
            text = texts.text_of(template, via)
            views.append(
                TemplateView(
                    template,
                    via,
                    text,
                    (template, via) in texts.edited,
                    TEMPLATE_VARIABLES[template],
                    preview(template, via, text, shop),
                )
            )
    return views


__all__ = [
    "AT_SHIPMENT",
    "CHANNELS",
    "DEFAULT_TEXTS",
    "GENERIC_MESSAGE",
    "MAX_CHARS",
    "SAMPLE_VALUES",
    "TEMPLATE_LABELS",
    "TEMPLATE_VARIABLES",
    "VARIABLES",
    "Checked",
    "Rendered",
    "TemplateRefused",
    "TemplateView",
    "Texts",
    "check",
    "check_typed",
    "load_texts",
    "preview",
    "render",
    "restore_default",
    "sample_shop",
    "save_text",
    "sms_segments",
    "template_views",
]

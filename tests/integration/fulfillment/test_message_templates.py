"""设置 → 消息模板: an admin edits the text of each buyer message with its variables beside it and a live preview;
a bad text is refused in Chinese and changes nothing; saving and restoring are audited; outside values (a shop's
name, a template's own markup) are never rendered as HTML, in the preview or in the sandbox outbox."""

from __future__ import annotations

from sqlmodel import col, select

from app.db import Database
from app.domain.accounts.models import AuditEntry, Role
from app.domain.fulfillment import message_templates, services
from app.domain.fulfillment.models import MessageTemplate
from app.domain.shops.models import Channel, Shop
from tests.integration.forms import login, post_form

PAGE = "/settings/message-templates/"
SHIPPED_SMS = "/settings/message-templates/order_shipped/sms"
HOSTILE = '<img src=x onerror="alert(1)">'


async def stored(db: Database) -> list[tuple[str, str, str]]:
    async with db.reading() as session:
        rows = (await session.exec(select(MessageTemplate).order_by(col(MessageTemplate.id)))).all()
    return [(row.template, row.via, row.text) for row in rows]


async def audit_actions(db: Database) -> list[str]:
    async with db.reading() as session:
        query = select(AuditEntry.action).where(col(AuditEntry.action).startswith("message_template."))
        return list((await session.exec(query.order_by(col(AuditEntry.id)))).all())


async def as_admin(client, make_user) -> None:
    await make_user(Role.admin, "boss")
    await login(client, "boss")


async def test_the_page_lists_every_template_with_its_variables_and_preview_and_is_for_admins_only(client, make_user):
    await make_user(Role.operator, "olivia")
    await login(client, "olivia")
    assert (await client.get(PAGE)).status_code == 403
    await as_admin(client, make_user)
    assert 'data-testid="settings-message-templates-link"' in (await client.get("/settings/")).text
    page = (await client.get(PAGE)).text
    for template in message_templates.DEFAULT_TEXTS:
        for via in message_templates.CHANNELS:
            assert f'data-testid="template-{template}-{via}"' in page
    assert "消息模板" in page and "{waybill_no}" in page and "快递单号" in page
    assert "已发货（包裹确认发货时发送，附快递单号）" in page
    assert "SF1234567890123" in page  # the shipped message's preview, filled with the sample order


async def test_an_admin_saves_a_template_and_restores_the_default_both_audited(client, db, make_user):
    await as_admin(client, make_user)
    text = "【{shop}】订单 {external_id} 已由{carrier}揽收，运单 {waybill_no}"
    saved = await post_form(client, PAGE, f"{SHIPPED_SMS}/save", {"text": text})
    assert saved.status_code == 303, saved.text
    assert await stored(db) == [("order_shipped", "sms", text)]
    page = (await client.get(PAGE)).text
    assert 'data-testid="edited-order_shipped-sms"' in page and "已由顺丰速运揽收" in page

    restored = await post_form(client, PAGE, f"{SHIPPED_SMS}/restore", {})
    assert restored.status_code == 303
    assert await stored(db) == []
    assert await audit_actions(db) == ["message_template.saved", "message_template.restored"]


async def test_a_bad_template_is_refused_with_the_reason_and_nothing_is_changed(client, db, make_user):
    await as_admin(client, make_user)
    cases = {
        "【{shop}】{foo} 已发货": "不能使用变量 {foo}",
        "【{shop}】您的订单 {external_id 已发货": "花括号不成对",
        "【{shop}】订单} 已发货": "花括号不成对",
        "   ": "请填写消息内容",
        "【{shop}】" + "很长" * 260: "最多 500 字",
        "【{shop}】{shop.__class__}": "不能使用变量 {shop.__class__}",
        "【{shop}】{due} 截止": "不能使用变量 {due}",  # the shipped message knows no balance due time
    }
    for text, reason in cases.items():
        answer = await post_form(client, PAGE, f"{SHIPPED_SMS}/save", {"text": text})
        assert answer.status_code == 400, (text, answer.status_code)
        assert reason in answer.text, (text, answer.text[-2000:])
        assert 'data-testid="template-error"' in answer.text
    assert await stored(db) == []
    assert await audit_actions(db) == []
    unknown = await post_form(client, PAGE, "/settings/message-templates/nope/sms/save", {"text": "hi"})
    assert unknown.status_code == 404 and await stored(db) == []


async def test_the_live_preview_counts_sms_segments_and_shows_the_reason_of_a_bad_text(client, make_user):
    await as_admin(client, make_user)
    short = await post_form(client, PAGE, f"{SHIPPED_SMS}/preview", {"text": "【{shop}】{external_id} 已发货"})
    assert short.status_code == 200 and "1 条短信" in short.text and "TB20261111000123 已发货" in short.text
    long = await post_form(client, PAGE, f"{SHIPPED_SMS}/preview", {"text": "【{shop}】" + "发" * 130})
    assert "拆成 3 条短信" in long.text  # 137 characters: three segments of 67
    bad = await post_form(client, PAGE, f"{SHIPPED_SMS}/preview", {"text": "{foo}"})
    assert bad.status_code == 200 and "不能使用变量 {foo}" in bad.text
    wechat = await post_form(client, PAGE, "/settings/message-templates/order_shipped/wechat/preview", {"text": "x"})
    assert "短信" not in wechat.text


async def test_hostile_values_are_escaped_in_the_preview_and_the_sandbox_outbox(client, db, make_user):
    async with db.transaction() as session:
        session.add(Shop(code="evil", name=HOSTILE, channel=Channel.webshop))
        await services.stage_notification(
            session, order_ref="RF1", template="order_shipped", via="sms", recipient_masked="138****5678", body=HOSTILE
        )
    await as_admin(client, make_user)
    typed = "【{shop}】<script>alert(2)</script>{waybill_no}"
    preview = await post_form(client, PAGE, f"{SHIPPED_SMS}/preview", {"text": typed})
    assert "<img" not in preview.text and "<script>" not in preview.text
    assert "&lt;img src=x onerror=" in preview.text and "&lt;script&gt;alert(2)" in preview.text
    page = (await client.get(PAGE)).text
    assert HOSTILE not in page and "&lt;img src=x" in page  # each preview is filled with the real shop's name
    outbox = (await client.get("/fulfillment/messages")).text
    assert HOSTILE not in outbox and "&lt;img src=x" in outbox
    # The channel and the status are said in Chinese, not as stored.
    assert 'data-testid="message-via">短信<' in outbox
    assert 'data-testid="message-status" data-status="pending">待发送<' in outbox

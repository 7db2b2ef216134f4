"""The action panel over HTTP: computed times as forms, the message template picker, refusals that change
nothing on the canvas, and computed values shown as readable JSON."""

from __future__ import annotations

import json
import re

from app.domain.accounts.models import Role
from tests.integration.flows.test_editor import new_flow, panel


def update_of(page: str) -> tuple[str, dict, str]:
    """(data-changed, node, summary) of the panel's node update."""
    match = re.search(
        r'<script type="application/json" class="node-update" data-changed="(\w+)">(.*?)</script>', page, re.S
    )
    assert match, "the panel carries no node update"
    update = json.loads(match.group(2))
    return match.group(1), update["node"], update["summary"]


def presale_node(params: dict) -> dict:
    return {"id": "a1", "type": "action", "name": "预售", "config": {"action": "mark_presale", "params": params}}


async def test_a_designer_sets_the_balance_due_time_as_days_after_payment(client, db, as_role):
    flow_id = await new_flow(db)
    token = await as_role(Role.designer)
    node = presale_node({"balance_due_at": {"var": "order.presale.balance_due_at"}})
    opened = await client.post(
        f"/flows/{flow_id}/panel", data={"_csrf_token": token, "node": json.dumps(node), "intent": "open"}
    )
    assert "活动结束时间（平台的尾款截止时间；平台没有给出时按店铺的预售尾款默认期限）" in opened.text
    assert 'value="presale_end" selected' in opened.text

    chosen = await panel(client, token, flow_id, node, action="mark_presale", **{"param:balance_due_at": "after_paid"})
    changed, unchanged, _ = update_of(chosen.text)
    assert changed == "no" and unchanged["config"] == node["config"], "an unfinished choice is not saved"
    assert 'data-testid="param-balance_due_at-amount"' in chosen.text
    assert "请填写付款后多少小时。" in chosen.text

    form = {
        "param:balance_due_at": "after_paid",
        "param:balance_due_at:amount": "3",
        "param:balance_due_at:unit": "days",
    }
    done = await panel(client, token, flow_id, node, action="mark_presale", **form)
    changed, saved, summary = update_of(done.text)
    assert changed == "yes"
    assert saved["config"]["params"] == {"balance_due_at": {"add_hours": [{"var": "order.paid_at"}, {"*": [3, 24]}]}}
    assert summary == "付款后 3 天"
    assert 'data-testid="panel-ok"' in done.text


async def test_a_gift_quantity_out_of_range_is_refused_and_the_canvas_keeps_the_old_one(
    client, db, as_role, reference_data
):
    flow_id = await new_flow(db)
    token = await as_role(Role.designer)
    node = {
        "id": "g",
        "type": "action",
        "name": "赠品",
        "config": {"action": "add_gift", "params": {"sku": "GIFT-TOTE-01", "qty": 1}},
    }
    refused = await panel(
        client, token, flow_id, node, action="add_gift", **{"param:sku": "GIFT-TOTE-01", "param:qty": "1000"}
    )
    changed, kept, _ = update_of(refused.text)
    assert changed == "no" and kept["config"]["params"]["qty"] == 1
    assert 'data-testid="param-error-qty"' in refused.text and "请输入 1 到 999 之间的整数。" in refused.text
    assert 'value="1000"' in refused.text, "what was typed stays in the form to be corrected"
    assert 'min="1"' in refused.text and 'max="999"' in refused.text


async def test_the_notify_template_is_picked_by_name(client, db, as_role):
    flow_id = await new_flow(db)
    token = await as_role(Role.designer)
    node = {"id": "n", "type": "action", "name": "通知", "config": {"action": "notify", "params": {}}}
    picked = await panel(
        client, token, flow_id, node, action="notify", **{"param:template": "order_shipped", "param:via": "sms"}
    )
    # The picker says when each message is sent: 已发货 waits for the parcel, with its waybill number.
    assert "已发货（包裹确认发货时发送，附快递单号）" in picked.text and "已安排发货（订单分仓后发送）" in picked.text
    assert "预售尾款提醒" in picked.text
    assert update_of(picked.text)[1]["config"]["params"] == {"template": "order_shipped", "via": "sms"}


async def test_a_computed_value_without_a_form_shows_as_readable_json(client, db, as_role):
    flow_id = await new_flow(db)
    token = await as_role(Role.designer)
    due = {"if": [{"var": "order.presale.is_presale"}, {"var": "order.presale.balance_due_at"}, {"now": []}]}
    node = {
        "id": "h",
        "type": "action",
        "name": "挂起",
        "config": {
            "action": "hold_for_review",
            "params": {"reason": {"cat": ["地址不全：", {"var": "order.receiver.city"}]}},
        },
    }
    opened = await client.post(
        f"/flows/{flow_id}/panel", data={"_csrf_token": token, "node": json.dumps(node), "intent": "open"}
    )
    shown = re.search(r'<pre class="code" data-testid="param-reason-logic">(.*?)</pre>', opened.text, re.S)
    assert shown and "地址不全：" in shown.group(1) and "\n" in shown.group(1)
    kept = await panel(client, token, flow_id, presale_node({"balance_due_at": due}), action="mark_presale")
    assert update_of(kept.text)[1]["config"]["params"] == {"balance_due_at": due}

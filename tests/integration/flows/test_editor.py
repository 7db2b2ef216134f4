"""The editor page and its server-rendered panels: palette, draft saving, condition builder, action pickers,
the JSON Logic editor, the simulator and the scope settings."""

from __future__ import annotations

import asyncio
import html
import json
import re

import pytest
from sqlmodel import select

import ruleflows
from app.domain.accounts.models import AuditEntry, Role
from app.domain.accounts.services import SYSTEM
from app.domain.flows import services
from app.domain.flows.samples import SAMPLE_ORDERS, context_of, sample_by_key
from tests.integration.flows.conftest import routing_flow
from tests.integration.processing.test_actions import linear_flow


async def new_flow(db, document=None) -> int:
    async with db.transaction() as session:
        return (await services.create_flow(session, SYSTEM, "测试流程", document=document)).id


def node_update(html: str) -> dict:
    match = re.search(
        r'<script type="application/json" class="node-update" data-changed="(\w+)">(.*?)</script>', html, re.S
    )
    assert match, "the panel carries no node update"
    return json.loads(match.group(2))["node"]


async def panel(client, token, flow_id, node, **form):
    data = {"_csrf_token": token, "node": json.dumps(node, ensure_ascii=False), "intent": "apply", **form}
    return await client.post(f"/flows/{flow_id}/panel", data=data)


async def test_a_designer_creates_a_flow_and_gets_an_editor_with_the_whole_palette(client, db, as_role):
    token = await as_role(Role.designer)
    created = await client.post("/flows/", data={"_csrf_token": token, "name": "双十一分仓"}, follow_redirects=False)
    assert created.status_code == 303
    editor = await client.get(created.headers["location"])
    assert editor.status_code == 200
    for key in ("start", "condition", "switch", "end", *(f"action-{name}" for name in ruleflows.actions_for(None))):
        assert f'data-testid="palette-{key}"' in editor.text
    assert "指定发货仓" in editor.text
    assert not any(f'data-testid="palette-action-{name}"' in editor.text for name in ruleflows.CASE_ACTIONS)
    document = json.loads(re.search(r'id="flow-document">(.*?)</script>', editor.text, re.S).group(1))
    assert [n["type"] for n in document["nodes"]] == ["start", "end"]
    assert document["trigger"] == "order.received"


async def test_an_after_sales_flow_offers_the_case_fields_and_only_the_after_sales_actions(client, db, as_role):
    token = await as_role(Role.designer)
    created = await client.post(
        "/flows/",
        data={"_csrf_token": token, "name": "售后审核", "trigger": "return.requested"},
        follow_redirects=False,
    )
    assert created.status_code == 303
    editor = await client.get(created.headers["location"])
    assert 'data-testid="flow-trigger-badge"' in editor.text
    document = json.loads(re.search(r'id="flow-document">(.*?)</script>', editor.text, re.S).group(1))
    assert document["trigger"] == "return.requested"
    palette = re.findall(r'data-testid="palette-action-([\w_]+)"', editor.text)
    assert palette == list(ruleflows.CASE_ACTIONS)
    flow_id = int(created.headers["location"].rstrip("/").rsplit("/", 1)[1])

    condition = {"id": "c1", "type": "condition", "name": "小额", "config": {}}
    opened = await client.post(
        f"/flows/{flow_id}/panel",
        data={"_csrf_token": token, "node": json.dumps(condition), "intent": "open"},
    )
    assert 'value="case.refund_fen"' in opened.text and 'value="features.returns_90d"' in opened.text
    assert "买家近况" in opened.text and 'value="order.amounts.paid_fen"' not in opened.text
    action = {"id": "a1", "type": "action", "name": "动作", "config": {}}
    opened = await client.post(
        f"/flows/{flow_id}/panel",
        data={"_csrf_token": token, "node": json.dumps(action), "intent": "open"},
    )
    assert "转主管审核" in opened.text and "指定发货仓" not in opened.text
    # The simulator and the backtest replay orders: an after-sales flow is not tried on them.
    tried = await client.post(
        f"/flows/{flow_id}/simulate",
        data={"_csrf_token": token, "order": "sample:east_3c", "document": json.dumps(document)},
    )
    assert tried.status_code == 422 and "售后流程处理的是售后单" in tried.text
    backtest = await client.post(f"/flows/{flow_id}/backtests", data={"_csrf_token": token, "orders": "10"})
    assert backtest.status_code == 400 and "售后流程处理的是售后单" in backtest.text
    refused = await client.post(
        "/flows/",
        data={"_csrf_token": token, "name": "x", "trigger": "order.shipped"},
        follow_redirects=False,
    )
    assert refused.status_code == 400 and "没有名为 order.shipped 的触发事件" in refused.text


async def test_saving_the_draft_keeps_only_the_document_format_and_is_audited(client, db, as_role):
    flow_id = await new_flow(db)
    token = await as_role(Role.designer)
    document = routing_flow()
    document["nodes"][1]["html"] = "<div>drawflow markup</div>"  # whatever an editor sends, markup is not stored
    document["drawflow"] = {"Home": {}}
    saved = await client.post(
        f"/flows/{flow_id}/draft",
        json={"document": document, "base_revision": 1},
        headers={"X-CSRFToken": token},
    )
    assert saved.status_code == 200
    assert saved.json()["revision"] == 2
    assert saved.json()["problems"] == []
    async with db.reading() as session:
        flow = await services.get_flow(session, flow_id)
        entries = (await session.exec(select(AuditEntry).where(AuditEntry.action == "flows.draft_saved"))).all()
    assert "drawflow" not in flow.draft
    assert all(set(node) <= {"id", "type", "name", "position", "config"} for node in flow.draft["nodes"])
    assert [(e.actor_name, e.after["revision"], e.after["nodes"]) for e in entries] == [("designer-1", 2, 7)]


async def test_a_stale_draft_does_not_overwrite_a_newer_one(client, db, as_role):
    flow_id = await new_flow(db)
    token = await as_role(Role.designer)
    first = await client.post(
        f"/flows/{flow_id}/draft", json={"document": routing_flow(), "base_revision": 1}, headers={"X-CSRFToken": token}
    )
    assert first.status_code == 200
    stale = await client.post(
        f"/flows/{flow_id}/draft",
        json={"document": services.blank_document("x"), "base_revision": 1},
        headers={"X-CSRFToken": token},
    )
    assert stale.status_code == 409
    assert "其他人" in stale.json()["detail"]
    async with db.reading() as session:
        assert len((await services.get_flow(session, flow_id)).draft["nodes"]) == 7


async def test_an_unfinished_draft_is_saved_with_its_problems_named_per_node(client, db, as_role):
    flow_id = await new_flow(db)
    token = await as_role(Role.designer)
    document = routing_flow()
    document["nodes"][1]["config"] = {}
    saved = await client.post(
        f"/flows/{flow_id}/draft", json={"document": document, "base_revision": 1}, headers={"X-CSRFToken": token}
    )
    problems = saved.json()["problems"]
    assert [(p["code"], p["node_id"]) for p in problems] == [("missing_logic", "c1")]
    assert "还没有设置条件" in problems[0]["message_zh"]


async def test_the_condition_builder_writes_json_logic_for_region_and_category(client, db, as_role, reference_data):
    flow_id = await new_flow(db)
    token = await as_role(Role.designer)
    node = {"id": "c1", "type": "condition", "name": "条件", "position": {"x": 0, "y": 0}, "config": {}}
    opened = await client.post(
        f"/flows/{flow_id}/panel", data={"_csrf_token": token, "node": json.dumps(node), "intent": "open"}
    )
    assert 'data-testid="cb-field-c.0"' in opened.text
    # Pick the province field, then the region operator, then tick 华东; add a rule for the line category 3C.
    form = {
        "rows": ["c", "c.0"],
        "kind:c": "group",
        "join:c": "and",
        "kind:c.0": "rule",
        "field:c.0": "order.receiver.province",
        "op:c.0": "in_region",
        "value:c.0": ["华东"],
        "do": "add_rule:c",
    }
    step = await panel(client, token, flow_id, node, name="华东 3C？", **form)
    node = node_update(step.text)
    assert node["config"]["builder"]["rules"][1] == {"field": "", "op": "", "value": None}
    form.pop("do")
    form.update(
        {
            "rows": ["c", "c.0", "c.1"],
            "kind:c.1": "rule",
            "field:c.1": "order.lines[].category",
            "op:c.1": "in",
            "value:c.1": ["3C"],
        }
    )
    done = await panel(client, token, flow_id, node, name="华东 3C？", **form)
    node = node_update(done.text)
    assert node["name"] == "华东 3C？"
    assert 'data-testid="cb-value-c.1-美妆"' in done.text  # the categories come from the SKU table
    assert node["config"]["logic"] == {
        "and": [
            {"in": [{"region_of": {"var": "order.receiver.province"}}, ["华东"]]},
            {"any_line_in_category": [{"var": "order.lines"}, ["3C"]]},
        ]
    }
    assert 'data-testid="panel-ok"' in done.text
    east, north = context_of(sample_by_key("east_3c")), context_of(sample_by_key("cheap_not_urgent"))
    assert ruleflows.evaluate(node["config"]["logic"], east) is True
    assert ruleflows.evaluate(node["config"]["logic"], north) is False


async def test_money_is_typed_in_yuan_and_stored_in_fen(client, db, as_role):
    flow_id = await new_flow(db)
    token = await as_role(Role.designer)
    node = {"id": "c1", "type": "condition", "name": "小额", "config": {}}
    form = {
        "rows": ["c", "c.0"],
        "kind:c": "group",
        "join:c": "and",
        "kind:c.0": "rule",
        "field:c.0": "order.amounts.paid_fen",
        "op:c.0": "lt",
        "value:c.0": "49.90",
    }
    node = node_update((await panel(client, token, flow_id, node, **form)).text)
    assert node["config"]["logic"] == {"<": [{"var": "order.amounts.paid_fen"}, 4990]}
    form["value:c.0"] = "四十九"
    refused = await panel(client, token, flow_id, node, **form)
    assert "请填写以元为单位的金额" in refused.text
    assert node_update(refused.text)["config"]["logic"] is None


async def test_nested_or_groups_inside_and(client, db, as_role):
    flow_id = await new_flow(db)
    token = await as_role(Role.designer)
    node = {"id": "c1", "type": "condition", "name": "c", "config": {}}
    form = {
        "rows": ["c", "c.0", "c.1", "c.1.0", "c.1.1"],
        "kind:c": "group",
        "join:c": "and",
        "kind:c.0": "rule",
        "field:c.0": "features.is_urgent",
        "op:c.0": "is_false",
        "kind:c.1": "group",
        "join:c.1": "or",
        "kind:c.1.0": "rule",
        "field:c.1.0": "order.channel",
        "op:c.1.0": "in",
        "value:c.1.0": ["jd"],
        "kind:c.1.1": "rule",
        "field:c.1.1": "order.receiver.phone_masked",
        "op:c.1.1": "invalid_mobile",
    }
    node = node_update((await panel(client, token, flow_id, node, **form)).text)
    assert node["config"]["logic"] == {
        "and": [
            {"!": {"var": "features.is_urgent"}},
            {
                "or": [
                    {"in": [{"var": "order.channel"}, ["jd"]]},
                    {"!": {"mobile_cn": {"var": "order.receiver.phone_masked"}}},
                ]
            },
        ]
    }


async def test_action_forms_offer_warehouses_carriers_and_skus_from_the_tables(client, db, as_role, reference_data):
    flow_id = await new_flow(db)
    token = await as_role(Role.designer)
    node = {"id": "a1", "type": "action", "name": "发货仓", "config": {"action": "assign_warehouse", "params": {}}}
    opened = await panel(client, token, flow_id, node, action="assign_warehouse", mode="code", **{"param:code": "SH01"})
    assert "上海仓（SH01）" in opened.text and "广州仓（GZ01）" in opened.text
    assert node_update(opened.text)["config"] == {"action": "assign_warehouse", "params": {"code": "SH01"}}
    carrier = {"id": "a2", "type": "action", "name": "快递", "config": {"action": "assign_carrier", "params": {}}}
    picked = await panel(
        client,
        token,
        flow_id,
        carrier,
        action="assign_carrier",
        mode="strategy",
        **{"param:strategy": "cheapest", "param:candidates": ["ZTO", "STO"]},
    )
    assert "顺丰速运" in picked.text
    assert node_update(picked.text)["config"]["params"] == {"strategy": "cheapest", "candidates": ["ZTO", "STO"]}
    gift = {"id": "a3", "type": "action", "name": "赠品", "config": {"action": "add_gift", "params": {}}}
    chosen = await panel(
        client, token, flow_id, gift, action="add_gift", **{"param:sku": "GIFT-TOTE-01", "param:qty": "1"}
    )
    assert "帆布袋（GIFT-TOTE-01）" in chosen.text
    assert node_update(chosen.text)["config"]["params"] == {"sku": "GIFT-TOTE-01", "qty": 1}


async def test_the_json_logic_editor_is_checked_as_you_type(client, db, as_role):
    flow_id = await new_flow(db)
    token = await as_role(Role.designer)
    node = {"id": "c1", "type": "condition", "name": "c", "config": {}}
    data = {"_csrf_token": token, "node": json.dumps(node)}
    bad = await client.post(f"/flows/{flow_id}/panel/check", data={**data, "raw": '{"method": [1, "x"]}'})
    assert "不允许的运算" in bad.text
    unknown = await client.post(f"/flows/{flow_id}/panel/check", data={**data, "raw": '{"var": "order.nope"}'})
    assert "order.nope" in unknown.text
    broken = await client.post(f"/flows/{flow_id}/panel/check", data={**data, "raw": '{"==": [1,'})
    assert "不是有效的 JSON" in broken.text
    good = await client.post(
        f"/flows/{flow_id}/panel/check", data={**data, "raw": '{"==": [{"var": "order.receiver.province"}, "上海"]}'}
    )
    assert 'data-testid="raw-check-ok"' in good.text and "true" in good.text
    applied = await panel(
        client, token, flow_id, node, do="apply_raw", raw='{"==": [{"var": "order.receiver.province"}, "上海"]}'
    )
    config = node_update(applied.text)["config"]
    assert config["logic"] == {"==": [{"var": "order.receiver.province"}, "上海"]}
    assert config["builder"]["rules"] == [{"field": "order.receiver.province", "op": "in", "value": ["上海"]}]


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ('{"==": [1,', "不是有效的 JSON"),
        ('{">": [{"var": "order.amounts.paid_fen"}, NaN]}', "nan 不是有限的数值"),
        ('{">": [{"var": "order.amounts.paid_fen"}, 1e400]}', "inf 不是有限的数值"),
    ],
)
async def test_json_that_cannot_be_applied_is_refused_and_stays_in_the_editor_to_be_corrected(
    client, db, as_role, typed, words
):
    flow_id = await new_flow(db)
    token = await as_role(Role.designer)
    logic = {">=": [{"var": "order.amounts.paid_fen"}, 29900]}
    node = {"id": "c1", "type": "condition", "name": "c", "config": {"logic": logic}}
    checked = await client.post(
        f"/flows/{flow_id}/panel/check", data={"_csrf_token": token, "node": json.dumps(node), "raw": typed}
    )
    assert words in checked.text and "raw-check-ok" not in checked.text
    refused = await panel(client, token, flow_id, node, do="apply_raw", raw=typed)
    assert words in refused.text
    assert node_update(refused.text)["config"]["logic"] == logic
    textarea = re.search(r'<textarea name="raw"[^>]*>(.*?)</textarea>', refused.text, re.S)
    assert textarea and html.unescape(textarea.group(1)) == typed


async def test_the_simulator_runs_the_canvas_on_a_sample_and_returns_the_path(client, db, as_role, reference_data):
    flow_id = await new_flow(db)
    token = await as_role(Role.designer)
    result = await client.post(
        f"/flows/{flow_id}/simulate",
        data={"_csrf_token": token, "order": "sample:east_3c", "document": json.dumps(routing_flow())},
    )
    assert result.status_code == 200
    path = json.loads(re.search(r"data-path='(.*?)'", result.text).group(1))
    edges = json.loads(re.search(r"data-edges='(.*?)'", result.text).group(1))
    assert path == ["start", "c1", "a1", "a2", "end"]
    assert edges == ["e1", "e2", "e3", "e4"]
    assert '"code": "SH01"' in result.text.replace("&#34;", '"')


async def test_the_simulator_takes_a_pasted_order_and_explains_a_bad_one(client, db, as_role):
    flow_id = await new_flow(db, routing_flow())
    token = await as_role(Role.designer)
    order = context_of(sample_by_key("cheap_not_urgent"))["order"]
    ran = await client.post(f"/flows/{flow_id}/simulate", data={"_csrf_token": token, "payload": json.dumps(order)})
    assert json.loads(re.search(r"data-path='(.*?)'", ran.text).group(1)) == ["start", "c1", "a3", "a4", "end"]
    bad = await client.post(f"/flows/{flow_id}/simulate", data={"_csrf_token": token, "payload": '{"hello": 1}'})
    assert bad.status_code == 400
    assert "粘贴的订单无法使用" in bad.text


async def test_every_sample_order_runs_through_the_standard_template():
    template = ruleflows.load_template("standard_four_stage")
    outcomes = {sample.key: ruleflows.run(template, context_of(sample), now=None) for sample in SAMPLE_ORDERS}
    assert all(result.status in ("ok", "failed") for result in outcomes.values())
    assert outcomes["east_3c"].decisions.warehouse == "SH01"
    assert outcomes["bad_phone"].decisions.hold is True


async def test_scope_settings_are_checked_and_audited(client, db, as_role, reference_data):
    flow_id = await new_flow(db)
    token = await as_role(Role.designer)
    saved = await client.post(
        f"/flows/{flow_id}/settings",
        data={
            "_csrf_token": token,
            "name": "天猫专用",
            "priority": "5",
            "channels": ["taobao"],
            "shop_codes": ["tmall-flagship"],
        },
    )
    assert saved.status_code == 200 and "settings-saved" in saved.text
    refused = await client.post(
        f"/flows/{flow_id}/settings",
        data={"_csrf_token": token, "name": "天猫专用", "priority": "5", "shop_codes": ["no-such-shop"]},
    )
    assert refused.status_code == 400 and "未知的店铺" in refused.text
    async with db.reading() as session:
        flow = await services.get_flow(session, flow_id)
        entries = (await session.exec(select(AuditEntry).where(AuditEntry.action == "flows.settings_changed"))).all()
    assert (flow.name, flow.priority, flow.channels, flow.shop_codes) == ("天猫专用", 5, ["taobao"], ["tmall-flagship"])
    assert len(entries) == 1


async def test_a_viewer_cannot_open_the_editor(client, db, as_role):
    flow_id = await new_flow(db)
    await as_role(Role.viewer)
    assert (await client.get(f"/flows/{flow_id}")).status_code == 403


async def test_an_exported_flow_imports_as_a_new_draft_with_the_same_document(client, db, as_role, reference_data):
    flow_id = await new_flow(db, routing_flow())
    token = await as_role(Role.designer)
    exported = await client.get(f"/flows/{flow_id}/export")
    assert exported.headers["content-disposition"].startswith("attachment")
    imported = await client.post(
        "/flows/import",
        data={"_csrf_token": token},
        files={"file": ("flow.json", exported.content, "application/json")},
        follow_redirects=False,
    )
    assert imported.status_code == 303
    async with db.reading() as session:
        flows = await services.list_flows(session)
    assert len(flows) == 2
    assert flows[1].draft["nodes"] == flows[0].draft["nodes"] and flows[1].draft["edges"] == flows[0].draft["edges"]
    refused = await client.post(
        "/flows/import",
        data={"_csrf_token": token},
        files={"file": ("flow.json", b"not json", "application/json")},
    )
    assert refused.status_code == 400 and "不是有效的 JSON" in refused.text


async def test_the_backtest_panel_shows_a_progress_bar_then_what_would_change(
    client, db, as_role, reference_data, arq_worker
):
    flow_id = await new_flow(db, routing_flow())
    async with db.transaction() as session:
        await services.publish(session, SYSTEM, flow_id, "v1")
        await services.save_draft(session, SYSTEM, flow_id, routing_flow(east_carrier="ZTO"))
    token = await as_role(Role.designer)
    started = await client.post(f"/flows/{flow_id}/backtests", data={"_csrf_token": token, "orders": "20"})
    assert 'data-testid="backtest-progress"' in started.text
    poll = re.search(r'hx-get="([^"]+)"', started.text).group(1)
    for _ in range(150):
        fragment = await client.get(poll)
        if 'data-testid="backtest-summary"' in fragment.text:
            break
        await asyncio.sleep(0.2)
    assert "7 个订单中有 1 个的处理结果与 v1 不同" in fragment.text
    assert "hx-get" not in fragment.text  # finished: the fragment stops polling


async def test_a_switch_gets_branches_each_with_its_own_conditions(client, db, as_role):
    flow_id = await new_flow(db)
    token = await as_role(Role.designer)
    node = {"id": "s1", "type": "switch", "name": "路线", "config": {"branches": [{"id": "b1", "label": "分支 1"}]}}
    form = {
        "branch": ["b1"],
        "label:b1": "华东",
        "mode:b1": "builder",
        "rows": ["b1", "b1.0"],
        "kind:b1": "group",
        "join:b1": "and",
        "kind:b1.0": "rule",
        "field:b1.0": "features.region",
        "op:b1.0": "in",
        "value:b1.0": ["华东"],
        "do": "add_branch",
    }
    node = node_update((await panel(client, token, flow_id, node, **form)).text)
    first, second = node["config"]["branches"]
    assert (first["id"], first["label"], first["logic"]) == (
        "b1",
        "华东",
        {"in": [{"var": "features.region"}, ["华东"]]},
    )
    assert (second["id"], second["logic"]) == ("b2", None)
    removed = await panel(client, token, flow_id, node, **{**form, "branch": ["b1", "b2"], "do": "remove_branch:b1"})
    assert [b["id"] for b in node_update(removed.text)["config"]["branches"]] == ["b2"]


async def test_a_name_or_branch_label_typed_with_bidi_controls_is_kept_without_them(client, db, as_role):
    flow_id = await new_flow(db)
    token = await as_role(Role.designer)
    node = {"id": "s1", "type": "switch", "name": "路线", "config": {"branches": [{"id": "b1", "label": "分支 1"}]}}
    form = {"branch": ["b1"], "label:b1": "\u202e东华\u2066", "mode:b1": "json", "logic:b1": "true"}
    answer = await panel(client, token, flow_id, node, name="\u200f线路\u202e达到法无", **form)
    node = node_update(answer.text)
    assert (node["name"], node["config"]["branches"][0]["label"]) == ("线路达到法无", "东华")
    assert "\u202e" not in answer.text


async def test_published_flows_for_an_order_follow_scope_and_priority(db):
    async with db.transaction() as session:
        everywhere = await services.create_flow(session, SYSTEM, "全部", document=routing_flow(), priority=50)
        tmall_only = await services.create_flow(
            session, SYSTEM, "天猫", document=routing_flow(), priority=10, channels=["tmall"]
        )
        draft_only = await services.create_flow(session, SYSTEM, "草稿", document=routing_flow(), priority=1)
        for flow in (everywhere, tmall_only):
            await services.publish(session, SYSTEM, flow.id, "上线")
    async with db.reading() as session:
        tmall = await services.published_flows_for(session, "tmall", "tmall-flagship")
        jd = await services.published_flows_for(session, "jd", "jd-pop")
        paid = await services.published_flows_for(session, "jd", "jd-pop", trigger="order.paid")
    assert [flow_id for flow_id, _, _ in tmall] == [tmall_only.id, everywhere.id]
    assert [flow_id for flow_id, _, _ in jd] == [everywhere.id]
    assert draft_only.id not in {flow_id for flow_id, _, _ in tmall}
    assert paid == []
    assert tmall[0][1] in services.COMPILED


async def test_a_backtest_that_changes_more_orders_than_it_lists_says_only_the_first_are_shown(
    client, db, settings, as_role, reference_data, monkeypatch
):
    monkeypatch.setattr(services, "MAX_BACKTEST_ROWS", 2)
    flow_id = await new_flow(db, routing_flow())
    async with db.transaction() as session:
        await services.publish(session, SYSTEM, flow_id, "v1")
        await services.save_draft(
            session, SYSTEM, flow_id, linear_flow(("hold_for_review", {"reason": "全部人工审核"}))
        )
        backtest_id = (await services.start_backtest(session, SYSTEM, flow_id, 20)).id
    await services.run_backtest(db, backtest_id, secret_key=settings.secret_key, time_limit=60)
    await as_role(Role.designer)

    fragment = (await client.get(f"/flows/{flow_id}/backtests/{backtest_id}")).text

    changed = int(re.search(r"个订单中有 (\d+) 个的处理结果与 v1 不同", fragment).group(1))
    assert changed > 2
    assert "仅显示前 2 个变化的订单" in fragment
    rows = re.search(r'data-testid="backtest-rows">(.*?)</table>', fragment, re.S).group(1)
    assert rows.count("<tr><td>") == 2

"""Conditions and switch branches open as builder forms whoever wrote them; only what the builder cannot
say stays JSON, shown with Chinese as written."""

from __future__ import annotations

import html
import json
import re

import pytest

import ruleflows
from app.domain.accounts.models import Role
from tests.integration.flows.test_editor import new_flow, node_update, panel

#: A \\uXXXX escape of anything but the characters |tojson must escape for HTML (< > & ').
ESCAPED = re.compile(r"\\u(?!003c|003e|0026|0027)[0-9a-fA-F]{4}")


async def opened(client, token, flow_id, node) -> str:
    data = {"_csrf_token": token, "node": json.dumps(node, ensure_ascii=False), "intent": "open"}
    response = await client.post(f"/flows/{flow_id}/panel", data=data)
    assert response.status_code == 200
    return response.text


async def template_node_opened(client, db, as_role, node_id: str) -> tuple[int, str, str]:
    """(flow id, CSRF token, panel) for one node of the four-stage template, opened by a designer."""
    document = ruleflows.load_template("standard_four_stage")
    flow_id = await new_flow(db, document)
    token = await as_role(Role.designer)
    node = next(n for n in document["nodes"] if n["id"] == node_id)
    return flow_id, token, await opened(client, token, flow_id, node)


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', page)
    assert match, name
    return html.unescape(match.group(1))


def same_address_form(page: str, value: str) -> dict[str, str | list[str]]:
    """The builder's form for the template's 同一地址 24 小时 rule, asking for more than ``value`` orders."""
    return {
        "mode": hidden(page, "mode"),
        "rows": ["c", "c.0"],
        "kind:c": "group",
        "join:c": "and",
        "kind:c.0": "rule",
        "default:c.0": hidden(page, "default:c.0"),
        "field:c.0": "features.same_address_24h",
        "op:c.0": "gt",
        "value:c.0": value,
    }


@pytest.mark.parametrize("key", [t["key"] for t in ruleflows.list_templates()])
async def test_every_condition_and_branch_of_a_shipped_template_opens_as_a_form(client, db, as_role, key):
    document = ruleflows.load_template(key)
    flow_id = await new_flow(db, document)
    token = await as_role(Role.designer)
    editor = await client.get(f"/flows/{flow_id}")
    summaries = json.loads(
        html.unescape(re.search(r'id="flow-summaries">(.*?)</script>', editor.text, re.S).group(1))  # type: ignore[union-attr]
    )
    for node in document["nodes"]:
        if node["type"] not in ("condition", "switch"):
            continue
        page = await opened(client, token, flow_id, node)
        assert "JSON Logic 写的" not in page and "无法用向导" not in page, node["id"]
        assert not ESCAPED.search(page), node["id"]
        if node["type"] == "condition":
            assert hidden(page, "mode") == "builder", node["id"]
            assert 'data-testid="cb-field-c.0"' in page
            assert summaries[node["id"]] and summaries[node["id"]] != "JSON Logic", node["id"]
        for branch in node["config"].get("branches", []):
            assert hidden(page, f"mode:{branch['id']}") == "builder", (node["id"], branch["id"])
            assert f'data-testid="cb-field-{branch["id"]}.0"' in page


async def test_the_route_branch_for_east_china_shows_its_region_ticked_and_its_label_in_chinese(client, db, as_role):
    _, _, page = await template_node_opened(client, db, as_role, "route")
    assert re.search(r'value="华东" checked data-testid="cb-value-east_3c\.0-华东"', page)
    assert re.search(r'value="3C" checked data-testid="cb-value-east_3c\.1-3C"', page)
    assert 'value="华东 + 3C 数码"' in page
    assert 'value="50.00"' in page  # 实付不足 50 元: fen shown as yuan
    assert "\\u534e" not in page


async def test_the_same_address_rule_opens_holding_3_and_saving_5_keeps_its_default(client, db, as_role):
    flow_id, token, page = await template_node_opened(client, db, as_role, "audit_same_address")
    assert re.search(r'<input type="number"[^>]*name="value:c.0" value="3"', page)
    shown = node_update(page)
    form = same_address_form(page, "5")
    saved = node_update((await panel(client, token, flow_id, shown, **form)).text)
    assert saved["config"]["logic"] == {">": [{"var": ["features.same_address_24h", 0]}, 5]}


async def test_what_the_builder_cannot_say_stays_json_pretty_and_in_chinese(client, db, as_role):
    flow_id = await new_flow(db)
    token = await as_role(Role.designer)
    odd = {"==": [{"cat": ["华", "东"]}, {"var": "features.region"}]}
    condition = {"id": "c1", "type": "condition", "name": "手写", "config": {"logic": odd}}
    page = await opened(client, token, flow_id, condition)
    assert hidden(page, "mode") == "raw"
    assert "JSON Logic 写的" in page
    assert '"华",\n        "东"' in html.unescape(page)
    switch = {
        "id": "s1",
        "type": "switch",
        "name": "路线",
        "config": {"branches": [{"id": "b1", "label": "华东", "logic": odd}]},
    }
    page = await opened(client, token, flow_id, switch)
    assert hidden(page, "mode:b1") == "raw"
    assert '"华",' in html.unescape(page) and not ESCAPED.search(page)


async def test_json_applied_by_hand_opens_as_rows_when_rows_can_say_it(client, db, as_role):
    flow_id = await new_flow(db)
    token = await as_role(Role.designer)
    node = {"id": "c1", "type": "condition", "name": "大单", "config": {}}
    raw = '{"!": {"or": [{"<": [29900, {"var": "order.amounts.paid_fen"}]}, {"var": "features.is_urgent"}]}}'
    page = (await panel(client, token, flow_id, node, do="apply_raw", raw=raw)).text
    assert hidden(page, "mode") == "builder"
    assert re.search(r'<option value="none" selected>', page)
    assert 'value="299.00"' in page
    updated = node_update(page)
    assert updated["config"]["builder"]["join"] == "none"
    assert updated["config"]["logic"] == json.loads(raw)  # opening as rows does not rewrite what was typed


async def test_how_long_ago_a_time_was_opens_as_hours_and_reads_as_words(client, db, as_role):
    flow_id = await new_flow(db)
    token = await as_role(Role.designer)
    logic = {">": [{"hours_since": {"var": "order.paid_at"}}, 48]}
    node = {"id": "c1", "type": "condition", "name": "付款两天未发", "config": {"logic": logic}}
    page = await opened(client, token, flow_id, node)
    assert re.search(r'<input type="number"[^>]*name="value:c.0" value="48"', page)
    assert re.search(r'<option value="hours_ago_over" selected>距今超过</option>', page)
    assert (
        json.loads(html.unescape(page.split('class="node-update" data-changed="no">')[1].split("</script>")[0]))[
            "summary"
        ]
        == "付款时间 距今超过 48 小时"
    )


async def test_a_saved_builder_state_that_is_not_a_tree_is_ignored_and_the_logic_opens_as_rows(client, db, as_role):
    flow_id = await new_flow(db)
    token = await as_role(Role.designer)
    logic = {"!": {"var": "features.is_urgent"}}
    node = {"id": "c1", "type": "condition", "name": "不加急", "config": {"logic": logic, "builder": {"rules": ["x"]}}}
    page = await opened(client, token, flow_id, node)
    assert hidden(page, "mode") == "builder"
    assert re.search(r'<option value="is_false" selected>', page)


@pytest.mark.parametrize("typed", ["٣", "１２"])
async def test_digits_other_than_ascii_are_refused_and_not_shown_on_the_canvas(client, db, as_role, typed):
    flow_id, token, page = await template_node_opened(client, db, as_role, "audit_same_address")
    shown = node_update(page)
    form = same_address_form(page, typed)
    answer = (await panel(client, token, flow_id, shown, **form)).text
    assert answer.split('data-testid="cb-error-c.0">')[1].startswith("请填写数字。")
    update = json.loads(re.search(r'class="node-update" data-changed="\w+">(.*?)</script>', answer, re.S).group(1))
    assert update["node"]["config"]["logic"] is None  # no rule is set from it
    assert typed not in update["summary"]  # and the canvas does not show it as a number

"""整理布局 over HTTP: the editor asks where the nodes go and nothing is stored; a flow whose stored positions
cannot be read opens laid out, its draft untouched until the designer saves."""

from __future__ import annotations

import json
import re

import ruleflows
from app.domain.accounts.models import Role
from app.domain.accounts.services import SYSTEM
from app.domain.flows import services


async def template_flow(db, document=None) -> int:
    async with db.transaction() as session:
        if document is None:
            return (await services.create_flow(session, SYSTEM, "四段", template="standard_four_stage")).id
        return (await services.create_flow(session, SYSTEM, "四段", document=document)).id


def piled() -> dict:
    document = ruleflows.load_template("standard_four_stage")
    for node in document["nodes"]:
        node["position"] = {"x": 0, "y": 0}
    return document


def page_json(html: str, element_id: str):
    return json.loads(re.search(rf'id="{element_id}">(.*?)</script>', html, re.S).group(1))


async def test_arranging_answers_a_place_for_every_node_and_its_lanes_and_stores_nothing(client, db, as_role):
    flow_id = await template_flow(db)
    token = await as_role(Role.designer)
    document = piled()
    sizes = {node["id"]: [170, 64] for node in document["nodes"]}
    answer = await client.post(
        f"/flows/{flow_id}/layout", json={"document": document, "sizes": sizes}, headers={"X-CSRFToken": token}
    )
    assert answer.status_code == 200
    layout = answer.json()
    assert set(layout["positions"]) == {node["id"] for node in document["nodes"]}
    assert [lane["name"] for lane in layout["lanes"]] == ["自动审单", "分仓与快递", "特殊订单", "单据与通知"]
    rows = {(p["x"], p["y"]) for p in layout["positions"].values()}
    assert len(rows) == len(document["nodes"]), "no two nodes share a place"
    async with db.reading() as session:
        flow = await services.get_flow(session, flow_id)
    assert flow.draft_revision == 1
    assert flow.draft == ruleflows.load_template("standard_four_stage") | {"name": "四段"}


async def test_arranging_refuses_what_is_not_a_flow_document_in_chinese_and_english(client, db, as_role):
    flow_id = await template_flow(db)
    token = await as_role(Role.designer)
    too_large = {"nodes": [{"id": f"n{i}", "type": "action", "name": "x" * 2000} for i in range(200)]}
    refused = await client.post(
        f"/flows/{flow_id}/layout", json={"document": too_large}, headers={"X-CSRFToken": token}
    )
    assert refused.status_code == 400
    assert "过大" in refused.json()["detail"]
    english = await client.post(
        f"/flows/{flow_id}/layout",
        json={"document": too_large},
        headers={"X-CSRFToken": token, "Accept-Language": "en"},
    )
    assert "too large" in english.json()["detail"]
    missing = await client.post("/flows/999999/layout", json={"document": {}}, headers={"X-CSRFToken": token})
    assert missing.status_code == 404


async def test_an_operator_may_not_ask_for_a_layout(client, db, as_role):
    flow_id = await template_flow(db)
    token = await as_role(Role.operator)
    answer = await client.post(f"/flows/{flow_id}/layout", json={"document": piled()}, headers={"X-CSRFToken": token})
    assert answer.status_code == 403


async def test_a_flow_with_its_nodes_on_top_of_each_other_opens_laid_out_and_its_draft_is_kept(client, db, as_role):
    flow_id = await template_flow(db, piled())
    await as_role(Role.designer)
    editor = await client.get(f"/flows/{flow_id}")
    assert 'data-arranged-on-open="yes"' in editor.text
    shown = page_json(editor.text, "flow-document")
    assert len({(n["position"]["x"], n["position"]["y"]) for n in shown["nodes"]}) == len(shown["nodes"])
    assert [lane["name"] for lane in page_json(editor.text, "flow-lanes")][:1] == ["自动审单"]
    async with db.reading() as session:
        flow = await services.get_flow(session, flow_id)
    assert flow.draft_revision == 1
    assert {(n["position"]["x"], n["position"]["y"]) for n in flow.draft["nodes"]} == {(0, 0)}


async def test_a_laid_out_flow_opens_as_stored_with_the_canvas_tools_in_the_chosen_language(client, db, as_role):
    flow_id = await template_flow(db)
    await as_role(Role.designer)
    editor = await client.get(f"/flows/{flow_id}")
    assert 'data-arranged-on-open="no"' in editor.text
    assert page_json(editor.text, "flow-document")["nodes"] == ruleflows.load_template("standard_four_stage")["nodes"]
    for chinese in ("整理布局", "查找节点", "全局缩略图"):
        assert chinese in editor.text
    assert page_json(editor.text, "flow-messages")["problemsOf"] == "此节点的问题"
    english = await client.get(f"/flows/{flow_id}", headers={"Accept-Language": "en"})
    for words in ("Arrange", "Find a node", "Overview: click or drag"):
        assert words in english.text
    assert page_json(english.text, "flow-messages")["problemsOf"] == "Problems of this node"

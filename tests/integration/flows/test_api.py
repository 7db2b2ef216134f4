"""The flows JSON API: read scope for looking, admin scope for changing; every endpoint in the OpenAPI schema."""

from __future__ import annotations

import asyncio

from app.domain.accounts.models import TokenScope
from app.domain.flows.models import BacktestStatus, FlowBacktest
from tests.integration.flows.conftest import routing_flow


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_a_machine_creates_saves_validates_simulates_publishes_and_rolls_back(client, make_token, reference_data):
    admin = bearer(await make_token(TokenScope.admin))
    created = await client.post(
        "/api/v1/flows", json={"name": "API 流程", "template": "standard_four_stage"}, headers=admin
    )
    assert created.status_code == 201
    flow = created.json()
    assert flow["problems"] == [] and flow["draft"]["name"] == "API 流程"
    flow_id = flow["id"]

    saved = await client.put(
        f"/api/v1/flows/{flow_id}/draft",
        json={"document": routing_flow(), "base_revision": flow["draft_revision"]},
        headers=admin,
    )
    assert saved.status_code == 200 and saved.json()["draft_revision"] == flow["draft_revision"] + 1

    checked = await client.post(f"/api/v1/flows/{flow_id}/validate", json={}, headers=admin)
    assert checked.json() == {"valid": True, "problems": []}
    ran = await client.post(f"/api/v1/flows/{flow_id}/simulate", json={"sample": "sample:east_3c"}, headers=admin)
    assert ran.json()["path"] == ["start", "c1", "a1", "a2", "end"]
    assert ran.json()["decisions"]["warehouse"] == "SH01"

    v1 = await client.post(f"/api/v1/flows/{flow_id}/publish", json={"note": "上线"}, headers=admin)
    assert v1.status_code == 201 and v1.json()["number"] == 1 and v1.json()["is_live"]
    await client.put(
        f"/api/v1/flows/{flow_id}/draft", json={"document": routing_flow(east_carrier="ZTO")}, headers=admin
    )
    v2 = await client.post(f"/api/v1/flows/{flow_id}/publish", json={"note": "改中通"}, headers=admin)
    diff = await client.get(
        f"/api/v1/flows/{flow_id}/diff?left={v1.json()['id']}&right={v2.json()['id']}", headers=admin
    )
    assert [n["id"] for n in diff.json()["nodes_changed"]] == ["a2"]

    rolled = await client.post(f"/api/v1/flows/{flow_id}/rollback", json={"version_id": v1.json()["id"]}, headers=admin)
    assert rolled.status_code == 201 and rolled.json()["number"] == 3
    versions = (await client.get(f"/api/v1/flows/{flow_id}/versions", headers=admin)).json()
    assert [(v["number"], v["is_live"]) for v in versions] == [(3, True), (2, False), (1, False)]


async def test_a_read_token_may_look_but_not_publish(client, make_token, reference_data):
    admin = bearer(await make_token(TokenScope.admin, name="admin"))
    reader = bearer(await make_token(TokenScope.read, name="reader"))
    flow_id = (
        await client.post("/api/v1/flows", json={"name": "只读测试", "document": routing_flow()}, headers=admin)
    ).json()["id"]
    assert (await client.get(f"/api/v1/flows/{flow_id}", headers=reader)).status_code == 200
    assert (await client.get("/api/v1/flows", headers=reader)).json()[0]["id"] == flow_id
    assert (
        await client.post(f"/api/v1/flows/{flow_id}/publish", json={"note": "x"}, headers=reader)
    ).status_code == 403
    assert (
        await client.post(f"/api/v1/flows/{flow_id}/rollback", json={"version_id": 1}, headers=reader)
    ).status_code == 403
    assert (
        await client.put(f"/api/v1/flows/{flow_id}/draft", json={"document": {}}, headers=reader)
    ).status_code == 403


async def test_publishing_a_broken_flow_through_the_api_names_the_problems(client, make_token):
    admin = bearer(await make_token(TokenScope.admin))
    broken = routing_flow()
    broken["nodes"][2]["config"]["params"] = {}
    flow_id = (await client.post("/api/v1/flows", json={"name": "坏流程", "document": broken}, headers=admin)).json()[
        "id"
    ]
    refused = await client.post(f"/api/v1/flows/{flow_id}/publish", json={"note": "试试"}, headers=admin)
    assert refused.status_code == 422
    body = refused.json()
    assert body["error"] == "has_problems" and body["field"] == "document"
    assert [(p["code"], p["node_id"]) for p in body["problems"]] == [("conflicting_params", "a1")]


async def test_bad_input_gets_a_json_error_naming_the_field(client, make_token):
    admin = bearer(await make_token(TokenScope.admin))
    unknown = await client.post("/api/v1/flows", json={"name": "x", "channels": ["myspace"]}, headers=admin)
    assert unknown.status_code == 400 and unknown.json()["field"] == "channels"
    missing = await client.get("/api/v1/flows/999", headers=admin)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    no_name = await client.post("/api/v1/flows", json={"name": ""}, headers=admin)
    assert no_name.status_code == 400


async def test_every_flow_endpoint_is_in_the_openapi_schema(client, make_user):
    from tests.integration.forms import login

    await make_user(username="reader")
    await login(client, "reader")
    schema = (await client.get("/schema/openapi.json")).json()
    paths = set(schema["paths"])
    for path in (
        "/api/v1/flows",
        "/api/v1/flows/{flow_id}",
        "/api/v1/flows/{flow_id}/draft",
        "/api/v1/flows/{flow_id}/validate",
        "/api/v1/flows/{flow_id}/simulate",
        "/api/v1/flows/{flow_id}/backtests",
        "/api/v1/flows/{flow_id}/backtests/{backtest_id}",
        "/api/v1/flows/{flow_id}/publish",
        "/api/v1/flows/{flow_id}/versions",
        "/api/v1/flows/{flow_id}/diff",
        "/api/v1/flows/{flow_id}/rollback",
    ):
        assert path in paths, path
    assert not any(p.startswith("/flows") for p in paths)


async def test_a_backtest_runs_in_the_background_and_shows_what_would_change(
    client, make_token, db, reference_data, arq_worker
):
    admin = bearer(await make_token(TokenScope.admin))
    flow_id = (
        await client.post("/api/v1/flows", json={"name": "回测", "document": routing_flow()}, headers=admin)
    ).json()["id"]
    await client.post(f"/api/v1/flows/{flow_id}/publish", json={"note": "v1"}, headers=admin)
    await client.put(
        f"/api/v1/flows/{flow_id}/draft", json={"document": routing_flow(east_warehouse="GZ01")}, headers=admin
    )
    started = await client.post(f"/api/v1/flows/{flow_id}/backtests", json={"orders": 50}, headers=admin)
    assert started.status_code == 202
    backtest_id = started.json()["id"]
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        status = (await client.get(f"/api/v1/flows/{flow_id}/backtests/{backtest_id}", headers=admin)).json()
        if status["status"] in (BacktestStatus.done, BacktestStatus.failed):
            break
        assert asyncio.get_running_loop().time() < deadline, status
        await asyncio.sleep(0.2)
    assert status["status"] == "done", status["error"]
    result = status["result"]
    # Of the samples, only the 华东 3C order is routed differently: 上海仓 in v1, 广州仓 in the draft.
    assert result["baseline"] == "v1"
    assert result["changed_orders"] == 1
    (row,) = result["rows"]
    assert row["key"] == "sample:east_3c" and row["changed"] == ["warehouse"]
    assert (row["before"]["warehouse"], row["after"]["warehouse"]) == ("SH01", "GZ01")
    assert result["cost_difference_fen"] > 0  # shipping to 上海 from 广州 costs more
    async with db.reading() as session:
        assert (await session.get(FlowBacktest, backtest_id)).processed == result["orders"]


async def test_a_long_unknown_template_or_shop_is_refused_naming_only_its_start(client, make_token, reference_data):
    admin = bearer(await make_token(TokenScope.admin))
    template, shop = "模" * 5000, "x" * 5000
    for body, field, head in (
        ({"template": template}, "template", "没有名为 " + "模" * 59 + "…"),
        ({"shop_codes": [shop]}, "shop_codes", "未知的店铺：" + "x" * 59 + "…"),
    ):
        refused = await client.post("/api/v1/flows", json={"name": "超长", **body}, headers=admin)
        assert refused.status_code == 400, refused.text
        assert refused.json()["field"] == field
        message = refused.json()["message"]
        assert message.startswith(head) and len(message) < 100, message
    assert [f["name"] for f in (await client.get("/api/v1/flows", headers=admin)).json()] == []


async def test_bidi_controls_are_taken_out_of_flow_node_and_branch_names_so_none_shows_reversed(
    client, make_token, reference_data
):
    admin = bearer(await make_token(TokenScope.admin))
    rlo = "\u202e"
    created = await client.post(
        "/api/v1/flows", json={"name": f"{rlo}程流\u2066", "document": routing_flow()}, headers=admin
    )
    assert created.status_code == 201 and created.json()["name"] == "程流"
    document = routing_flow()
    document["nodes"][1]["name"] = f"\u200f华东{rlo}C3？\u061c"
    switch = {"branches": [{"id": "b1", "label": f"\u202a{rlo}大客户\u202c", "logic": True}]}
    document["nodes"].append(
        {"id": "s1", "type": "switch", "name": f"{rlo}分流", "position": {"x": 0, "y": 0}, "config": switch}
    )
    saved = await client.put(f"/api/v1/flows/{created.json()['id']}/draft", json={"document": document}, headers=admin)
    assert saved.status_code == 200, saved.text
    draft = saved.json()["draft"]
    nodes = {node["id"]: node for node in draft["nodes"]}
    assert (nodes["c1"]["name"], nodes["s1"]["name"]) == ("华东C3？", "分流")
    assert nodes["s1"]["config"]["branches"][0]["label"] == "大客户"
    messages = [p["message_zh"] for p in saved.json()["problems"] if p["node_id"] == "s1"]
    assert "分支节点「分流（s1）」的分支「大客户（b1）」没有连线。" in messages

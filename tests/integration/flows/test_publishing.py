"""Publishing, rollback and diffs: only clean flows go live, only admins publish, history is never rewritten."""

from __future__ import annotations

import copy

from sqlmodel import select

import ruleflows
from app.domain.accounts.models import AuditEntry, Role
from app.domain.accounts.services import SYSTEM
from app.domain.flows import services
from app.domain.flows.samples import context_of, sample_by_key
from tests.integration.flows.conftest import routing_flow
from tests.integration.forms import csrf_from


async def make_flow(db, document=None, **settings) -> int:
    async with db.transaction() as session:
        flow = await services.create_flow(
            session, SYSTEM, "华东 3C 分仓", document=document or routing_flow(), **settings
        )
        return flow.id


async def test_a_flow_with_errors_cannot_be_published(client, db, as_role, reference_data):
    broken = routing_flow()
    broken["edges"] = [e for e in broken["edges"] if e["port"] != "false"]  # the condition's "no" leads nowhere
    flow_id = await make_flow(db, broken)
    token = await as_role(Role.admin)

    page = await client.get(f"/flows/{flow_id}/versions")
    assert "draft-problems" in page.text
    assert "缺少“否”分支的连线" in page.text

    refused = await client.post(f"/flows/{flow_id}/publish", data={"_csrf_token": token, "note": "上线"})
    assert refused.status_code == 422
    assert "修复" in refused.text
    async with db.reading() as session:
        flow = await services.get_flow(session, flow_id)
        assert flow.live_version_id is None
        assert await services.list_versions(session, flow_id) == []


async def test_a_designer_cannot_publish_or_roll_back(client, db, as_role, reference_data):
    flow_id = await make_flow(db)
    token = await as_role(Role.designer)
    assert (await client.get(f"/flows/{flow_id}")).status_code == 200

    refused = await client.post(f"/flows/{flow_id}/publish", data={"_csrf_token": token, "note": "上线"})
    assert refused.status_code == 403
    async with db.reading() as session:
        assert (await services.get_flow(session, flow_id)).live_version_id is None
        denied = (await session.exec(select(AuditEntry).where(AuditEntry.action == "access.denied"))).all()
    assert [entry.after["needed"] for entry in denied] == ["permission:flows.publish"]
    versions_page = await client.get(f"/flows/{flow_id}/versions")
    assert "publish-not-allowed" in versions_page.text


async def test_an_admin_publishes_a_clean_flow_and_it_is_audited(client, db, as_role, reference_data):
    flow_id = await make_flow(db)
    token = await as_role(Role.admin)
    published = await client.post(
        f"/flows/{flow_id}/publish", data={"_csrf_token": token, "note": "华东 3C 走上海仓顺丰"}
    )
    assert published.status_code == 200
    assert "v1" in published.text
    async with db.reading() as session:
        flow = await services.get_flow(session, flow_id)
        (version,) = await services.list_versions(session, flow_id)
        entries = (await session.exec(select(AuditEntry).where(AuditEntry.action == "flows.published"))).all()
    assert flow.live_version_id == version.id
    assert version.note == "华东 3C 走上海仓顺丰"
    assert version.document == flow.draft
    assert [(e.actor_name, e.target_id, e.after["number"]) for e in entries] == [("admin-1", str(flow_id), 1)]


async def test_rollback_makes_the_older_behaviour_live_for_new_orders(client, db, as_role, reference_data):
    flow_id = await make_flow(db, routing_flow(east_warehouse="SH01"))
    token = await as_role(Role.admin)
    await client.post(f"/flows/{flow_id}/publish", data={"_csrf_token": token, "note": "v1: 上海仓"})
    async with db.transaction() as session:
        await services.save_draft(session, SYSTEM, flow_id, routing_flow(east_warehouse="GZ01"))
    await client.post(f"/flows/{flow_id}/publish", data={"_csrf_token": token, "note": "v2: 广州仓"})
    east_3c = context_of(sample_by_key("east_3c"))

    async def live_warehouse() -> str:
        async with db.reading() as session:
            ((_, _, compiled),) = await services.published_flows_for(session, "taobao", "tmall-flagship")
        return ruleflows.run(compiled, east_3c).decisions.warehouse

    assert await live_warehouse() == "GZ01"
    async with db.reading() as session:
        v2, v1 = await services.list_versions(session, flow_id)
    rolled = await client.post(f"/flows/{flow_id}/versions/{v1.id}/rollback", data={"_csrf_token": token})
    assert rolled.status_code == 200
    assert await live_warehouse() == "SH01"
    async with db.reading() as session:
        v3, again_v2, again_v1 = await services.list_versions(session, flow_id)
        flow = await services.get_flow(session, flow_id)
    # History is kept as it was: the rollback is a new version copying v1.
    assert (v3.number, v3.copied_from_version_id, flow.live_version_id) == (3, v1.id, v3.id)
    assert v3.document == v1.document
    assert (again_v2.document, again_v1.document) == (v2.document, v1.document)
    assert "回滚到 v1" in v3.note


async def test_the_diff_of_two_versions_lists_exactly_the_changed_nodes(client, db, as_role, reference_data):
    first = routing_flow()
    flow_id = await make_flow(db, first)
    token = await as_role(Role.admin)
    await client.post(f"/flows/{flow_id}/publish", data={"_csrf_token": token, "note": "v1"})
    second = copy.deepcopy(first)
    nodes = {n["id"]: n for n in second["nodes"]}
    nodes["a2"]["config"]["params"] = {"code": "ZTO"}  # behaviour changed
    nodes["a3"]["name"] = "就近发货"  # renamed
    nodes["a4"]["position"] = {"x": 999, "y": 999}  # only moved
    async with db.transaction() as session:
        await services.save_draft(session, SYSTEM, flow_id, second)
    await client.post(f"/flows/{flow_id}/publish", data={"_csrf_token": token, "note": "v2"})
    async with db.reading() as session:
        v2, v1 = await services.list_versions(session, flow_id)

    page = await client.get(f"/flows/{flow_id}/diff?left={v1.id}&right={v2.id}")
    assert page.status_code == 200
    diff = services.diff_documents(v1.document, v2.document)
    assert sorted(n["id"] for n in diff.nodes_changed) == ["a2", "a3"]
    assert diff.nodes_moved == ["a4"]
    assert (diff.nodes_added, diff.nodes_removed, diff.edges_added, diff.edges_removed) == ([], [], [], [])
    changed_list = page.text.split('data-testid="diff-nodes-changed"')[1].split("</ul>")[0]
    assert changed_list.count("<li") == 2
    assert 'data-node="a2"' in changed_list and 'data-node="a3"' in changed_list
    assert "diff-nodes-added" not in page.text and "diff-nodes-removed" not in page.text


async def test_the_versions_page_refuses_a_publish_without_a_note(client, db, as_role, reference_data):
    flow_id = await make_flow(db)
    token = await as_role(Role.admin)
    refused = await client.post(f"/flows/{flow_id}/publish", data={"_csrf_token": token, "note": "  "})
    assert refused.status_code == 400
    assert "说明" in refused.text
    assert csrf_from(refused.text)

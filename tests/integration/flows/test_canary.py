"""The canary on the versions page: an admin publishes the draft as a canary for one shop, sees the two versions
side by side and promotes it or rolls it back; a designer may not; bad input is refused in Chinese."""

from __future__ import annotations

from sqlmodel import select

from app.domain.accounts.models import AuditEntry, Role
from app.domain.accounts.services import SYSTEM
from app.domain.flows import canary as canaries
from app.domain.flows import services
from app.domain.flows.models import FlowCanary
from tests.integration.flows.conftest import routing_flow


async def live_flow(db) -> int:
    """A flow with v1 live (华东 3C → 上海仓) and a draft that sends them to 广州仓."""
    async with db.transaction() as session:
        flow = await services.create_flow(session, SYSTEM, "华东 3C 分仓", document=routing_flow())
        await services.publish(session, SYSTEM, flow.id, "v1 上海仓")
        await services.save_draft(session, SYSTEM, flow.id, routing_flow(east_warehouse="GZ01"))
        return flow.id


def canary_form(token: str, **fields: str | list[str]) -> dict[str, str | list[str]]:
    return {
        "_csrf_token": token,
        "note": "v2 广州仓，先在天猫试",
        "hold_threshold": "5",
        "failure_threshold": "2",
        "min_orders": "50",
        **fields,
    }


async def state(db, flow_id: int) -> tuple[int | None, int | None, list[int]]:
    async with db.reading() as session:
        flow = await services.get_flow(session, flow_id)
        numbers = [v.number for v in await services.list_versions(session, flow_id)]
    return flow.live_version_id, flow.canary_id, numbers


async def test_an_admin_publishes_a_canary_for_one_shop_sees_both_versions_and_promotes_it(
    client, db, as_role, reference_data
):
    flow_id = await live_flow(db)
    token = await as_role(Role.admin)
    page = await client.get(f"/flows/{flow_id}/versions")
    assert 'data-testid="canary-form"' in page.text and 'data-testid="canary-shop-tmall-flagship"' in page.text

    started = await client.post(
        f"/flows/{flow_id}/canary",
        data=canary_form(token, shop_codes=["tmall-flagship"]),
        headers={"HX-Request": "true"},
    )
    assert started.status_code == 200
    assert "版本 2 已作为灰度版本运行" in started.text
    running = started.text.split('data-testid="canary-running"')[1].split("</p>")[0]
    assert "v2" in running and "v1" in running and "天猫旗舰店" in running
    assert 'data-testid="canary-stats"' in started.text and "待审核率" in started.text and "平均运费" in started.text
    assert 'data-testid="canary-badge"' in started.text and 'data-testid="canary-form"' not in started.text
    assert 'data-testid="publish-canary-running"' in started.text
    live_id, canary_id, numbers = await state(db, flow_id)
    assert canary_id is not None and numbers == [2, 1]
    assert 'data-testid="editor-canary-running"' in (await client.get(f"/flows/{flow_id}")).text

    promoted = await client.post(f"/flows/{flow_id}/canary/promote", data={"_csrf_token": token})
    assert promoted.status_code == 200
    assert "灰度版本已转正：版本 2 已上线" in promoted.text
    row = promoted.text.split('data-testid="version-row-2"')[1].split("</tr>")[0]
    assert 'data-testid="live-badge"' in row
    history = promoted.text.split('data-testid="canary-history"')[1].split("</ul>")[0]
    assert 'data-status="promoted"' in history and "已转正" in history
    new_live, cleared, _ = await state(db, flow_id)
    assert (new_live != live_id, cleared) == (True, None)
    async with db.reading() as session:
        actions = [e.action for e in (await session.exec(select(AuditEntry).order_by(AuditEntry.id))).all()]
    assert actions[-2:] == ["flows.canary_published", "flows.canary_promoted"]


async def test_an_admin_rolls_the_canary_back_and_v1_keeps_every_order(client, db, as_role, reference_data):
    flow_id = await live_flow(db)
    token = await as_role(Role.admin)
    await client.post(f"/flows/{flow_id}/canary", data=canary_form(token, percent="20"))
    live_id, _, _ = await state(db, flow_id)
    rolled = await client.post(f"/flows/{flow_id}/canary/rollback", data={"_csrf_token": token})
    assert rolled.status_code == 200
    assert "灰度已回滚：所有订单重新由版本 1 处理" in rolled.text
    assert await state(db, flow_id) == (live_id, None, [2, 1])
    assert 'data-status="rolled_back"' in rolled.text and 'data-testid="canary-form"' in rolled.text


async def test_a_designer_may_not_publish_promote_or_roll_back_a_canary(client, db, as_role, reference_data):
    flow_id = await live_flow(db)
    async with db.transaction() as session:
        await canaries.publish_canary(session, SYSTEM, flow_id, "灰度", percent=10)
    before = await state(db, flow_id)
    token = await as_role(Role.designer)
    page = await client.get(f"/flows/{flow_id}/versions")
    assert 'data-testid="canary-stats"' in page.text
    assert 'data-testid="canary-promote"' not in page.text and 'data-testid="canary-rollback"' not in page.text
    for url in (f"/flows/{flow_id}/canary/promote", f"/flows/{flow_id}/canary/rollback"):
        assert (await client.post(url, data={"_csrf_token": token})).status_code == 403
    async with db.transaction() as session:
        await canaries.roll_back(session, SYSTEM, flow_id)
    refused = await client.post(f"/flows/{flow_id}/canary", data=canary_form(token, percent="10"))
    assert refused.status_code == 403
    live_id, _, numbers = await state(db, flow_id)
    assert (live_id, numbers) == (before[0], before[2])
    async with db.reading() as session:
        denied = (await session.exec(select(AuditEntry).where(AuditEntry.action == "access.denied"))).all()
        assert len((await session.exec(select(FlowCanary))).all()) == 1
    assert {entry.after["needed"] for entry in denied} == {"permission:flows.publish"}


async def test_bad_canary_input_is_refused_on_the_page_in_chinese_and_changes_nothing(
    client, db, as_role, reference_data
):
    flow_id = await live_flow(db)
    token = await as_role(Role.admin)
    before = await state(db, flow_id)
    for fields, message in (
        ({"percent": "150"}, "订单比例必须是 1 到 99 之间的整数"),
        ({"shop_codes": ["no-such-shop"]}, "未知的店铺：no-such-shop"),
        ({}, "请选择灰度的店铺，或填写灰度的订单比例"),
        ({"percent": "10", "min_orders": "lots"}, "最少订单数必须是 1 到 100000 之间的整数"),
    ):
        refused = await client.post(
            f"/flows/{flow_id}/canary", data=canary_form(token, **fields), headers={"HX-Request": "true"}
        )
        assert refused.status_code in (400, 422), refused.text
        error = refused.text.split('data-testid="versions-error"')[1].split("</div>")[0]
        assert message in error
    assert await state(db, flow_id) == before
    await client.post(f"/flows/{flow_id}/canary", data=canary_form(token, percent="10"))
    again = await client.post(f"/flows/{flow_id}/canary", data=canary_form(token, percent="20"))
    assert again.status_code == 409 and "灰度版本 v2 正在运行" in again.text
    published = await client.post(f"/flows/{flow_id}/publish", data={"_csrf_token": token, "note": "直接上线"})
    assert published.status_code == 409
    assert (await state(db, flow_id))[2] == [2, 1]


async def test_a_canary_of_a_draft_that_behaves_as_live_is_refused_and_changes_nothing(
    client, db, as_role, reference_data
):
    async with db.transaction() as session:
        flow = await services.create_flow(session, SYSTEM, "华东 3C 分仓", document=routing_flow())
        await services.publish(session, SYSTEM, flow.id, "v1 上海仓")
        moved = routing_flow()
        moved["nodes"][0]["position"] = {"x": 400, "y": 400}  # a move changes the picture, not the behaviour
        await services.save_draft(session, SYSTEM, flow.id, moved)
    token = await as_role(Role.admin)
    before = await state(db, flow.id)
    refused = await client.post(
        f"/flows/{flow.id}/canary", data=canary_form(token, percent="20"), headers={"HX-Request": "true"}
    )
    assert refused.status_code == 409, refused.text
    error = refused.text.split('data-testid="versions-error"')[1].split("</div>")[0]
    assert "草稿与线上版本相同，没有可以灰度的改动" in error
    assert await state(db, flow.id) == before
    async with db.reading() as session:
        assert (await session.exec(select(FlowCanary))).all() == []
        actions = [e.action for e in (await session.exec(select(AuditEntry))).all()]
    assert "flows.canary_published" not in actions

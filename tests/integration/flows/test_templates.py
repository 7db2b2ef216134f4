"""新建流程 from a shipped template: every template is offered with its name and description, the complete flow
first, and creating a flow from any of them opens the editor on that template's flow, named as typed."""

from __future__ import annotations

import json
import re

import pytest
from sqlmodel import select

import ruleflows
from app.domain.accounts.models import Role
from app.domain.flows.models import Flow


async def test_the_new_flow_form_offers_every_template_the_complete_flow_first(client, as_role):
    await as_role(Role.designer)
    page = (await client.get("/flows/")).text
    offered = re.findall(r'data-testid="flow-template-([\w-]+)"', page)
    keys = [t["key"] for t in ruleflows.list_templates()]
    assert offered == ["blank", *keys]
    assert keys[0] == "standard_four_stage" and len(keys) == 7
    for summary in ruleflows.list_templates():
        assert summary["name"] in page and summary["description"] in page
    assert page.count("完整流程") == 1 and page.count("单条规则") == 6


@pytest.mark.parametrize("key", [t["key"] for t in ruleflows.list_templates()])
async def test_a_designer_creates_a_flow_from_each_template(client, db, as_role, key):
    token = await as_role(Role.designer)
    created = await client.post(
        "/flows/", data={"_csrf_token": token, "name": "从模板新建", "template": key}, follow_redirects=False
    )
    assert created.status_code == 303
    editor = await client.get(created.headers["location"])
    assert editor.status_code == 200
    template = ruleflows.load_template(key)
    document = json.loads(re.search(r'id="flow-document">(.*?)</script>', editor.text, re.S).group(1))
    assert document == {**template, "name": "从模板新建"}
    async with db.reading() as session:
        flow = (await session.exec(select(Flow).where(Flow.name == "从模板新建"))).one()
    assert flow.description == template["description"][:500]
    assert ruleflows.validate(flow.draft) == []

"""Attacks on the rule engine through the simulators (a read token's API, a designer's editor) and backtests.

Each attack must finish within the 1 s evaluation budget with a clear refusal — a 4xx whose message says
what went wrong, in Chinese on the editor, a JSON error with a code on the API, and a small response — and
the server must keep answering ``/healthz`` meanwhile:

- ReDoS: ``regex_match`` with ``\\d*\\d*\\d*\\d*x`` on 2,000 digits froze the whole server for 64 s; RE2 now
  answers it in linear time, and what RE2 cannot match in linear time (backreferences, lookaround) is
  refused when the flow is checked, with a Chinese explanation.
- A large literal array: an array of 20,000 numbers scanned once for every item of itself (literal arrays
  cost no steps; a 44 KB document blocked the server 11 s).
- ``map`` with ``cat``: a 100 KB request that would answer with hundreds of MB of trace.
- A document, a pasted order or a whole API body nested 5,000 deep (a RecursionError, a 500).
- JSON typed into the editor (a raw rule, a pasted order, an imported flow) escaping a lone surrogate or a
  NUL, which no text can encode or PostgreSQL store (a 500 where the rule was checked).
- A deep map of maps: lists of ten mapped inside one another nine deep (10^9 evaluations).
- ``reduce`` over a 100,000-item literal array.
- The rule checker of the editor's JSON panel, given a heavy rule.
- A backtest of a heavy draft runs off the event loop and stops at its time budget with a Chinese message.
- A rule with steps to spare that would run for minutes is stopped by its 1 s time budget, and ``/healthz``
  on a real server answers at once while two of them run.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

import ruleflows.interpreter
from app.db import Database
from app.domain.accounts.models import Role, TokenScope
from app.domain.accounts.services import SYSTEM
from app.domain.flows import services
from app.domain.flows.models import BacktestStatus
from app.main import create_app
from app.settings import Settings
from tests.integration.conftest import BACKEND, free_port, serving, start_arq_worker, stop_process
from tests.integration.forms import csrf_from, login

#: The evaluation budget is 1 s; the whole request (validation, threads) gets a margin. It bounds the CPU time the
#: test's process spends on the request, which a machine busy with other work does not stretch as it stretches
#: the wall clock: a backtracking regex or a runaway rule would spend seconds to minutes of it. The process's other
#: threads count too (seen: 2.1 s on a loaded 2-core machine), so the bound tells a refused request from a runaway.
REQUEST_SECONDS = 5.0
#: A rule stopped by its 1 s budget, next to one that would add for minutes: the process's CPU time also counts
#: its other threads (the embedded worker, the database), so the bound only has to tell seconds from minutes.
RUNAWAY_SECONDS = 10.0
SMALL_RESPONSE = 20_000


def flow_with(logic: Any) -> dict[str, Any]:
    """start -> a condition named "攻击" with ``logic`` -> end either way."""
    return {
        "schema": 1,
        "name": "攻击",
        "trigger": "order.received",
        "nodes": [
            {"id": "s", "type": "start", "name": "开始", "position": {"x": 0, "y": 0}},
            {
                "id": "c",
                "type": "condition",
                "name": "攻击",
                "position": {"x": 200, "y": 0},
                "config": {"logic": logic},
            },
            {"id": "e", "type": "end", "name": "结束", "position": {"x": 400, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "source": "s", "target": "c", "port": "next"},
            {"id": "e2", "source": "c", "target": "e", "port": "true"},
            {"id": "e3", "source": "c", "target": "e", "port": "false"},
        ],
    }


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


REDOS = flow_with({"regex_match": [r"\d*\d*\d*\d*x", "1" * 2000]})
LITERAL_ARRAY = flow_with({"all": [list(range(20_000)), {"in": [{"var": ""}, list(range(20_000))]}]})
MAP_CAT = flow_with({"map": [list(range(1000)), {"cat": ["x" * 2000, {"var": ""}]}]})


def map_of_maps(levels: int) -> dict[str, Any]:
    logic: Any = {"+": [1, 1]}
    for _ in range(levels):
        logic = {"map": [list(range(10)), logic]}
    return flow_with({"!!": logic})


MAP_OF_MAPS = map_of_maps(9)
HUGE_REDUCE = flow_with({"reduce": [[0] * 100_000, {"+": [{"var": "accumulator"}, 1]}, 0]})

#: (name, document, the refusal codes, words of the message). The map of maps meets the step budget in about
#: 0.2 s, but on a loaded machine the 1 s clock may stop it first: either is the refusal a user should get.
HEAVY = [
    ("a large literal array", LITERAL_ARRAY, ("too_much_work",), ("计算量过大",)),
    ("map with cat", MAP_CAT, ("too_much_output",), ("超出了规则引擎的上限",)),
    ("a deep map of maps", MAP_OF_MAPS, ("too_much_work", "too_slow"), ("计算量过大", "计算超过 1 秒")),
    ("reduce over a huge array", HUGE_REDUCE, ("too_much_work",), ("计算量过大",)),
]


@pytest.fixture
async def flow_id(db: Database) -> int:
    async with db.transaction() as session:
        flow = await services.create_flow(session, SYSTEM, "攻击测试", document=flow_with(True))
    assert flow.id is not None
    return flow.id


@pytest.fixture
async def reader(make_token: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_token(TokenScope.read)}"}


@pytest.fixture
async def designer(client: Any, make_user: Any) -> str:
    """Log a designer in; returns a CSRF token for the editor's forms."""
    user = await make_user(Role.designer, username="designer-1")
    await login(client, user.username)
    return csrf_from((await client.get("/flows/")).text)


async def simulate_api(client: Any, flow_id: int, headers: dict[str, str], document: Any) -> tuple[Any, float]:
    """The response and the CPU seconds the process (the app runs in it) spent answering."""
    started = time.process_time()
    response = await client.post(
        f"/api/v1/flows/{flow_id}/simulate", json={"document": document, "sample": "sample:east_3c"}, headers=headers
    )
    return response, time.process_time() - started


async def test_a_backtracking_regex_is_answered_at_once_by_the_linear_time_matcher(client, flow_id, reader):
    response, elapsed = await simulate_api(client, flow_id, reader, REDOS)
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["path"] == ["s", "c", "e"]
    assert response.json()["trace"][1]["port"] == "false"  # 2,000 digits and no "x": no match
    assert elapsed < REQUEST_SECONDS


async def test_a_backreference_or_lookaround_is_refused_when_the_flow_is_checked(client, flow_id, reader):
    for pattern, words in ((r"(\w+) \1", "不支持反向引用"), (r"^(?=.*VIP)", "不支持前后断言")):
        document = flow_with({"regex_match": [pattern, {"var": "order.buyer_message"}]})
        checked = await client.post(f"/api/v1/flows/{flow_id}/validate", json={"document": document}, headers=reader)
        assert checked.status_code == 200 and checked.json()["valid"] is False
        (problem,) = checked.json()["problems"]
        assert problem["code"] == "bad_regex" and words in problem["message_zh"]


@pytest.mark.parametrize(("name", "document", "codes", "words"), HEAVY, ids=[case[0] for case in HEAVY])
async def test_a_heavy_rule_is_refused_by_the_api_within_the_budget(
    client, flow_id, reader, name, document, codes, words
):
    response, elapsed = await simulate_api(client, flow_id, reader, document)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] in codes and body["field"] == "document"
    assert any(word in body["detail"] for word in words) and "攻击" in body["detail"]  # the message names the node
    assert len(response.content) < SMALL_RESPONSE
    assert elapsed < REQUEST_SECONDS


@pytest.mark.parametrize(("name", "document", "codes", "words"), HEAVY, ids=[case[0] for case in HEAVY])
async def test_a_heavy_rule_is_refused_in_the_editor_with_a_chinese_message(
    client, flow_id, designer, name, document, codes, words
):
    started = time.process_time()
    response = await client.post(
        f"/flows/{flow_id}/simulate",
        data={"_csrf_token": designer, "order": "sample:east_3c", "document": json.dumps(document)},
    )
    assert time.process_time() - started < REQUEST_SECONDS
    assert response.status_code == 422
    assert 'data-testid="simulate-error"' in response.text and any(word in response.text for word in words)
    assert len(response.content) < SMALL_RESPONSE


async def test_an_api_body_nested_5000_deep_is_a_400_not_a_500(client, flow_id, reader):
    body = '{"sample": "sample:east_3c", "document": ' + nested(5000) + "}"
    response = await client.post(
        f"/api/v1/flows/{flow_id}/simulate", content=body, headers={**reader, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid request" and "嵌套过深" in response.json()["detail"]


async def test_an_api_body_nested_past_the_limit_but_decodable_is_a_400_too(client, flow_id, reader):
    order = {"receiver": {"province": "上海"}, "lines": [], "deep": json.loads(nested(500))}
    response = await client.post(
        f"/api/v1/flows/{flow_id}/simulate", json={"order": order, "document": flow_with(True)}, headers=reader
    )
    assert response.status_code == 400 and "嵌套过深" in response.json()["detail"]


async def test_a_document_or_pasted_order_nested_5000_deep_is_refused_in_the_editor(client, flow_id, designer):
    deep_document = await client.post(
        f"/flows/{flow_id}/simulate",
        data={"_csrf_token": designer, "order": "sample:east_3c", "document": nested(5000)},
    )
    assert deep_document.status_code == 400 and "嵌套过深" in deep_document.text
    deep_order = await client.post(
        f"/flows/{flow_id}/simulate", data={"_csrf_token": designer, "payload": '{"order": ' + nested(5000) + "}"}
    )
    assert deep_order.status_code == 400 and "嵌套过深" in deep_order.text


@pytest.mark.parametrize(("escape", "words"), [("\\ud800", "孤立的代理项 \\ud800"), ("\\u0000", "空字符")])
async def test_a_lone_surrogate_or_nul_in_the_editors_json_is_refused_in_chinese(
    client, flow_id, designer, escape, words
):
    node = {"id": "c", "type": "condition", "name": "检查", "config": {"logic": {"!!": [True]}}}
    raw = '{"==": [{"var": "order.receiver.city"}, "' + escape + '"]}'
    form = {"_csrf_token": designer, "node": json.dumps(node), "raw": raw}
    checked = await client.post(f"/flows/{flow_id}/panel/check", data=form)
    assert checked.status_code == 200 and words in checked.text
    applied = await client.post(f"/flows/{flow_id}/panel", data={**form, "intent": "apply", "do": "apply_raw"})
    assert applied.status_code == 200 and words in applied.text
    assert '"config": {"logic": {"!!": [true]}}' in applied.text  # the node the canvas gets back is as it was
    pasted = await client.post(
        f"/flows/{flow_id}/simulate",
        data={"_csrf_token": designer, "payload": '{"order": {"receiver": {"city": "' + escape + '"}}}'},
    )
    assert pasted.status_code == 400 and words in pasted.text
    exported = json.dumps((await client.get(f"/flows/{flow_id}/export")).json())  # names as \\u escapes
    imports = [exported.replace('"\\u5f00\\u59cb"', '"' + escape + '"', 1), exported]  # 开始, then as it was
    uploads = [{"_csrf_token": designer, "payload": text} for text in imports]
    answers = [await client.post("/flows/import", data=f, follow_redirects=False) for f in uploads]
    assert [answer.status_code for answer in answers] == [400, 303]


async def test_a_flow_document_nested_past_its_limit_is_a_problem_not_a_crash(client, flow_id, reader, make_token):
    admin = {"Authorization": f"Bearer {await make_token(TokenScope.admin, name='admin')}"}
    deep = flow_with(True)
    inner: Any = []
    for _ in range(110):  # past the document's own limit of 100, within what a body may carry
        inner = [inner]
    deep["nodes"][1]["config"]["builder"] = inner
    checked = await client.post(f"/api/v1/flows/{flow_id}/validate", json={"document": deep}, headers=reader)
    assert checked.status_code == 200
    assert [p["code"] for p in checked.json()["problems"]] == ["document_too_deep"]
    saved = await client.put(f"/api/v1/flows/{flow_id}/draft", json={"document": deep}, headers=admin)
    assert saved.status_code < 500


async def test_the_rule_checker_refuses_a_heavy_rule_with_a_chinese_message(client, flow_id, designer):
    node = {"id": "c", "type": "condition", "name": "检查", "config": {}}
    logic = {
        "!!": {"map": [list(range(10)), {"map": [list(range(10)), map_of_maps(5)["nodes"][1]["config"]["logic"]]}]}
    }
    started = time.process_time()
    response = await client.post(
        f"/flows/{flow_id}/panel/check",
        data={"_csrf_token": designer, "node": json.dumps(node), "raw": json.dumps(logic)},
    )
    assert time.process_time() - started < REQUEST_SECONDS
    assert "计算量过大" in response.text and "检查" in response.text
    assert response.status_code < 500 and len(response.content) < SMALL_RESPONSE


async def wait_for_backtest(client: Any, flow_id: int, backtest_id: int, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        status = (await client.get(f"/api/v1/flows/{flow_id}/backtests/{backtest_id}", headers=headers)).json()
        if status["status"] in (BacktestStatus.done, BacktestStatus.failed):
            return dict(status)
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.2)


async def test_a_backtest_of_a_heavy_draft_finishes_with_each_order_stopped_at_a_limit(
    client, db, flow_id, make_token, arq_worker
):
    admin = {"Authorization": f"Bearer {await make_token(TokenScope.admin, name='admin')}"}
    await client.put(f"/api/v1/flows/{flow_id}/draft", json={"document": MAP_OF_MAPS}, headers=admin)
    started = await client.post(f"/api/v1/flows/{flow_id}/backtests", json={"orders": 5}, headers=admin)
    assert started.status_code == 202
    status = await wait_for_backtest(client, flow_id, started.json()["id"], admin)
    assert status["status"] == "done", status["error"]
    assert status["result"]["orders"] == 5
    assert {row["after"]["status"] for row in status["result"]["rows"]} == {"limit_exceeded"}


async def test_a_backtest_past_its_time_budget_stops_with_a_chinese_message(settings, db, flow_id, make_token):
    impatient = replace(settings, backtest_seconds=0)
    # The budget is a setting of whoever runs the job: the embedded worker here, or a real arq process.
    worker = start_arq_worker(settings, BACKTEST_SECONDS="0") if BACKEND == "postgres" else None
    try:
        async with AsyncTestClient(create_app(impatient), base_url="http://testserver.local") as client:
            admin = {"Authorization": f"Bearer {await make_token(TokenScope.admin, name='admin')}"}
            await client.put(f"/api/v1/flows/{flow_id}/draft", json={"document": MAP_OF_MAPS}, headers=admin)
            started = await client.post(f"/api/v1/flows/{flow_id}/backtests", json={"orders": 5}, headers=admin)
            status = await wait_for_backtest(client, flow_id, started.json()["id"], admin)
    finally:
        if worker is not None:
            stop_process(worker)
    assert status["status"] == "failed"
    assert "回放的计算时间超过 0 秒" in status["error"]


# ------------------------------------------------------------------------------------ a real server


@pytest.fixture
async def server(settings: Settings, db: Database) -> AsyncIterator[str]:
    """The app on a real port, so requests really run side by side; yields its base URL."""
    async with serving(replace(settings, port=free_port())) as url:
        yield url


@pytest.fixture
def unlimited_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Step budgets out of the way, so that only the 1 s time budget can stop a runaway rule."""
    monkeypatch.setattr(ruleflows.interpreter, "MAX_EVALUATION_STEPS", 10**12)
    monkeypatch.setattr(ruleflows.interpreter, "MAX_RUN_EVALUATION_STEPS", 10**12)


async def test_a_rule_that_would_run_for_minutes_is_stopped_by_its_time_budget(
    client, flow_id, reader, unlimited_steps
):
    started = time.perf_counter()
    response, cpu_seconds = await simulate_api(client, flow_id, reader, MAP_OF_MAPS)  # 10^9 additions
    assert response.status_code == 422
    assert response.json()["error"] == "too_slow" and "计算超过 1 秒" in response.json()["detail"]
    assert time.perf_counter() - started >= 1  # stopped by the time budget, not by a step budget
    assert cpu_seconds < RUNAWAY_SECONDS  # and then: minutes of additions were not done


async def test_healthz_keeps_answering_while_heavy_simulations_run(server, flow_id, reader, unlimited_steps):
    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        assert (await http.get("/healthz")).status_code == 200  # warm up: the first request opens the database

        async def heavy() -> tuple[httpx.Response, float]:
            started = time.perf_counter()
            response = await http.post(
                f"/api/v1/flows/{flow_id}/simulate",
                json={"document": MAP_OF_MAPS, "sample": "sample:east_3c"},
                headers=reader,
            )
            return response, time.perf_counter() - started

        attacks = [asyncio.create_task(heavy()) for _ in range(2)]
        answered_meanwhile: list[float] = []
        while not all(task.done() for task in attacks):
            asked = time.perf_counter()
            health = await http.get("/healthz")
            assert health.status_code == 200
            if not all(task.done() for task in attacks):
                answered_meanwhile.append(time.perf_counter() - asked)
            await asyncio.sleep(0.02)
        results = [task.result() for task in attacks]
    for response, _ in results:
        assert response.status_code == 422 and response.json()["error"] == "too_slow"
    # Typically 15 ms against an attack of about 1 s. On the event loop /healthz would wait for the attacks: few
    # answers, each about as long as an attack. The bounds are shares of the attacks' own time, so a machine busy
    # with other work slows both alike; one answer held up by such a machine (seen: 4 s of a 7 s attack at a load
    # of 5 on 2 cores) is not the loop blocked, nine in ten answers quick are the loop free.
    attack_seconds = min(elapsed for _, elapsed in results)
    assert len(answered_meanwhile) >= 5, answered_meanwhile
    quick = [seconds for seconds in answered_meanwhile if seconds < attack_seconds / 10]
    assert len(quick) >= 0.9 * len(answered_meanwhile), (answered_meanwhile, attack_seconds)

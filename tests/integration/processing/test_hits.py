"""Live hit counts: the counters the processing batch keeps per flow version, node and exit equal what the
processing records' stored traces say, count a retried or repeated job once and a truly repeated pass again,
split since-live from the last 24 hours, and the editor reads them (a count lists its orders)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import timedelta

import pytest
from sqlmodel import select

from app.db import Database, utcnow
from app.domain.accounts.models import Role
from app.domain.flows import canary as canaries
from app.domain.flows.models import Flow, FlowVersion
from app.domain.processing import hits, jobs, services
from app.domain.processing.models import FlowHit, OrderProcessing
from tests.integration.forms import login
from tests.integration.processing.conftest import generic_order
from tests.integration.processing.test_actions import OPERATOR, land, land_same_address, publish
from tests.integration.processing.test_batch import run_batch
from tests.integration.processing.test_batches import land_many, poisoned_flow
from tests.integration.processing.test_canary import ADMIN, HOLD, live_flow_with_draft, start_canary
from tests.integration.processing.test_canary import land as land_shop


def traced(procs: Iterable[OrderProcessing]) -> tuple[Counter[tuple[int, str]], Counter[tuple[int, str, str]]]:
    """From the stored processing records: per (version, node) the orders whose run's path has the node, and
    per (version, node, exit) those whose trace took that exit there."""
    nodes: Counter[tuple[int, str]] = Counter()
    ports: Counter[tuple[int, str, str]] = Counter()
    for proc in procs:
        for run in proc.flows:
            for node_id in run["path"]:
                nodes[(run["version_id"], node_id)] += 1
            for step in run["trace"]:
                ports[(run["version_id"], step["node_id"], step["port"] or "")] += 1
    return nodes, ports


async def counted(db: Database) -> tuple[Counter[tuple[int, str]], Counter[tuple[int, str, str]]]:
    """The same, from the counters, summed over the versions' hour buckets."""
    nodes: Counter[tuple[int, str]] = Counter()
    ports: Counter[tuple[int, str, str]] = Counter()
    async with db.reading() as session:
        versions = {row.version_id for row in (await session.exec(select(FlowHit))).all()}
        for version_id in versions:
            found = await hits.version_hits(session, version_id, now=utcnow())
            for node_id, count in found.nodes.items():
                nodes[(version_id, node_id)] = count.since_live
                assert count.last_24h == count.since_live  # everything was processed just now
            for node_id, by_port in found.ports.items():
                for port, count in by_port.items():
                    ports[(version_id, node_id, port)] = count.since_live
    return nodes, ports


async def processing_records(db: Database) -> list[OrderProcessing]:
    async with db.reading() as session:
        return list((await session.exec(select(OrderProcessing))).all())


async def test_hit_counts_equal_the_processed_orders_traces_and_a_repeated_job_adds_nothing(
    server, worker, db, settings
):
    ids = await run_batch(server, db)
    procs = await processing_records(db)
    assert {proc.runs for proc in procs} <= {0, 1}  # each order processed once: the traces are every pass
    nodes, ports = traced(procs)
    assert await counted(db) == (nodes, ports)
    # The mix takes every route of the switch and both ways of the audit and the special-order conditions.
    version = next(iter(nodes))[0]
    assert {port for (_, node, port) in ports if node == "route"} == {"east_3c", "small_not_urgent", "default"}
    for condition in ("audit_address", "audit_same_address", "is_presale", "gift_threshold", "has_bundle"):
        assert ports[(version, condition, "true")] and ports[(version, condition, "false")], condition
    assert nodes[(version, "start")] == sum(1 for proc in procs if proc.flows) == len(ids) - 1  # not the cancelled

    # The job delivered again, and each order processed again: their versions are done, nothing is counted.
    await jobs.process_orders({"db": db, "settings": settings}, list(ids.values()))
    for order_id in ids.values():
        async with db.transaction() as session:
            assert (await services.process(session, order_id, secret_key=settings.secret_key)).skipped
    assert await counted(db) == (nodes, ports)


async def test_a_rolled_back_batch_counts_nothing_and_an_approved_order_counts_its_second_pass(db, settings, demo):
    ids = await land_same_address(db, settings)  # the fourth is held as possible 刷单
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await services.process_batch(session, ids, secret_key=settings.secret_key)
            raise RuntimeError("the batch's commit did not happen")
    assert await counted(db) == (Counter(), Counter())

    await jobs.process_orders({"db": db, "settings": settings}, ids)  # the retry
    first = traced(await processing_records(db))
    assert await counted(db) == first
    version = next(iter(first[0]))[0]
    assert first[1][(version, "audit_same_address", "true")] == 1
    assert first[0][(version, "start")] == 4

    async with db.transaction() as session:
        await services.approve(session, ids[3], OPERATOR)
    await jobs.process_orders({"db": db, "settings": settings}, [ids[3]])
    async with db.reading() as session:
        again = await session.get(OrderProcessing, ids[3])
    assert again is not None and again.flows[0]["path"][:3] == ["start", "review_approved", "approve"]
    nodes, ports = counted_now = await counted(db)
    second_nodes, second_ports = traced([again])
    assert counted_now == (first[0] + second_nodes, first[1] + second_ports)
    assert nodes[(version, "start")] == 5  # four orders, one of them twice
    assert ports[(version, "review_approved", "true")] == 1
    assert ports[(version, "audit_same_address", "true")] == 1  # the first pass stays counted


async def test_an_order_rolled_back_to_its_savepoint_counts_nothing(db, settings, demo_data):
    await publish(db, poisoned_flow())
    ids = await land_many(db, settings, 6, poisoned=2)
    await jobs.process_orders({"db": db, "settings": settings}, ids)
    procs = await processing_records(db)
    nodes, ports = traced(procs)
    assert await counted(db) == (nodes, ports)
    version = next(iter(nodes))[0]
    # The 新疆 order went down the "far" branch to a warehouse that does not exist and was rolled back.
    assert nodes[(version, "far")] == 5 and (version, "far", "true") not in ports
    assert nodes[(version, "nope")] == 0


async def test_the_last_24_hours_leave_out_older_hour_buckets(db, demo):
    async with db.reading() as session:
        flow = (await session.exec(select(Flow))).one()
    version_id = flow.live_version_id
    assert version_id is not None
    now = utcnow()
    this_hour = hits.hour_of(now)
    rows = [
        ("east_3c", this_hour, 3),
        ("default", this_hour, 1),
        ("east_3c", this_hour - timedelta(hours=23), 2),  # the oldest bucket of the last 24 hours
        ("east_3c", this_hour - timedelta(hours=24), 5),
        ("small_not_urgent", this_hour - timedelta(days=6), 9),
    ]
    async with db.transaction() as session:
        for port, hour, count in rows:
            session.add(FlowHit(version_id=version_id, node_id="route", port=port, hour=hour, count=count))
    async with db.reading() as session:
        found = (await hits.version_hits(session, version_id, now=now)).to_dict()
    route = found["nodes"]["route"]
    assert (route["since_live"], route["last_24h"]) == (20, 6)
    assert route["ports"]["east_3c"] == {
        "since_live": 10,
        "last_24h": 5,
        "share": {"since_live": 0.5, "last_24h": 5 / 6},
    }
    assert route["ports"]["small_not_urgent"]["share"] == {"since_live": 9 / 20, "last_24h": 0.0}
    assert route["ports"]["default"]["last_24h"] == 1


async def test_the_editor_reads_the_live_counts_and_a_count_lists_the_orders_that_passed(
    client, db, settings, demo, make_user
):
    addresses = ["文三路 1 号", "文三路 2 号", "文三路 3 号"]
    ids = [
        await land(db, settings, generic_order(f"W{n}", lines=[("MASK-10", 1, 9900)], buyer=f"w{n}", address=street))
        for n, street in enumerate(addresses)
    ]
    ids.append(await land(db, settings, generic_order("W9", lines=[("MASK-10", 1, 9900)], buyer="w9", address=None)))
    await jobs.process_orders({"db": db, "settings": settings}, ids)
    async with db.reading() as session:
        flow = (await session.exec(select(Flow))).one()
    await make_user(Role.designer, username="hits-designer")
    await login(client, "hits-designer")

    response = await client.get(f"/flows/{flow.id}/hits")
    assert response.status_code == 200
    body = response.json()
    assert body["version_id"] == flow.live_version_id and body["version_number"] == 1
    assert (body["nodes"]["start"]["since_live"], body["nodes"]["start"]["last_24h"]) == (4, 4)
    address = body["nodes"]["audit_address"]
    assert address["ports"]["true"]["since_live"] == 3 and address["ports"]["false"]["since_live"] == 1
    assert address["ports"]["true"]["share"]["since_live"] == 0.75
    assert body["nodes"]["hold_address"]["since_live"] == 1

    page = await client.get(f"/flows/{flow.id}/hits/orders", params={"node": "audit_address", "port": "false"})
    assert page.status_code == 200
    assert page.text.count('data-testid="hit-order"') == 1
    assert f'href="/orders/{ids[3]}"' in page.text and "W9" in page.text
    every = await client.get(f"/flows/{flow.id}/hits/orders", params={"node": "audit_address"})
    listed = [i for i in ids if f'data-order-id="{i}"' in every.text]
    assert listed == ids
    # Newest first (one batch: the same time, then the higher id), a page at a time from where the last ended.
    async with db.reading() as session:
        version = await session.get(FlowVersion, flow.live_version_id)
        assert version is not None
        first = await hits.orders_through(session, version, "start", limit=3)
        second = await hits.orders_through(session, version, "start", limit=3, before=first.older)
    assert [row.order.id for row in first.rows] == sorted(ids, reverse=True)[:3]
    assert [row.order.id for row in second.rows] == [min(ids)] and second.older is None

    assert (await client.get("/flows/9999/hits")).status_code == 404
    unknown_version = {"node": "start", "version": 9999}
    assert (await client.get(f"/flows/{flow.id}/hits/orders", params=unknown_version)).status_code == 404


async def test_while_a_canary_runs_the_editor_reads_its_counts_beside_the_live_ones(
    client, db, settings, demo_data, make_user
):
    flow_id, v1 = await live_flow_with_draft(db, HOLD)  # live: start → approve → warehouse → carrier → end
    await make_user(Role.designer, username="canary-hits-designer")
    await login(client, "canary-hits-designer")
    assert (await client.get(f"/flows/{flow_id}/hits")).json()["canary"] is None

    canary = await start_canary(db, flow_id, shop_codes=["pos-sh-nanjingxilu"], min_orders=100)
    web = await land_shop(db, settings, 2)
    till = await land_shop(db, settings, 3, shop_code="pos-sh-nanjingxilu")
    await jobs.process_orders({"db": db, "settings": settings}, web + till)

    body = (await client.get(f"/flows/{flow_id}/hits")).json()
    assert (body["version_id"], body["version_number"]) == (v1, 1)
    assert body["nodes"]["start"]["since_live"] == 2 and body["nodes"]["a3"]["last_24h"] == 2
    tried = body["canary"]
    assert (tried["version_id"], tried["version_number"]) == (canary.version_id, 2)
    assert (tried["shop_codes"], tried["percent"]) == (["pos-sh-nanjingxilu"], None)
    assert tried["since"] == canary.started_at.isoformat()
    assert (tried["nodes"]["start"]["since_live"], tried["nodes"]["a1"]["last_24h"]) == (3, 3)
    assert tried["live_nodes"] == ["start", "a1", "end"]  # the canary version's own nodes: no a2, a3
    assert "a2" not in tried["nodes"]
    # A click on a canary count lists the canary's orders, not live's.
    params = {"node": "start", "version": canary.version_id}
    listed = (await client.get(f"/flows/{flow_id}/hits/orders", params=params)).text
    assert [i for i in web + till if f'data-order-id="{i}"' in listed] == till

    async with db.transaction() as session:
        await canaries.roll_back(session, ADMIN, flow_id)
    after = (await client.get(f"/flows/{flow_id}/hits")).json()
    assert after["canary"] is None and after["version_id"] == v1 and after["nodes"]["start"]["since_live"] == 2


async def test_a_viewer_may_not_read_the_hit_counts(client, db, demo, make_user):
    async with db.reading() as session:
        flow = (await session.exec(select(Flow))).one()
    await make_user(Role.viewer, username="hits-viewer")
    await login(client, "hits-viewer")
    assert (await client.get(f"/flows/{flow.id}/hits")).status_code == 403

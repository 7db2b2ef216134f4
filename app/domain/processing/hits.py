"""Live hit counts: how many orders each node of a live flow version passed, and each exit's share.

The processing batch counts the runs it records as it records them (:func:`record`): an order's runs add one
pass per node on their path, with the exit the node took, to a counter per flow version, node, exit and
hour. The counters of a whole batch are added up and written at its end with one upsert per key, in the
batch's transaction, so they count exactly the runs the processing records keep:

- an order whose processing is rolled back (a failing node or action sends it to review) counts nothing,
  and neither does a batch that is rolled back as a whole and retried;
- a job delivered twice finds the order's version already processed and runs nothing, so counts nothing;
- an order that is processed again by the same version (approved after review, its address corrected, a
  platform update) passed the nodes again, and counts again: the counts are passes, not distinct orders.

The editor reads them summed (:func:`version_hits`): the live version's and, while a canary runs, the canary
version's beside them (:func:`live_hits`); clicking a count lists the orders whose latest
processing by that version passed the node (:func:`orders_through`), read from the processing records,
newest first and a bounded page at a time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import deferred_of
from app.domain.flows import canary as canaries
from app.domain.flows import services as flows
from app.domain.flows.models import CanaryStatus, FlowVersion
from app.domain.orders.models import Order
from app.domain.processing.models import FlowHit, OrderProcessing
from app.params import ParameterError, parse_id, parse_moment

#: (version id, node id, exit, hour): one counter row.
HitKey = tuple[int, str, str, datetime]

#: The hour buckets the "last 24 hours" count adds up: this hour and the 23 before it.
RECENT_HOURS = 24
#: Orders listed per page when a count is clicked.
ORDERS_PAGE = 50
#: Processing records looked at per page of that list at most, so that a rarely taken node stays cheap.
ORDERS_SCAN = 1000


def hour_of(moment: datetime) -> datetime:
    """The start of the UTC hour a moment falls in: the counters' bucket."""
    return moment.replace(minute=0, second=0, microsecond=0)


def passes(runs: Iterable[Mapping[str, Any]], hour: datetime) -> Counter[HitKey]:
    """The passes an order's flow runs add: one per node on each run's path, under the exit it took.

    The exit is read from the run's trace; a run kept without its trace (``trace=False`` keeps the path)
    counts its nodes under no exit."""
    found: Counter[HitKey] = Counter()
    for run in runs:
        version_id = run.get("version_id")
        if not isinstance(version_id, int):
            continue
        trace = run.get("trace") or []
        if trace:
            for step in trace:
                found[(version_id, str(step["node_id"]), str(step.get("port") or ""), hour)] += 1
        else:
            for node_id in run.get("path") or []:
                found[(version_id, str(node_id), "", hour)] += 1
    return found


async def record(session: AsyncSession, runs: Iterable[Mapping[str, Any]], now: datetime) -> None:
    """Count an order's runs: with the batch's other deferred writes when the session defers them (dropped
    with the order's own rows if it fails), else at once."""
    counted = passes(runs, hour_of(now))
    if not counted:
        return
    later = deferred_of(session)
    if later is not None:
        later.step(write, counted)
    else:
        await write(session, [counted])


async def write(session: AsyncSession, counts: list[Counter[HitKey]]) -> None:
    """Add the counts up and write them: one upsert per key, all in one statement, keys in a fixed order
    (concurrent batches lock the same counter rows in the same order and never deadlock over them)."""
    total: Counter[HitKey] = Counter()
    for counted in counts:
        total.update(counted)
    if not total:
        return
    rows = [
        {"version_id": version_id, "node_id": node_id, "port": port, "hour": hour, "count": count}
        for (version_id, node_id, port, hour), count in sorted(total.items())
    ]
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert(FlowHit) if dialect == "postgresql" else sqlite.insert(FlowHit)
    statement = insert.on_conflict_do_update(
        index_elements=["version_id", "node_id", "port", "hour"],
        set_={"count": col(FlowHit.count) + insert.excluded.count},
    )
    await session.exec(statement, params=rows)


# --- reading ---------------------------------------------------------------------------------------------------


@dataclass
class Count:
    """Passes since the version went live and in the last 24 hours."""

    since_live: int = 0
    last_24h: int = 0

    def add(self, since_live: int, last_24h: int) -> None:
        self.since_live += since_live
        self.last_24h += last_24h

    def share_of(self, whole: Count) -> dict[str, float | None]:
        """This count as a share (0–1) of ``whole``, for both spans; None where the whole is nothing."""
        return {
            "since_live": self.since_live / whole.since_live if whole.since_live else None,
            "last_24h": self.last_24h / whole.last_24h if whole.last_24h else None,
        }


@dataclass
class VersionHits:
    """A flow version's hit counts: per node, and per exit of each node with its share of the node's."""

    version_id: int
    nodes: dict[str, Count] = field(default_factory=dict)
    ports: dict[str, dict[str, Count]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """What the editor's canvas reads."""
        return {
            "version_id": self.version_id,
            "nodes": {
                node_id: {
                    "since_live": count.since_live,
                    "last_24h": count.last_24h,
                    "ports": {
                        port: {
                            "since_live": hits.since_live,
                            "last_24h": hits.last_24h,
                            "share": hits.share_of(count),
                        }
                        for port, hits in sorted(self.ports.get(node_id, {}).items())
                        if port
                    },
                }
                for node_id, count in sorted(self.nodes.items())
            },
        }


async def version_hits(session: AsyncSession, version_id: int, *, now: datetime) -> VersionHits:
    """The counts of one version, summed from its counters in one aggregate: per node and exit, since it
    went live (every bucket: a version is only ever live once, a rollback publishes a copy) and in the last
    24 hours."""
    since = hour_of(now) - timedelta(hours=RECENT_HOURS - 1)
    recent = func.sum(case((col(FlowHit.hour) >= since, col(FlowHit.count)), else_=0))
    query = (
        select(FlowHit.node_id, FlowHit.port, func.sum(FlowHit.count), recent)
        .where(FlowHit.version_id == version_id)
        .group_by(col(FlowHit.node_id), col(FlowHit.port))
    )
    hits = VersionHits(version_id)
    for node_id, port, since_live, last_24h in (await session.exec(query)).all():
        hits.nodes.setdefault(node_id, Count()).add(int(since_live or 0), int(last_24h or 0))
        hits.ports.setdefault(node_id, {}).setdefault(port, Count()).add(int(since_live or 0), int(last_24h or 0))
    return hits


async def live_hits(session: AsyncSession, flow_id: int, *, now: datetime) -> dict[str, Any]:
    """The hit counts of the flow's live version, for its canvas (no version and no counts before the first
    publish), and while a canary runs the canary version's under ``canary`` (else None); FlowError("not_found")
    for a flow that does not exist."""
    flow = await flows.get_flow(session, flow_id)
    if flow.live_version_id is None:
        return {
            "flow_id": flow_id,
            "version_id": None,
            "version_number": None,
            "live_since": None,
            "nodes": {},
            "live_nodes": [],
            "canary": None,
        }
    version = await flows.get_version(session, flow_id, flow.live_version_id)
    running = await canaries.running_canary(session, flow)
    canary = None
    if running is not None and running.status == CanaryStatus.running:
        tried = await flows.get_version(session, flow_id, running.version_id)
        canary = {
            **(await _counts_of(session, tried, now=now)),
            "since": running.started_at.isoformat(),
            "shop_codes": list(running.shop_codes),
            "percent": running.percent,
        }
    return {
        **(await _counts_of(session, version, now=now)),
        "flow_id": flow_id,
        "live_since": version.published_at.isoformat(),
        "canary": canary,
    }


async def _counts_of(session: AsyncSession, version: FlowVersion, *, now: datetime) -> dict[str, Any]:
    """One version's counts as the canvas reads them, with its number and nodes."""
    assert version.id is not None
    nodes = version.document.get("nodes") or []
    return {
        **(await version_hits(session, version.id, now=now)).to_dict(),
        "version_number": version.number,
        # The version's nodes, so that a node no order passed yet shows 0 and a node it lacks nothing.
        "live_nodes": [str(n["id"]) for n in nodes if isinstance(n, dict) and "id" in n],
    }


def exit_names(node: Mapping[str, Any]) -> dict[str, str]:
    """A switch node's branches by id: the designer's label for each (its id when it has none)."""
    branches = (node.get("config") or {}).get("branches") if node.get("type") == "switch" else None
    return {str(b["id"]): str(b.get("label") or b["id"]) for b in branches or [] if isinstance(b, dict) and b.get("id")}


@dataclass(frozen=True)
class OrderThrough:
    """One order whose processing by the version passed the node."""

    order: Order
    proc: OrderProcessing
    port: str


@dataclass
class OrdersPage:
    """A page of the orders that passed a node, newest first; ``older`` is where the next page starts."""

    rows: list[OrderThrough]
    older: tuple[datetime, int] | None


def _took(proc: OrderProcessing, version_id: int, node_id: str, port: str | None) -> str | None:
    """The exit the record's run of the version took at the node, when its path has the node (and the exit
    is ``port``, when one is asked for); else None."""
    for run in proc.flows or []:
        if run.get("version_id") != version_id or node_id not in (run.get("path") or []):
            continue
        taken = next((str(s.get("port") or "") for s in run.get("trace") or [] if s.get("node_id") == node_id), "")
        if port is None or taken == port:
            return taken
    return None


def page_start(before_at: str | None, before_id: str | None) -> tuple[datetime, int] | None:
    """Where a page of :func:`orders_through` starts, read from its "older" link (``before_at``, ``before_id``);
    None for the first page. A link we did not write (no time zone, off the calendar, an id beyond the id
    column) is a ParameterError: the first page in its place would repeat the orders already shown."""
    if not before_at and not before_id:
        return None
    moment, order_id = parse_moment(before_at or ""), parse_id(before_id or "")
    if moment is None or order_id is None:
        raise ParameterError("stale_page", field="before_at")
    return moment, order_id


async def orders_through(
    session: AsyncSession,
    version: FlowVersion,
    node_id: str,
    *,
    port: str | None = None,
    before: tuple[datetime, int] | None = None,
    limit: int = ORDERS_PAGE,
    scan: int = ORDERS_SCAN,
) -> OrdersPage:
    """The orders whose latest processing by the version passed the node (through ``port``, when given),
    newest first, from ``before`` on: at most ``limit`` orders, found among at most ``scan`` processing
    records finished since the version went live."""
    assert version.id is not None
    query = (
        select(OrderProcessing, Order)
        .join(Order, col(Order.id) == col(OrderProcessing.order_id))
        .where(col(OrderProcessing.finished_at) >= version.published_at, col(OrderProcessing.runs) > 0)
        .order_by(col(OrderProcessing.finished_at).desc(), col(OrderProcessing.order_id).desc())
        .limit(scan)
    )
    if before is not None:
        at, order_id = before
        query = query.where(
            (col(OrderProcessing.finished_at) < at)
            | ((col(OrderProcessing.finished_at) == at) & (col(OrderProcessing.order_id) < order_id))
        )
    rows: list[OrderThrough] = []
    looked = 0
    last: tuple[datetime, int] | None = None
    for proc, order in (await session.exec(query)).all():
        looked += 1
        assert proc.finished_at is not None
        last = (proc.finished_at, proc.order_id)
        taken = _took(proc, version.id, node_id, port)
        if taken is not None:
            rows.append(OrderThrough(order, proc, taken))
            if len(rows) == limit:
                break
    more = last is not None and (len(rows) == limit or looked == scan)
    return OrdersPage(rows, last if more else None)


@dataclass(frozen=True)
class NodeHits:
    """How many runs passed one node of one flow version between two moments (its exits summed)."""

    flow_name: str
    version_number: int
    node_id: str
    node_name: str
    node_type: str
    count: int


async def hits_by_node(session: AsyncSession, start: datetime, end: datetime) -> list[NodeHits]:
    """Every flow version's node counts of the hours from ``start`` to ``end`` (one aggregate of the counters),
    named from the versions' documents; the most passed first."""
    query = (
        select(FlowHit.version_id, FlowHit.node_id, func.sum(FlowHit.count))
        .where(col(FlowHit.hour) >= hour_of(start), col(FlowHit.hour) < end)
        .group_by(col(FlowHit.version_id), col(FlowHit.node_id))
    )
    counted = [
        (int(version_id), str(node_id), int(n or 0)) for version_id, node_id, n in (await session.exec(query)).all()
    ]
    versions = {
        version.id: version
        for version in (
            await session.exec(select(FlowVersion).where(col(FlowVersion.id).in_({v for v, _, _ in counted})))
        ).all()
    }
    names = await flows.flow_names(session, {version.flow_id for version in versions.values()})
    found = []
    for version_id, node_id, n in counted:
        version = versions.get(version_id)
        if version is None:
            continue
        node = next(
            (x for x in version.document.get("nodes") or [] if isinstance(x, dict) and str(x.get("id")) == node_id), {}
        )
        found.append(
            NodeHits(
                flow_name=names.get(version.flow_id, ""),
                version_number=version.number,
                node_id=node_id,
                node_name=str(node.get("name") or node_id),
                node_type=str(node.get("type") or ""),
                count=n,
            )
        )
    return sorted(found, key=lambda h: (-h.count, h.flow_name, h.version_number, h.node_id))

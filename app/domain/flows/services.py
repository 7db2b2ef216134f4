"""Rule-flow services: flows and drafts, publishing and rollback, diffs, import/export, the simulator,
backtests, and the published flows the processing job runs (with the version each order takes while a canary
runs; the canary's own lifecycle is in ``app.domain.flows.canary``)."""

from __future__ import annotations

import copy
import hashlib
import json
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any, ClassVar, Final, TypeVar

import anyio
import anyio.to_thread
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

import ruleflows
from app import outbox
from app.db import Database, utcnow
from app.domain.accounts.services import Actor, audit
from app.domain.flows import layout
from app.domain.flows.backtest import OutOfTime, Replay, World, outcome
from app.domain.flows.models import BacktestStatus, Flow, FlowBacktest, FlowCanary, FlowVersion
from app.domain.flows.sources import OrderContext, ReplayedOrders, replayed_orders
from app.domain.fulfillment import services as fulfillment
from app.domain.fulfillment.message_templates import DEFAULT_TEXTS, TEMPLATE_LABELS
from app.domain.fulfillment.models import Carrier
from app.domain.inventory import services as inventory
from app.domain.inventory.models import Sku, Warehouse
from app.domain.shops import services as shop_readers
from app.domain.shops.models import Channel
from app.errors import DomainError, excerpt
from app.i18n import N_, gettext, label_of
from app.params import is_row_id, parse_id
from ruleflows import (
    LIMIT_DEPTH,
    LIMIT_SIZE,
    LIMIT_STEPS,
    LIMIT_TIME,
    MAX_DOCUMENT_BYTES,
    CompiledFlow,
    Problem,
    RunResult,
    document_size,
)

MAX_NAME: Final = 100
MAX_NOTE: Final = 500
#: Orders one backtest may replay: it streams them, so memory stays bounded (100,000 take well under BACKTEST_SECONDS).
MAX_BACKTEST_ORDERS: Final = 100_000
#: Orders a backtest reads, builds and replays per turn (the replay in a worker thread), its progress committed
#: after each (a turn is well under a second, so the page's progress bar moves and a hundred thousand orders are
#: a hundred commits).
BACKTEST_TURN: Final = 1000
#: Changed orders a backtest keeps to show one by one; all of them are counted.
MAX_BACKTEST_ROWS: Final = 500
#: Flows run in priority order; the range keeps the number a person can read and the column can hold.
MIN_PRIORITY: Final = -100_000
MAX_PRIORITY: Final = 100_000
#: Wall-clock seconds one simulation may spend evaluating (in a worker thread, off the event loop).
SIMULATION_TIME_LIMIT: Final = 1.0
#: Evaluations running at once in worker threads; more wait their turn, so a flood of simulations cannot
#: take every thread the server has (database drivers and sync handlers use them too).
EVALUATION_THREADS: Final = 4
_EVALUATIONS: Final = anyio.CapacityLimiter(EVALUATION_THREADS)
#: The refusal for a run the engine stopped at one of its limits (RunResult.limit).
LIMIT_REFUSALS: Final = {
    LIMIT_STEPS: "too_much_work",
    LIMIT_TIME: "too_slow",
    LIMIT_SIZE: "too_much_output",
    LIMIT_DEPTH: "too_deep",
}
BACKTEST_JOB: Final = "flow_backtest"
EXPORT_FORMAT: Final = "ruleflow-oms/flow"
_DOCUMENT_KEYS: Final = ("schema", "name", "description", "trigger", "nodes", "edges")
_NODE_KEYS: Final = ("id", "type", "name", "position", "config")
_EDGE_KEYS: Final = ("id", "source", "target", "port")


class FlowError(DomainError):
    """A designer's refusal; ``code`` picks the message, ``problems`` lists a document's problems."""

    messages: ClassVar[Mapping[str, str]] = {
        "not_found": N_("This flow does not exist."),
        "version_not_found": N_("This version does not exist."),
        "backtest_not_found": N_("This backtest does not exist."),
        "name_required": N_("Give the flow a name."),
        "name_too_long": N_("The name is too long (at most %(limit)s characters)."),
        "unknown_template": N_("There is no template called %(template)s."),
        "unknown_trigger": N_("There is no trigger called %(trigger)s."),
        "orders_only": N_(
            "Simulations and backtests replay orders; an after-sales flow decides cases and cannot be tried on them."
        ),
        "not_a_document": N_("This is not a flow document."),
        "not_json": N_("The file is not valid JSON."),
        "json_too_deep": N_("The JSON is nested too deeply (more than %(limit)s levels)."),
        "document_too_large": N_("The flow document is too large."),
        "unknown_channel": N_("Unknown channel: %(value)s"),
        "unknown_shop": N_("Unknown shop: %(value)s"),
        "bad_priority": N_("The priority must be a whole number from -100,000 to 100,000."),
        "conflict": N_(
            "Someone else saved this flow meanwhile (revision %(revision)s by %(saved_by)s). Reload to see it."
        ),
        "note_required": N_("Say what this version changes."),
        "note_too_long": N_("The note is too long (at most %(limit)s characters)."),
        "has_problems": N_("The flow has %(count)s problem(s); fix them before publishing."),
        "already_live": N_("Version %(number)s is already live."),
        "bad_order_limit": N_("Choose between 1 and %(limit)s orders."),
        "nothing_published": N_("Nothing is published yet."),
        "too_much_work": N_(
            "The flow does too much work on this order and was stopped at “%(node)s”: it went past the rule "
            "engine's limit of evaluation steps. Use fewer or shorter lists and texts."
        ),
        "too_slow": N_(
            "The flow took longer than %(seconds)s s to evaluate on this order and was stopped at “%(node)s”."
        ),
        "too_much_output": N_(
            "The flow produces more data than the rule engine allows (a text, a list or the trace) and was "
            "stopped at “%(node)s”."
        ),
        "too_deep": N_("The flow or the order is nested too deeply to evaluate (stopped at “%(node)s”)."),
        "canary_running": N_(
            "A canary (v%(number)s) is running: promote it or roll it back before publishing another version."
        ),
        "no_canary": N_("No canary is running on this flow (it may just have been promoted or rolled back)."),
        "canary_needs_live": N_("Publish a version first: a canary is tried beside the live version."),
        "canary_unchanged": N_("The draft is the same as the live version: there is no change to try as a canary."),
        "canary_scope_missing": N_("Choose the shops the canary takes, or the share of orders."),
        "canary_scope_both": N_("Choose either shops or a share of orders for the canary, not both."),
        "bad_percent": N_("The share of orders must be a whole number from 1 to 99."),
        "shop_outside_flow": N_("The flow does not apply to shop %(value)s, so a canary there would get no orders."),
        "bad_threshold": N_("A threshold must be a whole number of percentage points from 0 to 100."),
        "bad_min_orders": N_("The minimum number of orders must be a whole number from 1 to %(limit)s."),
    }
    statuses: ClassVar[Mapping[str, int]] = {
        "not_found": 404,
        "version_not_found": 404,
        "backtest_not_found": 404,
        "conflict": 409,
        "already_live": 409,
        "has_problems": 422,
        "nothing_published": 404,
        "canary_running": 409,
        "no_canary": 409,
        "canary_unchanged": 409,
        # A simulation the rule engine stopped at one of its limits: the document is the problem.
        "too_much_work": 422,
        "too_slow": 422,
        "too_much_output": 422,
        "too_deep": 422,
        "orders_only": 422,
    }
    fields: ClassVar[Mapping[str, str]] = {
        "name_required": "name",
        "name_too_long": "name",
        "unknown_template": "template",
        "unknown_trigger": "trigger",
        "not_a_document": "document",
        "document_too_large": "document",
        "unknown_channel": "channels",
        "unknown_shop": "shop_codes",
        "bad_priority": "priority",
        "conflict": "base_revision",
        "note_required": "note",
        "note_too_long": "note",
        "has_problems": "document",
        "bad_order_limit": "orders",
        "already_live": "version_id",
        "version_not_found": "version_id",
        "too_much_work": "document",
        "too_slow": "document",
        "too_much_output": "document",
        "too_deep": "document",
        "canary_scope_missing": "shop_codes",
        "canary_scope_both": "percent",
        "bad_percent": "percent",
        "shop_outside_flow": "shop_codes",
        "bad_min_orders": "min_orders",
    }

    def __init__(self, code: str, *, problems: list[Problem] | None = None, **params: Any) -> None:
        super().__init__(code, **params)
        self.problems = problems or []

    def extra(self) -> dict[str, Any]:
        return {"problems": [problem.to_dict() for problem in self.problems]}


# ------------------------------------------------------------------------------------------- documents


def blank_document(name: str, trigger: str = "order.received") -> dict[str, Any]:
    """A new flow: a start node and an end node, not yet connected."""
    return {
        "schema": 1,
        "name": name,
        "trigger": trigger,
        "nodes": [
            {"id": "start", "type": "start", "name": "开始", "position": {"x": 40, "y": 200}, "config": {}},
            {"id": "end", "type": "end", "name": "结束", "position": {"x": 820, "y": 200}, "config": {}},
        ],
        "edges": [],
    }


def clean_document(doc: Any) -> Any:
    """Keep only what the DESIGN.md format has, so no editor markup or stray keys are ever stored.

    Values are kept as given (even wrong ones), so that validation can still name every problem, except that
    the names and branch labels a designer gives lose their bidi controls (a U+202E would show them reversed).
    """
    if not isinstance(doc, dict):
        return doc
    cleaned = _plain_names({key: doc[key] for key in _DOCUMENT_KEYS if key in doc}, "name")
    if isinstance(cleaned.get("nodes"), list):
        cleaned["nodes"] = [
            _clean_node({key: node[key] for key in _NODE_KEYS if key in node}) if isinstance(node, dict) else node
            for node in cleaned["nodes"]
        ]
    if isinstance(cleaned.get("edges"), list):
        cleaned["edges"] = [
            {key: edge[key] for key in _EDGE_KEYS if key in edge} if isinstance(edge, dict) else edge
            for edge in cleaned["edges"]
        ]
    return cleaned


def _plain_names(entry: dict[str, Any], key: str) -> dict[str, Any]:
    if isinstance(entry.get(key), str):
        entry[key] = ruleflows.without_bidi_controls(entry[key])
    return entry


def _clean_node(node: dict[str, Any]) -> dict[str, Any]:
    node = _plain_names(node, "name")
    config = node.get("config")
    if isinstance(config, dict) and isinstance(config.get("branches"), list):
        branches = [_plain_names(dict(b), "label") if isinstance(b, dict) else b for b in config["branches"]]
        node["config"] = {**config, "branches": branches}
    return node


def fingerprint(doc: Any) -> str:
    """A short hash of a document's content, for the audit log and for "unchanged" checks."""
    text = json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def validate(doc: Any) -> list[Problem]:
    """Every problem of a document, as the engine reports them."""
    return ruleflows.validate(doc)


def arranged_layout(document: Any, sizes: Mapping[str, Any]) -> layout.Layout:
    """Where 整理布局 puts the nodes of a document the editor sent; refused if it is not one or too large."""
    doc = clean_document(document)
    size = document_size(doc) if isinstance(doc, dict) else None
    if size is None:
        raise FlowError("not_a_document")
    if size > MAX_DOCUMENT_BYTES:
        raise FlowError("document_too_large")
    return layout.arrange(doc, sizes)


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    nodes, edges = doc.get("nodes"), doc.get("edges")
    return {
        "nodes": len(nodes) if isinstance(nodes, list) else 0,
        "edges": len(edges) if isinstance(edges, list) else 0,
        "fingerprint": fingerprint(doc),
    }


# ---------------------------------------------------------------------------------------------- flows


async def list_flows(session: AsyncSession) -> list[Flow]:
    """All flows that are not archived, in the order they run (priority, then age)."""
    query = select(Flow).where(col(Flow.is_archived).is_(False)).order_by(col(Flow.priority), col(Flow.id))
    return list((await session.exec(query)).all())


async def flow_names(session: AsyncSession, flow_ids: Iterable[int]) -> dict[int, str]:
    """These flows' names by id (archived ones too: their counts are history)."""
    query = select(Flow.id, Flow.name).where(col(Flow.id).in_(set(flow_ids)))
    return {int(flow_id): name for flow_id, name in (await session.exec(query)).all() if flow_id is not None}


async def get_flow(session: AsyncSession, flow_id: int, *, for_update: bool = False) -> Flow:
    """The flow, or FlowError("not_found"). ``for_update`` locks its row for the rest of the transaction."""
    query = select(Flow).where(Flow.id == flow_id)
    if for_update:
        query = query.with_for_update()
    flow = (await session.exec(query)).first()
    if flow is None or flow.is_archived:
        raise FlowError("not_found", flow_id=flow_id)
    return flow


def _check_name(name: str) -> str:
    name = ruleflows.without_bidi_controls(name).strip()
    if not name:
        raise FlowError("name_required")
    if len(name) > MAX_NAME:
        raise FlowError("name_too_long", limit=MAX_NAME)
    return name


async def create_flow(
    session: AsyncSession,
    actor: Actor,
    name: str,
    *,
    document: dict[str, Any] | None = None,
    template: str | None = None,
    trigger: str | None = None,
    description: str = "",
    priority: int = 100,
    channels: list[str] | None = None,
    shop_codes: list[str] | None = None,
    ip: str | None = None,
) -> Flow:
    """Create a flow with a blank draft (on ``trigger``: new orders by default, or after-sales requests), a shipped
    template's draft, or a given document (which bring their own trigger)."""
    name = _check_name(name)
    _check_priority(priority)
    if trigger is not None and trigger not in ruleflows.TRIGGERS:
        raise FlowError("unknown_trigger", trigger=excerpt(trigger))
    if template:
        try:
            document = ruleflows.load_template(template)
        except KeyError:
            raise FlowError("unknown_template", template=excerpt(template)) from None
        description = description or str(document.get("description") or "")
    doc = clean_document(document) if document is not None else blank_document(name, trigger or "order.received")
    if not isinstance(doc, dict) or document_size(doc) is None:
        raise FlowError("not_a_document")
    if (document_size(doc) or 0) > MAX_DOCUMENT_BYTES:
        raise FlowError("document_too_large")
    doc["name"] = name
    now = utcnow()
    flow = Flow(
        name=name,
        description=description[:500],
        trigger=str(doc.get("trigger") or "order.received")[:32],
        priority=priority,
        channels=await _checked_channels(channels or []),
        shop_codes=await _checked_shops(session, shop_codes or []),
        draft=doc,
        draft_revision=1,
        draft_saved_at=now,
        draft_saved_by=actor.name,
        created_at=now,
        created_by=actor.name,
    )
    session.add(flow)
    await session.flush()
    await audit(
        session,
        actor,
        "flows.created",
        target_type="flow",
        target_id=str(flow.id),
        after={"name": name, "template": template, **_summary(doc)},
        ip=ip,
    )
    return flow


async def _checked_channels(channels: list[str]) -> list[str]:
    known = {c.value for c in Channel}
    unknown = [c for c in channels if c not in known]
    if unknown:
        raise FlowError("unknown_channel", value=excerpt(", ".join(unknown)))
    return sorted(set(channels))


async def _checked_shops(session: AsyncSession, shop_codes: list[str]) -> list[str]:
    if not shop_codes:
        return []
    known = await shop_readers.existing_codes(session, shop_codes)
    unknown = [c for c in shop_codes if c not in known]
    if unknown:
        raise FlowError("unknown_shop", value=excerpt(", ".join(unknown)))
    return sorted(set(shop_codes))


async def update_settings(
    session: AsyncSession,
    actor: Actor,
    flow_id: int,
    *,
    name: str,
    description: str,
    priority: int,
    channels: list[str],
    shop_codes: list[str],
    ip: str | None = None,
) -> Flow:
    """Change a flow's name and scope: which channels and shops it applies to, and its priority."""
    flow = await get_flow(session, flow_id, for_update=True)
    before = _settings_of(flow)
    flow.name = _check_name(name)
    flow.description = description.strip()[:500]
    _check_priority(priority)
    flow.priority = priority
    flow.channels = await _checked_channels(channels)
    flow.shop_codes = await _checked_shops(session, shop_codes)
    draft = dict(flow.draft)
    draft["name"] = flow.name
    flow.draft = draft
    session.add(flow)
    await audit(
        session,
        actor,
        "flows.settings_changed",
        target_type="flow",
        target_id=str(flow.id),
        before=before,
        after=_settings_of(flow),
        ip=ip,
    )
    return flow


def _settings_of(flow: Flow) -> dict[str, Any]:
    return {
        "name": flow.name,
        "description": flow.description,
        "priority": flow.priority,
        "channels": list(flow.channels),
        "shop_codes": list(flow.shop_codes),
    }


async def save_draft(
    session: AsyncSession,
    actor: Actor,
    flow_id: int,
    document: Any,
    *,
    base_revision: int | None = None,
    ip: str | None = None,
) -> tuple[Flow, list[Problem]]:
    """Store the working draft (even with problems: a draft may be unfinished) and say what is wrong with it.

    ``base_revision`` is the revision the editor started from; if someone saved since, nothing is stored and
    FlowError("conflict") is raised, so one editor never silently overwrites another.
    """
    flow = await get_flow(session, flow_id, for_update=True)
    if base_revision is not None and base_revision != flow.draft_revision:
        raise FlowError("conflict", revision=flow.draft_revision, saved_by=flow.draft_saved_by)
    doc = clean_document(document)
    if not isinstance(doc, dict):
        raise FlowError("not_a_document")
    size = document_size(doc)
    if size is None:
        raise FlowError("not_a_document")
    if size > MAX_DOCUMENT_BYTES:
        raise FlowError("document_too_large")
    doc["name"] = flow.name
    problems = await evaluate_off_loop(validate, doc)  # the editor saves often; a large draft takes a while
    before = _summary(flow.draft)
    flow.draft = doc
    flow.trigger = str(doc.get("trigger") or flow.trigger)[:32]
    flow.draft_revision += 1
    flow.draft_saved_at = utcnow()
    flow.draft_saved_by = actor.name
    session.add(flow)
    await audit(
        session,
        actor,
        "flows.draft_saved",
        target_type="flow",
        target_id=str(flow.id),
        before=before,
        after={**_summary(doc), "revision": flow.draft_revision, "problems": len(problems)},
        ip=ip,
    )
    return flow, problems


# ------------------------------------------------------------------------------------------- versions


async def list_versions(session: AsyncSession, flow_id: int) -> list[FlowVersion]:
    """A flow's published versions, newest first."""
    query = select(FlowVersion).where(FlowVersion.flow_id == flow_id).order_by(col(FlowVersion.number).desc())
    return list((await session.exec(query)).all())


def _check_priority(priority: int) -> None:
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise FlowError("bad_priority")


async def get_version(session: AsyncSession, flow_id: int, version_id: int) -> FlowVersion:
    """One version of the flow, or FlowError("version_not_found")."""
    version = await session.get(FlowVersion, version_id) if is_row_id(version_id) else None
    if version is None or version.flow_id != flow_id:
        raise FlowError("version_not_found", version_id=version_id)
    return version


async def _next_number(session: AsyncSession, flow_id: int) -> int:
    query = select(func.max(FlowVersion.number)).where(FlowVersion.flow_id == flow_id)
    return int((await session.exec(query)).one() or 0) + 1


async def publish(
    session: AsyncSession,
    actor: Actor,
    flow_id: int,
    note: str,
    *,
    expected_revision: int | None = None,
    ip: str | None = None,
) -> FlowVersion:
    """Publish the current draft as a new immutable version and make it live. Refused if it has problems."""
    flow = await get_flow(session, flow_id, for_update=True)
    note = checked_note(note)
    if expected_revision is not None and expected_revision != flow.draft_revision:
        raise FlowError("conflict", revision=flow.draft_revision, saved_by=flow.draft_saved_by)
    await refuse_while_canary(session, flow)
    problems = validate(flow.draft)
    if problems:
        raise FlowError("has_problems", problems=problems, count=len(problems))
    return await _make_live(session, actor, flow, copy.deepcopy(flow.draft), note, "flows.published", ip=ip)


async def rollback(
    session: AsyncSession, actor: Actor, flow_id: int, version_id: int, note: str = "", *, ip: str | None = None
) -> FlowVersion:
    """Publish a copy of an older version, making its behaviour live again. History is never rewritten."""
    flow = await get_flow(session, flow_id, for_update=True)
    older = await get_version(session, flow_id, version_id)
    if flow.live_version_id == older.id:
        raise FlowError("already_live", number=older.number)
    await refuse_while_canary(session, flow)
    problems = validate(older.document)
    if problems:  # the engine may have grown stricter since it was published
        raise FlowError("has_problems", problems=problems, count=len(problems))
    text = f"回滚到 v{older.number}" + (f"：{note.strip()}" if note.strip() else "")
    return await _make_live(
        session,
        actor,
        flow,
        copy.deepcopy(older.document),
        text[:MAX_NOTE],
        "flows.rolled_back",
        copied_from=older,
        ip=ip,
    )


async def refuse_while_canary(session: AsyncSession, flow: Flow) -> None:
    """FlowError("canary_running") when a canary runs beside the live version: the two are being compared, and
    a new live version would change one side of the comparison halfway."""
    if flow.canary_id is None:
        return
    canary = await session.get(FlowCanary, flow.canary_id)
    version = await session.get(FlowVersion, canary.version_id) if canary else None
    raise FlowError("canary_running", number=version.number if version else "?")


def checked_note(note: str) -> str:
    """A version's note, stripped; FlowError when it is empty or too long."""
    note = note.strip()
    if not note:
        raise FlowError("note_required")
    if len(note) > MAX_NOTE:
        raise FlowError("note_too_long", limit=MAX_NOTE)
    return note


async def write_version(
    session: AsyncSession,
    actor: Actor,
    flow: Flow,
    document: dict[str, Any],
    note: str,
    *,
    copied_from: FlowVersion | None = None,
) -> FlowVersion:
    """Write the flow's next immutable version (live or not is the caller's business)."""
    assert flow.id is not None
    version = FlowVersion(
        flow_id=flow.id,
        number=await _next_number(session, flow.id),
        document=document,
        note=note,
        copied_from_version_id=copied_from.id if copied_from else None,
        published_at=utcnow(),
        published_by=actor.name,
    )
    session.add(version)
    await session.flush()
    return version


async def _make_live(
    session: AsyncSession,
    actor: Actor,
    flow: Flow,
    document: dict[str, Any],
    note: str,
    action: str,
    *,
    copied_from: FlowVersion | None = None,
    ip: str | None = None,
) -> FlowVersion:
    version = await write_version(session, actor, flow, document, note, copied_from=copied_from)
    before = {"live_version_id": flow.live_version_id}
    flow.live_version_id = version.id
    session.add(flow)
    await audit(
        session,
        actor,
        action,
        target_type="flow",
        target_id=str(flow.id),
        before=before,
        after={
            "live_version_id": version.id,
            "number": version.number,
            "note": note,
            "copied_from_version_id": version.copied_from_version_id,
            "fingerprint": fingerprint(document),
        },
        ip=ip,
    )
    return version


async def restore_to_draft(
    session: AsyncSession, actor: Actor, flow_id: int, version_id: int, *, ip: str | None = None
) -> Flow:
    """Put an older version's document back into the draft, to continue designing from it."""
    version = await get_version(session, flow_id, version_id)
    flow, _ = await save_draft(session, actor, flow_id, copy.deepcopy(version.document), ip=ip)
    return flow


# ----------------------------------------------------------------------------------------------- diff


@dataclass
class FlowDiff:
    """What differs between two documents: nodes and edges added, removed and changed."""

    nodes_added: list[dict[str, Any]] = field(default_factory=list)
    nodes_removed: list[dict[str, Any]] = field(default_factory=list)
    nodes_changed: list[dict[str, Any]] = field(default_factory=list)
    nodes_moved: list[str] = field(default_factory=list)
    edges_added: list[dict[str, Any]] = field(default_factory=list)
    edges_removed: list[dict[str, Any]] = field(default_factory=list)
    edges_changed: list[dict[str, Any]] = field(default_factory=list)
    settings_changed: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        """True when the two documents behave the same (layout moves aside)."""
        return not (
            self.nodes_added
            or self.nodes_removed
            or self.nodes_changed
            or self.edges_added
            or self.edges_removed
            or self.edges_changed
            or self.settings_changed
        )

    def node_status(self) -> dict[str, str]:
        """Node id -> added | changed | removed, for colouring a canvas."""
        status = {n["id"]: "added" for n in self.nodes_added}
        status.update({n["id"]: "changed" for n in self.nodes_changed})
        status.update({n["id"]: "removed" for n in self.nodes_removed})
        return status

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, for the API."""
        return {
            "nodes_added": self.nodes_added,
            "nodes_removed": self.nodes_removed,
            "nodes_changed": self.nodes_changed,
            "nodes_moved": self.nodes_moved,
            "edges_added": self.edges_added,
            "edges_removed": self.edges_removed,
            "edges_changed": self.edges_changed,
            "settings_changed": self.settings_changed,
        }


def _nodes_by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    nodes: list[Any] = doc["nodes"] if isinstance(doc.get("nodes"), list) else []
    return {str(n["id"]): n for n in nodes if isinstance(n, dict) and isinstance(n.get("id"), str)}


def _edges_by_exit(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    # An edge is identified by the exit it leaves from: editors may renumber edge ids without changing anything.
    edges: list[Any] = doc["edges"] if isinstance(doc.get("edges"), list) else []
    return {
        (str(e.get("source")), str(e.get("port"))): e
        for e in edges
        if isinstance(e, dict) and e.get("source") is not None and e.get("port") is not None
    }


def behaviour_of(config: Any) -> Any:
    """The part of a node's config that decides anything: the builder's own state and empty values left out."""
    if not isinstance(config, dict):
        return config
    kept: dict[str, Any] = {}
    for key, value in config.items():
        if key == "builder" or value is None or value == {} or value == []:
            continue
        if key == "branches" and isinstance(value, list):
            value = [behaviour_of(branch) for branch in value]
        kept[key] = value
    return kept


def _node_brief(node: dict[str, Any]) -> dict[str, Any]:
    return {"id": node.get("id"), "type": node.get("type"), "name": node.get("name", "")}


def diff_documents(old: dict[str, Any], new: dict[str, Any]) -> FlowDiff:
    """Compare two flow documents. Moving a node is reported apart: it changes the picture, not the behaviour;
    so is the condition builder's own state, which never decides anything."""
    diff = FlowDiff()
    for key in ("trigger",):
        if old.get(key) != new.get(key):
            diff.settings_changed.append(key)
    old_nodes, new_nodes = _nodes_by_id(old), _nodes_by_id(new)
    for node_id, node in new_nodes.items():
        if node_id not in old_nodes:
            diff.nodes_added.append(_node_brief(node))
            continue
        before = old_nodes[node_id]
        changed = [key for key in ("type", "name") if (before.get(key) or None) != (node.get(key) or None)]
        if behaviour_of(before.get("config") or {}) != behaviour_of(node.get("config") or {}):
            changed.append("config")
        if changed:
            diff.nodes_changed.append(
                {**_node_brief(node), "fields": changed, "before": before.get("config"), "after": node.get("config")}
            )
        elif before.get("position") != node.get("position"):
            diff.nodes_moved.append(node_id)
    diff.nodes_removed = [_node_brief(node) for node_id, node in old_nodes.items() if node_id not in new_nodes]
    old_edges, new_edges = _edges_by_exit(old), _edges_by_exit(new)
    for exit_key, edge in new_edges.items():
        if exit_key not in old_edges:
            diff.edges_added.append({"source": exit_key[0], "port": exit_key[1], "target": edge.get("target")})
        elif old_edges[exit_key].get("target") != edge.get("target"):
            diff.edges_changed.append(
                {
                    "source": exit_key[0],
                    "port": exit_key[1],
                    "before": old_edges[exit_key].get("target"),
                    "after": edge.get("target"),
                }
            )
    diff.edges_removed = [
        {"source": key[0], "port": key[1], "target": edge.get("target")}
        for key, edge in old_edges.items()
        if key not in new_edges
    ]
    return diff


async def document_at(session: AsyncSession, flow: Flow, ref: str) -> tuple[str, dict[str, Any]]:
    """A document by reference: ``draft``, ``live`` or a version id. Returns (label, document)."""
    assert flow.id is not None
    if ref == "draft":
        return "draft", flow.draft
    if ref == "live":
        if flow.live_version_id is None:
            raise FlowError("nothing_published")
        ref = str(flow.live_version_id)
    version_id = parse_id(ref)
    if version_id is None:
        raise FlowError("version_not_found", version_id=excerpt(ref))
    version = await get_version(session, flow.id, version_id)
    return f"v{version.number}", version.document


# ------------------------------------------------------------------------------------- import / export


def export_flow(flow: Flow) -> dict[str, Any]:
    """A flow as a portable JSON file: its settings and its draft document."""
    return {
        "format": EXPORT_FORMAT,
        "version": 1,
        "flow": {
            "name": flow.name,
            "description": flow.description,
            "priority": flow.priority,
            "channels": list(flow.channels),
            "shop_codes": list(flow.shop_codes),
        },
        "document": flow.draft,
    }


async def import_flow(session: AsyncSession, actor: Actor, payload: Any, *, ip: str | None = None) -> Flow:
    """Create a flow from an exported file (or from a bare flow document). The import becomes a new draft."""
    if not isinstance(payload, dict):
        raise FlowError("not_a_document")
    if payload.get("format") == EXPORT_FORMAT:
        meta: dict[str, Any] = payload["flow"] if isinstance(payload.get("flow"), dict) else {}
        document = payload.get("document")
    elif "nodes" in payload:
        meta, document = {}, payload
    else:
        raise FlowError("not_a_document")
    if not isinstance(document, dict):
        raise FlowError("not_a_document")
    name = str(meta.get("name") or document.get("name") or "").strip() or "导入的流程"
    priority = meta.get("priority", 100)
    channels = meta.get("channels") or []
    shop_codes = meta.get("shop_codes") or []
    if not isinstance(priority, int) or isinstance(priority, bool):
        priority = 100
    if not isinstance(channels, list) or not isinstance(shop_codes, list):
        raise FlowError("not_a_document")
    # Shops may not exist on this installation: keep the ones that do, rather than refusing the whole file.
    known_shops = await shop_readers.existing_codes(session)
    flow = await create_flow(
        session,
        actor,
        name[:MAX_NAME],
        document=document,
        description=str(meta.get("description") or document.get("description") or ""),
        priority=priority,
        channels=[str(c) for c in channels],
        shop_codes=[str(s) for s in shop_codes if s in known_shops],
        ip=ip,
    )
    await audit(session, actor, "flows.imported", target_type="flow", target_id=str(flow.id), ip=ip)
    return flow


# ------------------------------------------------------------------------------------------ simulator


@dataclass
class Simulation:
    """One run of a document on one order, with what to highlight on the canvas."""

    label: str
    context: dict[str, Any]
    result: RunResult
    path_edges: list[str]
    #: What routing would make of the decisions (a backtest's outcome: status, parcels, cost); None when the run
    #: routes nothing (it failed, held, cancelled or chose no warehouse) or no network was given.
    routing: dict[str, Any] | None = None
    #: A sample or pasted order is not stock: it is routed as if every warehouse had its goods.
    stock_assumed: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, for the API."""
        return {"label": self.label, "path_edges": self.path_edges, **self.result.to_dict(), "routing": self.routing}


def path_edges(doc: dict[str, Any], result: RunResult) -> list[str]:
    """The ids of the connections a run went along."""
    taken = {(step.node_id, step.port) for step in result.trace if step.port}
    edges: list[Any] = doc["edges"] if isinstance(doc.get("edges"), list) else []
    return [
        str(e["id"])
        for e in edges
        if isinstance(e, dict) and (e.get("source"), e.get("port")) in taken and e.get("id") is not None
    ]


T = TypeVar("T")


async def evaluate_off_loop(function: Callable[..., T], *args: Any) -> T:
    """Run rule-engine work (a simulation, a rule check, a validation, a backtest's replay) in a worker
    thread, at most EVALUATION_THREADS at a time, so the event loop keeps answering meanwhile."""
    return await anyio.to_thread.run_sync(function, *args, limiter=_EVALUATIONS)


def limit_refusal(result: RunResult) -> FlowError | None:
    """The refusal for a run stopped at one of the engine's limits, naming the node; None for other runs."""
    if result.status != "limit_exceeded":
        return None
    node = next((step.name or step.node_id for step in result.trace if step.node_id == result.failed_node), "")
    return limit_error(result.limit, node)


def limit_error(limit: str | None, node: str) -> FlowError:
    """The refusal for one of the engine's limits (RunResult.limit) reached at a node."""
    code = LIMIT_REFUSALS.get(limit or "", "too_much_work")
    return FlowError(code, node=excerpt(node or "—"), seconds=f"{SIMULATION_TIME_LIMIT:g}")


async def simulate(
    doc: Any, order: OrderContext, *, now: datetime | None = None, world: World | None = None
) -> Simulation:
    """Run a document (usually the draft) on one order context, in a worker thread so the server keeps
    answering, within SIMULATION_TIME_LIMIT seconds; with a ``world`` (:func:`backtest_world`), also route what it
    decided as processing would — the parcels, their carriers, zones and fees, a split included.

    A run that fails is a result (its trace says where); FlowError when the engine stopped it at one of its
    limits (too much work, time, output or nesting), or when the document is an after-sales flow (it reads a case).
    """
    _require_order_flow(doc.get("trigger") if isinstance(doc, dict) else None)
    run_it = partial(ruleflows.run, doc, order.context, now=now or utcnow(), time_limit=SIMULATION_TIME_LIMIT)
    result = await evaluate_off_loop(run_it)
    refusal = limit_refusal(result)
    if refusal is not None:
        raise refusal
    decisions = result.decisions
    routes = result.ok and not (decisions.hold or decisions.cancelled)
    routes = routes and bool(decisions.warehouse or decisions.warehouse_strategy)
    return Simulation(
        label=order.label,
        context=order.context,
        result=result,
        path_edges=path_edges(doc, result) if isinstance(doc, dict) else [],
        routing=outcome(result, order, world, world.side()) if world is not None and routes else None,
        stock_assumed=order.items is None,
    )


# ------------------------------------------------------------------------------------------- backtest


def _require_order_flow(trigger: str | None) -> None:
    """Refuse to replay orders through an after-sales flow: it reads a case, which an order is not."""
    if ruleflows.context_of_trigger(trigger) != "order":
        raise FlowError("orders_only")


async def start_backtest(
    session: AsyncSession, actor: Actor, flow_id: int, order_limit: int, *, ip: str | None = None
) -> FlowBacktest:
    """Ask for a backtest of the current draft against the live version; the work runs in the background."""
    flow = await get_flow(session, flow_id)
    _require_order_flow(flow.trigger)
    if not 1 <= order_limit <= MAX_BACKTEST_ORDERS:
        raise FlowError("bad_order_limit", limit=MAX_BACKTEST_ORDERS)
    assert flow.id is not None
    run = FlowBacktest(
        flow_id=flow.id,
        document=copy.deepcopy(flow.draft),
        baseline_version_id=flow.live_version_id,
        order_limit=order_limit,
        created_at=utcnow(),
        created_by=actor.name,
    )
    session.add(run)
    await session.flush()
    await outbox.stage(session, BACKTEST_JOB, run.id, dedupe_key=f"{BACKTEST_JOB}:{run.id}")
    await audit(
        session,
        actor,
        "flows.backtest_started",
        target_type="flow",
        target_id=str(flow.id),
        after={"backtest_id": run.id, "orders": order_limit, "baseline_version_id": flow.live_version_id},
        ip=ip,
    )
    return run


async def get_backtest(session: AsyncSession, flow_id: int, backtest_id: int) -> FlowBacktest:
    """One backtest of the flow, or FlowError("backtest_not_found")."""
    run = await session.get(FlowBacktest, backtest_id)
    if run is None or run.flow_id != flow_id:
        raise FlowError("backtest_not_found", backtest_id=backtest_id)
    return run


async def backtest_world(session: AsyncSession, orders: Iterable[OrderContext | int]) -> World:
    """The network, the SKU master and the stock as it was before these stored orders (their contexts or ids)
    were routed (what they hold counts as available again)."""
    network = await fulfillment.load_network(session)
    order_ids = [order if isinstance(order, int) else order.order_id for order in orders]
    pool = await inventory.load_pool(
        session, None, holders=[inventory.order_key(order_id) for order_id in order_ids if order_id]
    )
    skus = {sku.code: sku for sku in await inventory.list_skus(session)}
    return World(network=network, pool=pool, skus=skus)


@dataclass
class BacktestTally:
    """What a backtest counts as it replays: changed orders by field, the cost on each side, the first
    MAX_BACKTEST_ROWS changed orders one by one."""

    orders: int = 0
    changed_orders: int = 0
    totals: dict[str, int] = field(
        default_factory=lambda: {"warehouse": 0, "carrier": 0, "split": 0, "hold": 0, "gifts": 0}
    )
    cost_before: int = 0
    cost_after: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, order: OrderContext, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
        """Count one order's (live outcome, draft outcome)."""
        changed = [key for key in self.totals if before[key] != after[key]]
        for key in changed:
            self.totals[key] += 1
        self.orders += 1
        self.cost_before += before["cost_fen"] or 0
        self.cost_after += after["cost_fen"] or 0
        self.changed_orders += bool(changed)
        if changed and len(self.rows) < MAX_BACKTEST_ROWS:
            self.rows.append(
                {"key": order.key, "label": order.label, "changed": changed, "before": before, "after": after}
            )


async def run_backtest(
    db: Database, backtest_id: int, *, secret_key: str, time_limit: float, progress_every: int = BACKTEST_TURN
) -> dict[str, Any]:
    """The backtest job's work: replay the draft and the baseline over recent orders and compare, within
    ``time_limit`` wall-clock seconds for the whole replay (each order's run also stops at
    SIMULATION_TIME_LIMIT).

    The orders stream through in turns of ``progress_every``: a turn is read, its contexts built and replayed in a
    worker thread, counted and dropped, and the progress committed, so memory stays bounded however many orders
    there are and the event loop keeps answering. ``secret_key`` opens the orders' phones and streets for their
    audit features, as in processing. Safe to run twice: a finished backtest is left as it is; an
    interrupted one starts again from the top.
    """
    async with db.transaction() as session:
        run = await session.get(FlowBacktest, backtest_id)
        if run is None or run.status in (BacktestStatus.done, BacktestStatus.failed):
            return {"backtest_id": backtest_id, "skipped": True}
        run.status = BacktestStatus.running
        run.processed = 0
        session.add(run)
        baseline = await session.get(FlowVersion, run.baseline_version_id) if run.baseline_version_id else None
        baseline_doc = baseline.document if baseline else None
        baseline_label = f"v{baseline.number}" if baseline else None
        draft_doc, limit = run.document, run.order_limit
    try:
        # One read session for the whole stream: the orders, their holdings and the stock read together.
        async with db.reading() as session:
            orders = await replayed_orders(session, limit, secret_key=secret_key)
            world = await backtest_world(session, orders.order_ids)
            await _set_progress(db, backtest_id, total=len(orders))
            tally, draft_valid = await _replay(
                db, backtest_id, draft_doc, baseline_doc, orders, world, session, progress_every, time_limit
            )
    except OutOfTime:
        async with db.transaction() as session:
            run = await session.get(FlowBacktest, backtest_id)
            assert run is not None
            run.status = BacktestStatus.failed
            run.error = gettext(
                "The replay took more than %(seconds)s seconds of evaluation and was stopped; "
                "try fewer orders or a simpler flow."
            ) % {"seconds": f"{time_limit:g}"}
            run.finished_at = utcnow()
            session.add(run)
        return {"backtest_id": backtest_id, "failed": True}
    result = {
        "orders": tally.orders,
        "changed_orders": tally.changed_orders,
        "changed_by_field": tally.totals,
        "baseline": baseline_label,
        "draft_valid": draft_valid,
        "cost_before_fen": tally.cost_before,
        "cost_after_fen": tally.cost_after,
        "cost_difference_fen": tally.cost_after - tally.cost_before,
        "rows": tally.rows,
    }
    async with db.transaction() as session:
        run = await session.get(FlowBacktest, backtest_id)
        assert run is not None
        run.processed = tally.orders
        run.result = result
        run.status = BacktestStatus.done
        run.finished_at = utcnow()
        session.add(run)
    return {"backtest_id": backtest_id, "orders": tally.orders, "changed_orders": tally.changed_orders}


async def _set_progress(
    db: Database, backtest_id: int, *, total: int | None = None, processed: int | None = None
) -> None:
    async with db.transaction() as session:
        run = await session.get(FlowBacktest, backtest_id)
        assert run is not None
        if total is not None:
            run.total = total
        if processed is not None:
            run.processed = processed
        session.add(run)


async def _replay(
    db: Database,
    backtest_id: int,
    draft_doc: Any,
    baseline_doc: Any,
    orders: ReplayedOrders,
    world: World,
    session: AsyncSession,
    progress_every: int,
    time_limit: float,
) -> tuple[BacktestTally, bool]:
    """Replay the orders a turn at a time, each turn's contexts built and replayed in a worker thread, committing
    progress between; the whole replay stops with OutOfTime past ``time_limit`` seconds. Also says whether the
    draft is valid."""
    replay = await evaluate_off_loop(
        Replay, draft_doc, baseline_doc, world, utcnow(), time_limit, SIMULATION_TIME_LIMIT
    )
    tally = BacktestTally()
    async with aclosing(orders.turns(session, progress_every)) as turns:
        async for turn in turns:
            await evaluate_off_loop(_replay_turn, replay, turn, tally)
            if tally.orders < len(orders):
                await _set_progress(db, backtest_id, processed=tally.orders)
    return tally, replay.draft is not None


def _replay_turn(replay: Replay, turn: Iterable[OrderContext], tally: BacktestTally) -> None:
    # Each order is built, replayed and counted before the next is built: none outlives its step.
    for order, before, after in replay.outcomes(turn):
        tally.add(order, before, after)


# ----------------------------------------------------------------------------- for the processing job


class CompiledVersions:
    """Compiled flows by version. Versions never change, so an entry never goes stale; the size is bounded.

    The key is the version id with its publish time: ids alone can repeat when a database is reset or
    restored (tests truncate tables), and a cache must never hand one database's flow to another.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[int, str], CompiledFlow] = OrderedDict()

    @staticmethod
    def key(version: FlowVersion) -> tuple[int, str]:
        assert version.id is not None
        return version.id, version.published_at.isoformat()

    def get(self, version: FlowVersion) -> CompiledFlow:
        """The compiled flow of a version, compiling it the first time."""
        key = self.key(version)
        compiled = self._entries.get(key)
        if compiled is None:
            compiled = ruleflows.compile_flow(version.document)
            self._entries[key] = compiled
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        return compiled

    def __contains__(self, version_id: object) -> bool:
        return any(key[0] == version_id for key in self._entries)


COMPILED: Final = CompiledVersions()


def applies_to(flow: Flow, channel: str, shop_code: str) -> bool:
    """Whether a flow's scope covers an order of this channel and shop (empty lists mean "all")."""
    return (not flow.channels or channel in flow.channels) and (not flow.shop_codes or shop_code in flow.shop_codes)


def stable_bucket(order_id: int) -> int:
    """The order's bucket, 0-99, for a canary's share of orders: a CRC-32 of the id, the same in every process
    and every run (Python's ``hash`` is salted per process)."""
    return zlib.crc32(str(order_id).encode()) % 100


@dataclass(frozen=True, slots=True)
class CanaryRoute:
    """A running canary as processing needs it: which orders it takes, and its version compiled."""

    canary_id: int
    version_id: int
    compiled: CompiledFlow
    shop_codes: frozenset[str]
    percent: int | None
    version_number: int = 0

    def takes(self, order_id: int, shop_code: str) -> bool:
        """Whether this order is the canary's: its shop is one of the canary's, or its bucket is in the share."""
        if self.shop_codes:
            return shop_code in self.shop_codes
        return self.percent is not None and stable_bucket(order_id) < self.percent


@dataclass(frozen=True, slots=True)
class LiveFlow:
    """A flow's live version, compiled, with its scope, and the canary running beside it if any."""

    flow: Flow
    flow_id: int
    version_id: int
    compiled: CompiledFlow
    canary: CanaryRoute | None = None
    #: This is the canary's version, picked for one order by ``for_order``.
    on_canary: bool = False
    #: The number of ``version_id`` within its flow (v3), as people and integrators name it.
    version_number: int = 0

    def for_order(self, order_id: int, shop_code: str) -> LiveFlow:
        """The version that processes this order: the canary's when the order is in its scope, else the live one."""
        if self.canary is None or not self.canary.takes(order_id, shop_code):
            return self
        return replace(
            self,
            version_id=self.canary.version_id,
            compiled=self.canary.compiled,
            on_canary=True,
            version_number=self.canary.version_number,
        )


async def live_flows(
    session: AsyncSession, *, trigger: str | None = None, context: str | None = None
) -> list[LiveFlow]:
    """Every live flow in priority order, compiled (cached per version), each with its running canary; only
    those of ``trigger``, or of the triggers whose flows read ``context`` (``order`` or ``return``: see
    ``ruleflows.context_of_trigger``), when given. A live version that no longer validates (the engine grew
    stricter) is left out rather than run half-checked; a canary version that no longer does is not tried (the
    live version takes every order)."""
    query = (
        select(Flow, FlowVersion)
        .join(FlowVersion, col(FlowVersion.id) == col(Flow.live_version_id))
        .where(col(Flow.is_archived).is_(False))
        .order_by(col(Flow.priority), col(Flow.id))
    )
    found: list[LiveFlow] = []
    rows = (await session.exec(query)).all()
    canaries = await _canary_routes(session, [flow.canary_id for flow, _ in rows if flow.canary_id is not None])
    for flow, version in rows:
        try:
            compiled = COMPILED.get(version)
        except ruleflows.InvalidFlowError:
            continue
        if trigger is not None and compiled.trigger != trigger:
            continue
        if context is not None and ruleflows.context_of_trigger(compiled.trigger) != context:
            continue
        assert flow.id is not None and version.id is not None
        canary = canaries.get(flow.canary_id) if flow.canary_id is not None else None
        found.append(LiveFlow(flow, flow.id, version.id, compiled, canary, version_number=version.number))
    return found


async def _canary_routes(session: AsyncSession, canary_ids: list[int]) -> dict[int, CanaryRoute]:
    if not canary_ids:
        return {}
    query = (
        select(FlowCanary, FlowVersion)
        .join(FlowVersion, col(FlowVersion.id) == col(FlowCanary.version_id))
        .where(col(FlowCanary.id).in_(canary_ids))
    )
    routes: dict[int, CanaryRoute] = {}
    for canary, version in (await session.exec(query)).all():
        try:
            compiled = COMPILED.get(version)
        except ruleflows.InvalidFlowError:
            continue
        assert canary.id is not None
        routes[canary.id] = CanaryRoute(
            canary.id, canary.version_id, compiled, frozenset(canary.shop_codes), canary.percent, version.number
        )
    return routes


async def published_flows_for(
    session: AsyncSession, channel: str, shop_code: str, *, trigger: str | None = None
) -> list[tuple[int, int, CompiledFlow]]:
    """The live flows that apply to an order of this channel and shop, in priority order, as
    ``(flow id, version id, compiled flow)``."""
    return [
        (live.flow_id, live.version_id, live.compiled)
        for live in await live_flows(session, trigger=trigger)
        if applies_to(live.flow, channel, shop_code)
    ]


# ------------------------------------------------------------------------------------------ reference


async def categories(session: AsyncSession) -> list[str]:
    """The product categories of the SKUs, for the category picker."""
    rows = (
        await session.exec(select(Sku.category).where(Sku.category != "").distinct().order_by(col(Sku.category)))
    ).all()
    return [str(row) for row in rows]


async def warehouses(session: AsyncSession) -> list[Warehouse]:
    """Active warehouses, for the warehouse picker."""
    query = (
        select(Warehouse)
        .where(col(Warehouse.is_active).is_(True))
        .order_by(col(Warehouse.priority), col(Warehouse.code))
    )
    return list((await session.exec(query)).all())


async def carriers(session: AsyncSession) -> list[Carrier]:
    """Active carriers, for the carrier pickers."""
    return list(
        (await session.exec(select(Carrier).where(col(Carrier.is_active).is_(True)).order_by(col(Carrier.id)))).all()
    )


async def skus(session: AsyncSession) -> list[Sku]:
    """Active SKUs, for the gift picker."""
    return list((await session.exec(select(Sku).where(col(Sku.is_active).is_(True)).order_by(col(Sku.code)))).all())


def message_templates() -> list[tuple[str, str]]:
    """(template, label) of the buyer messages a notify action can send, for the template picker."""
    return [(name, label_of(TEMPLATE_LABELS, name)) for name in DEFAULT_TEXTS]

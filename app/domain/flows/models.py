"""Rule flows: the flow a designer draws (with its working draft), its immutable published versions, canaries
that try a version on some orders beside the live one, and backtest runs that replay a draft against recent
orders."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.dbtypes import json_field, utc_field


class FlowBase(SQLModel):
    """What a flow is and which orders it applies to."""

    name: str = Field(max_length=100)
    description: str = Field(default="", max_length=500)
    trigger: str = Field(default="order.received", max_length=32)
    #: Lower runs first when several flows apply to the same order.
    priority: int = Field(default=100, index=True)
    is_archived: bool = False


class Flow(FlowBase, table=True):
    """A rule flow: its scope, the designers' working draft and which version is live."""

    __tablename__ = "flows"

    id: int | None = Field(default=None, primary_key=True)
    #: Channels (app Channel values) the flow applies to; empty means every channel.
    channels: list[str] = json_field(nullable=False, default_factory=list)
    #: Shop codes the flow applies to; empty means every shop of the chosen channels.
    shop_codes: list[str] = json_field(nullable=False, default_factory=list)
    #: The working draft, in the DESIGN.md document format (never the editor library's own export).
    draft: dict[str, Any] = json_field(nullable=False, default_factory=dict)
    #: Bumped on every draft save, so that two editors cannot silently overwrite each other.
    draft_revision: int = 0
    draft_saved_at: datetime = utc_field()
    draft_saved_by: str = Field(default="", max_length=100)
    #: The published version orders are processed with; None until the first publish.
    live_version_id: int | None = Field(default=None, index=True)
    #: The canary running beside the live version (FlowCanary), if any; cleared when it is promoted or rolled back.
    canary_id: int | None = Field(default=None)
    created_at: datetime = utc_field()
    created_by: str = Field(default="", max_length=100)


class FlowVersion(SQLModel, table=True):
    """One published state of a flow. Never changed after it is written: rollback publishes a copy."""

    __tablename__ = "flow_versions"
    __table_args__ = (UniqueConstraint("flow_id", "number", name="uq_flow_version_number"),)

    id: int | None = Field(default=None, primary_key=True)
    flow_id: int = Field(foreign_key="flows.id", index=True)
    number: int
    document: dict[str, Any] = json_field(nullable=False, default_factory=dict)
    note: str = Field(default="", max_length=500)
    #: The version this one copies when it was published by a rollback.
    copied_from_version_id: int | None = None
    published_at: datetime = utc_field()
    published_by: str = Field(default="", max_length=100)


class CanaryStatus(StrEnum):
    running = "running"
    promoted = "promoted"  # its version became the live one
    rolled_back = "rolled_back"  # an admin ended it; the live version takes every order again
    auto_rolled_back = "auto_rolled_back"  # ended because it held or failed too many more orders than live


class FlowCanary(SQLModel, table=True):
    """A published version tried on some of a flow's orders (some shops, or a stable share of order ids) while
    the live version keeps the rest, with the thresholds past which it is rolled back on its own. Kept after it
    ends, as the flow's canary history."""

    __tablename__ = "flow_canaries"

    id: int | None = Field(default=None, primary_key=True)
    flow_id: int = Field(foreign_key="flows.id", index=True)
    version_id: int = Field(foreign_key="flow_versions.id")
    #: The live version when the canary started, the one it is compared with.
    live_version_id: int = Field(foreign_key="flow_versions.id")
    #: Orders of these shops take the canary; empty when a share of orders does.
    shop_codes: list[str] = json_field(nullable=False, default_factory=list)
    #: Orders whose stable bucket of the order id (0-99) is below this take the canary; None with shop codes.
    percent: int | None = None
    #: Percentage points by which the canary's hold rate, and its failure rate, may exceed live's.
    hold_threshold: int = 5
    failure_threshold: int = 2
    #: Orders the canary must have processed before it is judged.
    min_orders: int = 50
    status: CanaryStatus = Field(default=CanaryStatus.running, max_length=24)
    started_at: datetime = utc_field()
    started_by: str = Field(default="", max_length=100)
    ended_at: datetime | None = utc_field(nullable=True)
    ended_by: str = Field(default="", max_length=100)
    #: Why it ended, as the audit log has it (Chinese); for an automatic rollback, the rates that decided it.
    end_reason: str = Field(default="", max_length=500)
    #: The side-by-side figures when it ended (see canary.CanaryStats.to_dict).
    end_stats: dict[str, Any] | None = json_field()


class FlowCanaryOrder(SQLModel, table=True):
    """One order processed while a canary ran: which of the two versions took it and how its latest run ended.
    Written with the processing batch, so the side-by-side is a sum over these rows, never over traces."""

    __tablename__ = "flow_canary_orders"
    __table_args__ = (UniqueConstraint("canary_id", "order_id", name="uq_flow_canary_order"),)

    id: int | None = Field(default=None, primary_key=True)
    #: Indexed by the unique constraint, which leads with it.
    canary_id: int = Field(foreign_key="flow_canaries.id")
    order_id: int = Field(foreign_key="orders.id")
    version_id: int
    on_canary: bool
    #: processed | held (in the review queue for a hold, stock or carrier) | failed (a node or an action failed)
    outcome: str = Field(max_length=16)
    #: What its parcels' carriers charge, in fen; None when it was not routed.
    fee_fen: int | None = None
    processed_at: datetime = utc_field()


class BacktestStatus(StrEnum):
    pending = "pending"
    running = "running"
    done = "done"
    failed = "failed"


class FlowBacktest(SQLModel, table=True):
    """A replay of a draft against recent orders, compared with the live version; run by a background job."""

    __tablename__ = "flow_backtests"

    id: int | None = Field(default=None, primary_key=True)
    flow_id: int = Field(foreign_key="flows.id", index=True)
    #: The draft as it was when the backtest was asked for, so later edits do not change the result.
    document: dict[str, Any] = json_field(nullable=False, default_factory=dict)
    #: The live version compared against; None when nothing is published yet.
    baseline_version_id: int | None = None
    order_limit: int = 50
    status: BacktestStatus = Field(default=BacktestStatus.pending, max_length=16)
    total: int = 0
    processed: int = 0
    result: dict[str, Any] | None = json_field()
    error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = utc_field()
    created_by: str = Field(default="", max_length=100)
    finished_at: datetime | None = utc_field(nullable=True)

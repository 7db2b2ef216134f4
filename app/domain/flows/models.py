"""Rule flows: the flow a designer draws (with its working draft), its immutable published versions, and
backtest runs that replay a draft against recent orders."""

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

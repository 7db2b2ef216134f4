"""Automatic processing: where each order stands with the rule flows."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from app.dbtypes import UTCDateTime, json_field, utc_field


class ProcessingState(StrEnum):
    """Where an order stands with automatic processing (not the order's own status)."""

    queued = "queued"  # waiting for the processing job for its current version
    processed = "processed"  # the flows ran and every decided action was carried out
    held = "held"  # in the review queue: a flow held it, or a node or an action failed
    out_of_stock = "out_of_stock"  # 缺货: no warehouse (or split) can fill it; retried when stock may have come
    awaiting_balance = "awaiting_balance"  # presale: stock reserved, waits for the balance payment
    unpaid = "unpaid"  # not paid yet: processing starts when an update says it is paid
    merged = "merged"  # 合单: shipped within another order of the same buyer
    cancelled = "cancelled"


#: States an operator deals with in the review queue.
REVIEW_STATES = (ProcessingState.held, ProcessingState.out_of_stock, ProcessingState.awaiting_balance)


class OrderProcessing(SQLModel, table=True):
    """One row per order: the state, the flow versions used, their traces and what was decided."""

    __tablename__ = "order_processing"
    __table_args__ = (
        Index("ix_order_processing_state_updated", "state", "updated_at"),
        # The monitor's orders-per-minute chart reads the last half hour of finished runs.
        Index("ix_order_processing_finished", "finished_at"),
    )

    order_id: int = Field(foreign_key="orders.id", primary_key=True)
    state: ProcessingState = Field(default=ProcessingState.queued, max_length=24)
    #: The order version the state belongs to; a newer order version is processed again.
    order_version: int = 0
    runs: int = 0
    #: Why the order waits: the flow's hold reason, 缺货, the failed node, …
    hold_reason: str = Field(default="", max_length=500)
    #: review | out_of_stock | failed | presale | no_flow | unknown_sku | no_carrier | platform_finished
    hold_code: str = Field(default="", max_length=24)
    #: Each flow run: flow id, version id, name, status, path and per-node trace.
    flows: list[dict[str, Any]] = json_field(nullable=False, default_factory=list)
    decisions: dict[str, Any] = json_field(nullable=False, default_factory=dict)
    warehouse_code: str | None = Field(default=None, max_length=32)
    carrier_code: str | None = Field(default=None, max_length=32)
    priority: str = Field(default="normal", max_length=16)
    merged_into: int | None = Field(default=None, foreign_key="orders.id")
    #: An operator approved the order for this version: the flows see ``features.review_approved``.
    approved_version: int | None = None
    approved_by: str | None = Field(default=None, max_length=100)
    hold_until: datetime | None = utc_field(nullable=True)
    queued_at: datetime = utc_field()
    finished_at: datetime | None = utc_field(nullable=True)
    updated_at: datetime = utc_field()


class FlowHit(SQLModel, table=True):
    """How many times the runs of one flow version took one node and exit in one hour: the live hit counts
    of the flow editor's canvas. Kept by the processing batch as it records each order's run, in the same
    transaction; read summed, never by scanning traces.

    ``port`` is the exit the node took (``next``, ``true``/``false`` of a condition, a switch's branch id or
    ``default``), empty for an end node; so a node's count is the sum over its ports."""

    __tablename__ = "flow_hits"

    version_id: int = Field(foreign_key="flow_versions.id", primary_key=True)
    node_id: str = Field(primary_key=True)
    port: str = Field(default="", primary_key=True)
    #: The start of the UTC hour the runs happened in.
    hour: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    count: int = 0

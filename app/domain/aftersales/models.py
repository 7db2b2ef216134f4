"""After-sales cases (售后单) and their lines.

A case is one request of one buyer: a refund only (仅退款, before or after shipping), a return with refund
(退货退款), an exchange (换货) or a reissue (补发). Its lines name order lines by order id and the platform's line
id (an order's lines are rewritten when its platform updates it, their row ids with them), so one refund may
cover lines of several orders of the same buyer (合并退款).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.dbtypes import json_field, utc_field


class CaseKind(StrEnum):
    refund_only = "refund_only"  # 仅退款
    return_refund = "return_refund"  # 退货退款
    exchange = "exchange"  # 换货
    reissue = "reissue"  # 补发


class CaseSource(StrEnum):
    platform = "platform"  # the buyer applied on the platform; it told us
    operator = "operator"  # entered by our customer service
    store = "store"  # taken at a store counter (就近门店退货)


class CaseStatus(StrEnum):
    requested = "requested"  # 待处理: waits for a decision
    awaiting_return = "awaiting_return"  # 待退货: approved; the goods are to come back
    refunding = "refunding"  # 退款中: approved; the refund is being made on the platform
    completed = "completed"  # 已完成
    refused = "refused"  # 已拒绝
    cancelled = "cancelled"  # 已撤销 (the buyer withdrew it)


OPEN_STATUSES = (CaseStatus.requested, CaseStatus.awaiting_return, CaseStatus.refunding)


class RefundStatus(StrEnum):
    none = "none"  # nothing to refund (an exchange, a reissue)
    pending = "pending"  # agreed, not made yet
    refunded = "refunded"  # made (written back to the platform, or recorded for a channel without a refund API)
    failed = "failed"  # the platform refused it for good: a person has to look


class AfterSaleCase(SQLModel, table=True):
    __tablename__ = "aftersale_cases"
    __table_args__ = (
        # A platform's after-sale id is one case per shop, however often the platform tells us of it.
        UniqueConstraint("shop_id", "platform_ref", name="uq_aftersale_platform_ref"),
        Index("ix_aftersale_cases_status_due", "status", "due_at"),
        # The return-rate report: the cases opened in a range of days, read from the index alone.
        Index("ix_aftersale_cases_created", "created_at", "kind", "status", "channel", "shop_id", "reason", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # CaseKind
    source: str = Field(max_length=16)  # CaseSource
    status: str = Field(default=CaseStatus.requested.value, max_length=16, index=True)  # CaseStatus
    channel: str = Field(max_length=32)
    shop_id: int = Field(foreign_key="shops.id", index=True)
    #: The platform's after-sale / refund id; for our own cases AS<id> (set after the insert).
    platform_ref: str = Field(max_length=64)
    #: The order the case was opened from (a merged refund's lines may name others of the same buyer).
    order_id: int = Field(foreign_key="orders.id", index=True)
    customer_id: int | None = Field(default=None, foreign_key="customers.id", index=True)
    #: Whether the goods had left the warehouse when the case was opened (仅退款 before shipping cancels lines).
    shipped: bool = False
    reason: str = Field(default="", max_length=200)
    note: str = Field(default="", max_length=500)
    #: What the buyer gets back, in fen: the lines' refunds plus the shipping refunded.
    refund_fen: int = 0
    shipping_refund_fen: int = 0
    refund_status: str = Field(default=RefundStatus.none.value, max_length=16)  # RefundStatus
    #: The refund's write-back to the platform (同意退款): calls made, 重试 given, the platform's reply id, and why it
    #: failed (``refund_error_code`` picks the message, ``refund_error`` is the platform's own words).
    refund_attempts: int = 0
    refund_retries: int = 0
    refund_reply_id: str = Field(default="", max_length=100)
    refund_error_code: str = Field(default="", max_length=32)
    refund_error: str = Field(default="", max_length=1000)
    #: What the platform's own after-sale message said that its agree-refund call needs back (its status, the
    #: refund's version and phase), as last told.
    platform_data: dict[str, Any] | None = json_field()
    #: Where the goods come back to: the warehouse they left, or the store that took them.
    return_warehouse_code: str = Field(default="", max_length=32)
    return_carrier: str = Field(default="", max_length=32)
    return_waybill_no: str = Field(default="", max_length=64)
    #: The order that sends goods again (补发, 换货), at no charge.
    reissue_order_id: int | None = Field(default=None, foreign_key="orders.id")
    #: The deadline to act on the case (the platform's response time), for the queue's timers.
    due_at: datetime = utc_field()
    decided_by: str = Field(default="", max_length=100)
    decided_at: datetime | None = utc_field(nullable=True)
    #: The after-sales flows (return.requested) left the case to a supervisor (高价值, …), and why: it stays
    #: requested until a person decides it.
    needs_supervisor: bool = False
    supervisor_reason: str = Field(default="", max_length=200)
    #: Each after-sales flow run on the case: flow id, version id, name, status, path and per-node trace.
    flow_runs: list[dict[str, Any]] = json_field(nullable=False, default_factory=list)
    #: What those flows decided (``ruleflows.Decisions`` JSON); empty when none ran.
    flow_decisions: dict[str, Any] = json_field(nullable=False, default_factory=dict)
    opened_by: str = Field(default="", max_length=100)
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()
    closed_at: datetime | None = utc_field(nullable=True)


class QcResult(StrEnum):
    passed = "passed"  # 合格: back on sale
    failed = "failed"  # 不合格: to the defective stock


class AfterSaleLine(SQLModel, table=True):
    __tablename__ = "aftersale_lines"
    # The return-rate report: a case's SKUs and units, read from the index alone.
    __table_args__ = (Index("ix_aftersale_lines_case_sku", "case_id", "sku", "qty"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="aftersale_cases.id", index=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    #: The order line's own id (its platform's), the SKU and title it sold.
    line_id: str = Field(max_length=64)
    sku: str = Field(default="", max_length=64)
    title: str = Field(default="", max_length=300)
    qty: int = 1
    refund_fen: int = 0
    #: For an exchange: the SKU sent instead (the same one when only a size or a faulty unit is swapped).
    exchange_sku: str = Field(default="", max_length=64)
    #: Units received back and how many of them passed quality check; the reason of those that failed.
    received_qty: int = 0
    passed_qty: int = 0
    qc_note: str = Field(default="", max_length=200)

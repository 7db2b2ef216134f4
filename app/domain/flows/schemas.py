"""What the flows JSON API accepts and returns, and the messages for refusals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.domain.flows.models import Flow, FlowBacktest, FlowVersion
from app.domain.flows.services import MAX_BACKTEST_ORDERS


class FlowCreate(BaseModel):
    """A new flow: blank, from a shipped template (``template``) or from a document."""

    name: str = Field(min_length=1, max_length=100)
    template: str | None = None
    document: dict[str, Any] | None = None
    description: str = ""
    priority: int = 100
    channels: list[str] = Field(default_factory=list)
    shop_codes: list[str] = Field(default_factory=list)


class DraftSave(BaseModel):
    """A new draft; ``base_revision`` is the revision it was edited from (409 if someone saved since)."""

    document: dict[str, Any]
    base_revision: int | None = None


class DocumentCheck(BaseModel):
    """A document to validate; without one, the saved draft is validated."""

    document: dict[str, Any] | None = None


class LayoutRequest(BaseModel):
    """A document to arrange (整理布局) and the sizes the editor measured for its nodes: id → [width, height]."""

    document: dict[str, Any]
    sizes: dict[str, Any] = Field(default_factory=dict)


class SimulateRequest(BaseModel):
    """Run a document (default: the saved draft) on a sample (``sample:east_3c``) or a pasted order/context."""

    document: dict[str, Any] | None = None
    sample: str | None = None
    order: dict[str, Any] | None = None


class BacktestRequest(BaseModel):
    """How many recent orders to replay."""

    orders: int = Field(default=50, ge=1, le=MAX_BACKTEST_ORDERS)


class PublishRequest(BaseModel):
    """Publish the draft; ``expected_revision`` guards against publishing a draft that changed meanwhile."""

    note: str = Field(min_length=1, max_length=500)
    expected_revision: int | None = None


class RollbackRequest(BaseModel):
    """Publish a copy of an older version."""

    version_id: int
    note: str = ""


class ProblemRead(BaseModel):
    code: str
    node_id: str | None
    edge_id: str | None
    path: str | None
    message_zh: str
    message_en: str


class FlowRead(BaseModel):
    """A flow's settings and state (without its documents)."""

    id: int
    name: str
    description: str
    trigger: str
    priority: int
    channels: list[str]
    shop_codes: list[str]
    draft_revision: int
    draft_saved_at: datetime
    draft_saved_by: str
    live_version_id: int | None

    @classmethod
    def of(cls, flow: Flow) -> FlowRead:
        assert flow.id is not None
        return cls(
            id=flow.id,
            name=flow.name,
            description=flow.description,
            trigger=flow.trigger,
            priority=flow.priority,
            channels=list(flow.channels),
            shop_codes=list(flow.shop_codes),
            draft_revision=flow.draft_revision,
            draft_saved_at=flow.draft_saved_at,
            draft_saved_by=flow.draft_saved_by,
            live_version_id=flow.live_version_id,
        )


class FlowDetail(FlowRead):
    """A flow with its draft document and the draft's problems."""

    draft: dict[str, Any]
    problems: list[ProblemRead]


class VersionRead(BaseModel):
    """A published version (``document`` only when asked for one version)."""

    id: int
    flow_id: int
    number: int
    note: str
    copied_from_version_id: int | None
    published_at: datetime
    published_by: str
    is_live: bool
    document: dict[str, Any] | None = None

    @classmethod
    def of(cls, version: FlowVersion, live_id: int | None, *, with_document: bool = False) -> VersionRead:
        assert version.id is not None
        return cls(
            id=version.id,
            flow_id=version.flow_id,
            number=version.number,
            note=version.note,
            copied_from_version_id=version.copied_from_version_id,
            published_at=version.published_at,
            published_by=version.published_by,
            is_live=version.id == live_id,
            document=version.document if with_document else None,
        )


class ValidationRead(BaseModel):
    valid: bool
    problems: list[ProblemRead]


class BacktestRead(BaseModel):
    id: int
    flow_id: int
    status: str
    total: int
    processed: int
    baseline_version_id: int | None
    result: dict[str, Any] | None
    error: str | None

    @classmethod
    def of(cls, run: FlowBacktest) -> BacktestRead:
        assert run.id is not None
        return cls(
            id=run.id,
            flow_id=run.flow_id,
            status=str(run.status),
            total=run.total,
            processed=run.processed,
            baseline_version_id=run.baseline_version_id,
            result=run.result,
            error=run.error,
        )


def problems_read(problems: list[Any]) -> list[ProblemRead]:
    return [ProblemRead(**problem.to_dict()) for problem in problems]

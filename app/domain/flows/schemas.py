"""What the flows JSON API accepts and returns, and the messages for refusals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.domain.flows.models import Flow, FlowBacktest, FlowVersion
from app.domain.flows.services import FlowError
from app.i18n import gettext


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


class SimulateRequest(BaseModel):
    """Run a document (default: the saved draft) on a sample (``sample:east_3c``) or a pasted order/context."""

    document: dict[str, Any] | None = None
    sample: str | None = None
    order: dict[str, Any] | None = None


class BacktestRequest(BaseModel):
    """How many recent orders to replay."""

    orders: int = Field(default=50, ge=1, le=500)


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


#: HTTP status per refusal.
STATUS: dict[str, int] = {
    "not_found": 404,
    "version_not_found": 404,
    "backtest_not_found": 404,
    "conflict": 409,
    "already_live": 409,
    "has_problems": 422,
    "nothing_published": 404,
    # A simulation the rule engine stopped at one of its limits: the document is the problem.
    "too_much_work": 422,
    "too_slow": 422,
    "too_much_output": 422,
    "too_deep": 422,
}

#: The request field a refusal is about, for API clients.
FIELD: dict[str, str] = {
    "name_required": "name",
    "name_too_long": "name",
    "unknown_template": "template",
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
}


def flow_message(error: FlowError) -> str:
    """The designer-facing message for a refusal, in the request's language."""
    messages = {
        "not_found": gettext("This flow does not exist."),
        "version_not_found": gettext("This version does not exist."),
        "backtest_not_found": gettext("This backtest does not exist."),
        "name_required": gettext("Give the flow a name."),
        "name_too_long": gettext("The name is too long (at most %(limit)s characters)."),
        "unknown_template": gettext("There is no template called %(template)s."),
        "not_a_document": gettext("This is not a flow document."),
        "document_too_large": gettext("The flow document is too large."),
        "unknown_channel": gettext("Unknown channel: %(value)s"),
        "unknown_shop": gettext("Unknown shop: %(value)s"),
        "bad_priority": gettext("The priority must be a whole number from -100,000 to 100,000."),
        "conflict": gettext(
            "Someone else saved this flow meanwhile (revision %(revision)s by %(saved_by)s). Reload to see it."
        ),
        "note_required": gettext("Say what this version changes."),
        "note_too_long": gettext("The note is too long (at most %(limit)s characters)."),
        "has_problems": gettext("The flow has %(count)s problem(s); fix them before publishing."),
        "already_live": gettext("Version %(number)s is already live."),
        "bad_order_limit": gettext("Choose between 1 and %(limit)s orders."),
        "nothing_published": gettext("Nothing is published yet."),
        "too_much_work": gettext(
            "The flow does too much work on this order and was stopped at “%(node)s”: it went past the rule "
            "engine's limit of evaluation steps. Use fewer or shorter lists and texts."
        ),
        "too_slow": gettext(
            "The flow took longer than %(seconds)s s to evaluate on this order and was stopped at “%(node)s”."
        ),
        "too_much_output": gettext(
            "The flow produces more data than the rule engine allows (a text, a list or the trace) and was "
            "stopped at “%(node)s”."
        ),
        "too_deep": gettext("The flow or the order is nested too deeply to evaluate (stopped at “%(node)s”)."),
    }
    template = messages.get(error.code, error.code)
    try:
        return template % error.params
    except (KeyError, TypeError, ValueError):
        return template


def error_body(error: FlowError) -> dict[str, Any]:
    """The JSON body of a refused API request: the code, a message, the field and any problems."""
    return {
        "status_code": STATUS.get(error.code, 400),
        "error": error.code,
        "detail": flow_message(error),
        "field": FIELD.get(error.code),
        "problems": [problem.to_dict() for problem in error.problems],
    }

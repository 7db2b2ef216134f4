"""The action catalogue: what an action node may decide, with a parameter schema per action.

An order flow decides the order actions; an after-sales flow (``return.requested``) only the case actions
(:data:`CASE_ACTIONS`: 同意, 拒绝, 转主管审核), and each kind of flow is refused the other's.

The engine only *decides*: a run returns the ordered actions and the app applies them later, in one
transaction. Each action also records its decision in ``context["decisions"]`` so that later nodes can
read it (after ``assign_warehouse``, ``decisions.warehouse`` is set).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from operator import attrgetter
from typing import Any, Final

from ruleflows.coercion import is_number
from ruleflows.schema import (
    CARRIER_STRATEGIES,
    DOCUMENT_KINDS,
    NOTIFY_CHANNELS,
    PRIORITY_LEVELS,
    WAREHOUSE_STRATEGIES,
    context_of_trigger,
)

MAX_TEXT_PARAM_LENGTH: Final = 200


def _param(
    name: str,
    kind: str,
    label_zh: str,
    label_en: str,
    *,
    required: bool = False,
    values: tuple[str, ...] | None = None,
    items: dict[str, Any] | None = None,
    minimum: int | None = None,
    maximum: int | None = None,
) -> dict[str, Any]:
    param: dict[str, Any] = {
        "name": name,
        "type": kind,
        "label_zh": label_zh,
        "label_en": label_en,
        "required": required,
    }
    if values is not None:
        param["values"] = list(values)
    if items is not None:
        param["items"] = items
    if minimum is not None:
        param["min"] = minimum
    if maximum is not None:
        param["max"] = maximum
    return param


def _action(
    label_zh: str, label_en: str, *params: dict[str, Any], one_of: tuple[str, ...] | None = None
) -> dict[str, Any]:
    action: dict[str, Any] = {"label_zh": label_zh, "label_en": label_en, "params": list(params)}
    if one_of:
        # Exactly one of these parameters must be given.
        action["one_of"] = list(one_of)
    return action


_REASON = _param("reason", "string", "原因", "reason", required=True)

#: Every action a flow may decide, keyed by name. JSON-serialisable; treat as read-only.
ACTION_CATALOGUE: Final[dict[str, dict[str, Any]]] = {
    "approve": _action("审核通过", "Approve"),
    "hold_for_review": _action("挂起转人工审核", "Hold for review", _REASON),
    "cancel": _action("取消订单", "Cancel order", _REASON),
    "assign_warehouse": _action(
        "指定发货仓",
        "Assign warehouse",
        _param("code", "string", "仓库编码", "warehouse code"),
        _param("strategy", "enum", "分仓策略", "strategy", values=WAREHOUSE_STRATEGIES),
        one_of=("code", "strategy"),
    ),
    "assign_carrier": _action(
        "指定快递",
        "Assign carrier",
        _param("code", "string", "快递公司编码", "carrier code"),
        _param("strategy", "enum", "快递策略", "strategy", values=CARRIER_STRATEGIES),
        _param(
            "candidates",
            "array",
            "候选快递（按策略从中选）",
            "candidate carriers for the strategy",
            items={"type": "string"},
        ),
        # 按温层拆包: ambient, chilled and frozen goods leave as separate parcels (the app's routing splits them).
        _param("split_by_temperature", "boolean", "按温层拆包", "split parcels by temperature zone"),
        one_of=("code", "strategy"),
    ),
    "add_gift": _action(
        "添加赠品",
        "Add gift",
        _param("sku", "string", "赠品编码", "gift SKU", required=True),
        _param("qty", "integer", "数量", "quantity", required=True, minimum=1, maximum=999),
    ),
    "expand_bundles": _action("拆分组合商品", "Expand bundles"),
    "split_by_warehouse": _action("按仓拆单", "Split by warehouse"),
    "merge_same_buyer": _action("合并同买家订单", "Merge same buyer's orders"),
    "mark_presale": _action(
        "按预售挂起至尾款截止",
        "Hold as presale until balance due",
        _param("balance_due_at", "datetime", "尾款截止时间", "balance due at", required=True),
    ),
    "add_tag": _action("添加标签", "Add tag", _param("tag", "string", "标签", "tag", required=True)),
    "set_priority": _action(
        "设置优先级", "Set priority", _param("level", "enum", "优先级", "level", required=True, values=PRIORITY_LEVELS)
    ),
    "generate_documents": _action(
        "生成单据",
        "Generate documents",
        _param(
            "kinds",
            "array",
            "单据类型",
            "document kinds",
            required=True,
            items={"type": "enum", "values": list(DOCUMENT_KINDS)},
        ),
    ),
    "request_waybill": _action("申请电子面单", "Request waybill"),
    "notify": _action(
        "通知买家",
        "Notify buyer",
        _param("template", "string", "通知模板", "template", required=True),
        _param("via", "enum", "通知方式", "via", required=True, values=NOTIFY_CHANNELS),
    ),
    # After-sales: what a return.requested flow decides of a case.
    "approve_case": _action("同意售后", "Approve the case"),
    "refuse_case": _action(
        "拒绝售后", "Refuse the case", _param("reason", "string", "拒绝原因", "reason", required=True)
    ),
    "refer_to_supervisor": _action(
        "转主管审核",
        "Send to a supervisor",
        _param("reason", "string", "原因（主管看到的）", "reason (shown to the supervisor)", required=True),
    ),
}
#: The actions of after-sales flows; every other action is an order flow's.
CASE_ACTIONS: Final = ("approve_case", "refuse_case", "refer_to_supervisor")

# Taken once, so that edits to the published dict cannot loosen validation.
_CATALOGUE: Final = copy.deepcopy(ACTION_CATALOGUE)


@dataclass(frozen=True, slots=True)
class ParamIssue:
    """Something wrong with one action parameter (turned into a Problem by validation)."""

    code: str  # missing_param | unknown_param | bad_param | conflicting_params
    param: str
    detail_zh: str = ""
    detail_en: str = ""


def is_known_action(name: Any) -> bool:
    """True if ``name`` is an entry of the catalogue."""
    return isinstance(name, str) and name in _CATALOGUE


def actions_for(trigger: str | None) -> list[str]:
    """The catalogue actions a flow with this trigger may decide, in catalogue order: the case actions for an
    after-sales flow, the others for an order flow (and for an unknown trigger)."""
    case_flow = context_of_trigger(trigger) == "return"
    return [name for name in _CATALOGUE if (name in CASE_ACTIONS) == case_flow]


def is_action_for(name: Any, trigger: str | None) -> bool:
    """True if ``name`` is a known action that a flow with this trigger may decide."""
    return is_known_action(name) and (name in CASE_ACTIONS) == (context_of_trigger(trigger) == "return")


def param_specs(action: str) -> dict[str, dict[str, Any]]:
    """The parameter specs of a known action, keyed by parameter name."""
    return {param["name"]: param for param in _CATALOGUE[action]["params"]}


def check_params(action: str, params: dict[str, Any], *, dynamic: frozenset[str] = frozenset()) -> list[ParamIssue]:
    """Check ``params`` against the action's schema; ``dynamic`` names params computed at run time.

    A dynamic param (JSON Logic) counts as present; its value is checked when the run computes it.
    """
    specs = param_specs(action)
    issues = [ParamIssue("unknown_param", name) for name in params if name not in specs]
    for name, spec in specs.items():
        given = name in params and params[name] is not None
        if not given:
            if spec["required"]:
                issues.append(ParamIssue("missing_param", name))
            continue
        if name in dynamic:
            continue
        problem = value_problem(spec, params[name])
        if problem is not None:
            issues.append(ParamIssue("bad_param", name, *problem))
    one_of = _CATALOGUE[action].get("one_of")
    if one_of:
        present = [name for name in one_of if params.get(name) is not None]
        if len(present) != 1:
            issues.append(ParamIssue("conflicting_params", " / ".join(one_of)))
    return issues


def value_problem(spec: dict[str, Any], value: Any) -> tuple[str, str] | None:
    """Why ``value`` does not fit a parameter spec, as (Chinese, English), or None if it fits."""
    kind = spec["type"]
    if kind in ("string", "datetime"):
        if not isinstance(value, str) or not value.strip():
            return ("应为非空文字", "expected non-empty text")
        if len(value) > MAX_TEXT_PARAM_LENGTH:
            return (f"文字不能超过 {MAX_TEXT_PARAM_LENGTH} 个字", f"at most {MAX_TEXT_PARAM_LENGTH} characters")
        if kind == "datetime":
            try:
                datetime.fromisoformat(value)
            except ValueError:
                return (
                    "应为日期时间（如 2026-11-26T10:00:00+08:00）",
                    "expected an ISO date-time such as 2026-11-26T10:00:00+08:00",
                )
        return None
    if kind == "integer":
        if not is_number(value) or int(value) != value:
            return ("应为整数", "expected a whole number")
        if ("min" in spec and value < spec["min"]) or ("max" in spec and value > spec["max"]):
            return (
                f"应在 {spec.get('min')} 到 {spec.get('max')} 之间",
                f"expected between {spec.get('min')} and {spec.get('max')}",
            )
        return None
    if kind == "boolean":
        return None if isinstance(value, bool) else ("应为是/否", "expected true or false")
    if kind == "enum":
        if value not in spec["values"]:
            return ("可选值为 " + "、".join(spec["values"]), "expected one of " + ", ".join(spec["values"]))
        return None
    if kind == "array":
        if not isinstance(value, list) or not value:
            return ("应为非空列表", "expected a non-empty list")
        item_spec = {"name": spec["name"], **spec.get("items", {"type": "string"})}
        for item in value:
            problem = value_problem(item_spec, item)
            if problem is not None:
                return problem
        return None
    return None


# --- typed decisions -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gift:
    """A gift the flow adds (``add_gift``): this SKU, this many."""

    sku: str
    qty: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as flows read it (``decisions.gifts``)."""
        return {"sku": self.sku, "qty": self.qty}


@dataclass(frozen=True, slots=True)
class Notification:
    """A message to the buyer the flow decided (``notify``): which template, by which channel."""

    template: str
    via: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as flows read it (``decisions.notifications``)."""
        return {"template": self.template, "via": self.via}


@dataclass(frozen=True, slots=True)
class Decisions:
    """What the actions of a run decided, one typed field per thing an action can decide; immutable.

    Its JSON form (:meth:`to_dict`) is what later nodes read as ``decisions`` and what the app stores; it
    holds only what some action recorded, with the same keys the action always wrote (see ``_EFFECTS``).
    """

    approved: bool = False
    hold: bool = False
    hold_reason: str | None = None
    cancelled: bool = False
    cancel_reason: str | None = None
    warehouse: str | None = None
    warehouse_strategy: str | None = None
    carrier: str | None = None
    carrier_strategy: str | None = None
    carrier_candidates: tuple[str, ...] = ()
    split_by_temperature: bool = False
    gifts: tuple[Gift, ...] = ()
    expand_bundles: bool = False
    split_by_warehouse: bool = False
    merge_same_buyer: bool = False
    presale: bool = False
    hold_until: str | None = None  # ISO date-time text, as the flow computed it
    tags: tuple[str, ...] = ()
    priority: str | None = None
    documents: tuple[str, ...] = ()
    waybill_requested: bool = False
    notifications: tuple[Notification, ...] = ()
    # After-sales: the case is approved, refused (with the reason), or left to a supervisor (with the reason).
    case_approved: bool = False
    case_refused: bool = False
    refuse_reason: str | None = None
    to_supervisor: bool = False
    supervisor_reason: str | None = None

    @property
    def final(self) -> bool:
        """True once nothing a later flow decides may count: the order is held or cancelled, or the case is
        decided (approved, refused or left to a supervisor)."""
        return self.hold or self.cancelled or self.case_decided

    @property
    def case_decided(self) -> bool:
        """True when a case action was decided."""
        return self.case_approved or self.case_refused or self.to_supervisor

    @property
    def hold_until_at(self) -> datetime | None:
        """``hold_until`` as a datetime (a trailing ``Z`` read as UTC); None when unset or unreadable."""
        if self.hold_until is None:
            return None
        try:
            return datetime.fromisoformat(self.hold_until.replace("Z", "+00:00"))
        except ValueError:
            return None

    def apply(self, action: str, params: Mapping[str, Any]) -> Decisions:
        """These decisions with one decided action recorded (its params already checked); unknown: unchanged."""
        if action not in _EFFECTS:
            return self
        draft = DecisionsDraft(self)
        draft.apply(action, params)
        return draft.freeze()

    def to_dict(self) -> dict[str, Any]:
        """JSON form: each group of keys an action writes, for the actions that recorded something."""
        data: dict[str, Any] = {}
        for group in _GROUPS:
            if any(getattr(self, name) != _DEFAULTS[name] for name in group):
                for name in group:
                    data[name] = _to_json(getattr(self, name))
        return data

    def json_of(self, action: str) -> dict[str, Any]:
        """The JSON of the keys ``action`` writes, as they are now (what a later node reads after it)."""
        effect = _EFFECTS.get(action)
        return {name: _to_json(getattr(self, name)) for name in effect.keys} if effect is not None else {}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decisions:
        """Read the JSON form back (stored rows, a simulator's given decisions); never raises.

        Unknown keys are ignored and a value of the wrong type counts as not decided.
        """
        values: dict[str, Any] = {}
        for name, reader in _READERS.items():
            if name in data:
                value = reader(data[name])
                if value is not None:
                    values[name] = value
        return cls(**values)


class DecisionsDraft:
    """Decisions while a run makes them: updated in place by each action, frozen once at the end.

    A run decides an action per action node, and a new frozen :class:`Decisions` (a few dozen fields set one
    by one) for each of them was most of a compiled run's time.
    """

    __slots__ = ("values",)

    def __init__(self, decisions: Decisions | None = None) -> None:
        self.values: dict[str, Any] = (
            dict(_DEFAULTS) if decisions is None else dict(zip(_FIELD_NAMES, _FIELD_VALUES(decisions), strict=True))
        )

    def __getattr__(self, name: str) -> Any:
        # What an action's effect reads of the decisions so far (``d.gifts``, ``d.tags``, ...).
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def apply(self, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Record one decided action (its params already checked); returns the JSON of the keys it wrote, as
        :meth:`Decisions.json_of` gives it (what a later node reads); an unknown action changes nothing."""
        effect = _EFFECTS.get(action)
        if effect is None:
            return {}
        values = self.values
        values.update(effect.apply(self, params))
        return {name: _to_json(values[name]) for name in effect.keys}

    def record(self, action: str, params: Mapping[str, Any]) -> None:
        """:meth:`apply` without building the JSON of what it wrote (for a run that reads it otherwise)."""
        effect = _EFFECTS.get(action)
        if effect is not None:
            self.values.update(effect.apply(self, params))

    def json(self) -> dict[str, Any]:
        """The JSON of every field as it is now (what any later node may read as ``decisions``)."""
        return {name: _to_json(value) for name, value in self.values.items()}

    def json_value(self, name: str) -> Any:
        """The JSON of one field as it is now (what a later node reads as ``decisions.<name>``)."""
        return _to_json(self.values[name])

    def freeze(self) -> Decisions:
        """The decisions made so far, frozen."""
        # Field by field through the slots: a frozen dataclass's __init__ sets each of its fields through
        # object.__setattr__, three times slower, and a run freezes its decisions every time.
        decisions = _NEW(Decisions)
        for store, value in zip(_FIELD_SETTERS, self.values.values(), strict=True):
            store(decisions, value)
        return decisions


def _to_json(value: Any) -> Any:
    if isinstance(value, tuple):
        return [item.to_dict() if isinstance(item, Gift | Notification) else item for item in value]
    return value


def _read_flag(value: Any) -> bool:
    return bool(value)


def _read_text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _read_texts(value: Any) -> tuple[str, ...] | None:
    return tuple(item for item in value if isinstance(item, str)) if isinstance(value, list | tuple) else None


def _read_gifts(value: Any) -> tuple[Gift, ...] | None:
    if not isinstance(value, list | tuple):
        return None
    gifts = []
    for item in value:
        if isinstance(item, Mapping) and isinstance(item.get("sku"), str):
            gifts.append(Gift(item["sku"], _read_quantity(item.get("qty"))))
    return tuple(gifts)


def _read_quantity(value: Any) -> int:
    """A gift's quantity: a whole number from 1 up; anything else counts as one."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else 1


def _read_notifications(value: Any) -> tuple[Notification, ...] | None:
    if not isinstance(value, list | tuple):
        return None
    return tuple(
        Notification(item["template"], item["via"])
        for item in value
        if isinstance(item, Mapping) and isinstance(item.get("template"), str) and isinstance(item.get("via"), str)
    )


# How each field is read from JSON, by its annotation (``from __future__ import annotations`` makes it text).
_READER_BY_TYPE: Final[dict[str, Callable[[Any], Any]]] = {
    "bool": _read_flag,
    "str | None": _read_text,
    "tuple[str, ...]": _read_texts,
    "tuple[Gift, ...]": _read_gifts,
    "tuple[Notification, ...]": _read_notifications,
}
_READERS: Final = {f.name: _READER_BY_TYPE[str(f.type)] for f in fields(Decisions)}
_DEFAULTS: Final = {f.name: f.default for f in fields(Decisions)}
_FIELD_NAMES: Final = tuple(f.name for f in fields(Decisions))
_FIELD_VALUES: Final = attrgetter(*_FIELD_NAMES)
# (A draft's values are always in field order: they start as a copy of _DEFAULTS or of a frozen record.)
_FIELD_SETTERS: Final = tuple(getattr(Decisions, name).__set__ for name in _FIELD_NAMES)
_NEW: Final = object.__new__


@dataclass(frozen=True, slots=True)
class _Effect:
    """How an action is recorded: the decision keys it writes (always together) and their new values."""

    keys: tuple[str, ...]
    apply: Callable[[DecisionsDraft, Mapping[str, Any]], dict[str, Any]]
    #: For an action that adds to a list (its only key): the items it adds, and whether only new texts are.
    adds: Callable[[Mapping[str, Any]], tuple[Any, ...]] | None = None
    distinct: bool = False


def _flag(name: str) -> _Effect:
    return _Effect((name,), lambda _d, _p: {name: True})


def _adding(name: str, adds: Callable[[Mapping[str, Any]], tuple[Any, ...]], *, distinct: bool = False) -> _Effect:
    """An action that adds items to the list ``name`` (each text once, with ``distinct``)."""
    return _Effect(
        (name,), lambda d, p: {name: _added(getattr(d, name), adds(p), distinct)}, adds=adds, distinct=distinct
    )


def _added(items: tuple[Any, ...], new: tuple[Any, ...], distinct: bool) -> tuple[Any, ...]:
    return _appended(items, new) if distinct else (*items, *new)


def _text(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    return None if value is None else str(value)


def _appended(items: tuple[str, ...], new: Any) -> tuple[str, ...]:
    extra = [item for item in dict.fromkeys(str(value) for value in new) if item not in items]
    return (*items, *extra)


#: How each catalogue action changes the decisions. Adding an action: its catalogue entry above, its effect
#: here and, if it decides something new, a field of :class:`Decisions`.
_EFFECTS: Final[dict[str, _Effect]] = {
    "approve": _flag("approved"),
    "hold_for_review": _Effect(
        ("hold", "hold_reason"), lambda _d, p: {"hold": True, "hold_reason": _text(p, "reason")}
    ),
    "cancel": _Effect(
        ("cancelled", "cancel_reason"), lambda _d, p: {"cancelled": True, "cancel_reason": _text(p, "reason")}
    ),
    "assign_warehouse": _Effect(
        ("warehouse", "warehouse_strategy"),
        lambda _d, p: {"warehouse": _text(p, "code"), "warehouse_strategy": _text(p, "strategy")},
    ),
    "assign_carrier": _Effect(
        ("carrier", "carrier_strategy", "carrier_candidates", "split_by_temperature"),
        lambda _d, p: {
            "carrier": _text(p, "code"),
            "carrier_strategy": _text(p, "strategy"),
            "carrier_candidates": tuple(str(code) for code in p.get("candidates") or ()),
            "split_by_temperature": p.get("split_by_temperature") is True,
        },
    ),
    "add_gift": _adding("gifts", lambda p: (Gift(str(p["sku"]), int(p["qty"])),)),
    "expand_bundles": _flag("expand_bundles"),
    "split_by_warehouse": _flag("split_by_warehouse"),
    "merge_same_buyer": _flag("merge_same_buyer"),
    "mark_presale": _Effect(
        ("presale", "hold_until"), lambda _d, p: {"presale": True, "hold_until": _text(p, "balance_due_at")}
    ),
    "add_tag": _adding("tags", lambda p: (p["tag"],), distinct=True),
    "set_priority": _Effect(("priority",), lambda _d, p: {"priority": _text(p, "level")}),
    "generate_documents": _adding("documents", lambda p: tuple(p["kinds"]), distinct=True),
    "request_waybill": _flag("waybill_requested"),
    "notify": _adding("notifications", lambda p: (Notification(str(p["template"]), str(p["via"])),)),
    "approve_case": _flag("case_approved"),
    "refuse_case": _Effect(
        ("case_refused", "refuse_reason"), lambda _d, p: {"case_refused": True, "refuse_reason": _text(p, "reason")}
    ),
    "refer_to_supervisor": _Effect(
        ("to_supervisor", "supervisor_reason"),
        lambda _d, p: {"to_supervisor": True, "supervisor_reason": _text(p, "reason")},
    ),
}
# The key groups in JSON, once each (actions may share a group), in the order of the Decisions fields.
_GROUPS: Final = tuple(
    sorted(
        dict.fromkeys(effect.keys for effect in _EFFECTS.values()),
        key=lambda keys: [f.name for f in fields(Decisions)].index(keys[0]),
    )
)


def effect_keys(action: str) -> tuple[str, ...]:
    """The decision keys an action writes (none for an unknown action)."""
    effect = _EFFECTS.get(action)
    return effect.keys if effect is not None else ()


def fixed_effect(action: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The decision values an action with these (checked) params writes, when they do not depend on what was
    decided before it; None for the actions that add to a list (and for an unknown action)."""
    effect = _EFFECTS.get(action)
    if effect is None or effect.adds is not None:
        return None
    return effect.apply(DecisionsDraft(), params)


def prepared_effect(action: str, params: Mapping[str, Any]) -> Callable[[dict[str, Any]], None] | None:
    """Recording an action that adds to a list with these (checked, constant) params, prepared once: the
    function records it in a draft's values (:attr:`DecisionsDraft.values`). None for the other actions."""
    effect = _EFFECTS.get(action)
    if effect is None or effect.adds is None:
        return None
    (name,) = effect.keys
    new, distinct = effect.adds(params), effect.distinct

    def record(values: dict[str, Any]) -> None:
        values[name] = _added(values[name], new, distinct)

    return record


def apply_to_decisions(decisions: dict[str, Any], action: str, params: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of :meth:`Decisions.apply`: new decisions with the action recorded; keys it does not know
    are kept, and ``decisions`` itself is not changed."""
    return {**decisions, **Decisions.from_dict(decisions).apply(action, params).json_of(action)}

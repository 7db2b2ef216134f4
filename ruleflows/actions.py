"""The action catalogue: what an action node may decide, with a parameter schema per action.

The engine only *decides*: a run returns the ordered actions and the app applies them later, in one
transaction. Each action also records its decision in ``context["decisions"]`` so that later nodes can
read it (after ``assign_warehouse``, ``decisions.warehouse`` is set).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from ruleflows.coercion import is_number
from ruleflows.schema import (
    CARRIER_STRATEGIES,
    DOCUMENT_KINDS,
    NOTIFY_CHANNELS,
    PRIORITY_LEVELS,
    WAREHOUSE_STRATEGIES,
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
}

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


def apply_to_decisions(decisions: dict[str, Any], action: str, params: dict[str, Any]) -> dict[str, Any]:
    """Return new decisions with the action's effect recorded; ``decisions`` itself is not changed."""
    updated = dict(decisions)
    if action == "approve":
        updated["approved"] = True
    elif action == "hold_for_review":
        updated.update(hold=True, hold_reason=params.get("reason"))
    elif action == "cancel":
        updated.update(cancelled=True, cancel_reason=params.get("reason"))
    elif action == "assign_warehouse":
        updated.update(warehouse=params.get("code"), warehouse_strategy=params.get("strategy"))
    elif action == "assign_carrier":
        updated.update(
            carrier=params.get("code"),
            carrier_strategy=params.get("strategy"),
            carrier_candidates=list(params.get("candidates") or []),
        )
    elif action == "add_gift":
        updated["gifts"] = [*updated.get("gifts", []), {"sku": params.get("sku"), "qty": params.get("qty")}]
    elif action in ("expand_bundles", "split_by_warehouse", "merge_same_buyer"):
        updated[action] = True
    elif action == "mark_presale":
        updated.update(presale=True, hold_until=params.get("balance_due_at"))
    elif action == "add_tag":
        tags = list(updated.get("tags", []))
        if params.get("tag") not in tags:
            tags.append(params.get("tag"))
        updated["tags"] = tags
    elif action == "set_priority":
        updated["priority"] = params.get("level")
    elif action == "generate_documents":
        documents = list(updated.get("documents", []))
        documents.extend(kind for kind in params.get("kinds", []) if kind not in documents)
        updated["documents"] = documents
    elif action == "request_waybill":
        updated["waybill_requested"] = True
    elif action == "notify":
        updated["notifications"] = [
            *updated.get("notifications", []),
            {"template": params.get("template"), "via": params.get("via")},
        ]
    return updated

"""Action parameters as forms: the action panel's inputs for every parameter of the action catalogue, and back.

Every parameter has a form, computed values included. A time (a presale's balance due time) is one of
"活动结束时间" (the platform's balance due time, else the shop's default term), "付款后 N 小时/天" or a fixed
time, each written as the JSON Logic below; a document holding exactly one of those shapes (whoever wrote it:
the panel, a template, an import, the API) opens as the form again. Any other computed value is kept as written
and shown as JSON.

A parameter's form state is a small dict of what its inputs show: ``value`` (text, or a list for check
boxes); for a time ``mode``, ``at``, ``amount`` and ``unit``. Its inputs are named ``param:<name>`` and
``param:<name>:<part>``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import ruleflows
from app.domain.flows import builder
from app.errors import excerpt
from app.forms import many, one
from app.i18n import N_, current_locale, gettext, label_of
from app.params import parse_int
from ruleflows import (
    ACTION_CATALOGUE,
    CARRIER_STRATEGIES,
    DOCUMENT_KINDS,
    MAX_TEXT_PARAM_LENGTH,
    NOTIFY_CHANNELS,
    PRIORITY_LEVELS,
    WAREHOUSE_STRATEGIES,
)

#: "活动结束时间": the presale's balance due time as the platform gives it, else the shop's default term after payment
#: (预售尾款默认期限), so that the hold never lacks a time.
PLATFORM_DUE: Final = {"var": "order.presale.balance_due_at"}
PRESALE_END: Final = {"or": [PLATFORM_DUE, {"var": "features.presale_default_due_at"}]}
PAID_AT: Final = {"var": "order.paid_at"}
HOURS_PER_DAY: Final = 24
#: How far after payment a time may be, per unit (a year).
MAX_AFTER: Final = {"hours": 366 * HOURS_PER_DAY, "days": 366}
TIME_MODES: Final = ("presale_end", "after_paid", "fixed")

#: Labels of the values of enum parameters (English message ids).
VALUE_LABELS: Final[dict[str, str]] = {
    "nearest": N_("nearest warehouse"),
    "cheapest": N_("cheapest"),
    "priority": N_("by warehouse priority"),
    "fastest": N_("fastest"),
    "low": N_("low"),
    "normal": N_("normal"),
    "high": N_("high"),
    "urgent": N_("urgent"),
    "outbound_order": N_("outbound order"),
    "pick_list": N_("pick list"),
    "sms": N_("SMS"),
    "wechat": N_("WeChat"),
}
assert set(VALUE_LABELS) >= {
    *WAREHOUSE_STRATEGIES,
    *CARRIER_STRATEGIES,
    *PRIORITY_LEVELS,
    *DOCUMENT_KINDS,
    *NOTIFY_CHANNELS,
}

#: Parameters chosen from real data: (action, parameter) -> which picker.
PICKERS: Final[dict[tuple[str, str], str]] = {
    ("assign_warehouse", "code"): "warehouse",
    ("assign_carrier", "code"): "carrier",
    ("assign_carrier", "candidates"): "carriers",
    ("add_gift", "sku"): "sku",
    ("notify", "template"): "message",
}


class ParamProblem(ValueError):
    """What the designer typed for a parameter cannot be used; the message is for them."""


@dataclass
class ParamRow:
    """How the panel shows one parameter: which form (``kind``), its state and what is wrong with it."""

    name: str
    kind: str  # text | words | integer | boolean | enum | choices | time | logic | a picker of PICKERS
    label: str
    required: bool
    state: dict[str, Any]
    choices: list[tuple[str, str]] = field(default_factory=list)  # (value, label) of an enum or its list
    minimum: int | None = None
    maximum: int | None = None
    logic_json: str = ""  # a computed value with no form of its own, pretty-printed
    problem: str | None = None


@dataclass
class ReadParams:
    """An action's parameters read from its submitted form: the params, what the form showed, and problems."""

    params: dict[str, Any]
    states: dict[str, dict[str, Any]]
    problems: dict[str, str]  # parameter name -> message; when any, the params must not be used


def _label(spec: dict[str, Any]) -> str:
    return str(spec["label_en"] if current_locale.get() == "en" else spec["label_zh"])


def _choices(spec: dict[str, Any]) -> list[str]:
    return list(spec.get("values") or spec.get("items", {}).get("values") or [])


def form_kind(action: str, spec: dict[str, Any]) -> str:
    """Which form a parameter gets (a computed value without a form aside)."""
    picker = PICKERS.get((action, spec["name"]))
    if picker is not None:
        return picker
    kind = spec["type"]
    if kind == "datetime":
        return "time"
    if kind == "array":
        return "choices" if _choices(spec) else "words"
    return {"integer": "integer", "boolean": "boolean", "enum": "enum"}.get(kind, "text")


# ------------------------------------------------------------------------------------------- lifting


def lift(kind: str, value: Any) -> dict[str, Any] | None:
    """The form state of a parameter's value, or None when the value has no form (JSON Logic shown as is)."""
    if value is None:
        return {"mode": "", "at": "", "amount": "", "unit": "hours"} if kind == "time" else {"value": _empty(kind)}
    if kind == "time":
        return lift_time(value)
    if ruleflows.is_expression(value) or isinstance(value, dict):
        return None
    if kind in ("choices", "carriers"):
        return {"value": [str(v) for v in value]} if isinstance(value, list) else None
    if kind == "words":
        return {"value": "、".join(str(v) for v in value)} if isinstance(value, list) else None
    if isinstance(value, list):
        return None
    if kind == "boolean":
        return {"value": value is True}
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        value = int(value)
    return {"value": str(value)}


def _empty(kind: str) -> Any:
    return [] if kind in ("choices", "carriers") else (False if kind == "boolean" else "")


def lift_time(value: Any) -> dict[str, Any] | None:
    """The time form of a time parameter's value: 活动结束时间, 付款后 N 小时/天 or a fixed time; None if none fits."""
    state = {"mode": "", "at": "", "amount": "", "unit": "hours"}
    if isinstance(value, str):
        return {**state, "mode": "fixed", "at": china_local(value) or value}
    if value == PRESALE_END:
        return {**state, "mode": "presale_end"}
    if value == PLATFORM_DUE:
        # How it was written before the shop's default existed: it opens as 活动结束时间, and its state differs from
        # the form's, so that the panel saved again writes it with the default.
        return {**state, "mode": "presale_end", "platform_only": True}
    args = value.get("add_hours") if isinstance(value, dict) and len(value) == 1 else None
    if not isinstance(args, list) or len(args) != 2 or args[0] != PAID_AT:
        return None
    amount, unit = args[1], "hours"
    product = amount.get("*") if isinstance(amount, dict) and len(amount) == 1 else None
    if isinstance(product, list) and len(product) == 2 and product[1] == HOURS_PER_DAY:
        amount, unit = product[0], "days"
    if not _whole(amount):
        return None
    return {**state, "mode": "after_paid", "amount": str(int(amount)), "unit": unit}


def _whole(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer()


def time_logic(amount: int, unit: str) -> dict[str, Any]:
    """JSON Logic for "付款后 N 小时/天": the order's paid time plus N hours (N days as N × 24 hours)."""
    hours: Any = amount if unit == "hours" else {"*": [amount, HOURS_PER_DAY]}
    return {"add_hours": [dict(PAID_AT), hours]}


# ------------------------------------------------------------------------------------------- reading


def read_state(kind: str, name: str, form: dict[str, Any]) -> dict[str, Any]:
    """A parameter's form state from a submitted form."""
    key = f"param:{name}"
    if kind == "time":
        unit = one(form, f"{key}:unit")
        return {
            "mode": one(form, key),
            "at": one(form, f"{key}:at"),
            "amount": one(form, f"{key}:amount"),
            "unit": unit if unit in MAX_AFTER else "hours",
        }
    if kind in ("choices", "carriers"):
        return {"value": many(form, key)}
    if kind == "boolean":
        return {"value": one(form, key) == "yes"}
    return {"value": one(form, key)}


def param_value(kind: str, spec: dict[str, Any], state: dict[str, Any]) -> Any:
    """A parameter's value from its form state; None when left empty; ParamProblem when it cannot be used."""
    if kind == "time":
        return _time_value(state)
    value = state.get("value")
    if kind in ("choices", "carriers"):
        values = [str(v) for v in value or []]
        allowed = _choices(spec)
        unknown = [v for v in values if allowed and v not in allowed]
        if unknown:
            shown = excerpt("、".join(unknown))
            raise ParamProblem(gettext("Not a choice of this field: %(value)s") % {"value": shown})
        return list(dict.fromkeys(values)) or None
    if kind == "boolean":
        return True if value else None  # unticked: not given, the action's default (no)
    text = str(value or "").strip()
    if not text:
        return None
    if kind == "words":
        words = [w for w in text.replace("，", ",").replace("、", ",").split(",") if w.strip()]
        return [w.strip()[:MAX_TEXT_PARAM_LENGTH] for w in words] or None
    if kind == "integer":
        return _whole_number(text, spec.get("min"), spec.get("max"))
    if kind == "enum" and text not in spec["values"]:
        raise ParamProblem(gettext("Not a choice of this field: %(value)s") % {"value": excerpt(text)})
    if len(text) > MAX_TEXT_PARAM_LENGTH:
        raise ParamProblem(gettext("At most %(n)s characters.") % {"n": MAX_TEXT_PARAM_LENGTH})
    return text


def _whole_number(text: str, minimum: int | None, maximum: int | None) -> int:
    number = parse_int(text)  # ASCII digits only: int() also reads ٣ and １２
    if number is None:
        raise ParamProblem(gettext("Enter a whole number."))
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ParamProblem(
            gettext("Enter a whole number from %(min)s to %(max)s.") % {"min": minimum or 0, "max": maximum}
        )
    return number


def _time_value(state: dict[str, Any]) -> Any:
    mode = state.get("mode") or ""
    if not mode:
        return None
    if mode == "presale_end":
        return copy.deepcopy(PRESALE_END)
    if mode == "fixed":
        if not state.get("at"):
            raise ParamProblem(gettext("Choose a date and time."))
        try:
            return builder.china_moment(state["at"])
        except builder.RuleProblem as exc:
            raise ParamProblem(str(exc)) from None
    if mode == "after_paid":
        unit = "days" if state.get("unit") == "days" else "hours"
        text = str(state.get("amount") or "").strip()
        if not text:
            raise ParamProblem(
                gettext("Enter how many hours after payment.")
                if unit == "hours"
                else gettext("Enter how many days after payment.")
            )
        return time_logic(_whole_number(text, 1, MAX_AFTER[unit]), unit)
    raise ParamProblem(gettext("Choose when."))


def read(
    action: str, old_params: dict[str, Any], form: dict[str, Any], *, skip: frozenset[str] = frozenset()
) -> ReadParams:
    """The parameters of ``action`` from its submitted panel form; ``skip`` names parameters not shown.

    A computed value with no form of its own is kept as it was unless the designer asked to replace it
    (``do=replace:<name>``), which leaves the parameter empty for its form.
    """
    replace = one(form, "do").removeprefix("replace:") if one(form, "do").startswith("replace:") else None
    result = ReadParams({}, {}, {})
    for spec in ACTION_CATALOGUE[action]["params"]:
        name = spec["name"]
        if name in skip:
            continue
        kind = form_kind(action, spec)
        old = old_params.get(name)
        if old is not None and lift(kind, old) is None and name != replace:
            result.params[name] = old  # a computed value written as JSON Logic: kept unless replaced
            continue
        if name == replace:
            result.states[name] = lift(kind, None) or {}
            continue
        state = read_state(kind, name, form)
        result.states[name] = state
        if old is not None and state == lift(kind, old):
            result.params[name] = old  # the form is as it was: the value stays exactly as written
            continue
        try:
            value = param_value(kind, spec, state)
        except ParamProblem as exc:
            result.problems[name] = str(exc)
            continue
        if value is not None:
            result.params[name] = value
    return result


# ------------------------------------------------------------------------------------------ rendering


def rows(
    action: str,
    params: dict[str, Any],
    states: dict[str, dict[str, Any]] | None = None,
    problems: dict[str, str] | None = None,
) -> list[ParamRow]:
    """How the panel shows each parameter of ``action``: from ``params``, or as typed (``states``) when the
    form was refused with ``problems``."""
    states, problems = states or {}, problems or {}
    shown = []
    for spec in ACTION_CATALOGUE[action]["params"]:
        name = spec["name"]
        kind = form_kind(action, spec)
        value = params.get(name)
        state = states.get(name) if name in states else lift(kind, value)
        shown.append(
            ParamRow(
                name=name,
                kind="logic" if state is None else kind,
                label=_label(spec),
                required=spec["required"],
                state=state or {},
                choices=[(v, label_of(VALUE_LABELS, v)) for v in _choices(spec)],
                minimum=spec.get("min"),
                maximum=spec.get("max"),
                logic_json=json.dumps(value, ensure_ascii=False, indent=2) if state is None else "",
                problem=problems.get(name),
            )
        )
    return shown


def picker_choices(
    *,
    warehouses: list[tuple[str, str]],
    carriers: list[tuple[str, str]],
    skus: list[tuple[str, str]],
    messages: list[tuple[str, str]],
) -> dict[str, list[tuple[str, str]]]:
    """(value, label) of each picker of real data (the carriers' also for their check boxes), from (code, name)
    pairs: "上海仓（SH01）"; message templates by their label."""
    return {
        "warehouse": [(code, f"{name}（{code}）") for code, name in warehouses],
        "carrier": [(code, f"{name}（{code}）") for code, name in carriers],
        "sku": [(code, f"{name}（{code}）") for code, name in skus],
        "message": messages,
    }


def describe(action: str, name: str, value: Any) -> str:
    """A parameter's value in a few words for the canvas ("付款后 2 天", "顺丰", "出库单、拣货单")."""
    spec = next((s for s in ACTION_CATALOGUE[action]["params"] if s["name"] == name), None)
    kind = form_kind(action, spec) if spec is not None else "text"
    if kind == "time":
        state = lift_time(value)
        if state is None:
            return gettext("computed")
        if state["mode"] == "presale_end":
            return gettext("presale end")
        if state["mode"] == "after_paid":
            if state["unit"] == "days":
                return gettext("%(n)s days after payment") % {"n": state["amount"]}
            return gettext("%(n)s hours after payment") % {"n": state["amount"]}
        return state["at"].replace("T", " ")
    if ruleflows.is_expression(value):
        return gettext("computed")
    if kind == "boolean":
        return _label(spec) if value is True and spec is not None else ""  # a switch on says what it turns on
    if isinstance(value, list):
        return "、".join(label_of(VALUE_LABELS, v) for v in value)
    if kind in ("enum", "choices"):
        return label_of(VALUE_LABELS, value)
    return str(value)


def china_local(value: Any) -> str:
    """An ISO time as the value of a datetime-local input, in China time ("" if it is not one)."""
    if not isinstance(value, str):
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return ""
    if moment.tzinfo is not None:
        moment = moment.astimezone(builder.CHINA)
    return moment.strftime("%Y-%m-%dT%H:%M")

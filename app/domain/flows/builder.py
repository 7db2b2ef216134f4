"""The no-code condition builder: field picker, operators by field type, and translation to JSON Logic.

Builder state (kept in ``config.builder`` so the editor can reopen it; the server never trusts it over
``config.logic``) is a tree::

    {"join": "and", "rules": [{"field": "order.receiver.province", "op": "in_region", "value": ["华东"]},
                              {"join": "or", "rules": [...]}]}

A group's join is ``and``, ``or`` or ``none`` (none of its rules holds). A rule may keep the ``default`` its
field's ``var`` had (``{"var": ["features.same_address_24h", 0]}``) so that the logic written back reads a
missing value exactly as the logic it was lifted from (see :mod:`app.domain.flows.lifting`).

In forms each row of the tree has a path (``c``, ``c.0``, ``c.0.1``) and its inputs are named
``kind:<path>``, ``join:<path>``, ``field:<path>``, ``op:<path>``, ``value:<path>``, ``value2:<path>``, and
``default:<path>`` (JSON ``[field, default]``: the default is kept only while the row keeps that field).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from app.db import CHINA
from app.errors import excerpt
from app.forms import many, one
from app.i18n import N_, current_locale, gettext
from app.json_input import parse_json
from app.params import parse_decimal, parse_int
from ruleflows import ORDER_CONTEXT_SCHEMA, PROVINCES, REGIONS, RETURN_CONTEXT_SCHEMA, context_of_trigger

LINE_PREFIX: Final = "order.lines[]."
MAX_RULES: Final = 50
#: The most digits before the point of a number a rule compares with (nothing an order holds is larger).
MAX_NUMBER_DIGITS: Final = 15

#: Operators: id -> English message id of the label (translated where shown).
OPERATORS: Final[dict[str, str]] = {
    "eq": N_("equals"),
    "ne": N_("does not equal"),
    "in": N_("is one of"),
    "not_in": N_("is none of"),
    "in_region": N_("is in region"),
    "contains": N_("contains"),
    "not_contains": N_("does not contain"),
    "empty": N_("is empty"),
    "not_empty": N_("is not empty"),
    "gt": N_("is more than"),
    "gte": N_("is at least"),
    "lt": N_("is less than"),
    "lte": N_("is at most"),
    "between": N_("is between"),
    "is_true": N_("is yes"),
    "is_false": N_("is no"),
    "before": N_("is before"),
    "after": N_("is after"),
    "hours_ago_over": N_("was longer ago than"),
    "hours_ago_within": N_("was at most this long ago"),
    "valid_mobile": N_("is a valid mobile number"),
    "invalid_mobile": N_("is not a valid mobile number"),
    "matches": N_("matches the pattern"),
}

#: Which operators fit each kind of field, in the order the picker shows them.
OPERATORS_BY_KIND: Final[dict[str, tuple[str, ...]]] = {
    "province": ("in_region", "in", "not_in", "empty", "not_empty"),
    "category": ("in", "not_in"),
    "enum": ("in", "not_in", "eq", "ne", "empty", "not_empty"),
    "money": ("gte", "gt", "lt", "lte", "eq", "ne", "between"),
    "number": ("gte", "gt", "lt", "lte", "eq", "ne", "between"),
    "boolean": ("is_true", "is_false"),
    "datetime": ("before", "after", "hours_ago_over", "hours_ago_within", "empty", "not_empty"),
    "list": ("contains", "not_contains", "empty", "not_empty"),
    "phone": ("valid_mobile", "invalid_mobile", "empty", "not_empty"),
    "string": ("eq", "ne", "contains", "not_contains", "empty", "not_empty", "matches"),
}
#: How a group's rules combine: join id -> English message id of the label.
JOINS: Final[dict[str, str]] = {
    "and": N_("All of these (AND)"),
    "or": N_("Any of these (OR)"),
    "none": N_("None of these (NOT)"),
}
NO_VALUE: Final = frozenset({"empty", "not_empty", "is_true", "is_false", "valid_mobile", "invalid_mobile"})
MULTI_VALUE: Final = frozenset({"in", "not_in", "in_region"})
#: Durations: how long ago a time was, in hours, against the run's clock.
HOURS_AGO: Final = frozenset({"hours_ago_over", "hours_ago_within"})


@dataclass(frozen=True, slots=True)
class PickerField:
    """A field the designer can build a rule on."""

    path: str
    kind: str
    label_zh: str
    label_en: str
    group: str  # order | line | features | decisions; an after-sales flow's: case | buyer | case_decisions
    values: tuple[str, ...] = ()
    #: The flows whose context holds the field: ``order`` or ``return`` (after-sales).
    context: str = "order"

    @property
    def label(self) -> str:
        """The label in the request's language."""
        return self.label_en if current_locale.get() == "en" else self.label_zh


def _kind_of(field: dict[str, Any], schema: dict[str, Any]) -> str | None:
    path, kind = field["path"], field["type"]
    if path in ("order.receiver.province",):
        return "province"
    if path in ("order.lines[].category", "features.categories"):
        return "category"
    if path == "order.receiver.phone_masked":
        return "phone"
    if kind == "array":
        item = next((f for f in schema["fields"] if f["path"] == path + "[]"), None)
        return "list" if item is not None and item["type"] in ("string", "enum") else None
    return {
        "string": "string",
        "enum": "enum",
        "money_fen": "money",
        "number": "number",
        "integer": "number",
        "boolean": "boolean",
        "datetime": "datetime",
    }.get(kind)


#: The option group of an after-sales flow's fields, by the root of their path.
RETURN_GROUPS: Final = {"case": "case", "features": "buyer", "decisions": "case_decisions"}


def _picker_fields(schema: dict[str, Any], context: str) -> tuple[PickerField, ...]:
    fields: list[PickerField] = []
    for field in schema["fields"]:
        path = field["path"]
        if path.endswith("[]") or field.get("open"):
            continue
        if "[]" in path and not path.startswith(LINE_PREFIX):
            continue  # items of decisions' arrays of objects, or of case lines, are not something to build a rule on
        kind = _kind_of(field, schema)
        if kind is None:
            continue
        if path.startswith(LINE_PREFIX):
            group, label_zh, label_en = "line", "任一商品行的" + field["label_zh"], "any line's " + field["label_en"]
        else:
            group, label_zh, label_en = path.split(".")[0], field["label_zh"], field["label_en"]
        if context == "return":
            group = RETURN_GROUPS[group]
        values = tuple(field.get("values") or ())
        if kind == "province":
            values = PROVINCES
        fields.append(PickerField(path, kind, label_zh, label_en, group, values, context))
    return tuple(fields)


#: Every field of the order context schema a rule can be built on, in the schema's order.
PICKER_FIELDS: Final = _picker_fields(ORDER_CONTEXT_SCHEMA, "order")
#: Every field of an after-sales flow's context (return.requested) a rule can be built on.
RETURN_PICKER_FIELDS: Final = _picker_fields(RETURN_CONTEXT_SCHEMA, "return")
# The two contexts share no path a rule is built on, so a rule's field names its context.
_BY_PATH: Final = {field.path: field for field in (*PICKER_FIELDS, *RETURN_PICKER_FIELDS)}
assert len(_BY_PATH) == len(PICKER_FIELDS) + len(RETURN_PICKER_FIELDS)
FIELD_GROUPS: Final = (
    ("order", N_("Order")),
    ("line", N_("Order lines")),
    ("features", N_("Features")),
    ("decisions", N_("Decisions so far")),
)
RETURN_FIELD_GROUPS: Final = (
    ("case", N_("After-sales case")),
    ("buyer", N_("The buyer's history")),
    ("case_decisions", N_("Decisions so far")),
)


def picker_fields(trigger: str | None = None) -> tuple[PickerField, ...]:
    """The fields a flow with this trigger builds rules on: an after-sales flow's case fields, else the order's."""
    return RETURN_PICKER_FIELDS if context_of_trigger(trigger) == "return" else PICKER_FIELDS


def field_groups(trigger: str | None = None) -> list[tuple[str, str]]:
    """(group key, label in the reader's language) for the field picker's option groups of a flow with this
    trigger."""
    groups = RETURN_FIELD_GROUPS if context_of_trigger(trigger) == "return" else FIELD_GROUPS
    return [(key, gettext(label)) for key, label in groups]


def join_choices() -> list[tuple[str, str]]:
    """(join id, label in the reader's language) for a group's "how the rules combine" picker."""
    return [(key, gettext(label)) for key, label in JOINS.items()]


def picker_field(path: str) -> PickerField | None:
    """The picker field for a path, or None if rules cannot be built on it."""
    return _BY_PATH.get(path)


def operators_for(path: str) -> list[tuple[str, str]]:
    """(operator id, translated label) pairs that fit the field."""
    field = _BY_PATH.get(path)
    if field is None:
        return []
    return [(op, gettext(OPERATORS[op])) for op in OPERATORS_BY_KIND[field.kind]]


# ------------------------------------------------------------------------------------------------ state


def empty_group() -> dict[str, Any]:
    """A new AND group holding one blank rule, what a fresh condition starts with."""
    return {"join": "and", "rules": [{"field": "", "op": "", "value": None}]}


def is_group(item: Any) -> bool:
    """True for a group of rules (as opposed to one rule); a saved tree that is not one is not trusted."""
    return (
        isinstance(item, dict)
        and isinstance(item.get("rules"), list)
        and all(isinstance(r, dict) for r in item["rules"])
    )


def normalise_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A rule with an operator that fits its field (the first one when the field changed)."""
    field = _BY_PATH.get(str(rule.get("field") or ""))
    if field is None:
        return {"field": "", "op": "", "value": None}
    ops = OPERATORS_BY_KIND[field.kind]
    op = rule.get("op") if rule.get("op") in ops else ops[0]
    value = rule.get("value")
    if op in MULTI_VALUE:
        value = (
            [str(v) for v in value] if isinstance(value, list) else ([str(value)] if value not in (None, "") else [])
        )
    elif isinstance(value, list):
        value = value[0] if value else None
    normalised = {"field": field.path, "op": op, "value": None if op in NO_VALUE else value}
    if op == "between":
        normalised["value2"] = rule.get("value2")
    if is_default(rule.get("default")):
        normalised["default"] = rule["default"]
    return normalised


def is_default(value: Any) -> bool:
    """True for what a rule can keep as its field's ``var`` default: a number, text or yes/no (not null)."""
    return isinstance(value, str | int | float | bool)


def default_input(rule: dict[str, Any]) -> str:
    """The value of a row's hidden ``default:<path>`` input, or "" when the rule has no default."""
    if not is_default(rule.get("default")):
        return ""
    return json.dumps([rule.get("field"), rule["default"]], ensure_ascii=False)


def _read_default(text: str, field: Any) -> tuple[bool, Any]:
    try:
        kept = parse_json(text) if text else None
    except (ValueError, TypeError):
        return False, None
    if isinstance(kept, list) and len(kept) == 2 and kept[0] == field and is_default(kept[1]):
        return True, kept[1]
    return False, None


def read_form(form: dict[str, Any], root: str) -> dict[str, Any]:
    """Rebuild the builder tree rooted at ``root`` from a submitted form (see the module docstring)."""
    rows = many(form, "rows")

    def build(path: str) -> dict[str, Any]:
        if one(form, f"kind:{path}") == "group":
            children = sorted(
                (row for row in rows if row.rpartition(".")[0] == path and row.startswith(path + ".")),
                key=lambda row: parse_int(row.rpartition(".")[2], minimum=0) or 0,
            )
            join = one(form, f"join:{path}")
            return {"join": join if join in JOINS else "and", "rules": [build(child) for child in children]}
        rule: dict[str, Any] = {"field": one(form, f"field:{path}"), "op": one(form, f"op:{path}")}
        found, default = _read_default(one(form, f"default:{path}", strip=False), rule["field"])
        if found:
            rule["default"] = default
        if rule["op"] in MULTI_VALUE:
            rule["value"] = many(form, f"value:{path}")
        else:
            rule["value"] = one(form, f"value:{path}") or None
        if rule["op"] == "between":
            rule["value2"] = one(form, f"value2:{path}") or None
        return normalise_rule(rule)

    if root not in rows:
        return empty_group()
    tree = build(root)
    return tree if is_group(tree) else {"join": "and", "rules": [tree]}


def apply_command(tree: dict[str, Any], root: str, command: str) -> dict[str, Any]:
    """Apply an add/remove button (``add_rule:<path>``, ``add_group:<path>``, ``remove:<path>``) to a tree."""
    action, _, path = command.partition(":")
    if not path.startswith(root):
        return tree
    indexes = [index for part in path[len(root) :].split(".") if (index := parse_int(part, minimum=0)) is not None]
    if action == "remove":
        if not indexes:
            return tree
        parent = _at(tree, indexes[:-1])
        if parent is not None and 0 <= indexes[-1] < len(parent["rules"]):
            parent["rules"].pop(indexes[-1])
        return tree
    group = _at(tree, indexes)
    if group is None or count_rules(tree) >= MAX_RULES:
        return tree
    if action == "add_rule":
        group["rules"].append({"field": "", "op": "", "value": None})
    elif action == "add_group":
        group["rules"].append(
            {"join": "or" if group["join"] == "and" else "and", "rules": [{"field": "", "op": "", "value": None}]}
        )
    return tree


def _at(tree: dict[str, Any], indexes: list[int]) -> dict[str, Any] | None:
    node = tree
    for index in indexes:
        rules = node.get("rules", [])
        if not (0 <= index < len(rules)) or not is_group(rules[index]):
            return None
        node = rules[index]
    return node


def count_rules(tree: dict[str, Any]) -> int:
    return sum(count_rules(item) if is_group(item) else 1 for item in tree.get("rules", []))


# ------------------------------------------------------------------------------------------ to JSON Logic


class RuleProblem(ValueError):
    """A rule that cannot be turned into JSON Logic yet; the message is for the designer."""


def to_logic(tree: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    """JSON Logic for a builder tree, and a message per rule path ("0.1") that is not complete.

    Returns ``None`` as the logic while any rule is incomplete, so the flow shows "no condition set" rather
    than half of what the designer meant.
    """
    problems: dict[str, str] = {}
    logic = _group_logic(tree, "", problems)
    return (None if problems else logic), problems


def _group_logic(group: dict[str, Any], path: str, problems: dict[str, str]) -> Any:
    parts = []
    for index, item in enumerate(group.get("rules", [])):
        item_path = f"{path}.{index}" if path else str(index)
        if is_group(item):
            logic = _group_logic(item, item_path, problems)
        else:
            try:
                logic = rule_logic(item)
            except RuleProblem as exc:
                problems[item_path] = str(exc)
                continue
        if logic is not None:
            parts.append(logic)
    if not parts:
        if not path and not problems:
            problems[""] = gettext("Add at least one rule.")
        return None
    if group.get("join") == "none":
        return {"!": {"or": parts}}  # kept a list even for one part, so that it reads back as this group
    if len(parts) == 1:
        return parts[0]
    return {"or" if group.get("join") == "or" else "and": parts}


def rule_logic(rule: dict[str, Any]) -> Any:
    """JSON Logic for one rule; raises RuleProblem when the rule is incomplete."""
    field = _BY_PATH.get(str(rule.get("field") or ""))
    if field is None:
        raise RuleProblem(gettext("Choose a field."))
    op = rule.get("op")
    if op not in OPERATORS_BY_KIND[field.kind]:
        raise RuleProblem(gettext("Choose how to compare."))
    if field.path.startswith(LINE_PREFIX):
        inner = field.path[len(LINE_PREFIX) :]
        if inner == "category":
            categories = _list_value(rule)
            logic: Any = {"any_line_in_category": [{"var": "order.lines"}, categories]}
            return {"!": logic} if op == "not_in" else logic
        return {"some": [{"var": "order.lines"}, _compare(field, _var(inner, rule), op, rule)]}
    if field.kind == "category":  # features.categories: the list of the order's categories
        categories = _list_value(rule)
        logic = {"some": [{"var": "features.categories"}, {"in": [{"var": ""}, categories]}]}
        return {"!": logic} if op == "not_in" else logic
    return _compare(field, _var(field.path, rule), op, rule)


def _var(path: str, rule: dict[str, Any]) -> dict[str, Any]:
    default = rule.get("default")
    return {"var": [path, default]} if is_default(default) else {"var": path}


def _list_value(rule: dict[str, Any]) -> list[str]:
    value = rule.get("value")
    values = [str(v) for v in value if str(v)] if isinstance(value, list) else []
    if not values:
        raise RuleProblem(gettext("Choose at least one value."))
    return values


def _compare(field: PickerField, var: dict[str, Any], op: str, rule: dict[str, Any]) -> Any:
    if op == "empty":
        return {"!": var}
    if op == "not_empty":
        return {"!!": var}
    if op == "is_true":
        return {"==": [var, True]}
    if op == "is_false":
        return {"!": var}
    if op == "valid_mobile":
        return {"mobile_cn": var}
    if op == "invalid_mobile":
        return {"!": {"mobile_cn": var}}
    if op == "in_region":
        regions = _list_value(rule)
        unknown = [r for r in regions if r not in REGIONS]
        if unknown:
            raise RuleProblem(gettext("Unknown region: %(value)s") % {"value": excerpt("、".join(unknown))})
        return {"in": [{"region_of": var}, regions]}
    if op in ("in", "not_in"):
        values = _list_value(rule)
        if field.values and field.kind in ("enum", "province"):
            unknown = [v for v in values if v not in field.values]
            if unknown:
                shown = excerpt("、".join(unknown))
                raise RuleProblem(gettext("Not a choice of this field: %(value)s") % {"value": shown})
        logic = {"in": [var, values]}
        return {"!": logic} if op == "not_in" else logic
    if op in ("contains", "not_contains"):
        text = _text(rule.get("value"))
        logic = {"in": [text, var]}
        return {"!": logic} if op == "not_contains" else logic
    if op == "matches":
        return {"regex_match": [_text(rule.get("value")), var]}
    if op in HOURS_AGO:
        hours_ago = {"hours_since": var}
        return {">" if op == "hours_ago_over" else "<=": [hours_ago, number(_text(rule.get("value")))]}
    if op in ("before", "after"):
        moment = china_moment(rule.get("value"))
        hours = {"hours_between": [moment, var]}
        return {"<": [hours, 0]} if op == "before" else {">": [hours, 0]}
    value = _scalar(field, rule.get("value"))
    if op == "between":
        upper = _scalar(field, rule.get("value2"))
        if upper < value:
            raise RuleProblem(gettext("The second value must not be smaller than the first."))
        return {"<=": [value, var, upper]}
    symbol = {"eq": "==", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
    if field.kind not in ("money", "number"):
        # Text is compared exactly: a missing value is simply "not equal", never a number error.
        symbol = {"==": "===", "!=": "!=="}[symbol]
    return {symbol: [var, value]}


def _text(value: Any) -> str:
    text = str(value or "").strip()
    if not text:
        raise RuleProblem(gettext("Enter a value."))
    return text


def _scalar(field: PickerField, value: Any) -> Any:
    text = _text(value)
    if field.kind == "money":
        return yuan_to_fen(text)
    if field.kind == "number":
        return number(text)
    if field.kind == "enum" and field.values and text not in field.values:
        raise RuleProblem(gettext("Not a choice of this field: %(value)s") % {"value": excerpt(text)})
    return text


def number(text: str) -> int | float:
    """A number as typed in ASCII digits ("3", "2.5"): an int when it is whole; RuleProblem if it is not one (٣ and
    full-width １２ are refused, as everywhere amounts are read), or has more than MAX_NUMBER_DIGITS digits before
    the point (``1e1000000`` is nine characters, and writing it out as a whole number would keep the server busy
    for minutes)."""
    value = parse_decimal(text)
    if value is None:
        raise RuleProblem(gettext("Enter a number."))
    if value.adjusted() >= MAX_NUMBER_DIGITS:
        raise RuleProblem(
            gettext("Enter a number with at most %(digits)s digits before the point.") % {"digits": MAX_NUMBER_DIGITS}
        )
    return int(value) if value == value.to_integral_value() else float(value)


def yuan_to_fen(text: str) -> int:
    """Turn an amount in yuan as typed ("49.9", "¥1,299.00") into integer fen; RuleProblem if it is not one."""
    cleaned = text.replace("¥", "").replace("￥", "").replace(",", "").replace("，", "").strip()
    amount = parse_decimal(cleaned)
    if amount is None or amount.as_tuple().exponent < -2 or abs(amount) >= Decimal(10**10):  # type: ignore[operator]
        raise RuleProblem(gettext("Enter an amount in yuan, such as 49.90."))
    return int(amount * 100)


def fen_to_yuan(value: Any) -> str:
    """Show a fen amount as the yuan the designer typed ("49.90")."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value / 100:.2f}"
    return str(value or "")


def china_moment(value: Any) -> str:
    """An ISO time from what the designer typed; a time without a zone is China time."""
    text = _text(value)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RuleProblem(gettext("Enter a date and time.")) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CHINA)  # the designer types China time
    return moment.isoformat()


def _complete(rule: dict[str, Any]) -> bool:
    # A rule the builder refuses (a value of ٣, none at all) checks nothing, so the canvas does not show it.
    try:
        rule_logic(rule)
    except RuleProblem:
        return False
    return True


def describe(tree: Any) -> str:
    """A short human sentence for a builder tree, shown on the canvas node (e.g. "省份 属于大区 华东 且 …")."""
    if not is_group(tree):
        return ""
    joiner = " " + (gettext("and") if tree.get("join") == "and" else gettext("or")) + " "
    parts = []
    for item in tree["rules"]:
        if is_group(item):
            inner = describe(item)
            if inner:
                parts.append(f"（{inner}）")
            continue
        field = _BY_PATH.get(str(item.get("field") or ""))
        if field is None or item.get("op") not in OPERATORS or not _complete(item):
            continue
        value = item.get("value")
        if isinstance(value, list):
            shown = "、".join(str(v) for v in value[:6]) + ("…" if len(value) > 6 else "")
        elif field.kind == "money" and value not in (None, ""):
            shown = "¥" + str(value)
        else:
            shown = "" if value is None else str(value)
        if item.get("op") == "between":
            shown += f" ~ {item.get('value2') or ''}"
        if item.get("op") in HOURS_AGO:
            shown = gettext("%(hours)s hours") % {"hours": shown}
        elif field.kind == "datetime":
            shown = shown.replace("T", " ")
        parts.append(" ".join(p for p in (field.label, gettext(OPERATORS[item["op"]]), shown) if p))
    sentence = joiner.join(parts)
    if tree.get("join") == "none" and sentence:
        return gettext("none of: %(rules)s") % {"rules": sentence}
    return sentence

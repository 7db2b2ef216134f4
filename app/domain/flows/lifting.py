"""Lifting JSON Logic back into the no-code builder's rows, whoever wrote it (the builder, an import, a
template, the API), so that every condition the builder can express opens as a form.

:func:`lift` undoes :func:`builder.to_logic`: for a tree the builder wrote, ``lift(to_logic(tree))`` is the
tree again (up to groups of one rule, which JSON Logic does not keep). For logic written by hand it accepts
the other spellings of what a row means (``3 < x`` for ``x > 3``, ``== true`` or ``!!`` for "is yes", ``==``
of ``region_of`` for "is in region", ``missing`` for "is empty", a single category for a list of one, ...),
and the logic the tree writes back decides every order as the original does: the same yes or no wherever the
original evaluates without an error, for values of the types the order context schema gives its fields.
What no row can say gives None, and the editor shows it as JSON.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Final

from app.domain.flows import builder
from app.domain.flows.builder import LINE_PREFIX, PickerField
from ruleflows import REGIONS

#: Field kinds whose values are text: for them ``missing`` (null or "") is what "is empty" means.
TEXT_KINDS: Final = frozenset({"string", "enum", "province", "phone", "datetime"})
#: What a var default must be for each kind, so that the rewrites below hold for it as for any value.
DEFAULT_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "boolean": (bool,),
    "money": (int,),
    "number": (int, float),
    **{kind: (str,) for kind in (*TEXT_KINDS, "list", "category")},
}
#: A comparison with its operands swapped: ``3 < x`` is ``x > 3``.
MIRRORED: Final = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "==": "==", "!=": "!=", "===": "===", "!==": "!=="}
ORDERINGS: Final = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
#: (operator, literal) on a yes/no field -> the row: ``!= false`` is "is yes", ``!= true`` "is no".
BOOLEAN_TESTS: Final[dict[tuple[str, bool], str]] = {
    ("==", True): "is_true",
    ("===", True): "is_true",
    ("!=", False): "is_true",
    ("==", False): "is_false",
    ("!=", True): "is_false",
    ("!==", True): "is_false",
}
#: Rows whose logic is the other's with a ``!`` in front (so ``!`` of one is the other).
NEGATIONS: Final = {
    "in": "not_in",
    "not_in": "in",
    "contains": "not_contains",
    "not_contains": "contains",
    "valid_mobile": "invalid_mobile",
    "invalid_mobile": "valid_mobile",
    "empty": "not_empty",
    "not_empty": "empty",
    "is_true": "is_false",
    "is_false": "is_true",
    "eq": "ne",
    "ne": "eq",
}
MAX_DEPTH: Final = 32
_NO_DEFAULT: Final = object()

Item = dict[str, Any]


def lift(logic: Any) -> Item | None:
    """The builder tree for a JSON Logic condition, or None when the builder cannot express it."""
    item = _item(logic, 0)
    if item is None:
        return None
    tree = item if builder.is_group(item) else {"join": "and", "rules": [item]}
    _, problems = builder.to_logic(tree)
    return None if problems else tree  # e.g. a choice the field does not offer: that stays JSON


def _operator(logic: Any) -> tuple[str, list[Any]] | None:
    if not isinstance(logic, dict) or len(logic) != 1:
        return None
    op, args = next(iter(logic.items()))
    return op, args if isinstance(args, list) else [args]


def _item(logic: Any, depth: int, *, line: bool = False) -> Item | None:
    """A rule or group for ``logic``; ``line`` when it is tested on each order line (inside ``some``)."""
    parsed = _operator(logic)
    if parsed is None or depth > MAX_DEPTH:
        return None
    op, args = parsed
    if op in ("and", "or"):
        if line or not args:
            return None
        items = [_item(arg, depth + 1) for arg in args]
        return None if any(item is None for item in items) else {"join": op, "rules": items}
    if op == "!":
        return _negation(args[0], depth, line) if len(args) == 1 else None
    if op == "!!":
        if len(args) != 1:
            return None
        ref = _field_ref(args[0], line)
        return _presence(ref, present=True) if ref else _item(args[0], depth + 1, line=line)
    if op == "var":
        ref = _field_ref(logic, line)
        return _presence(ref, present=True) if ref else None
    if op == "missing" and not line:
        return _missing(args, present=False)
    if op in MIRRORED:
        return _comparison(op, args, line)
    if op == "in" and len(args) == 2:
        return _membership(args[0], args[1], line)
    if op == "regex_match" and len(args) == 2 and _text(args[0]):
        return _on_field(args[1], line, "matches", args[0])
    if op == "mobile_cn" and len(args) == 1:
        return _on_field(args[0], line, "valid_mobile")
    if op == "any_line_in_category" and len(args) == 2 and not line and _is_lines(args[0]):
        values = _texts([args[1]] if isinstance(args[1], str) else args[1])
        return _rule(_picker("order.lines[].category"), "in", values) if values else None
    if op == "some" and len(args) == 2 and not line:
        return _some(args[0], args[1], depth)
    return None


def _negation(inner: Any, depth: int, line: bool) -> Item | None:
    ref = _field_ref(inner, line)
    if ref:
        return _presence(ref, present=False)
    parsed = _operator(inner)
    if parsed is None:
        return None
    op, args = parsed
    if op == "missing" and not line:
        return _missing(args, present=True)
    if op == "or" and not line:
        items = [_item(arg, depth + 1) for arg in args]
        if not items or any(item is None for item in items):
            return None
        return {"join": "none", "rules": items}
    item = _item(inner, depth + 1, line=line)
    if item is None:
        return None
    field = None if builder.is_group(item) else _picker(item["field"])
    if field is not None and item["op"] in NEGATIONS:
        twin = NEGATIONS[item["op"]]
        # Outside ``some``, "no line's category is one of these" is the negation of "any line's is"; for the
        # other line fields, "no line has it" is not "any line has the opposite", and inside ``some``
        # "some line's category is none of these" is not what "is none of" says.
        per_line = field.group == "line" and field.kind != "category"
        if twin in builder.OPERATORS_BY_KIND[field.kind] and per_line == line:
            return {**item, "op": twin}
    return None if line else {"join": "none", "rules": [item]}


def _some(source: Any, test: Any, depth: int) -> Item | None:
    if _is_lines(source):
        item = _item(test, depth + 1, line=True)
        return item if item is not None and not builder.is_group(item) else None
    if source == {"var": "features.categories"}:
        parsed = _operator(test)
        if parsed and parsed[0] == "in" and len(parsed[1]) == 2 and parsed[1][0] in ({"var": ""}, {"var": []}):
            values = _texts(parsed[1][1])
            return _rule(_picker("features.categories"), "in", values) if values else None
    return None


def _is_lines(value: Any) -> bool:
    return value in ({"var": "order.lines"}, {"var": ["order.lines"]})


# ------------------------------------------------------------------------------------------------ rows


def _picker(path: str) -> PickerField | None:
    return builder.picker_field(path)


def _field_ref(value: Any, line: bool) -> tuple[PickerField, Any] | None:
    """(field, its default or _NO_DEFAULT) for a ``var`` of a field rules are built on."""
    parsed = _operator(value)
    if parsed is None or parsed[0] != "var" or not 1 <= len(parsed[1]) <= 2 or not isinstance(parsed[1][0], str):
        return None
    path = parsed[1][0]
    if "[" in path or (line and "." in path):
        return None
    field = _picker(LINE_PREFIX + path if line else path)
    if field is None or (field.group == "line") != line:
        return None
    default = parsed[1][1] if len(parsed[1]) == 2 else None
    if default is None:
        return field, _NO_DEFAULT
    types = DEFAULT_TYPES[field.kind]
    if not isinstance(default, types) or (isinstance(default, bool) and bool not in types):
        return None
    if isinstance(default, float) and not math.isfinite(default):
        return None
    return field, default


def _rule(
    field: PickerField | None, op: str, value: Any = None, default: Any = _NO_DEFAULT, value2: Any = None
) -> Item | None:
    if field is None or op not in builder.OPERATORS_BY_KIND[field.kind]:
        return None
    rule: Item = {"field": field.path, "op": op, "value": None if op in builder.NO_VALUE else value}
    if op == "between":
        rule["value2"] = value2
    if default is not _NO_DEFAULT:
        rule["default"] = default
    return rule


def _presence(ref: tuple[PickerField, Any], *, present: bool) -> Item | None:
    field, default = ref
    if field.kind == "boolean":
        return _rule(field, "is_true" if present else "is_false", default=default)
    return _rule(field, "not_empty" if present else "empty", default=default)


def _missing(args: list[Any], *, present: bool) -> Item | None:
    """``missing`` of some fields: each "is empty" (any of them); ``!missing``: each "is not empty" (all)."""
    names = args[0] if len(args) == 1 and isinstance(args[0], list) else args
    rules = []
    for name in names:
        field = _picker(name) if isinstance(name, str) and "[" not in name else None
        if field is None or field.kind not in TEXT_KINDS:
            return None  # for numbers and lists, "missing" (null or "") is not what "empty" means
        rules.append(_rule(field, "not_empty" if present else "empty"))
    if not rules or any(rule is None for rule in rules):
        return None
    return rules[0] if len(rules) == 1 else {"join": "and" if present else "or", "rules": rules}


def _on_field(value: Any, line: bool, op: str, operand: Any = None) -> Item | None:
    ref = _field_ref(value, line)
    return _rule(ref[0], op, operand, ref[1]) if ref else None


def _comparison(op: str, args: list[Any], line: bool) -> Item | None:
    if op == "<=" and len(args) == 3:
        ref = _field_ref(args[1], line)
        if ref is None:
            return None
        low, high = _amount(ref[0], args[0]), _amount(ref[0], args[2])
        return _rule(ref[0], "between", low, ref[1], high) if low is not None and high is not None else None
    if len(args) != 2:
        return None
    subject, literal = args
    if _is_literal(subject) and not _is_literal(literal):
        subject, literal, op = literal, subject, MIRRORED[op]
    if not _is_literal(literal):
        return None
    parsed = _operator(subject)
    if parsed and parsed[0] == "region_of":
        if op in ("==", "===") and literal in REGIONS and len(parsed[1]) == 1:
            return _on_field(parsed[1][0], line, "in_region", [literal])
        return None
    if parsed and parsed[0] == "hours_between" and len(parsed[1]) == 2 and parsed[1][1] == {"now": []}:
        parsed = ("hours_since", parsed[1][:1])  # hours from the time to now
    if parsed and parsed[0] == "hours_since":
        return _hours_ago(op, parsed[1], literal, line)
    if parsed and parsed[0] == "hours_between":
        return _moment(op, parsed[1], literal, line)
    ref = _field_ref(subject, line)
    if ref is None:
        return None
    field, default = ref
    if field.kind == "boolean":
        test = BOOLEAN_TESTS.get((op, literal)) if isinstance(literal, bool) else None
        return _rule(field, test, default=default) if test else None
    if field.kind in ("money", "number"):
        value = _amount(field, literal)
        if value is None:
            return None
        if op in ORDERINGS:
            return _rule(field, ORDERINGS[op], value, default)
        if op in ("===", "!==") and literal == 0:
            return None  # null is not === 0 but is == 0, and the builder writes ==
        return _rule(field, "eq" if op in ("==", "===") else "ne", value, default)
    if field.kind in TEXT_KINDS and op in ("==", "===", "!=", "!==") and _text(literal):
        equal = op in ("==", "===")
        ops = builder.OPERATORS_BY_KIND[field.kind]
        if "eq" in ops:
            return _rule(field, "eq" if equal else "ne", literal, default)
        return _rule(field, "in" if equal else "not_in", [literal], default)  # a province: one of one
    return None


def _moment(op: str, args: list[Any], literal: Any, line: bool) -> Item | None:
    """``hours_between`` of a fixed time and a field compared with 0: the field is before or after that time."""
    if literal != 0 or isinstance(literal, bool) or op not in ("<", ">") or len(args) != 2:
        return None
    if isinstance(args[0], str):
        moment, field_value, later = args[0], args[1], op == ">"  # hours from the moment to the field
    elif isinstance(args[1], str):
        moment, field_value, later = args[1], args[0], op == "<"  # hours from the field to the moment
    else:
        return None
    ref = _field_ref(field_value, line)
    shown = _china_minute(moment)
    if ref is None or ref[0].kind != "datetime" or shown is None:
        return None
    return _rule(ref[0], "after" if later else "before", shown, ref[1])


def _hours_ago(op: str, args: list[Any], literal: Any, line: bool) -> Item | None:
    """``hours_since`` of a field compared with a number of hours: how long ago the time was."""
    rows = {">": "hours_ago_over", "<=": "hours_ago_within"}
    ref = _field_ref(args[0], line) if len(args) == 1 else None
    if ref is None or ref[0].kind != "datetime" or op not in rows:
        return None
    hours = _number_text(literal)
    return _rule(ref[0], rows[op], hours, ref[1]) if hours is not None else None


def _china_minute(text: str) -> str | None:
    """A time as the editor's date-time input holds it (China time, to the minute); None if it cannot."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # as the engine reads a time without a zone
    local = moment.astimezone(builder.CHINA)
    if local.second or local.microsecond:
        return None
    return local.strftime("%Y-%m-%dT%H:%M")


def _membership(needle: Any, haystack: Any, line: bool) -> Item | None:
    parsed = _operator(needle)
    if parsed and parsed[0] == "region_of" and len(parsed[1]) == 1:
        regions = _texts(haystack)
        return _on_field(parsed[1][0], line, "in_region", regions) if regions else None
    if isinstance(needle, str):
        return _on_field(haystack, line, "contains", needle) if _text(needle) else None
    ref = _field_ref(needle, line)
    values = _texts(haystack)
    if ref is None or values is None:
        return None
    field, default = ref
    if field.kind == "category" and not line:
        return None  # the whole list of the order's categories is never one of them
    if "in" in builder.OPERATORS_BY_KIND[field.kind]:
        return _rule(field, "in", values, default)
    if "eq" in builder.OPERATORS_BY_KIND[field.kind] and not line:
        rules = [_rule(field, "eq", value, default) for value in values]
        return rules[0] if len(rules) == 1 else {"join": "or", "rules": rules}
    return None


# ------------------------------------------------------------------------------------------- values


def _is_literal(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _text(value: Any) -> bool:
    """True for text a row's input can hold as it is (the builder strips what is typed)."""
    return isinstance(value, str) and bool(value) and value == value.strip()


def _texts(value: Any) -> list[str] | None:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        return None
    return list(value)


def _amount(field: PickerField, value: Any) -> str | None:
    """A number as its row's input shows it: yuan for a money field in fen."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    if field.kind == "money":
        if value != int(value):
            return None  # a fraction of a fen is not an amount anyone types
        shown = builder.fen_to_yuan(int(value))
        try:
            return shown if builder.yuan_to_fen(shown) == value else None
        except builder.RuleProblem:
            return None
    return _number_text(value) if field.kind == "number" else None


def _number_text(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return str(value) if isinstance(value, int) else repr(value)

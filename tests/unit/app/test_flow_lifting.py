"""Lifting JSON Logic back into builder rows: every row kind, the round trip, and the shipped templates.

"Decides alike" means: on every context where the original logic evaluates without an error, the logic the
lifted tree writes back gives the same yes or no.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ruleflows
from app.domain.flows import builder
from app.domain.flows.lifting import lift
from ruleflows.coercion import truthy

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TEXTS = ("VIP", "急", "VIP 客户", "上海市浦东新区", "x")
CATEGORIES = ("3C", "服饰", "食品")
TIMES = ("2026-11-11T00:00", "2026-12-01T20:30", "2025-06-18T08:00")
MOMENTS = (
    "2026-11-11T00:00:00+08:00",
    "2026-11-10T16:00:00Z",
    "2026-12-01T20:30:00+08:00",
    "2025-01-01T00:00:00",
    "2026-11-29T12:00:00Z",  # 48 hours before NOW
)
PATTERNS = ("VIP", "^上海", "\\d+")
TOP_FIELDS = [f for f in builder.PICKER_FIELDS if f.group != "line"]
LINE_FIELDS = [f for f in builder.PICKER_FIELDS if f.group == "line"]


def rule(field, op, value=None, **extra):
    return {"field": field, "op": op, "value": value, **extra}


def tree(*rules, join="and"):
    return {"join": join, "rules": list(rules)}


# ------------------------------------------------------------------------------------- contexts


def field_value(field: builder.PickerField, pick: random.Random) -> Any:
    """A value of the field's type, as orders carry them, null included."""
    by_kind: dict[str, list[Any]] = {
        "province": ["上海", "江苏", "北京", "广东", "火星", ""],
        "enum": list(field.values or ("",)),
        "money": [0, 4990, 5000, 29_900, -100, pick.randint(-500, 60_000)],
        "number": [0, 0.5, 2.5, 3, 5, pick.randint(-3, 12)],
        "boolean": [True, False],
        "datetime": list(MOMENTS),
        "list": [[], ["VIP"], list(pick.sample(TEXTS, 2))],
        "category": [[], ["3C"], list(pick.sample(CATEGORIES, 2))],
        "phone": ["13812345678", "138****5678", "12345", ""],
        "string": ["", *TEXTS],
    }
    return pick.choice([None, *by_kind[field.kind]])


def put(target: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        target = target.setdefault(key, {})
    target[last] = value


def varied_contexts(count: int, seed: int = 13) -> list[dict[str, Any]]:
    """Flow contexts with any of the picker's fields present, null or absent, and 0-3 order lines."""
    pick = random.Random(seed)
    made = []
    for _ in range(count):
        context: dict[str, Any] = {"order": {}, "features": {}, "decisions": {}}
        for field in TOP_FIELDS:
            if pick.random() < 0.7:
                put(context, field.path, field_value(field, pick))
        context["order"]["lines"] = [
            {
                field.path.removeprefix(builder.LINE_PREFIX): field_value(field, pick)
                for field in LINE_FIELDS
                if pick.random() < 0.7
            }
            for _ in range(pick.randint(0, 3))
        ]
        made.append(context)
    return made


CONTEXTS = varied_contexts(150)


def decision(logic: Any, context: dict[str, Any]) -> bool | None:
    """Yes or no for the logic on the context, or None when it fails there."""
    try:
        return truthy(ruleflows.evaluate(logic, context, now=NOW))
    except ruleflows.RuleError:
        return None


def assert_decides_alike(original: Any, rewritten: Any) -> None:
    for context in CONTEXTS:
        expected = decision(original, context)
        if expected is not None:
            assert decision(rewritten, context) == expected, (original, rewritten, context)


def written_back(logic: Any) -> Any:
    lifted = lift(logic)
    assert lifted is not None, logic
    rewritten, problems = builder.to_logic(lifted)
    assert problems == {}
    return rewritten


# ------------------------------------------------------------------------------ one test per row kind

SAME_ADDRESS = {"var": ["features.same_address_24h", 0]}
PAID = {"var": "order.amounts.paid_fen"}
PROVINCE = {"var": "order.receiver.province"}
LINES = {"var": "order.lines"}

ROW_KINDS = {
    "number more than, with the var's default kept": (
        {">": [SAME_ADDRESS, 3]},
        tree(rule("features.same_address_24h", "gt", "3", default=0)),
    ),
    "number written the other way round": (
        {"<": [3, SAME_ADDRESS]},
        tree(rule("features.same_address_24h", "gt", "3", default=0)),
    ),
    "number equals, fractional": (
        {"==": [{"var": "features.hours_since_paid"}, 2.5]},
        tree(rule("features.hours_since_paid", "eq", "2.5")),
    ),
    "number does not equal, strictly": (
        {"!==": [{"var": "features.weight_g"}, 500]},
        tree(rule("features.weight_g", "ne", "500")),
    ),
    "money in fen shown as yuan": ({"<": [PAID, 5000]}, tree(rule("order.amounts.paid_fen", "lt", "50.00"))),
    "money at least": ({">=": [PAID, 29900]}, tree(rule("order.amounts.paid_fen", "gte", "299.00"))),
    "money at most": ({"<=": [PAID, 4990]}, tree(rule("order.amounts.paid_fen", "lte", "49.90"))),
    "money between": (
        {"<=": [1000, PAID, 29900]},
        tree(rule("order.amounts.paid_fen", "between", "10.00", value2="299.00")),
    ),
    "text equals": (
        {"===": [{"var": "order.shop_id"}, "tmall-flagship"]},
        tree(rule("order.shop_id", "eq", "tmall-flagship")),
    ),
    "text does not equal, loosely": (
        {"!=": [{"var": "order.buyer.nick"}, "x"]},
        tree(rule("order.buyer.nick", "ne", "x")),
    ),
    "enum in a list": (
        {"in": [{"var": "order.channel"}, ["jd", "tmall"]]},
        tree(rule("order.channel", "in", ["jd", "tmall"])),
    ),
    "enum not in a list": (
        {"!": {"in": [{"var": "order.channel"}, ["jd"]]}},
        tree(rule("order.channel", "not_in", ["jd"])),
    ),
    "text in a list becomes equals any": (
        {"in": [{"var": "order.shop_id"}, ["a", "b"]]},
        tree(rule("order.shop_id", "eq", "a"), rule("order.shop_id", "eq", "b"), join="or"),
    ),
    "province in a list": (
        {"in": [PROVINCE, ["上海", "江苏"]]},
        tree(rule("order.receiver.province", "in", ["上海", "江苏"])),
    ),
    "province equals one": ({"===": [PROVINCE, "上海"]}, tree(rule("order.receiver.province", "in", ["上海"]))),
    "region membership": (
        {"in": [{"region_of": PROVINCE}, ["华东", "华南"]]},
        tree(rule("order.receiver.province", "in_region", ["华东", "华南"])),
    ),
    "region equals one": (
        {"==": [{"region_of": PROVINCE}, "华东"]},
        tree(rule("order.receiver.province", "in_region", ["华东"])),
    ),
    "category of any line, a list": (
        {"any_line_in_category": [LINES, ["3C", "服饰"]]},
        tree(rule("order.lines[].category", "in", ["3C", "服饰"])),
    ),
    "category of any line, one category": (
        {"any_line_in_category": [LINES, "3C"]},
        tree(rule("order.lines[].category", "in", ["3C"])),
    ),
    "category of no line": (
        {"!": {"any_line_in_category": [LINES, ["3C"]]}},
        tree(rule("order.lines[].category", "not_in", ["3C"])),
    ),
    "the order's categories": (
        {"some": [{"var": "features.categories"}, {"in": [{"var": ""}, ["食品"]]}]},
        tree(rule("features.categories", "in", ["食品"])),
    ),
    "any line's field": (
        {"some": [LINES, {">": [{"var": "qty"}, 2]}]},
        tree(rule("order.lines[].qty", "gt", "2")),
    ),
    "any line's field is not empty": (
        {"some": [LINES, {"!!": {"var": "bundle_of"}}]},
        tree(rule("order.lines[].bundle_of", "not_empty")),
    ),
    "text contains": (
        {"in": ["VIP", {"var": "order.buyer_message"}]},
        tree(rule("order.buyer_message", "contains", "VIP")),
    ),
    "text does not contain": (
        {"!": {"in": ["急", {"var": "order.seller_memo"}]}},
        tree(rule("order.seller_memo", "not_contains", "急")),
    ),
    "list contains": ({"in": ["VIP", {"var": "order.tags"}]}, tree(rule("order.tags", "contains", "VIP"))),
    "empty": ({"!": {"var": "order.buyer_message"}}, tree(rule("order.buyer_message", "empty"))),
    "not empty": ({"!!": {"var": "order.seller_memo"}}, tree(rule("order.seller_memo", "not_empty"))),
    "a bare var is not empty": ({"var": "order.receiver.city"}, tree(rule("order.receiver.city", "not_empty"))),
    "missing fields, each not empty": (
        {"!": {"missing": ["order.receiver.name", "order.receiver.city"]}},
        tree(rule("order.receiver.name", "not_empty"), rule("order.receiver.city", "not_empty")),
    ),
    "missing fields, any empty": (
        {"missing": ["order.receiver.name", "order.receiver.address"]},
        tree(rule("order.receiver.name", "empty"), rule("order.receiver.address", "empty"), join="or"),
    ),
    "yes, with a default": (
        {"==": [{"var": ["features.review_approved", False]}, True]},
        tree(rule("features.review_approved", "is_true", default=False)),
    ),
    "yes, written as !!": ({"!!": {"var": "features.is_urgent"}}, tree(rule("features.is_urgent", "is_true"))),
    "no": ({"!": {"var": "features.is_urgent"}}, tree(rule("features.is_urgent", "is_false"))),
    "no, written as == false": (
        {"==": [{"var": "decisions.presale"}, False]},
        tree(rule("decisions.presale", "is_false")),
    ),
    "valid mobile": (
        {"mobile_cn": {"var": "order.receiver.phone_masked"}},
        tree(rule("order.receiver.phone_masked", "valid_mobile")),
    ),
    "invalid mobile": (
        {"!": {"mobile_cn": {"var": "order.receiver.phone_masked"}}},
        tree(rule("order.receiver.phone_masked", "invalid_mobile")),
    ),
    "matches a pattern": (
        {"regex_match": ["^VIP", {"var": "order.buyer.nick"}]},
        tree(rule("order.buyer.nick", "matches", "^VIP")),
    ),
    "before a time": (
        {"<": [{"hours_between": ["2026-11-11T00:00:00+08:00", {"var": "order.paid_at"}]}, 0]},
        tree(rule("order.paid_at", "before", "2026-11-11T00:00")),
    ),
    "after a time in UTC": (
        {">": [{"hours_between": ["2026-11-10T16:00:00Z", {"var": "order.created_at"}]}, 0]},
        tree(rule("order.created_at", "after", "2026-11-11T00:00")),
    ),
    "after a time, field first": (
        {"<": [{"hours_between": [{"var": "order.created_at"}, "2026-11-11T00:00:00+08:00"]}, 0]},
        tree(rule("order.created_at", "after", "2026-11-11T00:00")),
    ),
    "more hours ago than": (
        {">": [{"hours_since": {"var": "order.paid_at"}}, 48]},
        tree(rule("order.paid_at", "hours_ago_over", "48")),
    ),
    "at most so many hours ago, written as hours to now": (
        {">=": [2.5, {"hours_between": [{"var": "order.created_at"}, {"now": []}]}]},
        tree(rule("order.created_at", "hours_ago_within", "2.5")),
    ),
    "and / or groups": (
        {
            "and": [
                {"!": {"var": "features.is_urgent"}},
                {"or": [{"<": [PAID, 5000]}, {"in": ["VIP", {"var": "order.tags"}]}]},
            ]
        },
        tree(
            rule("features.is_urgent", "is_false"),
            tree(rule("order.amounts.paid_fen", "lt", "50.00"), rule("order.tags", "contains", "VIP"), join="or"),
        ),
    ),
    "not of a group": (
        {"!": {"or": [{">": [SAME_ADDRESS, 3]}, {"===": [{"var": "order.channel"}, "jd"]}]}},
        tree(rule("features.same_address_24h", "gt", "3", default=0), rule("order.channel", "eq", "jd"), join="none"),
    ),
    "not of an and group": (
        {"!": {"and": [{"!!": {"var": "features.is_urgent"}}, {"<": [PAID, 5000]}]}},
        tree(tree(rule("features.is_urgent", "is_true"), rule("order.amounts.paid_fen", "lt", "50.00")), join="none"),
    ),
    "not of a comparison": ({"!": {">": [PAID, 100]}}, tree(rule("order.amounts.paid_fen", "gt", "1.00"), join="none")),
}


@pytest.mark.parametrize(("logic", "expected"), list(ROW_KINDS.values()), ids=list(ROW_KINDS))
def test_each_row_kind_lifts_into_its_row_and_writes_back_logic_that_decides_alike(logic, expected):
    assert lift(logic) == expected
    assert_decides_alike(logic, written_back(logic))


@pytest.mark.parametrize(
    "logic",
    [
        {"+": [1, 2]},
        {"var": "order.nope"},
        {">": [{"var": "features.same_address_24h"}, {"var": "features.customer_order_count"}]},
        {"===": [{"var": "features.same_address_24h"}, 0]},  # null is not === 0, and the builder writes ==
        {"<": [{"var": "order.shop_id"}, "m"]},  # text is not ordered in the builder
        {"in": [{"var": "order.channel"}, ["nowhere"]]},  # not a choice of the field
        {"some": [LINES, {"and": [{"var": "is_gift"}, {">": [{"var": "qty"}, 1]}]}]},
        {"some": [LINES, {"!": {"in": [{"var": "category"}, ["3C"]]}}]},
        {"<": [{"hours_between": ["2026-11-11T00:00:30+08:00", {"var": "order.paid_at"}]}, 0]},
        {"<": [PAID, 49.5]},
        {">=": [{"hours_since": {"var": "order.paid_at"}}, 48]},  # "more than" and "at most" are the rows
        {"var": ["features.same_address_24h", "many"]},
        {"!": {"missing": ["features.same_address_24h"]}},
        "yes",
        None,
        [1, 2],
    ],
)
def test_what_no_row_can_say_stays_json_logic(logic):
    assert lift(logic) is None


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(["var", "!", "in", "==", "<=", "some", "and", "missing", "region_of", "x"]),
                inner,
                max_size=2,
            )
        ),
        max_leaves=12,
    )
)
def test_lifting_anything_at_all_never_fails(logic):
    lifted = lift(logic)
    if lifted is not None:
        assert builder.to_logic(lifted)[1] == {}


# ------------------------------------------------------------------------------------- round trips


def rule_value(field: builder.PickerField, op: str) -> st.SearchStrategy[dict[str, Any]]:
    """A complete rule on the field, its values spelled as the form sends them."""
    if op in builder.NO_VALUE:
        value: st.SearchStrategy[Any] = st.none()
    elif op == "in_region":
        value = st.lists(st.sampled_from(ruleflows.REGIONS), min_size=1, max_size=3, unique=True)
    elif op in ("in", "not_in"):
        choices = field.values or CATEGORIES
        value = st.lists(st.sampled_from(choices), min_size=1, max_size=3, unique=True)
    elif field.kind == "money":
        value = st.integers(-100_000, 1_000_000).map(builder.fen_to_yuan)
    elif field.kind == "number":
        value = st.integers(-50, 50).map(str) | st.sampled_from(["2.5", "0.25", "-1.5"])
    elif op in builder.HOURS_AGO:
        value = st.integers(0, 20_000).map(str) | st.sampled_from(["0.5", "36.25"])
    elif field.kind == "datetime":
        value = st.sampled_from(TIMES)
    elif field.kind == "enum":
        value = st.sampled_from(field.values)
    elif op == "matches":
        value = st.sampled_from(PATTERNS)
    else:
        value = st.sampled_from(TEXTS)

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        made = rule(field.path, op, draw(value))
        if op == "between":
            low = builder.yuan_to_fen(made["value"]) if field.kind == "money" else float(made["value"])
            if field.kind == "money":
                made["value2"] = builder.fen_to_yuan(int(low) + draw(st.integers(0, 10_000)))
            else:
                made["value2"] = str(int(low) + draw(st.integers(1, 20))) if low == int(low) else made["value"]
        if field.kind != "category" and draw(st.booleans()):
            defaults = {"boolean": st.booleans(), "money": st.integers(0, 10_000), "number": st.integers(0, 5)}
            made["default"] = draw(defaults.get(field.kind, st.sampled_from(("", *TEXTS))))
        return made

    return build()


@st.composite
def rules(draw: st.DrawFn) -> dict[str, Any]:
    field = draw(st.sampled_from(builder.PICKER_FIELDS))
    op = draw(st.sampled_from(builder.OPERATORS_BY_KIND[field.kind]))
    return draw(rule_value(field, op))


def groups(depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    child = rules() if depth >= 2 else rules() | st.deferred(lambda: groups(depth + 1))
    return st.builds(
        lambda join, items: {"join": join, "rules": items},
        st.sampled_from(list(builder.JOINS)),
        st.lists(child, min_size=1, max_size=3),
    )


def canonical(item: dict[str, Any], root: bool = True) -> dict[str, Any]:
    """The builder state JSON Logic can keep: an AND or OR group of one rule is that rule (at the top, an
    AND group of it); NOT groups keep their rules as they are."""
    if not builder.is_group(item):
        return item
    items = [canonical(child, root=False) for child in item["rules"]]
    if item["join"] != "none" and len(items) == 1:
        only = items[0]
        if not root or builder.is_group(only):
            return only
        return {"join": "and", "rules": [only]}
    return {"join": item["join"], "rules": items}


@settings(max_examples=300, deadline=None)
@given(groups())
def test_builder_to_json_logic_and_back_is_the_same_builder_state(state):
    logic, problems = builder.to_logic(state)
    assert problems == {}
    assert lift(logic) == canonical(state)


def respell(logic: Any, draw: st.DrawFn) -> Any:
    """The same condition as a person might write it by hand: operands swapped, one region compared with
    ==, a lone category, == true or !! for yes, == false for no, !missing for several not-empty fields."""
    if not isinstance(logic, dict) or len(logic) != 1:
        return logic
    ((op, args),) = logic.items()
    if op in ("and", "or"):
        spelled = [respell(arg, draw) for arg in args]
        names = [
            a["!!"]["var"]
            for a in args
            if isinstance(a, dict) and set(a) == {"!!"} and isinstance(a["!!"].get("var"), str)
        ]
        texts = [
            n
            for n in names
            if (f := builder.picker_field(n)) is not None and f.kind in ("string", "enum", "province", "phone")
        ]
        if op == "and" and len(texts) == len(args) and draw(st.booleans()):
            return {"!": {"missing": texts}}
        return {op: spelled}
    if op == "!" and isinstance(args, dict) and set(args) == {"or"}:
        inner = {"or": [respell(arg, draw) for arg in args["or"]]}
        return {"!": inner["or"][0]} if len(inner["or"]) == 1 and draw(st.booleans()) else {"!": inner}
    if op in (">", ">=", "<", "<=", "==", "!=") and isinstance(args, list) and len(args) == 2:
        subject, literal = args
        if op == "==" and isinstance(literal, bool) and literal is True:
            return draw(st.sampled_from([logic, {"!!": subject}, {"===": [subject, True]}, {"!=": [subject, False]}]))
        if isinstance(subject, dict) and not isinstance(literal, dict | list) and draw(st.booleans()):
            mirrored = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "==": "==", "!=": "!="}[op]
            return {mirrored: [literal, subject]}
    if (
        op == "in"
        and isinstance(args[0], dict)
        and "region_of" in args[0]
        and len(args[1]) == 1
        and draw(st.booleans())
    ):
        return {"==": [args[0], args[1][0]]}
    if op == "any_line_in_category" and len(args[1]) == 1 and draw(st.booleans()):
        return {op: [args[0], args[1][0]]}
    if op == "!" and isinstance(args, dict) and set(args) == {"var"}:
        path = args["var"] if isinstance(args["var"], str) else args["var"][0]
        field = builder.picker_field(path)
        if field is not None and field.kind == "boolean" and draw(st.booleans()):
            return {"==": [args, False]}
    return logic


@settings(max_examples=150, deadline=None)
@given(groups(), st.data())
def test_hand_written_logic_lifts_and_what_it_writes_back_decides_alike(state, data):
    logic, _ = builder.to_logic(state)
    original = respell(logic, data.draw)
    assert_decides_alike(original, written_back(original))


# ------------------------------------------------------------------------------------ the templates


def template_conditions() -> list[tuple[str, Any]]:
    found = []
    for summary in ruleflows.list_templates():
        for node in ruleflows.load_template(summary["key"])["nodes"]:
            config = node.get("config") or {}
            if node["type"] == "condition":
                found.append((f"{summary['key']}:{node['id']}", config.get("logic")))
            elif node["type"] == "switch":
                found += [(f"{summary['key']}:{node['id']}:{b['id']}", b.get("logic")) for b in config["branches"]]
    return found


@pytest.mark.parametrize(("where", "logic"), template_conditions(), ids=[w for w, _ in template_conditions()])
def test_every_condition_and_branch_of_every_shipped_template_opens_as_a_form(where, logic):
    assert lift(logic) is not None, where
    assert_decides_alike(logic, written_back(logic))


def test_the_same_address_rule_of_the_standard_template_reads_3_and_writes_5_keeping_its_default():
    template = ruleflows.load_template("standard_four_stage")
    logic = next(n for n in template["nodes"] if n["id"] == "audit_same_address")["config"]["logic"]
    lifted = lift(logic)
    assert lifted == tree(rule("features.same_address_24h", "gt", "3", default=0))
    lifted["rules"][0]["value"] = "5"
    assert builder.to_logic(lifted)[0] == {">": [{"var": ["features.same_address_24h", 0]}, 5]}


def test_the_form_keeps_a_rows_default_while_the_row_keeps_its_field():
    kept = '["features.same_address_24h", 0]'
    form = {"rows": ["c", "c.0"], "kind:c": "group", "join:c": "none", "kind:c.0": "rule", "default:c.0": kept}
    same = builder.read_form({**form, "field:c.0": "features.same_address_24h", "op:c.0": "gt", "value:c.0": "5"}, "c")
    assert same == tree(rule("features.same_address_24h", "gt", "5", default=0), join="none")
    assert builder.to_logic(same)[0] == {"!": {"or": [{">": [{"var": ["features.same_address_24h", 0]}, 5]}]}}
    other = builder.read_form({**form, "field:c.0": "features.weight_g", "op:c.0": "gt", "value:c.0": "5"}, "c")
    assert other == tree(rule("features.weight_g", "gt", "5"), join="none")

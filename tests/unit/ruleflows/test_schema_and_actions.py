"""The published order context schema and action catalogue."""

from __future__ import annotations

import json

import pytest

from ruleflows import ACTION_CATALOGUE, ORDER_CONTEXT_SCHEMA, order_context_schema
from ruleflows.actions import apply_to_decisions, check_params
from ruleflows.schema import FIELD_TYPES, field_at, is_known_path


def paths() -> set[str]:
    return {field["path"] for field in ORDER_CONTEXT_SCHEMA["fields"]}


def test_schema_is_json_and_every_field_is_labelled() -> None:
    json.dumps(ORDER_CONTEXT_SCHEMA, ensure_ascii=False)
    for field in ORDER_CONTEXT_SCHEMA["fields"]:
        assert field["type"] in FIELD_TYPES
        assert field["label_zh"] and field["label_en"]
        if field["type"] == "enum":
            assert field["values"]


@pytest.mark.parametrize(
    "path",
    [
        "order.channel",
        "order.shop_id",
        "order.external_id",
        "order.raw_status",
        "order.status",
        "order.created_at",
        "order.paid_at",
        "order.buyer.nick",
        "order.buyer.customer_id",
        "order.receiver.phone_masked",
        "order.receiver.town",
        "order.amounts.paid_fen",
        "order.lines[].bundle_of",
        "order.lines[].category",
        "order.lines[].weight_g",
        "order.presale.balance_due_at",
        "order.buyer_message",
        "order.seller_memo",
        "order.tags",
        "features.region",
        "features.stock_by_warehouse",
        "features.hours_since_paid",
        "features.categories",
        "decisions.warehouse",
        "decisions.carrier",
        "decisions.hold",
        "decisions.tags",
        "decisions.priority",
        "decisions.gifts",
    ],
)
def test_schema_covers_the_canonical_order_features_and_decisions(path: str) -> None:
    assert path in paths()


def test_schema_never_exposes_the_phone_ciphertext() -> None:
    assert not is_known_path("order.receiver.phone_cipher")


def test_money_is_in_fen_and_enums_list_their_values() -> None:
    paid, province, channel = (
        field_at(path) or {} for path in ("order.amounts.paid_fen", "order.receiver.province", "order.channel")
    )
    assert paid["type"] == "money_fen"
    assert "上海" in province["values"] and len(province["values"]) == 34
    assert "tmall" in channel["values"]


@pytest.mark.parametrize(
    ("path", "known"),
    [
        ("", True),
        ("order", True),
        ("order.lines", True),
        ("order.lines.0", True),
        ("order.lines.0.sku", True),
        ("features.stock_by_warehouse.SH01", True),
        ("order.lines.x.sku", False),
        ("order.nope", False),
        ("order.channel.length", False),
        ("orders.channel", False),
        ("order.receiver.province.0", False),
    ],
)
def test_var_paths_map_onto_the_schema(path: str, known: bool) -> None:
    assert is_known_path(path) is known


def test_schema_copies_are_independent() -> None:
    copy = order_context_schema()
    copy["fields"].clear()
    assert ORDER_CONTEXT_SCHEMA["fields"]


EXPECTED_ACTIONS = {
    "approve",
    "hold_for_review",
    "cancel",
    "assign_warehouse",
    "assign_carrier",
    "add_gift",
    "expand_bundles",
    "split_by_warehouse",
    "merge_same_buyer",
    "mark_presale",
    "add_tag",
    "set_priority",
    "generate_documents",
    "request_waybill",
    "notify",
    "approve_case",
    "refuse_case",
    "refer_to_supervisor",
}


def test_catalogue_has_every_action_with_labelled_params() -> None:
    assert set(ACTION_CATALOGUE) == EXPECTED_ACTIONS
    json.dumps(ACTION_CATALOGUE, ensure_ascii=False)
    for entry in ACTION_CATALOGUE.values():
        assert entry["label_zh"] and entry["label_en"]
        for param in entry["params"]:
            assert {"name", "type", "required", "label_zh", "label_en"} <= param.keys()


@pytest.mark.parametrize(
    ("action", "params", "codes"),
    [
        ("hold_for_review", {"reason": "x"}, []),
        ("hold_for_review", {}, ["missing_param"]),
        ("approve", {"why": 1}, ["unknown_param"]),
        ("assign_warehouse", {"strategy": "nearest"}, []),
        ("assign_warehouse", {"strategy": "random"}, ["bad_param"]),
        ("assign_warehouse", {}, ["conflicting_params"]),
        ("assign_warehouse", {"code": "SH01", "strategy": "nearest"}, ["conflicting_params"]),
        ("add_gift", {"sku": "G", "qty": 0}, ["bad_param"]),
        ("add_gift", {"sku": "G", "qty": 1.5}, ["bad_param"]),
        ("generate_documents", {"kinds": ["pick_list", "invoice"]}, ["bad_param"]),
        ("mark_presale", {"balance_due_at": "next week"}, ["bad_param"]),
        ("notify", {"template": "t", "via": "email"}, ["bad_param"]),
        ("set_priority", {"level": "high"}, []),
    ],
)
def test_params_are_checked_against_the_action_schema(action: str, params: dict[str, object], codes: list[str]) -> None:
    assert [issue.code for issue in check_params(action, params)] == codes


def test_actions_record_decisions_without_changing_the_old_ones() -> None:
    before: dict[str, object] = {"tags": ["a"]}
    after = apply_to_decisions(before, "add_tag", {"tag": "b"})
    after = apply_to_decisions(after, "add_gift", {"sku": "G", "qty": 1})
    assert before == {"tags": ["a"]}
    assert after == {"tags": ["a", "b"], "gifts": [{"sku": "G", "qty": 1}]}

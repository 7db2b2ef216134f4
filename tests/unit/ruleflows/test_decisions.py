"""The typed decisions a run returns: one field per thing an action decides, frozen, and the same JSON as before."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from ruleflows import ACTION_CATALOGUE, Decisions, Gift, Notification
from ruleflows.actions import apply_to_decisions, check_params, param_specs

FIELDS = {f.name for f in dataclasses.fields(Decisions)}


def sample_params(action: str) -> dict[str, Any]:
    """Valid parameters for a catalogue action (the first of its one-of choices)."""
    samples = {"string": "x", "integer": 2, "datetime": "2026-12-10T16:00:00+00:00", "boolean": True}
    one_of = ACTION_CATALOGUE[action].get("one_of") or []
    params: dict[str, Any] = {}
    for name, spec in param_specs(action).items():
        if name in one_of[1:]:
            continue
        if spec["type"] == "enum":
            params[name] = spec["values"][0]
        elif spec["type"] == "array":
            items = spec.get("items", {})
            params[name] = [items["values"][0]] if items.get("type") == "enum" else ["SF"]
        else:
            params[name] = samples[spec["type"]]
    assert check_params(action, params) == []
    return params


@pytest.mark.parametrize("action", sorted(ACTION_CATALOGUE))
def test_every_catalogue_action_is_recorded_in_typed_fields(action: str) -> None:
    decided = Decisions().apply(action, sample_params(action))
    assert decided != Decisions()
    assert set(decided.json_of(action)) <= FIELDS
    assert decided.to_dict() == decided.json_of(action)


def test_every_field_is_decided_by_some_action() -> None:
    written: set[str] = set()
    for action in ACTION_CATALOGUE:
        written |= set(Decisions().apply(action, sample_params(action)).json_of(action))
    assert written == FIELDS


def test_decisions_cannot_be_changed_after_the_run() -> None:
    decisions = Decisions().apply("add_tag", {"tag": "VIP"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        decisions.hold = True  # type: ignore[misc]
    assert decisions.tags == ("VIP",)
    decisions.to_dict()["tags"].append("changed")
    assert decisions.tags == ("VIP",)


def test_actions_write_the_same_json_keys_flows_and_stored_rows_always_had() -> None:
    decisions = Decisions()
    for action, params in [
        ("approve", {}),
        ("assign_warehouse", {"code": "SH01"}),
        ("assign_carrier", {"strategy": "cheapest", "candidates": ["YTO", "ZTO"]}),
        ("add_gift", {"sku": "GIFT-TOTE-01", "qty": 1}),
        ("add_tag", {"tag": "VIP"}),
        ("add_tag", {"tag": "VIP"}),
        ("generate_documents", {"kinds": ["pick_list", "pick_list", "outbound_order"]}),
        ("notify", {"template": "order_processed", "via": "sms"}),
    ]:
        decisions = decisions.apply(action, params)
    assert decisions.to_dict() == {
        "approved": True,
        "warehouse": "SH01",
        "warehouse_strategy": None,
        "carrier": None,
        "carrier_strategy": "cheapest",
        "carrier_candidates": ["YTO", "ZTO"],
        # Written with the carrier since 按温层拆包 (stored rows without it read as not splitting).
        "split_by_temperature": False,
        "gifts": [{"sku": "GIFT-TOTE-01", "qty": 1}],
        "tags": ["VIP"],
        "documents": ["pick_list", "outbound_order"],
        "notifications": [{"template": "order_processed", "via": "sms"}],
    }


def test_no_decision_is_an_empty_object() -> None:
    assert Decisions().to_dict() == {}
    assert Decisions.from_dict({}) == Decisions()


def test_decisions_survive_a_trip_through_stored_json() -> None:
    decisions = Decisions(
        hold=True,
        hold_reason="地址不完整",
        warehouse_strategy="nearest",
        carrier="SF",
        gifts=(Gift("G1", 2), Gift("G2", 1)),
        presale=True,
        hold_until="2026-12-10T16:00:00+00:00",
        tags=("预售", "VIP"),
        priority="high",
        notifications=(Notification("presale_balance_reminder", "wechat"),),
    )
    stored = json.loads(json.dumps(decisions.to_dict()))
    assert Decisions.from_dict(stored) == decisions


def test_stored_decisions_with_odd_values_are_read_without_raising() -> None:
    decisions = Decisions.from_dict(
        {
            "hold": True,
            "hold_reason": 3,
            "tags": ["ok", 5, None],
            "gifts": [{"sku": "G", "qty": 2.0}, {"sku": "H"}, {"qty": 1}, "junk", {"sku": "I", "qty": float("inf")}],
            "notifications": [{"template": "t"}],
            "carrier_candidates": "SF",
            "something_else": {"deep": [1, 2]},
        }
    )
    assert decisions == Decisions(hold=True, tags=("ok",), gifts=(Gift("G", 2), Gift("H", 1), Gift("I", 1)))


def test_the_presale_hold_time_is_read_as_a_datetime() -> None:
    assert Decisions(hold_until="2026-12-10T16:00:00Z").hold_until_at == datetime(2026, 12, 10, 16, tzinfo=UTC)
    assert Decisions(hold_until="not a time").hold_until_at is None
    assert Decisions().hold_until_at is None


def test_the_json_form_of_an_action_keeps_keys_it_does_not_know() -> None:
    assert apply_to_decisions({"note": "kept"}, "set_priority", {"level": "urgent"}) == {
        "note": "kept",
        "priority": "urgent",
    }

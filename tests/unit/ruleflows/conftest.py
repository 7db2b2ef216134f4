"""Small factories for canonical orders and flow contexts (fresh data for every test)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)

OrderFactory = Callable[..., dict[str, Any]]
ContextFactory = Callable[..., dict[str, Any]]


def _line(line_id: str, sku: str, title: str, qty: int, unit_price_fen: int, **extra: Any) -> dict[str, Any]:
    line = {
        "line_id": line_id,
        "sku": sku,
        "channel_sku_id": f"C-{sku}",
        "title": title,
        "qty": qty,
        "unit_price_fen": unit_price_fen,
        "paid_fen": qty * unit_price_fen,
        "is_gift": False,
        "bundle_of": None,
        "category": "家居",
        "weight_g": 500,
    }
    line.update(extra)
    return line


def _base_order() -> dict[str, Any]:
    return {
        "channel": "tmall",
        "shop_id": "shop-1",
        "external_id": "3312000001",
        "raw_status": "WAIT_SELLER_SEND_GOODS",
        "status": "received",
        "created_at": "2026-11-26T01:58:00+00:00",
        "paid_at": "2026-11-26T02:00:00+00:00",
        "buyer": {"channel_buyer_id": "tb-8812", "nick": "小王", "customer_id": "cust-1"},
        "receiver": {
            "name": "王小明",
            "phone_masked": "138****5678",
            "province": "浙江省",
            "city": "杭州市",
            "district": "西湖区",
            "town": "文新街道",
            "address": "文一西路 100 号",
        },
        "amounts": {"items_fen": 12900, "shipping_fen": 0, "discount_fen": 0, "paid_fen": 12900},
        "lines": [_line("l1", "MUG-01", "陶瓷马克杯", 1, 12900)],
        "presale": {"is_presale": False, "deposit_paid": False, "balance_due_at": None},
        "buyer_message": "",
        "seller_memo": "",
        "tags": [],
    }


def _set(target: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split("__")
    for key in parents:
        target = target[key]
    target[last] = value


@pytest.fixture
def make_order() -> OrderFactory:
    """Build a canonical order; keyword args override fields, ``receiver__province="上海"`` for nesting."""

    def factory(**overrides: Any) -> dict[str, Any]:
        order = copy.deepcopy(_base_order())
        for key, value in overrides.items():
            _set(order, key, value)
        return order

    return factory


@pytest.fixture
def make_line() -> Callable[..., dict[str, Any]]:
    """Build an order line: make_line("l1", "SKU", "title", qty, unit_price_fen, category="3C")."""
    return _line


@pytest.fixture
def make_context(make_order: OrderFactory) -> ContextFactory:
    """Build a flow context {order, features, decisions}; features default to an ordinary order."""

    def factory(order: dict[str, Any] | None = None, **features: Any) -> dict[str, Any]:
        base_features = {
            "region": "华东",
            "weight_g": 500,
            "volume_cm3": 1000,
            "categories": ["家居"],
            "customer_order_count": 1,
            "same_address_24h": 1,
            "stock_by_warehouse": {"SH01": 10},
            "is_urgent": False,
            "hours_since_paid": 8,
            "phone_valid": True,
            "address_complete": True,
        }
        base_features.update(features)
        return {"order": order if order is not None else make_order(), "features": base_features, "decisions": {}}

    return factory


@pytest.fixture
def now() -> datetime:
    """The run clock used by the tests: 2026-11-26 10:00 UTC."""
    return NOW

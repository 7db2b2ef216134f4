"""The Taobao pull asks TOP for every trade field the adapter reads: TOP returns only the fields asked for, so a
trade cut down to the pull's field list reads exactly as the whole trade does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from app.domain.channels.adapters import adapter_for
from app.domain.channels.adapters.taobao import FIELDS
from tests.samples import channels as samples

TRADES: list[Callable[[], dict[str, Any]]] = [
    samples.taobao_multi_line_with_gift,
    samples.taobao_presale_deposit_paid,
    samples.taobao_bundle_partially_refunded,
    samples.taobao_step_trade_deposit_paid,
]


@pytest.mark.parametrize("trade", TRADES, ids=[t.__name__ for t in TRADES])
def test_a_trade_with_only_the_pulled_fields_reads_as_the_whole_trade(trade: Callable[[], dict[str, Any]]):
    whole = trade()
    asked = set(FIELDS.split(","))
    pulled = {key: value for key, value in whole.items() if key in asked}
    adapter = adapter_for("tmall")

    assert replace(adapter.normalize(pulled), raw={}) == replace(adapter.normalize(whole), raw={})

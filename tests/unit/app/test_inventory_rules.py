"""Pure inventory rules: what a shop may publish, and how a typed stock count is read."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.inventory.controllers import parse_count_lines
from app.domain.inventory.services import InventoryError, publishable


@pytest.mark.parametrize(
    ("available", "ratio", "buffer", "shown"),
    [(100, 100, 0, (100, 0)), (100, 50, 5, (45, 0)), (10, 50, 8, (0, 3)), (0, 100, 2, (0, 2)), (7, 30, 0, (2, 0))],
)
def test_a_shop_publishes_its_share_of_the_pool_less_its_buffer(
    available: int, ratio: int, buffer: int, shown: tuple[int, int]
) -> None:
    assert publishable(available, ratio, buffer) == shown


@given(st.integers(-50, 10_000), st.integers(0, 100), st.integers(0, 500))
def test_a_published_quantity_is_never_negative_nor_more_than_is_available(
    available: int, ratio: int, buffer: int
) -> None:
    quantity, shortfall = publishable(available, ratio, buffer)
    assert 0 <= quantity <= max(0, available)
    assert shortfall == 0 or quantity == 0


def test_a_stock_count_is_typed_one_sku_and_quantity_per_line() -> None:
    assert parse_count_lines("SERUM-30 118\n\nMASK-10,40\nCABLE-C1\t7") == {
        "SERUM-30": 118,
        "MASK-10": 40,
        "CABLE-C1": 7,
    }
    with pytest.raises(InventoryError) as refused:
        parse_count_lines("SERUM-30 118\nMASK-10 forty")
    assert "第 2 行" in refused.value.message

"""Channel fixtures: the order hub's shops (one per channel, with a known webhook secret)."""

from __future__ import annotations

from tests.integration.orders.conftest import shops

__all__ = ["shops"]

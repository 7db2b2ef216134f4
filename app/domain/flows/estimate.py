"""An estimate of what shipping an order would cost, to compare a draft flow with the live one.

It prices a parcel from the carriers' rate tables (the same lines routing uses), resolving a flow's
warehouse and carrier decisions the simple way: a strategy picks the first warehouse serving the region,
"cheapest" the carrier with the lowest fee. It is an estimate for comparing two flows on the same orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.domain.fulfillment.models import CarrierRate
from app.domain.fulfillment.services import quotes_from
from ruleflows import Decisions, region_of


@dataclass(frozen=True, slots=True)
class WarehouseInfo:
    """What the estimate needs of a warehouse."""

    code: str
    province: str
    priority: int
    serves_regions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Routing:
    """Where an order would ship from and with whom, as far as a flow's decisions say."""

    warehouse: str | None
    carrier: str | None
    cost_fen: int | None


class ShippingEstimator:
    """Resolves a flow's warehouse and carrier decisions (codes or strategies) and estimates the fee."""

    def __init__(self, warehouses: list[WarehouseInfo], carriers: list[str], rates: list[CarrierRate]) -> None:
        self.warehouses = sorted(warehouses, key=lambda w: (w.priority, w.code))
        self.by_code = {w.code: w for w in warehouses}
        self.carriers = carriers
        self.rates = [rate for rate in rates if rate.carrier_code in set(carriers)]

    def route(self, context: dict[str, Any], decisions: Decisions) -> Routing:
        """The warehouse and carrier the decisions lead to, and the estimated fee (None if undecided)."""
        order: dict[str, Any] = context["order"] if isinstance(context.get("order"), dict) else {}
        receiver: dict[str, Any] = order["receiver"] if isinstance(order.get("receiver"), dict) else {}
        province = str(receiver.get("province") or "")
        region = region_of(province) if province else None
        weight = context.get("features", {}).get("weight_g") if isinstance(context.get("features"), dict) else None
        warehouse = self._warehouse(decisions, region)
        if warehouse is None:
            return Routing(None, self._carrier(decisions, None, province, 0), None)
        carrier = self._carrier(decisions, warehouse, province, int(weight or 0))
        if carrier is None:
            return Routing(warehouse, None, None)
        return Routing(warehouse, carrier, self.fee(carrier, warehouse, province, int(weight or 0)))

    def _quotes(self, warehouse: str, province: str, weight_g: int) -> dict[str, int]:
        info = self.by_code.get(warehouse)
        found = quotes_from(
            self.rates,
            origin_province=info.province if info else "",
            dest_province=province,
            weight_g=weight_g,
            temperature_zone="ambient",
        )
        return {quote.carrier_code: quote.fee_fen for quote in found}

    def fee(self, carrier: str, warehouse: str, province: str, weight_g: int) -> int | None:
        """Fee in fen for one parcel by the carrier's rate table; None when it has no line for the lane."""
        return self._quotes(warehouse, province, weight_g).get(carrier)

    def _warehouse(self, decisions: Decisions, region: str | None) -> str | None:
        if decisions.warehouse:
            return decisions.warehouse
        strategy = decisions.warehouse_strategy
        if not strategy or not self.warehouses:
            return None
        if strategy in ("nearest", "cheapest") and region is not None:
            for warehouse in self.warehouses:
                if region in warehouse.serves_regions:
                    return warehouse.code
        return self.warehouses[0].code

    def _carrier(self, decisions: Decisions, warehouse: str | None, province: str, weight_g: int) -> str | None:
        if decisions.carrier:
            return decisions.carrier
        strategy = decisions.carrier_strategy
        if not strategy:
            return None
        candidates = list(decisions.carrier_candidates) or self.carriers
        if strategy == "fastest":
            return "SF" if "SF" in candidates else (candidates[0] if candidates else None)
        fees = self._quotes(warehouse, province, weight_g) if warehouse else {}
        priced = [c for c in candidates if c in fees]
        if not priced:
            return candidates[0] if candidates else None
        return min(priced, key=lambda c: (fees[c], c))

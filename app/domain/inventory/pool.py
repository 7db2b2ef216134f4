"""The stock pool: available units per warehouse and component SKU, as plain data.

Routing checks a plan against a pool (``fulfillment.routing``); processing loads one from the stock table
before it reserves (:func:`app.domain.inventory.services.load_pool`), and a backtest takes from one order
after order so that each replayed order sees the stock the earlier ones left. Pure: no database here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol


class Wanted(Protocol):
    """Something to take from the pool: a key (the order line), a SKU and a quantity."""

    @property
    def key(self) -> str: ...

    @property
    def sku(self) -> str: ...

    @property
    def qty(self) -> int: ...


Taken = list[tuple[str, str, int]]  # (warehouse, component SKU, units)


class StockPool:
    """Available units per warehouse and component SKU, with the bundles' recipes.

    Routing checks a plan against it; processing loads one for a whole batch and takes from it as each order
    reserves (undoing an order's changes when that order is rolled back); a backtest takes from one order
    after order so that each replayed order sees the stock the earlier ones left.
    """

    def __init__(
        self,
        available: Mapping[str, Mapping[str, int]],
        bundles: Mapping[str, Sequence[tuple[str, int]]],
        known: Iterable[str] = (),
    ) -> None:
        self.available: dict[str, dict[str, int]] = {code: dict(units) for code, units in available.items()}
        self.bundles: dict[str, list[tuple[str, int]]] = {code: list(parts) for code, parts in bundles.items()}
        #: The SKU codes whose stock was read into the pool (a SKU not known has none as far as it can tell).
        self.known: set[str] = set(known)
        self._journal: list[tuple[str, str, int]] = []
        self._generation = 0

    def parts(self, sku: str, qty: int) -> list[tuple[str, int]]:
        """The component units ``qty`` of ``sku`` take (a plain SKU is its own single component)."""
        return [(part, qty * per_unit) for part, per_unit in self.bundles.get(sku, [(sku, 1)])]

    def parts_of(self, skus: Iterable[str]) -> set[str]:
        """The component SKUs of those of ``skus`` that are bundles."""
        return {part for sku in skus for part, _ in self.bundles.get(sku, ())}

    def wanted(self, items: Iterable[Wanted]) -> dict[str, int]:
        units: dict[str, int] = defaultdict(int)
        for item in items:
            for part, count in self.parts(item.sku, item.qty):
                units[part] += count
        return units

    def fits(self, code: str, items: Iterable[Wanted]) -> bool:
        """Whether the warehouse has every item (components counted together)."""
        have = self.available.get(code, {})
        return all(have.get(part, 0) >= units for part, units in self.wanted(items).items())

    def _change(self, code: str, part: str, delta: int) -> None:
        units = self.available.setdefault(code, {})
        units[part] = units.get(part, 0) + delta
        self._journal.append((code, part, delta))

    def take(self, plan: Mapping[str, str], items: Iterable[Wanted]) -> Taken:
        """Take the items from the warehouses the plan names (all of them; the caller checked they fit)."""
        taken: Taken = []
        for item in items:
            code = plan[item.key]
            for part, units in self.parts(item.sku, item.qty):
                self._change(code, part, -units)
                taken.append((code, part, units))
        return taken

    def give_back(self, taken: Taken) -> None:
        """Undo :meth:`take` (the order was held after all)."""
        for code, part, units in taken:
            self._change(code, part, units)

    def add(self, code: str, part: str, units: int) -> None:
        """Count units an order holds itself as available to it again (it is being routed anew)."""
        self._change(code, part, units)

    def mark(self) -> tuple[int, int]:
        """A point to :meth:`undo` back to."""
        return self._generation, len(self._journal)

    def undo(self, mark: tuple[int, int]) -> None:
        """Undo every change since ``mark`` (an order rolled back to its savepoint)."""
        generation, length = mark
        if generation != self._generation:
            return  # read again from the database since: what it read is what is there
        while len(self._journal) > length:
            code, part, delta = self._journal.pop()
            self.available[code][part] -= delta

    def refresh(self, other: StockPool) -> None:
        """Take over what ``other`` read (fresher figures, or SKUs this pool did not know)."""
        for code, units in other.available.items():
            self.available.setdefault(code, {}).update(units)
        self.bundles.update(other.bundles)
        self.known |= other.known
        self._journal.clear()
        self._generation += 1

    def by_warehouse(self, skus: Iterable[str], warehouses: Iterable[str]) -> dict[str, dict[str, int]]:
        """What a flow reads as ``features.stock_by_warehouse``: units per warehouse and SKU, a bundle as the
        number of whole bundles its components make."""
        codes = sorted(set(skus))
        view: dict[str, dict[str, int]] = {}
        for warehouse in warehouses:
            have = self.available.get(warehouse, {})
            view[warehouse] = {
                sku: min(have.get(part, 0) // per_unit for part, per_unit in self.bundles.get(sku, [(sku, 1)]))
                for sku in codes
            }
        return view

"""The expected side of reconciliation: which unit owes which item, from the catalogue in force.

Every addressable assignment (placeholders such as 市级有关单位 excluded, a unit named twice
in one item counted once, with the role of its first mention). Derived once per catalogue
(a catalogue is immutable): at province scale that is 200,000 assignments, read by the
reconciliation, the status table and the notices in the same process.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property

from duban.domain import Catalogue, Role
from duban.store.fetch import no_gc

__all__ = ["ExpectedIndex", "assignment_role", "expected_index", "expected_pairs", "unit_items"]


class ExpectedIndex:
    """What reconciliation and the notices look up in a catalogue, derived once per catalogue.

    A catalogue is immutable. At province scale it holds 200,000 assignments, so only the
    per-unit item lists and the leads are built at once; the rest when first asked for.
    """

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        by_unit: dict[str, list[str]] = {}
        leads: dict[str, frozenset[str]] = {}
        count = 0
        for it in catalogue.items:
            item_id = it.id
            seen: set[str] = set()
            lead: set[str] = set()
            for a in it.assignments:
                unit = a.unit
                if a.placeholder or unit in seen:
                    continue
                seen.add(unit)
                mine = by_unit.get(unit)
                if mine is None:
                    by_unit[unit] = [item_id]
                else:
                    mine.append(item_id)
                if a.role is Role.LEAD:
                    lead.add(unit)
            count += len(seen)
            leads[item_id] = frozenset(lead)
        self.count = count
        self.leads = leads  # item id → its lead units
        self.by_unit = {u: tuple(items) for u, items in sorted(by_unit.items())}  # in catalogue order

    @cached_property
    def pairs(self) -> tuple[tuple[str, str, Role], ...]:
        """(item id, unit, role) in catalogue order; built when first asked for (the ledger, the bulletin)."""
        out: list[tuple[str, str, Role]] = []
        with no_gc():
            for it in self.catalogue.items:
                seen: set[str] = set()
                for a in it.assignments:
                    if not (a.placeholder or a.unit in seen):
                        seen.add(a.unit)
                        out.append((it.id, a.unit, a.role))
            return tuple(out)

    @cached_property
    def assigned(self) -> dict[str, frozenset[str]]:
        """unit → its item ids, for membership tests."""
        return {u: frozenset(items) for u, items in self.by_unit.items()}


#: id(catalogue) → its index (which holds the catalogue, so the id stays its own).
_INDEX: dict[int, ExpectedIndex] = {}


def expected_index(catalogue: Catalogue) -> ExpectedIndex:
    """The catalogue's index, built on first use."""
    hit = _INDEX.get(id(catalogue))
    if hit is not None and hit.catalogue is catalogue:
        return hit
    with no_gc():  # 200,000 assignments at province scale, no cycles among them
        index = ExpectedIndex(catalogue)
    if len(_INDEX) >= 4:
        _INDEX.clear()
    _INDEX[id(catalogue)] = index
    return index


def expected_pairs(catalogue: Catalogue) -> list[tuple[str, str, Role]]:
    """(item id, unit, role) for every addressable assignment, in catalogue order."""
    return list(expected_index(catalogue).pairs)


def unit_items(catalogue: Catalogue) -> Mapping[str, tuple[str, ...]]:
    """unit → its item ids in catalogue order, units sorted: the pairs of ``expected_pairs`` by unit.

    Computed once per catalogue and shared: do not modify it.
    """
    return expected_index(catalogue).by_unit


def assignment_role(catalogue: Catalogue, unit: str, item_id: str) -> Role:
    """The unit's role in the item, as ``expected_pairs`` gives it (its first assignment there)."""
    return Role.LEAD if unit in expected_index(catalogue).leads.get(item_id, ()) else Role.CO

"""What changed between two catalogue versions, item by item.

An amended plan becomes a new catalogue version; before it takes effect the operations team
wants to see what moved: tasks added or removed, tasks retitled, and assignments changed
(a unit added or dropped, a lead changed, the order changed). Items are matched by their
stable id, so a retitled task is a retitle, not a removal plus an addition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from duban.domain import Catalogue, Item

__all__ = ["CatalogueDiff", "diff_catalogues"]


def _assignment_key(item: Item) -> tuple[tuple[str, str, bool], ...]:
    return tuple((a.unit, str(a.role), a.placeholder) for a in item.assignments)


def _units(item: Item) -> str:
    return "、".join(f"{a.unit}({a.role})" for a in item.assignments)


@dataclass
class CatalogueDiff:
    """Items added, removed, retitled, reassigned (units, roles or order) and otherwise revised.

    ``revised`` holds items whose title and assignments are unchanged but whose text,
    deadline or place (part/section) changed; a retitled item is not listed there again.
    """

    added: list[Item] = field(default_factory=list)
    removed: list[Item] = field(default_factory=list)
    retitled: list[tuple[Item, Item]] = field(default_factory=list)
    reassigned: list[tuple[Item, Item]] = field(default_factory=list)
    revised: list[tuple[Item, Item]] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.retitled or self.reassigned or self.revised)

    def lines(self) -> list[str]:
        """One human-readable line per change, for the CLI and logs."""
        out = [f"+ {i.id} {i.title} [{_units(i)}]" for i in self.added]
        out += [f"- {i.id} {i.title}" for i in self.removed]
        out += [f"~ {old.id} title: {old.title} → {new.title}" for old, new in self.retitled]
        out += [f"~ {old.id} units: {_units(old)} → {_units(new)}" for old, new in self.reassigned]
        out += [f"~ {old.id} text/deadline/place revised" for old, _ in self.revised]
        return out


def diff_catalogues(old: Catalogue, new: Catalogue) -> CatalogueDiff:
    """Compare two catalogues by item id; lists keep the new document's order (removed: the old's).

    Compare like with like: both as parsed (raw names) or both resolved against the directory.
    """
    old_items = {i.id: i for i in old.items}
    new_ids = {i.id for i in new.items}
    diff = CatalogueDiff()
    for item in new.items:
        before = old_items.get(item.id)
        if before is None:
            diff.added.append(item)
            continue
        if before.title != item.title:
            diff.retitled.append((before, item))
        if _assignment_key(before) != _assignment_key(item):
            diff.reassigned.append((before, item))
        elif before.title == item.title and (
            before.text,
            before.deadline,
            before.part_key,
            before.section_key,
            before.number,
        ) != (item.text, item.deadline, item.part_key, item.section_key, item.number):
            diff.revised.append((before, item))
    diff.removed = [i for i in old.items if i.id not in new_ids]
    return diff

"""The current entries of a period: per (unit, item), what the latest-received accepted submission says.

Every stage after collection starts from this read (reconciliation, the status table, the
notice plan and its per-unit re-check, the ledger, the bulletin), and at province scale it is
200,000 rows from a few thousand submissions. So it reads only the columns asked for, takes
the rows as plain tuples from the driver (``plain_rows``), converts each submission's
timestamp once instead of once per row, and builds its objects with the cyclic garbage
collector paused (they hold no cycles; the collector would only walk them again and again).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Select, bindparam, select

from duban.store.db import Store, to_shanghai
from duban.store.fetch import no_gc, plain_rows
from duban.store.models import SubmissionItemRow, SubmissionRow

__all__ = ["TEXTS", "Current", "Entry", "current_entries", "read_current", "received_items", "to_shanghai"]

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: The free-text fields of an entry; ``current_entries(texts=...)`` reads only those asked for.
TEXTS = ("narrative", "problems", "next_steps", "coordination")
#: Columns ``read_current`` may add to every row after (submission id, unit, item id).
COLUMNS = ("status", "progress", "valid", *TEXTS)


@dataclass(slots=True)
class Entry:
    """The current accepted entry of one unit for one item."""

    unit: str
    item_id: str
    status: str | None
    progress: float | None
    narrative: str
    problems: str
    next_steps: str
    coordination: str
    valid: bool
    received_at: datetime
    submission_id: int
    source_ref: str


@dataclass
class Current:
    """What ``read_current`` found: per unit, item id → row; and submission id → (received at, source ref).

    Each row is (submission id, unit, item id, *columns) in the order the columns were asked for.
    Grouped by unit because every reader works unit by unit (the status table, the notices).
    """

    columns: tuple[str, ...]
    units: dict[str, dict[str, tuple[Any, ...]]]
    received: dict[int, tuple[datetime, str]]

    def rows(self) -> Iterator[tuple[Any, ...]]:
        for items in self.units.values():
            yield from items.values()


def _at(value: Any) -> datetime:
    # SQLite hands back the stored text, PostgreSQL a timestamptz
    return to_shanghai(datetime.fromisoformat(value) if isinstance(value, str) else value)


def _submissions_query(one_unit: bool) -> Select[Any]:
    s = SubmissionRow
    q = select(s.id, s.received_at, s.source_ref).where(
        s.state == "accepted", s.period == bindparam("period")
    )
    return q.where(s.unit == bindparam("unit")) if one_unit else q


def _items_query(columns: tuple[str, ...], one_unit: bool) -> Select[Any]:
    i, s = SubmissionItemRow, SubmissionRow
    q = (
        select(i.submission_id, i.unit, i.item_id, *(getattr(i, c) for c in columns))
        .join(s, s.id == i.submission_id)
        .where(s.state == "accepted", i.period == bindparam("period"))
    )
    # by unit: the (period, unit) index gives that order for free
    return q.where(i.unit == bindparam("unit")) if one_unit else q.order_by(i.unit)


def _received(conn: Connection, one_unit: bool, params: dict[str, Any]) -> dict[int, tuple[datetime, str]]:
    rows = plain_rows(conn, ("current.submissions", one_unit), lambda: _submissions_query(one_unit), params)
    return {sid: (_at(at), ref) for sid, at, ref in rows}


def _received_by_id(conn: Connection, ids: list[int]) -> dict[int, tuple[datetime, str]]:
    """The rare rest: items filed under another period than their submission, or accepted meanwhile."""
    s, out = SubmissionRow, {}
    for n in range(0, len(ids), 500):
        q = select(s.id, s.received_at, s.source_ref).where(s.id.in_(ids[n : n + 500]))
        out.update({sid: (_at(at), ref) for sid, at, ref in conn.execute(q)})
    return out


def read_current(store: Store, period: str, columns: tuple[str, ...], *, unit: str | None = None) -> Current:
    """The latest accepted row per (unit, item) of ``period`` (of one unit if given), with ``columns``."""
    unknown = set(columns) - set(COLUMNS)
    if unknown:
        raise ValueError(f"unknown columns: {sorted(unknown)}")
    one = unit is not None
    params = {"period": period, "unit": unit}
    with store.engine.connect() as conn:
        received = _received(conn, one, params)
        rows = plain_rows(conn, ("current.items", columns, one), lambda: _items_query(columns, one), params)
        received.update(_received_by_id(conn, sorted({r[0] for r in rows} - received.keys())))
    units: dict[str, dict[str, tuple[Any, ...]]] = {}
    rank: dict[int, tuple[datetime, int]] = {}
    with no_gc():
        for u, group in groupby(rows, itemgetter(1)):
            grouped = list(group)
            if u in units:  # a unit's rows not adjacent after all: merge with what was kept
                grouped = [*units[u].values(), *grouped]
            latest = {r[2]: r for r in grouped}
            if len(latest) < len(grouped):  # an item in two accepted submissions: the latest wins
                if not rank:
                    rank = {sid: (at, sid) for sid, (at, _ref) in received.items()}
                grouped.sort(key=lambda r: rank[r[0]])
                latest = {r[2]: r for r in grouped}
            units[u] = latest
    return Current(columns, units, received)


def _keys_query(one_unit: bool) -> Select[Any]:
    i, s = SubmissionItemRow, SubmissionRow
    q = (
        select(i.unit, i.item_id)
        .join(s, s.id == i.submission_id)
        .where(s.state == "accepted", i.period == bindparam("period"))
    )
    return q.where(i.unit == bindparam("unit")) if one_unit else q.order_by(i.unit)


def received_items(store: Store, period: str, *, unit: str | None = None) -> dict[str, set[str]]:
    """unit → the item ids it has an accepted entry for in ``period`` (one unit's if given).

    All the notices need: what is still owed, not what was said or when.
    """
    one = unit is not None
    with store.engine.connect() as conn:
        rows = plain_rows(
            conn, ("current.keys", one), lambda: _keys_query(one), {"period": period, "unit": unit}
        )
    out: dict[str, set[str]] = {}
    with no_gc():
        for u, group in groupby(rows, itemgetter(0)):
            items = {r[1] for r in group}
            out[u] = out[u] | items if u in out else items
    return out


def current_entries(
    store: Store, period: str, *, unit: str | None = None, texts: tuple[str, ...] = TEXTS
) -> dict[tuple[str, str], Entry]:
    """(unit, item id) → the entry from the latest-received accepted submission (of one unit if given).

    ``texts`` names the free-text fields to read (a subset of ``TEXTS``); the others are left
    empty: most readers need none of them, and at province scale they are most of what a
    query would read and hold.
    """
    unknown = set(texts) - set(TEXTS)
    if unknown:
        raise ValueError(f"unknown text fields: {sorted(unknown)}")
    wanted = tuple(t for t in TEXTS if t in texts)
    cur = read_current(store, period, ("status", "progress", "valid", *wanted), unit=unit)
    slots = [TEXTS.index(t) for t in wanted]
    received = cur.received
    out: dict[tuple[str, str], Entry] = {}
    with no_gc():
        if not slots:
            for sid, u, item_id, status, progress, valid in cur.rows():
                at, ref = received[sid]
                out[(u, item_id)] = Entry(
                    u, item_id, status, progress, "", "", "", "", bool(valid), at, sid, ref
                )
            return out
        for row in cur.rows():
            sid, u, item_id, status, progress, valid = row[:6]
            at, ref = received[sid]
            text = ["", "", "", ""]
            for k, value in zip(slots, row[6:], strict=True):
                text[k] = value or ""
            out[(u, item_id)] = Entry(
                u, item_id, status, progress, text[0], text[1], text[2], text[3], bool(valid), at, sid, ref
            )
    return out

"""Row builders shared by file and API intake: submissions' items and findings, and superseding.

Rows are plain tuples inserted through the driver's ``executemany`` (``duban.store.bulk``, one
statement per table per batch): at 200,000 rows a quarter, ORM objects per row cost more than
reading the files, and a reader process storing every ~30 files paid as much for SQLAlchemy's
per-statement work as for SQLite's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from duban.domain import Finding, FindingKind, ReportedItem
from duban.store.bulk import execute_many, insert_rows
from duban.store.db import to_shanghai
from duban.store.fetch import plain_query
from duban.store.models import FindingRow, SubmissionRow

__all__ = [
    "FINDING_COLUMNS",
    "ITEM_COLUMNS",
    "ITEM_FIELDS",
    "SUBMISSION_COLUMNS",
    "Outcome",
    "Received",
    "Rival",
    "finding_tuples",
    "item_rows",
    "jsonable",
    "jsonable_dict",
    "key_ranges",
    "read_rivals",
    "settle_rivals",
    "stored_keys",
    "text_value",
    "with_owner",
]

SUBMISSION = SubmissionRow.__table__
FINDING = FindingRow.__table__


@dataclass
class Received:
    """Where and when something arrived."""

    source: str
    source_ref: str
    received_at: datetime
    sha256: str | None = None
    size_bytes: int | None = None
    raw_path: str | None = None
    sheet: str | None = None


@dataclass
class Outcome:
    submission_id: int
    state: str
    created: bool
    superseded: list[int] = field(default_factory=list)


def text_value(v: Any) -> Any:
    """Text for a text column: PostgreSQL cannot store NUL (0x00), which a cell or an API record
    may carry; it becomes U+FFFD there (``raw_rows`` keep the value as received)."""
    return v.replace("\x00", "\ufffd") if isinstance(v, str) and "\x00" in v else v


#: Classes ``jsonable`` returns as they are (tested by class first: most values are one of them).
_PLAIN = frozenset({str, int, float, bool, type(None)})


def jsonable(v: Any) -> Any:
    if v is None or isinstance(v, str | int | float | bool):
        return v
    return str(v)


def jsonable_dict(d: dict[str, Any]) -> dict[str, Any]:
    """``{k: jsonable(v)}``: the dict itself when every value is plain already (no copy)."""
    for v in d.values():
        if v.__class__ not in _PLAIN:
            return {k: jsonable(v) for k, v in d.items()}
    return d


#: Columns of ``finding_tuples``' tuples (inserted with ``duban.store.bulk.insert_rows``).
FINDING_COLUMNS = (
    "period",
    "origin",
    "kind",
    "unit",
    "item_id",
    "submission_id",
    "message_zh",
    "message_en",
    "evidence",
    "created_at",
)


def finding_tuples(
    findings: Sequence[Finding], *, period: str | None, submission_id: int | None, origin: str, at: datetime
) -> list[tuple[Any, ...]]:
    """Findings of one submission as ``FINDING_COLUMNS`` tuples."""
    return [
        (
            f.period or period,
            origin,
            str(f.kind),
            text_value(f.unit),
            text_value(f.item_id),
            submission_id,
            text_value(f.message_zh),
            text_value(f.message_en),
            jsonable_dict(f.evidence),
            at,
        )
        for f in findings
    ]


#: Columns of a new submission's row (``intake._submission_row``, ``records._row``).
SUBMISSION_COLUMNS = (
    "dedupe_key",
    "period",
    "unit",
    "unit_raw",
    "source",
    "source_ref",
    "sheet",
    "sha256",
    "size_bytes",
    "raw_path",
    "received_at",
    "stored_at",
    "state",
    "reason",
    "catalogue_version",
    "meta",
    "raw_rows",
)


#: Columns of an item row as inserted: the submission's id, then ``ITEM_FIELDS``.
ITEM_COLUMNS = (
    "submission_id",
    "period",
    "unit",
    "item_id",
    "status",
    "progress",
    "narrative",
    "problems",
    "next_steps",
    "coordination",
    "reporter",
    "phone",
    "row",
    "sheet",
    "match_method",
    "match_score",
    "valid",
)


#: ReportedItem's text fields that go to text columns (``text_value``).
_ITEM_TEXTS = (
    "item_id",
    "status",
    "narrative",
    "problems",
    "next_steps",
    "coordination",
    "reporter",
    "phone",
    "sheet",
)

#: Columns of ``item_rows``' tuples: a reader process builds them before the submission has an
#: id, which the writer puts in front (``with_owner``).
ITEM_FIELDS = ITEM_COLUMNS[1:]


def item_rows(
    items: Sequence[ReportedItem], findings: Sequence[Finding], period: str, unit: str
) -> list[tuple[Any, ...]]:
    """Items of one submission as ``ITEM_FIELDS`` tuples; a row named by an INVALID_VALUE finding
    is stored ``valid=False``. Pure, so a reader process builds them and the writer only inserts."""
    invalid = {f.evidence.get("row") for f in findings if f.kind is FindingKind.INVALID_VALUE}
    out = []
    for it in items:
        # one NUL test over all texts at once (None formats as "None"); a copy through text_value
        # only for the rare item that has one
        if "\x00" in (
            f"{it.item_id}{it.status}{it.narrative}{it.problems}{it.next_steps}{it.coordination}"
            f"{it.reporter}{it.phone}{it.sheet}"
        ):
            it = replace(it, **{name: text_value(getattr(it, name)) for name in _ITEM_TEXTS})
        n = it.row
        out.append(
            (
                period,
                unit,
                it.item_id,
                it.status,
                it.progress,
                it.narrative,
                it.problems,
                it.next_steps,
                it.coordination,
                it.reporter,
                it.phone,
                n,
                it.sheet,
                it.match_method,
                it.match_score,
                n is None or n not in invalid,
            )
        )
    return out


def with_owner(submission_id: int, rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """``item_rows`` as ``ITEM_COLUMNS`` rows of the submission stored as ``submission_id``."""
    return [(submission_id, *r) for r in rows]


def stored_keys(s: Session, keys: Sequence[str]) -> dict[str, tuple[int, str]]:
    """{dedupe key: (id, state)} of the submissions stored under any of ``keys`` (no duplicates)."""
    out: dict[str, tuple[int, str]] = {}
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        marks = ", ".join("?" * len(chunk))
        sql = f"SELECT dedupe_key, id, state FROM submission WHERE dedupe_key IN ({marks})"
        out.update((k, (sub_id, state)) for k, sub_id, state in plain_query(s, sql, chunk))
    return out


def key_ranges(stems: Sequence[str]) -> tuple[str, list[str]]:
    """SQL (written with ``?``, for ``plain_query``) and its parameters for dedupe keys that start
    with any ``stem + ":"``.

    Ranges on the unique dedupe_key index (";" follows ":"), not LIKE, which SQLite cannot serve
    from a case-sensitive index; plain text because hundreds of ranges as SQLAlchemy
    expressions, or even as one ``text()`` with named parameters, cost more than the query.
    """
    sql = " OR ".join(["(dedupe_key >= ? AND dedupe_key < ?)"] * len(stems))
    return f"({sql})", [bound for stem in stems for bound in (f"{stem}:", f"{stem};")]


def _when(v: datetime) -> datetime:
    """Comparable arrival time: aware values (PostgreSQL) in UTC, naive ones (SQLite) as stored."""
    return v.astimezone(UTC).replace(tzinfo=None) if v.tzinfo else v


class Rival(NamedTuple):
    """An accepted submission competing with others for the same unit and period (or record)."""

    id: int
    unit: str | None
    period: str | None
    source: str
    source_ref: str
    received_at: datetime


#: dialect → the converter of a stored ``received_at`` as the driver gives it (None: as is).
_ARRIVAL: WeakKeyDictionary[Dialect, Callable[[Any], Any] | None] = WeakKeyDictionary()


def read_rivals(s: Session, sql: str, params: Sequence[Any], key: Callable[[Rival], Hashable]) -> list[Rival]:
    """The rows of ``sql`` (``id, unit, period, source, source_ref, received_at``, ``?`` markers)
    whose ``key`` is shared with another row, in the order read, for ``settle_rivals``.

    Run through the driver (the statement's IN lists change shape every batch, so compiling it
    cost more than running it); ``received_at`` is converted only for rows that compete, by the
    column type's own result processor (text from SQLite, ``datetime`` from PostgreSQL).
    """
    conn = s.connection()
    rows = [Rival(*r) for r in plain_query(conn, sql, params)]
    counts: dict[Hashable, int] = defaultdict(int)
    for r in rows:
        counts[key(r)] += 1
    rivals = [r for r in rows if counts[key(r)] > 1]
    if not rivals:
        return []
    dialect = conn.dialect
    if dialect not in _ARRIVAL:
        impl = SUBMISSION.c.received_at.type.dialect_impl(dialect)
        _ARRIVAL[dialect] = impl.result_processor(dialect, None)
    convert = _ARRIVAL[dialect]
    if convert is None:
        return rivals
    return [r._replace(received_at=convert(r.received_at)) for r in rivals]


def settle_rivals(s: Session, candidates: Iterable[Any], key: Any, at: datetime) -> dict[int, int]:
    """Among accepted submissions competing for the same ``key(row)``, keep the one received last
    (ties: the later id) and mark the others superseded, each with a SUPERSEDED finding.

    ``candidates`` are rows with ``id, unit, period, source_ref, received_at``, read after the new
    submissions were inserted; returns {superseded id: winner id}.
    """
    groups: dict[Hashable, list[Any]] = defaultdict(list)
    for r in candidates:
        groups[key(r)].append(r)
    losers: dict[int, int] = {}
    notes: list[tuple[Any, ...]] = []
    kind = str(FindingKind.SUPERSEDED)
    for rows in groups.values():
        if len(rows) < 2:
            continue
        winner = max(rows, key=lambda r: (_when(r.received_at), r.id))
        arrived = f"{to_shanghai(winner.received_at):%Y-%m-%d %H:%M}"
        for r in rows:
            if r is winner:
                continue
            losers[r.id] = winner.id
            notes.append(
                (
                    r.period,
                    "collect",
                    kind,
                    r.unit,
                    None,
                    r.id,
                    f"{r.unit}报送的“{Path(r.source_ref).name}”已被{arrived}收到的新版本替代",
                    f"submission {r.id} ({r.source_ref}) superseded by {winner.id}",
                    {"superseded_by": winner.id, "source_ref": r.source_ref},
                    at,
                )
            )
    if losers:
        execute_many(
            s,
            "UPDATE submission SET state = 'superseded', superseded_by = ? WHERE id = ?",
            [(w, r) for r, w in losers.items()],
        )
        insert_rows(s, FINDING, FINDING_COLUMNS, notes)
    return losers

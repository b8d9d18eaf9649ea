"""Row builders shared by file and API intake: submissions' items and findings, and superseding.

Rows are plain dicts inserted with Core ``executemany`` (one statement per table per batch):
at 200,000 rows a quarter, ORM objects per row cost more than reading the files.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from duban.domain import Finding, FindingKind, ReportedItem
from duban.store.db import to_shanghai
from duban.store.models import FindingRow, SubmissionRow

__all__ = [
    "ITEM_BY_KEY",
    "ITEM_COLUMNS",
    "SUBMISSION_COLUMNS",
    "Outcome",
    "Received",
    "finding_rows",
    "item_rows",
    "jsonable",
    "key_ranges",
    "settle_rivals",
    "text_value",
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


def jsonable(v: Any) -> Any:
    if v is None or isinstance(v, str | int | float | bool):
        return v
    return str(v)


def finding_rows(
    findings: Sequence[Finding], *, period: str | None, submission_id: int | None, origin: str, at: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "period": f.period or period,
            "origin": origin,
            "kind": str(f.kind),
            "unit": text_value(f.unit),
            "item_id": text_value(f.item_id),
            "submission_id": submission_id,
            "message_zh": text_value(f.message_zh),
            "message_en": text_value(f.message_en),
            "evidence": {k: jsonable(v) for k, v in f.evidence.items()},
            "created_at": at,
        }
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


#: Columns of ``item_rows``' tuples (inserted with ``duban.store.bulk.insert_rows``).
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

#: The submission of an item row is given by its dedupe key, looked up when the row is inserted.
ITEM_BY_KEY = {"submission_id": "(SELECT id FROM submission WHERE dedupe_key = {})"}


def item_rows(
    items: Sequence[ReportedItem], findings: Sequence[Finding], key: str, period: str, unit: str
) -> list[tuple[Any, ...]]:
    """Items of one submission as ``ITEM_COLUMNS`` tuples whose first value is the submission's
    dedupe key (insert with ``exprs=ITEM_BY_KEY``); a row named by an INVALID_VALUE finding is
    stored ``valid=False``. Pure, so a reader process builds them and the writer only inserts."""
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
                key,
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


def key_ranges(stems: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """SQL (and its parameters) for dedupe keys that start with any ``stem + ":"``.

    Ranges on the unique dedupe_key index (";" follows ":"), not LIKE, which SQLite cannot serve
    from a case-sensitive index; written as text because hundreds of ranges as SQLAlchemy
    expressions cost more than the query.
    """
    sql = " OR ".join(f"(dedupe_key >= :a{k} AND dedupe_key < :b{k})" for k in range(len(stems)))
    params: dict[str, Any] = {f"a{k}": f"{stem}:" for k, stem in enumerate(stems)}
    params.update({f"b{k}": f"{stem};" for k, stem in enumerate(stems)})
    return f"({sql})", params


def _when(v: datetime) -> datetime:
    """Comparable arrival time: aware values (PostgreSQL) in UTC, naive ones (SQLite) as stored."""
    return v.astimezone(UTC).replace(tzinfo=None) if v.tzinfo else v


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
    notes: list[dict[str, Any]] = []
    for rows in groups.values():
        if len(rows) < 2:
            continue
        winner = max(rows, key=lambda r: (_when(r.received_at), r.id))
        for r in rows:
            if r is winner:
                continue
            losers[r.id] = winner.id
            notes.append(
                {
                    "period": r.period,
                    "origin": "collect",
                    "kind": str(FindingKind.SUPERSEDED),
                    "unit": r.unit,
                    "item_id": None,
                    "submission_id": r.id,
                    "message_zh": (
                        f"{r.unit}报送的“{Path(r.source_ref).name}”"
                        f"已被{to_shanghai(winner.received_at):%Y-%m-%d %H:%M}收到的新版本替代"
                    ),
                    "message_en": f"submission {r.id} ({r.source_ref}) superseded by {winner.id}",
                    "evidence": {"superseded_by": winner.id, "source_ref": r.source_ref},
                    "created_at": at,
                }
            )
    if losers:
        s.execute(
            update(SUBMISSION)
            .where(SUBMISSION.c.id == bindparam("b_id"))
            .values(state="superseded", superseded_by=bindparam("b_winner")),
            [{"b_id": k, "b_winner": v} for k, v in losers.items()],
        )
        s.execute(FINDING.insert(), notes)
    return losers

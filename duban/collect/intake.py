"""Storing what was received, with provenance, exactly once.

A file is keyed by its sha256 (and sheet): the same content twice is stored once, whatever
its name. An API record is keyed by (source, record id, content hash), see ``records``. For
one unit and period the submission received last is accepted and the earlier ones are marked
superseded — their items and findings stay queryable. Unusable input is kept too, as a
quarantined submission with the reason. Each call is one transaction holding the store's
write lock (``Store.writing``: reader processes store side by side): a crash leaves all of it
or none of it, and a rerun finds what was stored by its key.

Example:
    >>> outcomes = store_submissions(store, [NewSubmission(received, period="2026Q4", unit="市大数据局",
    ...                                                      items=items, findings=findings)])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from duban.collect.rawstore import file_sha256, keep_raw
from duban.collect.records import ApiEntry, read_watermark, store_api_page
from duban.collect.rows import (
    FINDING,
    FINDING_COLUMNS,
    ITEM_COLUMNS,
    SUBMISSION,
    SUBMISSION_COLUMNS,
    Outcome,
    Received,
    finding_tuples,
    item_rows,
    jsonable_dict,
    key_ranges,
    read_rivals,
    settle_rivals,
    stored_keys,
    text_value,
    with_owner,
)
from duban.domain import Finding, FindingKind, ReportedItem
from duban.store.bulk import JsonText, insert_returning_ids, insert_rows
from duban.store.db import Store, now
from duban.store.fetch import plain_query
from duban.store.models import SubmissionItemRow

__all__ = [
    "ApiEntry",
    "NewSubmission",
    "Outcome",
    "Received",
    "file_key",
    "file_sha256",
    "keep_raw",
    "known_file",
    "known_files",
    "read_watermark",
    "store_api_page",
    "store_submission",
    "store_submissions",
]

ITEM = SubmissionItemRow.__table__


def file_key(sha256: str, sheet: str | None) -> str:
    """The dedupe key of a file's sheet: the same content is stored once, whatever its name."""
    return f"file:{sha256}:{sheet or ''}"


def known_file(store: Store, sha256: str) -> int:
    """How many submissions were already stored from a file with this content (0: new)."""
    return known_files(store, [sha256]).get(sha256, 0)


def known_files(store: Store, hashes: Sequence[str]) -> dict[str, int]:
    """For each content hash already stored, how many submissions came from it (one query per 200)."""
    unique = list(dict.fromkeys(hashes))
    out: dict[str, int] = {}
    with store.session() as s:
        for i in range(0, len(unique), 200):
            where, params = key_ranges([f"file:{sha}" for sha in unique[i : i + 200]])  # "file:<sha>:<sheet>"
            for (key,) in plain_query(s, f"SELECT dedupe_key FROM submission WHERE {where}", params):
                sha = key.split(":", 2)[1]
                out[sha] = out.get(sha, 0) + 1
    return out


@dataclass
class NewSubmission:
    """One received file (or sheet of it) to store, with what was read from it.

    ``quarantine`` is ``(reason_zh, reason_en)`` for input that cannot be used; it is kept with
    the reason and an UNREADABLE finding instead of rows.
    """

    received: Received
    period: str | None
    unit: str | None
    unit_raw: str | None = None
    items: Sequence[ReportedItem] = ()
    findings: Sequence[Finding] = ()
    #: the payload as received, for input with no raw file (API records); a file is its raw copy
    raw_rows: list[Any] | JsonText | None = None
    meta: dict[str, Any] | None = None
    catalogue_version: int | None = None
    quarantine: tuple[str, str] | None = None
    #: ``rows.item_rows`` of ``items``, when a reader process built them already
    prepared_items: list[tuple[Any, ...]] | None = None
    key: str = field(init=False)

    def __post_init__(self) -> None:
        r = self.received
        self.key = file_key(r.sha256 or r.source_ref, r.sheet)

    @property
    def item_count(self) -> int:
        return len(self.prepared_items) if self.prepared_items is not None else len(self.items)

    def item_rows(self) -> list[tuple[Any, ...]]:
        if self.prepared_items is not None:
            return self.prepared_items
        assert self.unit is not None and self.period is not None
        return item_rows(self.items, self.findings, self.period, self.unit)

    @property
    def state(self) -> str:
        usable = not self.quarantine and self.unit is not None and self.period is not None
        return "accepted" if usable else "quarantined"

    def reason(self) -> str | None:
        if self.quarantine:
            return f"{self.quarantine[0]} / {self.quarantine[1]}"
        if self.state == "quarantined":
            return "无法确定填报单位或报送期间 / unit or period could not be identified"
        return None

    def all_findings(self) -> list[Finding]:
        found = list(self.findings)
        if self.quarantine:
            r = self.received
            found.append(
                Finding(
                    FindingKind.UNREADABLE,
                    f"文件“{Path(r.source_ref).name}”无法读取：{self.quarantine[0]}",
                    f"{r.source_ref}: unreadable: {self.quarantine[1]}",
                    unit=self.unit,
                    period=self.period,
                    evidence={"source_ref": r.source_ref},
                )
            )
        return found


#: ``raw_rows`` of a submission given none (a file's rows are its raw copy): JSON ``[]``, written once.
_NO_RAW_ROWS = JsonText("[]")
_NO_META = JsonText("{}")


def _submission_row(n: NewSubmission, at: Any) -> tuple[Any, ...]:
    r = n.received
    head = (n.key, n.period, n.unit, text_value(n.unit_raw), r.source, r.source_ref, r.sheet, r.sha256)
    return (
        *head,
        r.size_bytes,
        r.raw_path,
        r.received_at,
        at,
        n.state,
        n.reason(),
        n.catalogue_version,
        jsonable_dict(n.meta) if n.meta else _NO_META,
        n.raw_rows or _NO_RAW_ROWS,
    )


def store_submissions(store: Store, entries: Sequence[NewSubmission]) -> list[Outcome]:
    """Store a batch of received files (or sheets) in one transaction: one INSERT per table.

    Returns one Outcome per entry, in order; an entry whose key is already stored (or appears
    earlier in the batch) is ``created=False`` and changes nothing. Statements go through the
    driver (``duban.store.bulk``, ``fetch.plain_query``): a reader process stores every ~30
    files, and SQLAlchemy's per-statement work cost as much as SQLite's own.
    """
    if not entries:
        return []
    at = now()
    with store.writing() as s:
        stored = stored_keys(s, list(dict.fromkeys(e.key for e in entries)))
        fresh: list[NewSubmission] = []
        for e in entries:
            if e.key not in stored:
                stored[e.key] = (-1, e.state)  # claimed: a second entry with this key is "known"
                fresh.append(e)
        ids = insert_returning_ids(s, SUBMISSION, SUBMISSION_COLUMNS, [_submission_row(e, at) for e in fresh])
        findings: list[tuple[Any, ...]] = []
        items: list[tuple[Any, ...]] = []
        contested: set[tuple[str, str, str]] = set()
        for e, sub_id in zip(fresh, ids, strict=True):
            if e.findings or e.quarantine:
                findings += finding_tuples(
                    e.all_findings(), period=e.period, submission_id=sub_id, origin="collect", at=at
                )
            if stored[e.key][1] == "accepted":
                assert e.unit is not None and e.period is not None
                items += with_owner(sub_id, e.item_rows())
                contested.add((e.unit, e.period, e.received.source))
        if findings:
            insert_rows(s, FINDING, FINDING_COLUMNS, findings)
        if items:
            insert_rows(s, ITEM, ITEM_COLUMNS, items)
        losers = _supersede_files(s, contested, at)
    made = {id(e): sub_id for e, sub_id in zip(fresh, ids, strict=True)}
    for e in fresh:
        stored[e.key] = (made[id(e)], stored[e.key][1])
    out = []
    beaten: dict[int, list[int]] = {}
    for loser, winner in losers.items():
        beaten.setdefault(winner, []).append(loser)
    for e in entries:
        sub_id = made.get(id(e))
        if sub_id is None:
            out.append(Outcome(stored[e.key][0], stored[e.key][1], created=False))
            continue
        winner = losers.get(sub_id, sub_id)
        state = "superseded" if sub_id in losers else stored[e.key][1]
        out.append(Outcome(sub_id, state, True, sorted(beaten.get(winner, ()))))
    return out


def _supersede_files(s: Any, contested: set[tuple[str, str, str]], at: Any) -> dict[int, int]:
    """One query for every (unit, period, source) a batch touched; see ``settle_rivals``."""
    if not contested:
        return {}
    units = sorted({u for u, _, _ in contested})
    periods = sorted({p for _, p, _ in contested})
    sources = sorted({src for _, _, src in contested})

    def marks(values: list[str]) -> str:
        return ", ".join("?" * len(values))

    sql = (
        "SELECT id, unit, period, source, source_ref, received_at FROM submission WHERE state = ? "
        f"AND unit IN ({marks(units)}) AND period IN ({marks(periods)}) AND source IN ({marks(sources)})"
    )
    params = ["accepted", *units, *periods, *sources]
    rows = read_rivals(s, sql, params, lambda r: (r.unit, r.period, r.source))
    rows = [r for r in rows if (r.unit, r.period, r.source) in contested]
    return settle_rivals(s, rows, lambda r: (r.unit, r.period, r.source), at)


def store_submission(
    store: Store,
    *,
    received: Received,
    period: str | None,
    unit: str | None,
    unit_raw: str | None = None,
    items: Sequence[ReportedItem] = (),
    findings: Sequence[Finding] = (),
    raw_rows: list[Any] | None = None,
    meta: dict[str, Any] | None = None,
    catalogue_version: int | None = None,
    quarantine: tuple[str, str] | None = None,
) -> Outcome:
    """Store one received file (or sheet of it) with its rows and findings, once."""
    entry = NewSubmission(
        received,
        period,
        unit,
        unit_raw,
        items,
        findings,
        raw_rows,
        meta,
        catalogue_version,
        quarantine,
    )
    return store_submissions(store, [entry])[0]

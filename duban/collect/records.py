"""Storing API records: one page and its watermark per transaction, each record once.

An API record is keyed by (source, record id, content hash): a repeated page adds nothing, a
changed record is a new version that supersedes the old one. A crash before commit stores none
of the page and leaves the watermark where it was, so the page is fetched again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import update

from duban.collect.rows import (
    FINDING,
    FINDING_COLUMNS,
    ITEM_COLUMNS,
    SUBMISSION,
    SUBMISSION_COLUMNS,
    finding_tuples,
    item_rows,
    jsonable,
    read_rivals,
    settle_rivals,
    stored_keys,
    text_value,
    with_owner,
)
from duban.domain import Finding, ReportedItem
from duban.store.bulk import insert_returning_ids, insert_rows
from duban.store.db import Store, now
from duban.store.models import ApiWatermark, SubmissionItemRow

__all__ = ["ApiEntry", "read_watermark", "store_api_page"]


@dataclass
class ApiEntry:
    """One API record, resolved by the caller to a unit, period and (maybe) an item."""

    record_id: str
    content_hash: str
    received_at: datetime
    unit: str | None
    unit_raw: str | None
    period: str | None
    item: ReportedItem | None
    findings: list[Finding] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        return self.unit is not None and self.period is not None and self.item is not None


def _row(source: str, key: str, e: ApiEntry, version: int | None, at: datetime) -> tuple[Any, ...]:
    """A ``SUBMISSION_COLUMNS`` tuple for one record."""
    reason = (
        None if e.usable else "记录无法对应到单位、期间或任务 / record has no usable unit, period or item"
    )
    state = "accepted" if e.usable else "quarantined"
    raw = [{k: jsonable(v) for k, v in e.raw.items()}]
    head = (
        key,
        e.period,
        e.unit,
        text_value(e.unit_raw),
        source,
        text_value(e.record_id),
        None,
        e.content_hash,
    )
    return (*head, None, None, e.received_at, at, state, reason, version, {}, raw)


def store_api_page(
    store: Store,
    *,
    source: str,
    entries: Sequence[ApiEntry],
    watermark: str | None,
    catalogue_version: int | None,
) -> tuple[int, int]:
    """Store a page of API records and advance the watermark in the same transaction.

    Returns (new records stored, records already known).
    """
    at = now()
    keys = [f"api:{source}:{e.record_id}:{e.content_hash}" for e in entries]
    with store.writing() as s:
        seen = set(stored_keys(s, list(dict.fromkeys(keys))))
        fresh: list[tuple[str, ApiEntry]] = []
        for key, e in zip(keys, entries, strict=True):
            if key not in seen:
                seen.add(key)
                fresh.append((key, e))
        if fresh:
            rows = [_row(source, key, e, catalogue_version, at) for key, e in fresh]
            ids = insert_returning_ids(s, SUBMISSION, SUBMISSION_COLUMNS, rows)
            findings: list[tuple[Any, ...]] = []
            items: list[tuple[Any, ...]] = []
            for (_key, e), sub_id in zip(fresh, ids, strict=True):
                findings += finding_tuples(
                    e.findings, period=e.period, submission_id=sub_id, origin="collect", at=at
                )
                if e.usable:
                    assert e.item is not None and e.unit is not None and e.period is not None
                    items += with_owner(sub_id, item_rows([e.item], e.findings, e.period, e.unit))
            if findings:
                insert_rows(s, FINDING, FINDING_COLUMNS, findings)
            if items:
                insert_rows(s, SubmissionItemRow.__table__, ITEM_COLUMNS, items)
            _supersede_records(s, source, {e.record_id for _, e in fresh if e.usable}, at)
        if watermark is not None:
            wm = s.get(ApiWatermark, source)
            if wm is None:
                s.add(ApiWatermark(source=source, value=watermark, updated_at=at))
            elif watermark > wm.value:
                s.execute(
                    update(ApiWatermark)
                    .where(ApiWatermark.source == source)
                    .values(value=watermark, updated_at=at)
                )
    return len(fresh), len(entries) - len(fresh)


def _supersede_records(s: Any, source: str, record_ids: set[str], at: datetime) -> None:
    """Only versions of the same record compete. Found by ranges on the unique dedupe_key index
    ("api:<source>:<record id>:<hash>"), one query per page: ``source_ref`` has no index, and a
    scan of every submission per page made a province's 100 pages quadratic. A range may also
    catch a record whose id extends this one's ("a" and "a:b"); rows are grouped by their own id."""
    if not record_ids:
        return
    stems = [f"api:{source}:{rid}" for rid in sorted(record_ids)]
    ranges = " OR ".join("(dedupe_key >= ? AND dedupe_key < ?)" for _ in stems)
    sql = (
        "SELECT id, unit, period, source, source_ref, received_at FROM submission "
        f"WHERE state = 'accepted' AND source = ? AND ({ranges})"
    )
    params = [source, *(bound for stem in stems for bound in (f"{stem}:", f"{stem};"))]
    settle_rivals(s, read_rivals(s, sql, params, lambda r: r.source_ref), lambda r: r.source_ref, at)


def read_watermark(store: Store, source: str) -> str | None:
    with store.session() as s:
        wm = s.get(ApiWatermark, source)
        return wm.value if wm else None

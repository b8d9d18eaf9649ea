"""Storing what was received, with provenance, exactly once.

A file is keyed by its sha256 (and sheet): the same content twice is stored once, whatever
its name. An API record is keyed by (source, record id, content hash): a repeated page adds
nothing, a changed record is a new version that supersedes the old. For one unit and period
the submission received last is accepted and the earlier ones are marked superseded — their
rows and findings stay queryable. Unusable input is kept too, as a quarantined submission
with the reason. Each call is one transaction: a crash leaves all of it or none of it.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from duban.domain import Finding, FindingKind, ReportedItem
from duban.store.db import Store, now
from duban.store.models import ApiWatermark, FindingRow, SubmissionItemRow, SubmissionRow

__all__ = [
    "ApiEntry",
    "Outcome",
    "Received",
    "file_sha256",
    "keep_raw",
    "known_file",
    "read_watermark",
    "store_api_page",
    "store_submission",
]


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


def known_file(store: Store, sha256: str) -> int:
    """How many submissions were already stored from a file with this content (0: new)."""
    # A range on the unique dedupe_key index (keys are "file:<sha>:<sheet>"; ";" follows ":"), not
    # LIKE, which SQLite cannot serve from a case-sensitive index: that scanned every submission.
    key = SubmissionRow.dedupe_key
    with store.session() as s:
        q = select(func.count()).where(key >= f"file:{sha256}:", key < f"file:{sha256};")
        return s.scalar(q) or 0


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def keep_raw(home: Path, path: Path, sha256: str) -> Path:
    """Copy a received file into the content-addressed raw store (once)."""
    dest = home / "raw" / sha256[:2] / f"{sha256}{path.suffix.lower()}"
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(dest.suffix + ".part")
        shutil.copyfile(path, tmp)
        tmp.replace(dest)
    return dest


def _text(v: Any) -> Any:
    """Text for a text column: PostgreSQL cannot store NUL (0x00), which a cell or an API record
    may carry; it becomes U+FFFD there (``raw_rows`` keep the value as received)."""
    return v.replace("\x00", "\ufffd") if isinstance(v, str) else v


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, str | int | float | bool):
        return v
    return str(v)


def _finding_rows(
    findings: Sequence[Finding], *, period: str | None, submission_id: int | None, origin: str, at: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "period": f.period or period,
            "origin": origin,
            "kind": str(f.kind),
            "unit": _text(f.unit),
            "item_id": _text(f.item_id),
            "submission_id": submission_id,
            "message_zh": _text(f.message_zh),
            "message_en": _text(f.message_en),
            "evidence": {k: _jsonable(v) for k, v in f.evidence.items()},
            "created_at": at,
        }
        for f in findings
    ]


def _item_rows(
    items: Sequence[ReportedItem], invalid_rows: set[int | None], sub_id: int, period: str, unit: str
) -> list[dict[str, Any]]:
    return [
        {
            "submission_id": sub_id,
            "period": period,
            "unit": unit,
            "item_id": _text(it.item_id),
            "status": _text(it.status),
            "progress": it.progress,
            "narrative": _text(it.narrative),
            "problems": _text(it.problems),
            "next_steps": _text(it.next_steps),
            "coordination": _text(it.coordination),
            "reporter": _text(it.reporter),
            "phone": _text(it.phone),
            "row": it.row,
            "sheet": _text(it.sheet),
            "match_method": it.match_method,
            "match_score": it.match_score,
            "valid": it.row not in invalid_rows if it.row is not None else True,
        }
        for it in items
    ]


def _supersede(s: Session, new: SubmissionRow, *, same_record: str | None = None) -> list[int]:
    """Keep the latest received accepted submission for (unit, period); mark the rest superseded.

    For API records (``same_record`` given) only versions of the same record compete.
    """
    q = select(SubmissionRow).where(SubmissionRow.state == "accepted", SubmissionRow.id != new.id)
    if same_record is not None:
        q = q.where(SubmissionRow.source == new.source, SubmissionRow.source_ref == same_record)
    else:
        q = q.where(
            SubmissionRow.unit == new.unit,
            SubmissionRow.period == new.period,
            SubmissionRow.source == new.source,
        )
    rivals = list(s.scalars(q))
    if not rivals:
        return []
    contenders = [*rivals, new]
    winner = max(contenders, key=lambda r: (r.received_at.replace(tzinfo=None), r.id))
    losers = [r for r in contenders if r is not winner]
    at = now()
    for r in losers:
        r.state = "superseded"
        r.superseded_by = winner.id
        s.add(
            FindingRow(
                period=r.period,
                origin="collect",
                kind=str(FindingKind.SUPERSEDED),
                unit=r.unit,
                item_id=None,
                submission_id=r.id,
                message_zh=(
                    f"{r.unit}报送的“{Path(r.source_ref).name}”"
                    f"已被{winner.received_at:%Y-%m-%d %H:%M}收到的新版本替代"
                ),
                message_en=f"submission {r.id} ({r.source_ref}) superseded by {winner.id}",
                evidence={"superseded_by": winner.id, "source_ref": r.source_ref},
                created_at=at,
            )
        )
    return [r.id for r in losers]


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
    """Store one received file (or sheet of it) with its rows and findings, once.

    ``quarantine`` is ``(reason_zh, reason_en)`` for input that cannot be used; it is kept
    with the reason and an UNREADABLE finding instead of rows.
    """
    key = f"file:{received.sha256 or received.source_ref}:{received.sheet or ''}"
    at = now()
    with store.session() as s:
        existing = s.scalar(select(SubmissionRow).where(SubmissionRow.dedupe_key == key))
        if existing is not None:
            return Outcome(existing.id, existing.state, created=False)
        state = "quarantined" if quarantine or unit is None or period is None else "accepted"
        reason = None
        if quarantine:
            reason = f"{quarantine[0]} / {quarantine[1]}"
        elif state == "quarantined":
            reason = "无法确定填报单位或报送期间 / unit or period could not be identified"
        row = SubmissionRow(
            dedupe_key=key,
            period=period,
            unit=unit,
            unit_raw=_text(unit_raw),
            source=received.source,
            source_ref=received.source_ref,
            sheet=received.sheet,
            sha256=received.sha256,
            size_bytes=received.size_bytes,
            raw_path=received.raw_path,
            received_at=received.received_at,
            stored_at=at,
            state=state,
            reason=reason,
            catalogue_version=catalogue_version,
            meta={k: _jsonable(v) for k, v in (meta or {}).items()},
            raw_rows=raw_rows or [],
        )
        s.add(row)
        s.flush()
        all_findings = list(findings)
        if quarantine:
            all_findings.append(
                Finding(
                    FindingKind.UNREADABLE,
                    f"文件“{Path(received.source_ref).name}”无法读取：{quarantine[0]}",
                    f"{received.source_ref}: unreadable: {quarantine[1]}",
                    unit=unit,
                    period=period,
                    evidence={"source_ref": received.source_ref},
                )
            )
        if all_findings:
            s.execute(
                FindingRow.__table__.insert(),
                _finding_rows(all_findings, period=period, submission_id=row.id, origin="collect", at=at),
            )
        superseded: list[int] = []
        if state == "accepted":
            assert unit is not None and period is not None
            invalid_rows = {f.evidence.get("row") for f in findings if f.kind is FindingKind.INVALID_VALUE}
            if items:
                s.execute(
                    SubmissionItemRow.__table__.insert(),
                    _item_rows(items, invalid_rows, row.id, period, unit),
                )
            superseded = _supersede(s, row)
        return Outcome(row.id, row.state, created=True, superseded=superseded)


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


def store_api_page(
    store: Store,
    *,
    source: str,
    entries: Sequence[ApiEntry],
    watermark: str | None,
    catalogue_version: int | None,
) -> tuple[int, int]:
    """Store a page of API records and advance the watermark in the same transaction.

    Returns (new records stored, records already known). A crash before commit stores none
    of the page and leaves the watermark where it was, so the page is fetched again.
    """
    at = now()
    new = known = 0
    with store.session() as s:
        keys = [f"api:{source}:{e.record_id}:{e.content_hash}" for e in entries]
        seen = (
            set(s.scalars(select(SubmissionRow.dedupe_key).where(SubmissionRow.dedupe_key.in_(keys))))
            if keys
            else set()
        )
        # Records that may have an accepted earlier version: one query per page instead of one
        # per record (a record without one has no rival, so _supersede would find nothing).
        ids = list({e.record_id for e in entries})
        rivals = (
            set(
                s.scalars(
                    select(SubmissionRow.source_ref).where(
                        SubmissionRow.source == source,
                        SubmissionRow.state == "accepted",
                        SubmissionRow.source_ref.in_(ids),
                    )
                )
            )
            if ids
            else set()
        )
        for key, e in zip(keys, entries, strict=True):
            if key in seen:
                known += 1
                continue
            seen.add(key)
            usable = e.unit is not None and e.period is not None and e.item is not None
            row = SubmissionRow(
                dedupe_key=key,
                period=e.period,
                unit=e.unit,
                unit_raw=_text(e.unit_raw),
                source=source,
                source_ref=_text(e.record_id),
                sheet=None,
                sha256=e.content_hash,
                size_bytes=None,
                raw_path=None,
                received_at=e.received_at,
                stored_at=at,
                state="accepted" if usable else "quarantined",
                reason=None
                if usable
                else "记录无法对应到单位、期间或任务 / record has no usable unit, period or item",
                catalogue_version=catalogue_version,
                meta={},
                raw_rows=[{k: _jsonable(v) for k, v in e.raw.items()}],
            )
            s.add(row)
            s.flush()
            if e.findings:
                s.execute(
                    FindingRow.__table__.insert(),
                    _finding_rows(e.findings, period=e.period, submission_id=row.id, origin="collect", at=at),
                )
            if usable:
                assert e.item is not None and e.unit is not None and e.period is not None
                invalid = {f.evidence.get("row") for f in e.findings if f.kind is FindingKind.INVALID_VALUE}
                s.execute(
                    SubmissionItemRow.__table__.insert(),
                    _item_rows([e.item], invalid, row.id, e.period, e.unit),
                )
                if e.record_id in rivals:
                    _supersede(s, row, same_record=e.record_id)
                rivals.add(e.record_id)
            new += 1
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
    return new, known


def read_watermark(store: Store, source: str) -> str | None:
    with store.session() as s:
        wm = s.get(ApiWatermark, source)
        return wm.value if wm else None

"""API record → canonical fields: the one place a source's JSON vocabulary meets duban's.

Each source names its JSON keys in ``sources.yaml`` (``fields``); this module turns one JSON
object into an :class:`ApiRecord` that carries the raw object untouched (for storage and
provenance) next to the canonical values (for validation). Values are passed on raw — the
core's validation decides what "80%" or "八成" means, so nothing is lost here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from duban.domain import FIELDS, SheetTable, SubmissionRow

from .config import SourceConfig

__all__ = ["ApiRecord", "content_hash", "dig", "map_record"]

_MISSING = object()


def dig(obj: Any, path: str, default: Any = None) -> Any:
    """``obj["a"]["b"]`` for ``path="a.b"``; a key containing a dot is tried whole first."""
    if isinstance(obj, dict) and path in obj:
        return obj[path]
    cur = obj
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return default
    return cur


def content_hash(raw: dict[str, Any]) -> str:
    """sha256 of the record's canonical JSON; equal content → equal hash (the storage dedupe key)."""
    blob = json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


@dataclass
class ApiRecord:
    """One record from a source.

    ``values`` maps canonical field names (keys of :data:`duban.domain.FIELDS`) to raw values;
    ``raw`` is the JSON object as received.
    """

    source: str
    record_id: str
    updated_at: str | None
    unit: str | None
    period: str | None
    values: dict[str, Any]
    raw: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def content_hash(self) -> str:
        return content_hash(self.raw)

    def to_sheet_table(self) -> SheetTable:
        """The record as the one-row table the core's identify/validate steps take."""
        return SheetTable(
            source=f"api:{self.source}:{self.record_id}",
            sheet=None,
            header_row=None,
            columns={k: k for k in self.values},
            rows=[SubmissionRow(row=1, values=dict(self.values))],
            meta={
                "record_id": self.record_id,
                **({"updated_at": self.updated_at} if self.updated_at else {}),
            },
            unit_hint=self.unit,
            period_hint=self.period,
        )


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value).strip() or None


def map_record(source: SourceConfig, raw: dict[str, Any]) -> ApiRecord:
    """Map one JSON object; a record without an id gets ``sha256:<content hash>`` so it is kept."""
    values: dict[str, Any] = {}
    for canonical, key in source.fields.items():
        if canonical in FIELDS:
            value = dig(raw, key, _MISSING)
            if value is not _MISSING:
                values[canonical] = value
    rid = _text(dig(raw, source.record_id))
    updated = _text(dig(raw, source.watermark.field)) if source.watermark else None
    period_key = source.fields.get("period")
    return ApiRecord(
        source=source.name,
        record_id=rid or f"sha256:{content_hash(raw)}",
        updated_at=updated,
        unit=_text(values.get("unit")),
        period=_text(dig(raw, period_key)) if period_key else None,
        values=values,
        raw=raw,
    )

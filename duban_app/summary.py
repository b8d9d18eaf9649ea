"""Job: the period's bulletin from the store, every file recorded in the document table."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select

from duban.bulletin import compute_metrics, write_summary
from duban.bulletin.metrics import Metrics
from duban.collect.intake import file_sha256
from duban.store.db import now
from duban.store.models import DocumentRow
from duban_app.context import AppContext
from duban_app.cycle import period_facts

__all__ = ["Summary", "write_bulletin"]


@dataclass
class Summary:
    period: str
    files: dict[str, Path]
    metrics: Metrics
    inputs_hash: str


def _inputs_hash(facts) -> str:  # noqa: ANN001 - PeriodFacts
    payload = [
        (f.item_id, f.unit, f.status, f.progress, f.narrative, f.late_days, f.invalid, f.stalled, f.regressed)
        for f in facts.assignments
    ]
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False, default=str).encode()).hexdigest()


def write_bulletin(ctx: AppContext, key: str, out_dir: Path | None = None, *, issued_on: date | None = None,
                   pdf: bool = True) -> Summary:
    """Write docx, PDF (when LibreOffice is present), HTML, xlsx and charts; record each file."""
    facts = period_facts(ctx, key, as_of=issued_on)
    out = out_dir or ctx.settings.path("bulletin", facts.period_key)
    files = write_summary(facts, ctx.settings.rating, out, issued_on=issued_on, pdf=pdf)
    digest = _inputs_hash(facts)
    with ctx.store.session() as s:
        for fmt, path in files.items():
            row = s.scalar(select(DocumentRow).where(
                DocumentRow.period == facts.period_key, DocumentRow.kind == "bulletin",
                DocumentRow.unit == "", DocumentRow.fmt == fmt[:10],
            ))
            values = {"path": str(path), "sha256": file_sha256(path), "inputs_hash": digest, "created_at": now()}
            if row is None:
                s.add(DocumentRow(period=facts.period_key, kind="bulletin", unit="", fmt=fmt[:10], **values))
            else:
                for k, v in values.items():
                    setattr(row, k, v)
    return Summary(facts.period_key, files, compute_metrics(facts, ctx.settings.rating), digest)

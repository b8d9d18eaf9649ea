"""Job: the period's bulletin from the store, every file recorded in the document table."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, fields
from datetime import date
from operator import attrgetter
from pathlib import Path

from sqlalchemy import select

from duban.bulletin import AssignmentFact, PeriodFacts, compute_metrics, write_summary
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


_FACT_FIELDS = attrgetter(*(f.name for f in fields(AssignmentFact)))


def _inputs_hash(facts: PeriodFacts, unit_rows_max: int) -> str:
    """Digest of what the bulletin is made from: every field of every assignment, the unit
    names, and the length of 附件1 (``bulletin.docx_unit_rows_max``)."""
    payload = [list(map(_FACT_FIELDS, facts.assignments)), sorted(facts.unit_names.items()), unit_rows_max]
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False, default=str).encode()).hexdigest()


def write_bulletin(
    ctx: AppContext, key: str, out_dir: Path | None = None, *, issued_on: date | None = None, pdf: bool = True
) -> Summary:
    """Write docx, PDF (when LibreOffice is present), HTML, xlsx and charts; record each file.

    Keyed by the facts it is made from: when nothing changed since the recorded files were
    written (and they are still there), they are kept as they are, so a daily run is cheap
    and an edited docx is not overwritten for nothing.
    """
    facts = period_facts(ctx, key, as_of=issued_on)
    out = out_dir or ctx.settings.path("bulletin", facts.period_key)
    cap = ctx.settings.bulletin.docx_unit_rows_max
    digest = _inputs_hash(facts, cap)
    metrics = compute_metrics(facts, ctx.settings.rating)
    kept = _recorded(ctx, facts.period_key, digest, out)
    if kept is not None and (not pdf or "pdf" in kept or shutil.which("soffice") is None):
        return Summary(facts.period_key, kept, metrics, digest)
    files = write_summary(
        facts,
        ctx.settings.rating,
        out,
        issued_on=issued_on,
        pdf=pdf,
        metrics=metrics,  # computed once, for the files and for the caller
        unit_rows_max=cap,
    )
    with ctx.store.session() as s:
        for fmt, path in files.items():
            row = s.scalar(
                select(DocumentRow).where(
                    DocumentRow.period == facts.period_key,
                    DocumentRow.kind == "bulletin",
                    DocumentRow.unit == "",
                    DocumentRow.fmt == fmt[:10],
                )
            )
            values = {
                "path": str(path),
                "sha256": file_sha256(path),
                "inputs_hash": digest,
                "created_at": now(),
            }
            if row is None:
                s.add(DocumentRow(period=facts.period_key, kind="bulletin", unit="", fmt=fmt[:10], **values))
            else:
                for k, v in values.items():
                    setattr(row, k, v)
    return Summary(facts.period_key, files, metrics, digest)


def _recorded(ctx: AppContext, period: str, digest: str, out: Path) -> dict[str, Path] | None:
    """The recorded files of this period's bulletin if they were made from ``digest`` and still exist."""
    with ctx.store.session() as s:
        rows = list(
            s.scalars(
                select(DocumentRow).where(
                    DocumentRow.period == period,
                    DocumentRow.kind == "bulletin",
                    DocumentRow.unit == "",
                )
            )
        )
    files = {r.fmt: Path(r.path) for r in rows}
    if not rows or any(r.inputs_hash != digest for r in rows) or "docx" not in files:
        return None
    if any(p.parent != out or not p.exists() for p in files.values()):
        return None
    return files

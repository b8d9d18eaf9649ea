"""Job: received files and API records → stored submissions, items and findings.

One bad file never stops a batch: anything a file does wrong ends as a quarantined
submission with the reason, and the loop goes on. Files are processed in batches so a
Prefect flow can fan them out (``collect_files`` takes any list of paths).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from connectors.spreadsheets import read_tables
from duban.collect.identify import identify
from duban.collect.intake import (
    ApiEntry,
    Received,
    file_sha256,
    keep_raw,
    known_file,
    read_watermark,
    store_api_page,
    store_submission,
)
from duban.collect.validate import validate_table
from duban.domain import Catalogue, Finding, FindingKind, SheetTable, SubmissionRow
from duban.errors import SubmissionUnreadable
from duban.periods import normalise_period_key
from duban.store.db import SHANGHAI
from duban_app.context import AppContext

__all__ = ["SPREADSHEET_SUFFIXES", "CollectReport", "collect_api", "collect_files", "find_files"]

log = logging.getLogger("duban.collect")
SPREADSHEET_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".et", ".ods", ".csv", ".tsv", ".txt"}


@dataclass
class CollectReport:
    files: int = 0
    tables: int = 0
    submissions_new: int = 0
    submissions_known: int = 0
    quarantined: int = 0
    items_accepted: int = 0
    api_records_new: int = 0
    api_records_known: int = 0
    findings: Counter[str] = field(default_factory=Counter)

    def merge(self, other: CollectReport) -> CollectReport:
        for name in (
            "files",
            "tables",
            "submissions_new",
            "submissions_known",
            "quarantined",
            "items_accepted",
            "api_records_new",
            "api_records_known",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.findings.update(other.findings)
        return self

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "findings"}
        d["findings"] = dict(self.findings)
        return d


def find_files(root: Path) -> list[Path]:
    """Every candidate file under ``root`` (or ``root`` itself), in a stable order."""
    if root.is_file():
        return [root]
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such file or folder")
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith((".", "~$")) and p.suffix.lower() in SPREADSHEET_SUFFIXES
    )


def _raw_rows(table: SheetTable) -> list[dict[str, Any]]:
    return [
        {"row": r.row, **{k: None if v is None else str(v) for k, v in r.values.items()}} for r in table.rows
    ]


def _received_at(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, SHANGHAI)


def collect_file(
    ctx: AppContext,
    catalogue: Catalogue,
    version: int,
    path: Path,
    *,
    period: str | None = None,
    sender: str | None = None,
    received_at: datetime | None = None,
) -> CollectReport:
    """Read one file and store what it holds; never raises for bad content."""
    rep = CollectReport(files=1)
    cfg = ctx.settings.collection
    at = received_at or _received_at(path)
    sha = file_sha256(path)
    known = known_file(ctx.store, sha)
    if known:  # the same content was stored before (under any name): nothing to read again
        rep.submissions_known += known
        return rep
    raw = keep_raw(ctx.settings.home, path, sha)
    base = Received(
        source="file",
        source_ref=str(path),
        received_at=at,
        sha256=sha,
        size_bytes=path.stat().st_size,
        raw_path=str(raw),
    )
    try:
        tables = read_tables(path, max_bytes=cfg.max_file_bytes, max_uncompressed=cfg.max_uncompressed_bytes)
        if not tables:
            raise SubmissionUnreadable(
                "no report table found", "未找到报表（没有可识别的表头）", source=str(path)
            )
    except SubmissionUnreadable as exc:
        return _quarantine(ctx, rep, base, period, (exc.reason_zh, exc.reason_en))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a reader bug must not stop the batch; keep the file and say why
        # (BaseException: pyo3 raises a Rust panic in calamine as PanicException, a BaseException)
        log.exception("unexpected error reading %s", path)
        return _quarantine(
            ctx,
            rep,
            base,
            period,
            (f"读取时发生内部错误（{type(exc).__name__}）", f"internal error: {exc!r}"),
        )
    for table in tables:
        rep.tables += 1
        ident = identify(
            table, ctx.directory, filename=path.name, sender=sender, senders=cfg.senders, cli_period=period
        )
        findings: list[Finding] = list(ident.findings)
        items = []
        if ident.unit and ident.period:
            items, vfind = validate_table(
                table, catalogue, ident.unit, ident.period, accept=cfg.fuzzy_accept, suggest=cfg.fuzzy_suggest
            )
            findings.extend(vfind)
        received = Received(**{**base.__dict__, "sheet": table.sheet})
        out = store_submission(
            ctx.store,
            received=received,
            period=ident.period,
            unit=ident.unit,
            unit_raw=table.meta.get("unit") or table.unit_hint,
            items=items,
            findings=findings,
            raw_rows=_raw_rows(table),
            meta={**table.meta, "notes": "; ".join(table.notes)},
            catalogue_version=version,
        )
        if not out.created:
            rep.submissions_known += 1
            continue
        rep.submissions_new += 1
        if out.state == "quarantined":
            rep.quarantined += 1
        else:
            rep.items_accepted += len(items)
        rep.findings.update(str(f.kind) for f in findings)
    return rep


def _quarantine(
    ctx: AppContext, rep: CollectReport, received: Received, period: str | None, reason: tuple[str, str]
) -> CollectReport:
    out = store_submission(ctx.store, received=received, period=period, unit=None, quarantine=reason)
    if out.created:
        rep.submissions_new += 1
        rep.quarantined += 1
        rep.findings[str(FindingKind.UNREADABLE)] += 1
    else:
        rep.submissions_known += 1
    return rep


def collect_files(
    ctx: AppContext,
    paths: Iterable[Path],
    *,
    period: str | None = None,
    on_file: Callable[[Path], None] | None = None,
    received_at: Callable[[Path], datetime] | None = None,
) -> CollectReport:
    """Collect a batch of files against the catalogue in force."""
    catalogue, version = ctx.catalogue()
    total = CollectReport()
    for path in paths:
        total.merge(
            collect_file(
                ctx,
                catalogue,
                version,
                path,
                period=period,
                received_at=received_at(path) if received_at else None,
            )
        )
        if on_file:
            on_file(path)
    return total


def _content_hash(raw: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str).encode()
    ).hexdigest()


def collect_api(
    ctx: AppContext,
    *,
    source_names: Sequence[str] | None = None,
    period: str | None = None,
    token: str | None = None,
    now: Callable[[], datetime] | None = None,
    record_time: bool = False,
) -> CollectReport:
    """Pull every configured API source page by page; each page and its watermark in one transaction."""
    from connectors.api import fetch_pages, load_sources, resolve_token

    catalogue, version = ctx.catalogue()
    sources = load_sources(ctx.settings.sources_path)
    if source_names:
        unknown = set(source_names) - {s.name for s in sources}
        if unknown:
            raise ValueError(f"unknown source(s) {sorted(unknown)}; configured: {[s.name for s in sources]}")
        sources = [s for s in sources if s.name in source_names]
    rep = CollectReport()
    clock = now or (lambda: datetime.now(SHANGHAI))
    for src in sources:
        since = read_watermark(ctx.store, src.name)
        for page in fetch_pages(src, since=since, token=token or resolve_token(src)):
            entries = [
                _api_entry(ctx, catalogue, src.name, rec, period, clock(), record_time)
                for rec in page.records
            ]
            new, known = store_api_page(
                ctx.store,
                source=src.name,
                entries=entries,
                watermark=page.watermark,
                catalogue_version=version,
            )
            rep.api_records_new += new
            rep.api_records_known += known
            for e in entries:
                rep.findings.update(str(f.kind) for f in e.findings)
                rep.items_accepted += 1 if e.item is not None else 0
    return rep


def _record_period(stated: str | None, period: str | None) -> str | None:
    """The record's own period when it is a period at all, else the collection's: a record saying
    "../x" or "四季度" gets an UNKNOWN_PERIOD finding from ``identify`` (it is still the table's
    hint), never a ValueError that would stop the pull at this record on every run."""
    if stated:
        try:
            normalise_period_key(stated)
            return stated
        except ValueError:
            return period
    return period


def _api_entry(
    ctx: AppContext,
    catalogue: Catalogue,
    source: str,
    rec: Any,
    period: str | None,
    received_at: datetime,
    record_time: bool,
) -> ApiEntry:
    """One record → an ApiEntry; ``record_time`` takes the record's own update time as received (replays)."""
    table = SheetTable(
        source=f"{source}:{rec.record_id}",
        sheet=None,
        header_row=None,
        columns={},
        rows=[SubmissionRow(row=1, values=dict(rec.values))],
        period_hint=rec.period or period,
    )
    ident = identify(table, ctx.directory, filename="", cli_period=_record_period(rec.period, period))
    findings = list(ident.findings)
    item = None
    if ident.unit and ident.period:
        items, vfind = validate_table(
            table,
            catalogue,
            ident.unit,
            ident.period,
            accept=ctx.settings.collection.fuzzy_accept,
            suggest=ctx.settings.collection.fuzzy_suggest,
        )
        findings.extend(vfind)
        item = items[0] if items else None
    at = received_at
    if record_time and rec.updated_at:
        at = datetime.fromisoformat(rec.updated_at).astimezone(SHANGHAI)
    return ApiEntry(
        record_id=rec.record_id,
        content_hash=_content_hash(rec.raw),
        received_at=at,
        unit=ident.unit,
        unit_raw=rec.unit,
        period=ident.period,
        item=item,
        findings=findings,
        raw=rec.raw,
    )

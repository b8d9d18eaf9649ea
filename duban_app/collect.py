"""Job: received files and API records → stored submissions, items and findings.

One bad file never stops a batch: anything a file does wrong ends as a quarantined
submission with the reason, and the loop goes on. Files are processed in batches so a
Prefect flow can fan them out (``collect_files`` takes any list of paths).
"""

from __future__ import annotations

import gc
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import chain, islice
from pathlib import Path
from typing import Any

from duban.collect.identify import identify
from duban.collect.intake import (
    ApiEntry,
    NewSubmission,
    Outcome,
    Received,
    file_sha256,
    known_files,
    read_watermark,
    store_api_page,
    store_submissions,
)
from duban.collect.validate import validate_table
from duban.domain import Catalogue, SheetTable, SubmissionRow
from duban.periods import normalise_period_key
from duban.store.db import SHANGHAI
from duban_app.context import AppContext
from duban_app.parse import ParsedFile, parse_file
from duban_app.readers import ReaderPool, reader_pool, worker_count

__all__ = [
    "SPREADSHEET_SUFFIXES",
    "CollectReport",
    "collect_api",
    "collect_files",
    "find_files",
    "start_readers",
]

log = logging.getLogger("duban.collect")
#: Files stored per transaction: a crash loses at most this many files' work, never half of one.
_STORE_CHUNK = 64
#: Files hashed (and checked against the store in one query) at a time, ahead of the readers.
_HASH_BLOCK = 200
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


def _received_at(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, SHANGHAI)


def _entries(parsed: ParsedFile, at: datetime, period: str | None, version: int) -> list[NewSubmission]:
    """What to store for one read file: a submission per table, or the file quarantined."""
    base = Received(
        source="file",
        source_ref=str(parsed.path),
        received_at=at,
        sha256=parsed.sha256,
        size_bytes=parsed.size_bytes,
        raw_path=str(parsed.raw_path),
    )
    if parsed.quarantine:
        return [NewSubmission(base, period, None, quarantine=parsed.quarantine)]
    return [
        NewSubmission(
            replace(base, sheet=t.sheet),
            t.period,
            t.unit,
            unit_raw=t.unit_raw,
            prepared_items=t.item_rows,
            findings=t.findings,
            meta=t.meta,
            catalogue_version=version,
        )
        for t in parsed.tables
    ]


def _tally(
    rep: CollectReport, parsed: ParsedFile, entries: list[NewSubmission], outcomes: list[Outcome]
) -> None:
    rep.files += 1
    rep.tables += len(parsed.tables)
    for e, out in zip(entries, outcomes, strict=True):
        if not out.created:
            rep.submissions_known += 1
            continue
        rep.submissions_new += 1
        if e.state == "quarantined":
            rep.quarantined += 1
        else:
            rep.items_accepted += e.item_count
        rep.findings.update(str(f.kind) for f in e.all_findings())


def _reader_count(ctx: AppContext, workers: int | None) -> int:
    return worker_count(ctx.settings.collection.read_workers if workers is None else workers)


def _readers(ctx: AppContext, files: int, workers: int | None) -> ReaderPool | None:
    """The reader pool when ``files`` are worth reading on several processes, else None."""
    count = _reader_count(ctx, workers)
    if count < 2 or files < 2 * count:
        return None
    catalogue, _ = ctx.catalogue()
    return reader_pool(catalogue, ctx.directory, ctx.settings.collection, ctx.settings.home, workers=count)


def start_readers(ctx: AppContext, files: int, *, workers: int | None = None) -> None:
    """Start the reader processes for a batch of ``files`` now, before the caller starts threads
    (a progress bar): forked from a single-threaded process they start in milliseconds."""
    pool = _readers(ctx, files, workers)
    if pool is not None:
        pool.start()


def _unread(
    ctx: AppContext, paths: list[Path], total: CollectReport, on_file: Callable[[Path], None] | None
) -> Iterator[tuple[Path, str]]:
    """(path, sha256) of each file whose content is not stored yet, hashed a block at a time so
    that reading starts after the first block; files already stored are counted in ``total``."""
    for i in range(0, len(paths), _HASH_BLOCK):
        block = [(p, file_sha256(p)) for p in paths[i : i + _HASH_BLOCK]]
        known = known_files(ctx.store, [sha for _, sha in block])
        for p, sha in block:
            if sha in known:  # the same content was stored before (under any name)
                total.files += 1
                total.submissions_known += known[sha]
                if on_file:
                    on_file(p)
            else:
                yield p, sha


def collect_files(
    ctx: AppContext,
    paths: Iterable[Path],
    *,
    period: str | None = None,
    on_file: Callable[[Path], None] | None = None,
    received_at: Callable[[Path], datetime] | None = None,
    workers: int | None = None,
) -> CollectReport:
    """Collect a batch of files against the catalogue in force; never raises for bad content.

    Files already stored (by content hash) are not read again. The rest are read on
    ``workers`` processes (default ``collection.read_workers``; 1 reads in this process) and
    stored in the order given, one transaction per chunk of files.
    """
    catalogue, version = ctx.catalogue()
    with _frozen_heap():
        files = [Path(p) for p in paths]
        return _collect(ctx, catalogue, version, files, period, on_file, received_at, workers)


@contextmanager
def _frozen_heap() -> Iterator[None]:
    """Keep what exists before the batch (catalogue, directory, modules: ~10⁶ objects at 2,000
    units) out of the cyclic collector's scans while the batch allocates: its full collections
    otherwise cost the writer a tenth of its time. Objects made during the batch are collected
    as usual."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _collect(
    ctx: AppContext,
    catalogue: Catalogue,
    version: int,
    paths: list[Path],
    period: str | None,
    on_file: Callable[[Path], None] | None,
    received_at: Callable[[Path], datetime] | None,
    workers: int | None,
) -> CollectReport:
    cfg = ctx.settings.collection
    total = CollectReport()
    jobs = _unread(ctx, paths, total, on_file)
    count = _reader_count(ctx, workers)
    first = list(islice(jobs, 2 * count))  # enough unread files to be worth the readers?
    pool = _readers(ctx, len(first), workers)
    if pool is not None:
        chunk = max(1, min(16, len(paths) // (count * 4)))
        parsed_files: Iterable[ParsedFile] = pool.read(chain(first, jobs), period, chunk=chunk)
    else:
        home = ctx.settings.home
        parsed_files = (
            parse_file(p, sha, catalogue, ctx.directory, cfg, home, period=period)
            for p, sha in chain(first, jobs)
        )
    pending: list[tuple[ParsedFile, list[NewSubmission]]] = []

    def flush() -> None:
        outcomes = iter(store_submissions(ctx.store, [e for _, entries in pending for e in entries]))
        for parsed, entries in pending:
            _tally(total, parsed, entries, [next(outcomes) for _ in entries])
            if on_file:
                on_file(parsed.path)
        pending.clear()

    for parsed in parsed_files:
        at = received_at(parsed.path) if received_at else _received_at(parsed.path)
        pending.append((parsed, _entries(parsed, at, period, version)))
        if len(pending) >= _STORE_CHUNK:
            flush()
    flush()
    return total


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
        content_hash=rec.content_hash,
        received_at=at,
        unit=ident.unit,
        unit_raw=rec.unit,
        period=ident.period,
        item=item,
        findings=findings,
        raw=rec.raw,
    )

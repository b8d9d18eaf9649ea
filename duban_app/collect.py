"""Job: received files → stored submissions, items and findings.

One bad file never stops a batch: anything a file does wrong ends as a quarantined
submission with the reason, and the loop goes on. Files are read and stored a chunk at a
time (``duban_app.receive``), each chunk in one transaction: on the reader processes for a
batch worth them (``duban_app.readers``), else here. ``collect_files`` takes any list of
paths, so a Prefect flow can fan batches out.

Example:
    >>> rep = collect_files(ctx, find_files(Path("inbox")), period="2026Q4")
    >>> rep.submissions_new, rep.items_accepted
    (112, 2480)
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from duban_app.collect_api import collect_api
from duban_app.context import AppContext
from duban_app.readers import ReaderPool, reader_pool, worker_count
from duban_app.receive import Job, Reading, receive_chunk, receive_crashed
from duban_app.report import CollectReport

__all__ = [
    "SPREADSHEET_SUFFIXES",
    "CollectReport",
    "collect_api",
    "collect_files",
    "find_files",
    "start_readers",
]

log = logging.getLogger("duban.collect")
#: Files read and stored per transaction (fewer for a small batch, so every reader gets work): a
#: crash loses at most this many files' work. Each transaction rewrites the index pages it
#: touches and has a fixed cost: 64 files a chunk took ~15% less CPU than 32 for 2,000 files.
_STORE_CHUNK = 64
SPREADSHEET_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".et", ".ods", ".csv", ".tsv", ".txt"}


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


def _reader_count(ctx: AppContext, workers: int | None) -> int:
    return worker_count(ctx.settings.collection.read_workers if workers is None else workers)


def _shared_store(url: str) -> bool:
    """Whether other processes can open the store at ``url`` (not an in-memory SQLite)."""
    return not (url.startswith("sqlite") and (url.rstrip("/").endswith(":") or ":memory:" in url))


def _readers(ctx: AppContext, files: int, workers: int | None) -> ReaderPool | None:
    """The reader pool when ``files`` are worth reading on several processes, else None."""
    count = _reader_count(ctx, workers)
    url = ctx.settings.db_url
    if count < 2 or files < 2 * count or not _shared_store(url):
        return None
    catalogue, _ = ctx.catalogue(with_units=False)
    cfg, home = ctx.settings.collection, ctx.settings.home
    return reader_pool(catalogue, ctx.directory, cfg, home, workers=count, store_url=url)


def start_readers(ctx: AppContext, files: int, *, workers: int | None = None) -> None:
    """Start the reader processes for a batch of ``files`` now, before the caller starts threads
    (a progress bar): forked from a single-threaded process they start in milliseconds."""
    pool = _readers(ctx, files, workers)
    if pool is not None:
        pool.start()


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

    Files already stored (by content hash) are not read again. The rest are read and stored on
    ``workers`` processes (default ``collection.read_workers``; 1 reads in this process), a
    chunk per transaction; ``on_file`` is called for each file once it is stored, in the order
    given. ``received_at`` (default: the file's modification time) dates each file.
    """
    catalogue, version = ctx.catalogue(with_units=False)
    files = [Path(p) for p in paths]
    jobs: list[Job] = [(str(p), received_at(p) if received_at else None) for p in files]
    reading = Reading(catalogue, version, ctx.directory, ctx.settings.collection, ctx.settings.home, period)
    total = CollectReport()
    with _frozen_heap():
        pool = _readers(ctx, len(jobs), workers)
        if pool is not None:
            count = pool.workers
            chunk = max(1, min(_STORE_CHUNK, len(jobs) // (count * 4)))
            crashed = lambda job: receive_crashed(ctx.store, job, reading)  # noqa: E731
            reports: Iterable[CollectReport] = pool.receive(
                jobs, period, version, crashed=crashed, chunk=chunk
            )
        else:
            parts = (jobs[i : i + _STORE_CHUNK] for i in range(0, len(jobs), _STORE_CHUNK))
            reports = (r for part in parts for r in receive_chunk(ctx.store, part, reading))
        for path, rep in zip(files, reports, strict=True):
            total.merge(rep)
            if on_file:
                on_file(path)
    return total


@contextmanager
def _frozen_heap() -> Iterator[None]:
    """Keep what exists before the batch (catalogue, directory, modules: ~10⁶ objects at 2,000
    units) out of the cyclic collector's scans while the batch allocates: its full collections
    otherwise cost a tenth of the time. Objects made during the batch are collected as usual."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()

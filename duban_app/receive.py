"""One chunk of received files → stored submissions, in one transaction.

Runs where the chunk is read — in a reader process (``duban_app.readers``) or, for a small
batch, in the caller's — so the rows read never cross a pipe between processes: each reader
stores its own chunks, the readers taking turns through the store's write lock
(``Store.writing``). Each file is read from disk once; its bytes are hashed, copied to the raw
store and parsed. Content already stored (under any name) is neither parsed nor stored again,
so a rerun after a crash redoes only the chunks that had not committed.

Example:
    >>> reading = Reading(catalogue, version, directory, settings.collection, settings.home, "2026Q4")
    >>> [r.submissions_new for r in receive_chunk(store, [("inbox/市大数据局.xlsx", None)], reading)]
    [1]
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from duban.collect.intake import (
    NewSubmission,
    Outcome,
    Received,
    file_sha256,
    known_files,
    store_submissions,
)
from duban.domain import Catalogue
from duban.settings import CollectionConfig
from duban.store import Store
from duban.store.db import SHANGHAI, now
from duban.units import UnitDirectory
from duban_app.parse import Content, ParsedFile, crashed_file, in_groups, load_content, parse_contents
from duban_app.report import CollectReport

__all__ = ["Job", "Reading", "receive_chunk", "receive_crashed"]

log = logging.getLogger("duban.collect")

#: (path, received_at); None takes the file's modification time
Job = tuple[str, datetime | None]


@dataclass(frozen=True)
class Reading:
    """What one collection reads and stores files against."""

    catalogue: Catalogue
    version: int
    directory: UnitDirectory
    cfg: CollectionConfig
    home: Path
    period: str | None = None


def _received_at(path: Path) -> datetime:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, SHANGHAI)
    except OSError:
        return now()


def _load(path: Path, max_bytes: int) -> tuple[bytes | None, str | None, str | None]:
    """(bytes or None when not loaded, sha256, why the file cannot be opened at all)."""
    data = load_content(path, max_bytes)
    if data is not None:
        return data, hashlib.sha256(data).hexdigest(), None
    try:  # over the size limit or empty: hashed from disk, refused with the reason by the reader
        return None, file_sha256(path), None
    except OSError as exc:
        return None, None, exc.strerror or str(exc)


def _entries(parsed: ParsedFile, at: datetime, reading: Reading) -> list[NewSubmission]:
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
        return [NewSubmission(base, reading.period, None, quarantine=parsed.quarantine)]
    return [
        NewSubmission(
            replace(base, sheet=t.sheet),
            t.period,
            t.unit,
            unit_raw=t.unit_raw,
            prepared_items=t.item_rows,
            findings=t.findings,
            meta=t.meta,
            catalogue_version=reading.version,
        )
        for t in parsed.tables
    ]


def _unopened(path: Path, at: datetime, why: str, reading: Reading) -> NewSubmission:
    """A file that cannot be opened at all: nothing to keep, so it is stored by its path (a
    rerun after the file is fixed reads it by its content) and quarantined with the reason."""
    received = Received(source="file", source_ref=str(path), received_at=at)
    reason = ("无法打开文件", f"cannot open file: {why}")
    return NewSubmission(received, reading.period, None, quarantine=reason)


def _tally(rep: CollectReport, tables: int, entries: list[NewSubmission], outcomes: list[Outcome]) -> None:
    """Count what storing did; a file found stored meanwhile (by another chunk) counts as known."""
    if any(out.created for out in outcomes):
        rep.tables += tables
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


def _store(store: Store, pending: list[tuple[CollectReport, int, list[NewSubmission]]]) -> None:
    outcomes = iter(store_submissions(store, [e for _, _, entries in pending for e in entries]))
    for rep, tables, entries in pending:
        _tally(rep, tables, entries, [next(outcomes) for _ in entries])


Loaded = tuple[Job, tuple[bytes | None, str | None, str | None], CollectReport]


def _loaded(jobs: Sequence[Job], reports: list[CollectReport], max_bytes: int) -> Iterator[list[Loaded]]:
    """The chunk's files loaded (``_load``) as they are needed, in runs of at most
    ``parse.GROUP_BYTES`` (one file at least)."""
    loading = ((job, _load(Path(job[0]), max_bytes), rep) for job, rep in zip(jobs, reports, strict=True))
    return in_groups(loading, lambda one: len(one[1][0] or b""))


def receive_chunk(
    store: Store, jobs: Sequence[Job], reading: Reading, *, turn: AbstractContextManager[Any] | None = None
) -> list[CollectReport]:
    """Hash, read and store a chunk of files in one transaction; a report per file, in order.
    Never raises for bad content: a file that cannot be used is stored quarantined. ``turn`` is
    entered around the storing (the reader pool stores chunks in the order they were sent).
    The chunk is read a step at a time over all its files (``parse_contents``), big files a few
    at a time (``parse.GROUP_BYTES``)."""
    reports = [CollectReport(files=1) for _ in jobs]
    pending: list[tuple[CollectReport, int, list[NewSubmission]]] = []
    first: dict[str, list[NewSubmission]] = {}  # content read earlier in this chunk: its entries
    again: list[tuple[CollectReport, str]] = []
    for group in _loaded(jobs, reports, reading.cfg.max_file_bytes):
        known = known_files(store, [sha for _, (_, sha, _), _ in group if sha])
        todo: list[Content] = []
        slots: list[tuple[int, datetime | None]] = []  # where each file of ``todo`` goes in ``pending``
        for (name, at), (data, sha, why), rep in group:
            path = Path(name)
            if sha is None:
                log.error("%s: cannot open: %s", path, why)
                pending.append((rep, 0, [_unopened(path, at or now(), why or "", reading)]))
            elif sha in known:  # the same content was stored before (under any name)
                rep.submissions_known += known[sha]
            elif sha in first:  # ... or is about to be, from an earlier file of this chunk
                again.append((rep, sha))
            else:
                first[sha] = []
                todo.append((path, sha, data))
                slots.append((len(pending), at))
                pending.append((rep, 0, first[sha]))  # filled in once the group is read
        r = reading
        parsed = parse_contents(todo, r.catalogue, r.directory, r.cfg, r.home, period=r.period)
        for done, (slot, at) in zip(parsed, slots, strict=True):
            rep, _, entries = pending[slot]
            entries += _entries(done, at or _received_at(done.path), reading)
            pending[slot] = (rep, len(done.tables), entries)
    with turn or nullcontext():
        _store(store, pending)
    for rep, sha in again:
        rep.submissions_known += len(first[sha])
    return reports


def receive_crashed(store: Store, job: Job, reading: Reading) -> CollectReport:
    """Store a file whose reading killed a reader process twice, quarantined (see ``readers``)."""
    path, at = Path(job[0]), job[1] or _received_at(Path(job[0]))
    rep = CollectReport(files=1)
    try:
        sha = file_sha256(path)
    except OSError as exc:
        _store(store, [(rep, 0, [_unopened(path, at, exc.strerror or str(exc), reading)])])
        return rep
    _store(store, [(rep, 0, _entries(crashed_file(path, sha, reading.home), at, reading))])
    return rep

"""One received file → what will be stored for it: the pure part of collection.

Everything here depends only on the file, the catalogue, the unit directory and the settings —
no store and no clock — so a batch can be read on every core (``duban_app.readers``) while one
writer stores the results in order. Reading never raises for bad content: whatever a file
does wrong ends as ``ParsedFile.quarantine`` with the reason in Chinese and English.

A file's rows are not copied into the store: the file itself is kept byte for byte in the raw
store (``raw_path``, named by its sha256) and reading it again gives the same rows, so a copy as
JSON would only double what the writer stores (it was 30% of the bytes written). The
submission's ``meta["rows"]`` says how many rows were read.

Example:
    >>> path = Path("inbox/市大数据局.xlsx")
    >>> data = load_content(path, cfg.max_file_bytes)
    >>> parsed = parse_content(path, sha, data, catalogue, directory, cfg, home)
    >>> [(t.unit, t.period, len(t.item_rows)) for t in parsed.tables]
    [('市大数据局', '2026Q4', 12)]
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from connectors.spreadsheets import read_content, read_many
from duban.collect.identify import Identity, identify
from duban.collect.rawstore import keep_raw
from duban.collect.rows import item_rows
from duban.collect.validate import validate_table
from duban.domain import Catalogue, Finding, ReportedItem, SheetTable
from duban.errors import SubmissionUnreadable
from duban.settings import CollectionConfig
from duban.units import UnitDirectory

__all__ = [
    "GROUP_BYTES",
    "Content",
    "ParsedFile",
    "ParsedTable",
    "crashed_file",
    "in_groups",
    "load_content",
    "parse_content",
    "parse_contents",
]

log = logging.getLogger("duban.collect")
T = TypeVar("T")


@dataclass
class ParsedTable:
    """One report table of a file, identified and validated."""

    sheet: str | None
    unit: str | None
    period: str | None
    unit_raw: str | None
    #: ``duban.collect.rows.item_rows`` of the accepted items: plain tuples, cheap to send back
    item_rows: list[tuple[Any, ...]]
    findings: list[Finding]
    #: the table's metadata, notes and ``rows`` (rows read); the rows themselves stay in the raw file
    meta: dict[str, Any]


@dataclass
class ParsedFile:
    """A file as read: its tables, or why it cannot be used (``quarantine`` = (zh, en))."""

    path: Path
    sha256: str
    size_bytes: int
    raw_path: Path
    tables: list[ParsedTable] = field(default_factory=list)
    quarantine: tuple[str, str] | None = None


def _checked(table: SheetTable, ident: Identity, catalogue: Catalogue, cfg: CollectionConfig) -> ParsedTable:
    """A table whose unit and period were identified (or not), validated against the catalogue."""
    findings: list[Finding] = list(ident.findings)
    items: list[ReportedItem] = []
    if ident.unit and ident.period:
        items, problems = validate_table(
            table, catalogue, ident.unit, ident.period, accept=cfg.fuzzy_accept, suggest=cfg.fuzzy_suggest
        )
        findings.extend(problems)
    return ParsedTable(
        sheet=table.sheet,
        unit=ident.unit,
        period=ident.period,
        unit_raw=table.meta.get("unit") or table.unit_hint,
        item_rows=item_rows(items, findings, ident.period, ident.unit) if ident.unit and ident.period else [],
        findings=findings,
        meta={**table.meta, "notes": "; ".join(table.notes), "rows": len(table.rows)},
    )


def load_content(path: Path, max_bytes: int) -> bytes | None:
    """The file's bytes, or None when the reader refuses to load them (over ``max_bytes``,
    empty, unreadable): ``read_tables`` then says why, from the path."""
    try:
        return read_content(path, max_bytes=max_bytes)
    except SubmissionUnreadable:
        return None


#: Bytes of files loaded and read a step at a time together (``in_groups``): typical returned
#: files are tens of KB (a chunk of 64 is one group); near the size limit a few at a time.
GROUP_BYTES = 32_000_000

#: (path, sha256, bytes or None when not loaded) of one received file (``load_content``)
Content = tuple[Path, str, bytes | None]


def parse_content(
    path: Path,
    sha256: str,
    data: bytes | None,
    catalogue: Catalogue,
    directory: UnitDirectory,
    cfg: CollectionConfig,
    home: Path,
    *,
    period: str | None = None,
    sender: str | None = None,
) -> ParsedFile:
    """Keep the raw copy, read every table, identify and validate it, on bytes already read
    (``load_content``); never raises for bad content. The file is read from disk once,
    its bytes feed the hash, the raw copy and the reader (a file over the size limit is copied,
    not loaded, and refused by ``read_tables``)."""
    files = [(path, sha256, data)]
    return parse_contents(files, catalogue, directory, cfg, home, period=period, sender=sender)[0]


def parse_contents(
    files: Sequence[Content],
    catalogue: Catalogue,
    directory: UnitDirectory,
    cfg: CollectionConfig,
    home: Path,
    *,
    period: str | None = None,
    sender: str | None = None,
) -> list[ParsedFile]:
    """``parse_content`` for a chunk of files, a step at a time over all of them: every raw
    copy, then every read (``read_many``: every format and limit, every workbook, every table),
    then every table identified, then every identified table checked.

    The same work as file by file, in another order: each step's code and data stay in the
    processor's caches across the chunk instead of being evicted by the next step's. For
    2,000 typical files: 10–15% less CPU with the copies, reads and checks apart, another 5%
    with the finer steps (alternating single-process runs; benchmarks/README.md). Every
    workbook of a step is open at once: callers load big files a few at a time (``in_groups``).
    """
    out = [_kept(path, sha256, data, home) for path, sha256, data in files]
    limits = {"max_bytes": cfg.max_file_bytes, "max_uncompressed": cfg.max_uncompressed_bytes}
    read = read_many([(path, data) for path, _, data in files], **limits)
    todo: list[tuple[ParsedFile, list[SheetTable]]] = []
    for parsed, tables in zip(out, read, strict=True):
        if isinstance(tables, SubmissionUnreadable):
            parsed.quarantine = (tables.reason_zh, tables.reason_en)
        elif not tables:
            parsed.quarantine = ("未找到报表（没有可识别的表头）", "no report table found")
        else:
            todo.append((parsed, tables))
    # identify every table, then check every identified one: each file on its own (a bug in
    # one file's checking quarantines that file only)
    idents = [_step(parsed, _identify_all, tables, directory, cfg, period, sender) for parsed, tables in todo]
    for (parsed, tables), found in zip(todo, idents, strict=True):
        if found is not None:
            _step(parsed, _check_all, tables, found, catalogue, cfg)
    return out


def in_groups(items: Iterable[T], size: Callable[[T], int]) -> Iterator[list[T]]:
    """``items`` in runs of at most ``GROUP_BYTES`` by ``size`` (an item larger than that alone),
    taken from ``items`` as they come: a caller that loads files lazily holds one group at a time
    (and every workbook of a step is open, every sheet of it read, at once)."""
    group: list[T] = []
    total = 0
    for item in items:
        n = size(item)
        if group and total + n > GROUP_BYTES:
            yield group
            group, total = [], 0
        group.append(item)
        total += n
    if group:
        yield group


def _step(parsed: ParsedFile, step: Callable[..., Any], *args: Any) -> Any:
    """``step(parsed, *args)``, or None with ``parsed`` quarantined when it fails unexpectedly."""
    try:
        return step(parsed, *args)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        _internal_error(parsed, exc)
        return None


def _identify_all(
    parsed: ParsedFile,
    tables: list[SheetTable],
    directory: UnitDirectory,
    cfg: CollectionConfig,
    period: str | None,
    sender: str | None,
) -> list[Identity]:
    name = parsed.path.name
    return [
        identify(t, directory, filename=name, sender=sender, senders=cfg.senders, cli_period=period)
        for t in tables
    ]


def _check_all(
    parsed: ParsedFile,
    tables: list[SheetTable],
    idents: list[Identity],
    catalogue: Catalogue,
    cfg: CollectionConfig,
) -> None:
    parsed.tables = [_checked(t, ident, catalogue, cfg) for t, ident in zip(tables, idents, strict=True)]


def _kept(path: Path, sha256: str, data: bytes | None, home: Path) -> ParsedFile:
    raw = keep_raw(home, path, sha256, data)
    size = len(data) if data is not None else raw.stat().st_size
    return ParsedFile(path=path, sha256=sha256, size_bytes=size, raw_path=raw)


def _internal_error(parsed: ParsedFile, exc: BaseException) -> None:
    # BaseException: pyo3 raises a Rust panic in calamine as PanicException, a BaseException
    log.exception("unexpected error reading %s", parsed.path, exc_info=exc)
    parsed.tables = []
    parsed.quarantine = (f"读取时发生内部错误（{type(exc).__name__}）", f"internal error: {exc!r}")


def crashed_file(path: Path, sha256: str, home: Path) -> ParsedFile:
    """A file whose reading killed the reader process twice: kept raw and quarantined."""
    raw = keep_raw(home, path, sha256)
    return ParsedFile(
        path=path,
        sha256=sha256,
        size_bytes=raw.stat().st_size,
        raw_path=raw,
        quarantine=(
            "读取该文件时读取进程异常退出，文件可能已损坏，请重新导出后报送",
            "the reader process died while reading this file (damaged file?)",
        ),
    )

"""Find the report table in a grid of cells and turn it into a ``SheetTable``.

Units return sheets with titles, ``填报单位：`` lines, merged and two-row headers, renamed
columns and footers. Detection works on plain grids (lists of rows) so that every reader —
calamine for workbooks, the csv module for text — shares it, and so it can be tested without
files. It looks at the first rows only (``SCAN_ROWS``) and walks the body once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from duban.domain import FIELDS, SheetTable

from .body import EXCEL_ERRORS, read_body
from .body import cell_text as _text
from .body import column_name as _col_name
from .body import is_empty as _empty
from .headers import MATCH_CACHE, MAX_HEADING, HeaderMatch, match_header
from .hints import find_period, find_unit, period_in_rows

__all__ = [
    "EXCEL_ERRORS",
    "META_SHEET",
    "SCAN_ROWS",
    "Header",
    "RawSheet",
    "find_header",
    "read_meta",
    "table_from_sheet",
]

SCAN_ROWS = 30  # the header is looked for in this many rows from the top of the data
META_SHEET = "_duban"  # the template's hidden key/value sheet
#: fields of which a header row must hold at least one: what identifies or reports a task.
_KEY_FIELDS = frozenset({"title", "item_id", "number", "narrative", "status"})
_QUIET_ROWS = 2  # after a header, this many rows naming no field mean the data has begun
_MISS = object()
_cache_get = MATCH_CACHE.get
_MAX_REMEMBERED = 2_000  # rows and headers remembered across files (cleared when full) …
_MAX_REMEMBERED_WIDTH = 100  # … when no wider than this
#: row → its cells naming a field; one-row header → its ``Header`` (top 0), across files.
_ROWS: dict[tuple[Any, ...], dict[int, HeaderMatch]] = {}
_HEADERS: dict[tuple[Any, ...], Header] = {}


@dataclass
class RawSheet:
    """A sheet as a reader produced it: rows of raw values and where they sit in the sheet."""

    name: str
    rows: list[list[Any]]
    first_row: int = 1  # 1-based sheet row of rows[0]
    first_col: int = 1  # 1-based sheet column of rows[i][0]
    merged: Sequence[tuple[tuple[int, int], tuple[int, int]]] = ()  # 0-based sheet (row, col) corners
    hidden: bool = False


@dataclass
class Header:
    """Where the header is (0-based grid rows) and which grid column holds which field."""

    top: int
    bottom: int  # == top for a one-row header
    columns: dict[str, int]
    headings: dict[str, str]
    unknown: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _fill_down(sheet: RawSheet, below: int) -> int:
    """Copy the value of each range merged down inside the body into the rows it covers.

    A task or unit merged over several rows is read on each of them, as the eye reads it.
    Only downwards and only in the range's first column: a text merged across columns
    belongs to its first column's field, not to every field it covers. The header rows
    need no filling (``find_header`` reads merged labels from their top-left cell).
    """
    rows, r0, c0 = sheet.rows, sheet.first_row - 1, sheet.first_col - 1
    filled = 0
    for (top, left), (bottom, _right) in sheet.merged:
        top, bottom, left = top - r0, bottom - r0, left - c0
        if top <= below or bottom <= top or left < 0 or top >= len(rows) or left >= len(rows[top]):
            continue
        value = rows[top][left]
        if _empty(value):
            continue
        for r in range(top + 1, min(bottom, len(rows) - 1) + 1):
            row = rows[r]
            if left < len(row) and (row[left] == "" or row[left] is None):
                row[left] = value
        filled += 1
    return filled


def _resolve(matches: dict[int, HeaderMatch], texts: dict[int, str]) -> Header:
    """Pick one column per field: a synonym beats a keyword, then the leftmost wins."""
    if len({m.field for m in matches.values()}) == len(matches):  # one column per field: no choice
        return Header(
            0, 0, {m.field: c for c, m in matches.items()}, {m.field: texts[c] for c, m in matches.items()}
        )
    by_field: dict[str, list[int]] = {}
    for col in sorted(matches):
        by_field.setdefault(matches[col].field, []).append(col)
    notes: list[str] = []
    # 完成情况 means the narrative unless a real narrative column exists; then maybe the status.
    narr = by_field.get("narrative", [])
    ambiguous = [c for c in narr if matches[c].ambiguous]
    if ambiguous and len(ambiguous) < len(narr):
        for col in ambiguous:
            narr.remove(col)
            if "status" not in by_field:
                by_field["status"] = [col]
                notes.append(f"column {texts[col]} read as the status (a narrative column exists)")
    columns: dict[str, int] = {}
    for fld, cols in by_field.items():
        if not cols:
            continue
        best = min(cols, key=lambda c: (not matches[c].exact, c))
        columns[fld] = best
        for col in cols:
            if col != best:
                notes.append(f"column {_col_name(col)} '{texts[col]}' also looks like {FIELDS[fld]}; ignored")
    headings = {fld: texts[col] for fld, col in columns.items()}
    return Header(top=0, bottom=0, columns=columns, headings=headings, notes=notes)


def _qualifies(matches: dict[int, HeaderMatch]) -> bool:
    """At least two fields named by a synonym, one of them identifying or reporting a task."""
    exact = {m.field for m in matches.values() if m.exact}
    return len(exact) >= 2 and not _KEY_FIELDS.isdisjoint(exact)


def _any_exact(matches: dict[int, HeaderMatch]) -> bool:
    return any(m.exact for m in matches.values())


def _row_matches(row: list[Any]) -> dict[int, HeaderMatch]:
    """The cells of a row naming a field (a shared dict: never to be changed).

    Titles, label lines and headers repeat across a batch's files, so whole rows are
    remembered (``_ROWS``, bounded), unless they hold long text like a data row. Otherwise
    the cells are looked up in the heading cache with one ``map``: only text seen for the
    first time is matched (numbers and long text are never cached)."""
    key = tuple(row)
    found = _ROWS.get(key)
    if found is not None:
        return found
    found = {}
    keep = True
    for c, m in enumerate(map(_cache_get, key, repeat(_MISS))):
        if m is None:
            continue
        if m is _MISS:
            value = key[c]
            if value.__class__ is not str:
                continue
            if not 0 < len(value) <= MAX_HEADING:
                keep = keep and not value  # a row of long text is data: not worth remembering
                continue
            m = match_header(value)
            if m is None:
                continue
        found[c] = m
    if keep and len(key) <= _MAX_REMEMBERED_WIDTH:
        if len(_ROWS) >= _MAX_REMEMBERED:
            _ROWS.clear()
        _ROWS[key] = found
    return found


def find_header(rows: list[list[Any]], scan: int = SCAN_ROWS) -> Header | None:
    """The header among the first ``scan`` rows: the row (or pair of rows) naming most fields.

    A pair is used when the rows together name more fields than either alone: an upper row
    of group labels (完成情况 over 完成状态 | 完成进度) or labels merged down over two rows.
    Scanning stops a few rows into the data once a header has been found.
    """
    limit = min(scan, len(rows))
    best: tuple[tuple[int, int, int], int, int, dict[int, HeaderMatch], dict[int, str] | None] | None = None
    lower = _row_matches(rows[0]) if limit else {}
    quiet = 0  # rows without a synonym since the best header so far
    for r in range(limit):
        single = lower
        if best is not None:
            quiet = 0 if _any_exact(single) else quiet + 1
            if quiet >= _QUIET_ROWS:
                break
        lower = _row_matches(rows[r + 1]) if r + 1 < limit else {}
        if len(single) >= 2 and _qualifies(single):
            key = (len({m.field for m in single.values()}), 1, -r)
            if best is None or key > best[0]:
                best = (key, r, r, single, None)  # a single row's texts are read once it has won
        if lower and _any_exact(single) and _any_exact(lower):
            pair, texts = _pair(rows[r], rows[r + 1], lower)
            fields = {m.field for m in pair.values()}
            alone = max(len({m.field for m in single.values()}), len({m.field for m in lower.values()}))
            if _qualifies(pair) and len(fields) > alone:
                key = (len(fields), 0, -r)
                if best is None or key > best[0]:
                    best = (key, r, r + 1, pair, texts)
    if best is None:
        return None
    _, top, bottom, matches, texts = best
    if texts is None:  # one header row: the same row in another file gives the same header
        return _one_row_header(rows[top], top, matches)
    return _header(rows, top, bottom, matches, texts)


def _one_row_header(row: list[Any], top: int, matches: dict[int, HeaderMatch]) -> Header:
    """The header of one row, remembered for rows of text only (a number's text may differ
    between equal values, 1 and 1.0): the template's header is worked out once per batch."""
    key = tuple(row)
    known = _HEADERS.get(key)
    if known is None:
        known = _header([row], 0, 0, matches, {c: _text(row[c]) for c in matches})
        if len(key) <= _MAX_REMEMBERED_WIDTH and all(v is None or v.__class__ is str for v in row):
            if len(_HEADERS) >= _MAX_REMEMBERED:
                _HEADERS.clear()
            _HEADERS[key] = known
    return Header(top, top, dict(known.columns), dict(known.headings), list(known.unknown), list(known.notes))


def _header(
    rows: list[list[Any]], top: int, bottom: int, matches: dict[int, HeaderMatch], texts: dict[int, str]
) -> Header:
    """The header of rows ``top``–``bottom``: one column per field, and the headings no field took."""
    header = _resolve(matches, texts)
    header.top, header.bottom = top, bottom
    used = set(header.columns.values())
    for r in range(top, bottom + 1):
        for c, value in enumerate(rows[r]):
            if c not in used and c not in matches and not _empty(value):
                text = _text(value)
                if text not in header.unknown and (
                    bottom == top or r == bottom or _empty(_cell(rows[bottom], c))
                ):
                    header.unknown.append(text)
    return header


def _cell(row: list[Any], c: int) -> Any:
    return row[c] if c < len(row) else None


def _pair(
    upper: list[Any], lower: list[Any], lower_matches: dict[int, HeaderMatch]
) -> tuple[dict[int, HeaderMatch], dict[int, str]]:
    """Per column: the lower label if there is one (or upper+lower together), else the upper."""
    matches: dict[int, HeaderMatch] = {}
    texts: dict[int, str] = {}
    for c in range(max(len(upper), len(lower))):
        up, low = _cell(upper, c), _cell(lower, c)
        if not _empty(low):
            m = lower_matches.get(c)
            text = _text(low)
            if m is None and isinstance(up, str) and not _empty(up) and up.strip() != text:
                text = up.strip() + text
                m = match_header(text)
        else:
            m = match_header(up)
            text = _text(up)
        if m is not None:
            matches[c], texts[c] = m, text
    return matches, texts


def read_meta(rows: list[list[Any]]) -> dict[str, str]:
    """The template's key/value pairs (columns A:B of the ``_duban`` sheet) as strings."""
    meta: dict[str, str] = {}
    for row in rows:  # cell_text and is_empty inlined: every template file has this sheet
        if len(row) < 2:
            continue
        key, value = row[0], row[1]
        if isinstance(key, str):
            key = key.strip()
            if not key:
                continue
        elif key is None or key == "":
            continue
        else:
            key = str(key)
        if isinstance(value, str):
            meta[key] = value.strip()
        elif value is None:
            meta[key] = ""
        elif isinstance(value, float) and value.is_integer():
            meta[key] = str(int(value))
        else:
            meta[key] = str(value)
    return meta


def table_from_sheet(
    sheet: RawSheet,
    *,
    source: str,
    file_name: str = "",
    meta: dict[str, str] | None = None,
) -> SheetTable | None:
    """The sheet's report table, or None when no row looks like a report header."""
    rows = sheet.rows
    header = find_header(rows)
    if header is None:
        return None
    filled = _fill_down(sheet, header.bottom) if sheet.merged else 0
    meta = dict(meta or {})
    notes = list(header.notes)
    if header.bottom > header.top:
        first = sheet.first_row
        notes.insert(0, f"two-row header on rows {first + header.top}–{first + header.bottom}")
    if filled:
        notes.append(f"{filled} cell range(s) merged down over data rows: value read on each row")
    if header.unknown:
        notes.append("unknown headers ignored: " + ", ".join(header.unknown))
    above = rows[: header.top]
    unit_hint = find_unit(above)
    line_period = period_in_rows(above)
    period_hint = find_period(meta.get("period"), line_period, sheet.name, file_name)
    if meta.get("period") and line_period and period_hint != line_period:
        notes.append(
            f"period {line_period} written above the table differs from the template's {period_hint}"
        )
    body, ends = read_body(rows, header.columns, header.bottom + 1, sheet.first_row, sheet.first_col)
    notes.extend(ends)
    return SheetTable(
        source=source,
        sheet=sheet.name,
        header_row=sheet.first_row + header.top,
        columns=header.headings,
        rows=body,
        meta=meta,
        unit_hint=unit_hint,
        period_hint=period_hint,
        notes=notes,
    )

"""Find the report table in a grid of cells and turn it into a ``SheetTable``.

Units return sheets with titles, ``填报单位：`` lines, merged and two-row headers, renamed
columns and footers. Detection works on plain grids (lists of rows) so that every reader —
calamine for workbooks, the csv module for text — shares it, and so it can be tested without
files. It looks at the first rows only (``SCAN_ROWS``) and walks the body once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from typing import Any

from duban.domain import FIELDS, SheetTable, SubmissionRow

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
BLANK_RUN_END = 5  # this many fully blank rows end the table
META_SHEET = "_duban"  # the template's hidden key/value sheet
EXCEL_ERRORS = frozenset(
    {"#N/A", "#DIV/0!", "#REF!", "#VALUE!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!",
     "#GETTING_DATA", "#FIELD!", "#BLOCKED!", "#UNKNOWN!", "#CONNECT!", "#BUSY!"}
)  # fmt: skip
#: fields of which a header row must hold at least one: what identifies or reports a task.
_KEY_FIELDS = frozenset({"title", "item_id", "number", "narrative", "status"})
_FOOTER = re.compile(
    r"^(?:合\s*计|总\s*计|填报说明|填表说明|制表人|制表|审核人|审核|审批人|复核人|负责人|单位负责人|"
    r"分管领导|填报人|填表人|联系人|联系电话|说明|注|备注|附注)\s*(?:[:：]|$)"
    r"|^(?:合\s*计|总\s*计|填报说明|填表说明)"
)
_FOOTER_START = frozenset("合总填制审复负单分联说注备附")
_MAX_NOTES = 5
_QUIET_ROWS = 2  # after a header, this many rows naming no field mean the data has begun
_MISS = object()
_cache_get = MATCH_CACHE.get


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


def _empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value))


def _col_name(col: int) -> str:
    name = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        name = chr(65 + rem) + name
    return name


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
    return len(exact) >= 2 and any(f in _KEY_FIELDS for f in exact)


def _any_exact(matches: dict[int, HeaderMatch]) -> bool:
    return any(m.exact for m in matches.values())


def _row_matches(row: list[Any]) -> dict[int, HeaderMatch]:
    found: dict[int, HeaderMatch] = {}
    for c, value in enumerate(row):
        if value.__class__ is str and 0 < len(value) <= MAX_HEADING:
            m = _cache_get(value, _MISS)
            if m is _MISS:
                m = match_header(value)
            if m is not None:
                found[c] = m
    return found


def find_header(rows: list[list[Any]], scan: int = SCAN_ROWS) -> Header | None:
    """The header among the first ``scan`` rows: the row (or pair of rows) naming most fields.

    A pair is used when the rows together name more fields than either alone: an upper row
    of group labels (完成情况 over 完成状态 | 完成进度) or labels merged down over two rows.
    Scanning stops a few rows into the data once a header has been found.
    """
    limit = min(scan, len(rows))
    best: tuple[tuple[int, int, int], int, int, dict[int, HeaderMatch], dict[int, str]] | None = None
    lower = _row_matches(rows[0]) if limit else {}
    quiet = 0  # rows without a synonym since the best header so far
    for r in range(limit):
        single = lower
        lower = _row_matches(rows[r + 1]) if r + 1 < limit else {}
        if best is not None:
            quiet = 0 if _any_exact(single) else quiet + 1
            if quiet >= _QUIET_ROWS:
                break
        if len(single) >= 2 and _qualifies(single):
            key = (len({m.field for m in single.values()}), 1, -r)
            if best is None or key > best[0]:
                best = (key, r, r, single, {c: _text(rows[r][c]) for c in single})
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
    for row in rows:
        if len(row) < 2 or _empty(row[0]):
            continue
        key, value = _text(row[0]), row[1]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        meta[key] = _text(value)
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
    body, ends = _body(rows, header, sheet.first_row, sheet.first_col)
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


def _footer_note(row: list[Any], number: int) -> str:
    """The footer's own words are kept: they often name the reporter and a phone number."""
    text = " ".join(t for t in dict.fromkeys(_text(v) for v in row) if t)
    return f"table ends at footer row {number}: {text[:120]}"


def _clean_column(col: tuple[Any, ...]) -> tuple[tuple[Any, ...] | list[Any], bool]:
    """A column's values with strings stripped (empty → None), and whether any text in it
    could be an Excel error value (``#N/A`` …: the only values starting with ``#``).

    Most columns of a filled report are all text (stripped with one ``map``) or all numbers
    (returned as they are), handled with C-level calls; only mixed columns are walked value
    by value. Nothing is hashed: ``min`` over the text tells whether a ``#`` can occur.
    """
    if col[0].__class__ is str:
        try:
            stripped = list(map(str.strip, col))
        except TypeError:  # not all text after all
            pass
        else:
            if not all(stripped):
                stripped = [v or None for v in stripped]
            return stripped, min(filter(None, stripped), default="$")[:1] <= "#"
    if str not in set(map(type, col)):
        return col, False
    out = [(v.strip() or None) if v.__class__ is str else v for v in col]
    return out, min([v for v in out if v.__class__ is str], default="$")[:1] <= "#"


def _blank(row: list[Any]) -> bool:
    return all(_empty(v) for v in row)


def _table_end(body: list[list[Any]]) -> tuple[int, bool]:
    """Where the table ends in ``body``: before a run of blank rows or at a footer row.

    Works on whole rows with C-level calls (``any`` per row, a byte search for the blank
    run); only candidate rows are looked at in Python.
    """
    filled = bytes(map(any, body))  # 0: no truthy cell, so possibly blank
    end = len(body)
    run = b"\x00" * BLANK_RUN_END
    pos = filled.find(run)
    while pos != -1:
        not_blank = next((k for k in range(pos, pos + BLANK_RUN_END) if not _blank(body[k])), None)
        if not_blank is None:
            end = pos
            break
        pos = filled.find(run, not_blank + 1)
    scan = body[:end]
    heads = list(map(itemgetter(0), scan)) if all(scan) else [r[0] if r else None for r in scan]
    footer_start = _FOOTER_START
    for k in range(end):
        head = heads[k]
        if head.__class__ is str and head:
            if head[0] not in footer_start and not head[0].isspace():
                continue
        elif (head is not None and head != "") or not filled[k]:
            continue
        first = next((v for v in body[k] if not _empty(v)), None)
        if first.__class__ is str and _FOOTER.match(first.strip()):
            return k, True
    return end, False


def _body(
    rows: list[list[Any]], header: Header, first_row: int, first_col: int
) -> tuple[list[SubmissionRow], list[str]]:
    """The data rows under the header, up to a blank run or a footer; blank rows skipped.

    The row loop is kept out of Python where it can be: the end is found on whole rows,
    the values are cleaned column by column, and rows are built with ``map``. A report of
    a few dozen rows costs little more than calamine's own reading of it.
    """
    cols = sorted(header.columns.items(), key=lambda kv: kv[1])
    fields = [f for f, _ in cols]
    index = [c for _, c in cols]
    width = max(index) + 1
    nfields = len(fields)
    start = header.bottom + 1
    body = rows[start:]
    notes: list[str] = []
    end, footer = _table_end(body)
    if footer:
        notes.append(_footer_note(body[end], first_row + start + end))
    table = body[:end]
    if table and min(map(len, table)) >= width:
        picked = list(map(itemgetter(*index), table)) if nfields > 1 else [(r[index[0]],) for r in table]
    else:
        picked = [tuple(row[c] if c < len(row) else None for c in index) for row in table]
    keep: range | list[int] = range(len(picked))
    if b"\x00" in bytes(map(any, picked)):  # some rows hold nothing in the report's columns
        keep = [k for k, raw in enumerate(picked) if any(raw) or raw.count("") + raw.count(None) < nfields]
        picked = [picked[k] for k in keep]
    out: list[SubmissionRow] = []
    errors: list[str] = []
    if picked:
        cleaned = [_clean_column(col) for col in zip(*picked, strict=True)]
        columns = [col for col, _ in cleaned]
        for j, (col, may_err) in enumerate(cleaned):
            if may_err and not EXCEL_ERRORS.isdisjoint(col):
                col = columns[j] = list(col)
                for k, v in enumerate(col):
                    if v.__class__ is str and v in EXCEL_ERRORS:
                        errors.append(
                            f"{_col_name(first_col - 1 + index[j])}{first_row + start + keep[k]} {v}"
                        )
                        col[k] = None
        values = list(zip(*columns, strict=True))
        numbers = [first_row + start + k for k in keep]
        if b"\x00" in bytes(map(any, values)):  # rows of whitespace (or errors) only are blank too
            pairs = [(n, v) for n, v in zip(numbers, values) if any(v) or v.count(None) < nfields]  # noqa: B905
            numbers, values = [n for n, _ in pairs], [v for _, v in pairs]
        out = list(map(SubmissionRow, numbers, map(dict, map(zip, repeat(fields), values))))
    if errors:
        more = f" and {len(errors) - _MAX_NOTES} more" if len(errors) > _MAX_NOTES else ""
        notes.append("Excel error values read as empty: " + ", ".join(errors[:_MAX_NOTES]) + more)
    if end < len(body):
        left = sum(1 for row in body[end + (1 if footer else 0) :] if not _blank(row))
        if left and not footer:
            notes.append(
                f"table ends at a run of {BLANK_RUN_END} blank rows before row {first_row + start + end}"
            )
        if left:
            notes.append(f"{left} non-empty row(s) below the end of the table ignored")
    return out, notes

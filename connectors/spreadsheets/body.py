"""The body of a report table: where it ends, and its values, cleaned, as ``SubmissionRow``s.

Thousands of returned files are read each quarter, so this walks as little as it can in
Python: the end of the table is found on whole rows with C-level calls, values are cleaned
a column at a time, and rows are built with ``map``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import starmap
from operator import itemgetter
from typing import Any

from duban.domain import SubmissionRow

__all__ = ["BLANK_RUN_END", "EXCEL_ERRORS", "cell_text", "column_name", "is_empty", "read_body"]

BLANK_RUN_END = 5  # this many fully blank rows end the table
EXCEL_ERRORS = frozenset(
    {"#N/A", "#DIV/0!", "#REF!", "#VALUE!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!",
     "#GETTING_DATA", "#FIELD!", "#BLOCKED!", "#UNKNOWN!", "#CONNECT!", "#BUSY!"}
)  # fmt: skip
_FOOTER = re.compile(
    r"^(?:合\s*计|总\s*计|填报说明|填表说明|制表人|制表|审核人|审核|审批人|复核人|负责人|单位负责人|"
    r"分管领导|填报人|填表人|联系人|联系电话|说明|注|备注|附注)\s*(?:[:：]|$)"
    r"|^(?:合\s*计|总\s*计|填报说明|填表说明)"
)
_FOOTER_START = frozenset("合总填制审复负单分联说注备附")
_FOOTER_HEAD = re.compile(r"[合总填制审复负单分联说注备附\s]")  # a footer's first letter, or a space
_first = itemgetter(0)
_MAX_NOTES = 5


def is_empty(value: Any) -> bool:
    """None, an empty string or whitespace only."""
    return value is None or value == "" or (isinstance(value, str) and not value.strip())


def cell_text(value: Any) -> str:
    """A cell as stripped text (None → "")."""
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value))


def column_name(col: int) -> str:
    """The sheet column letters of a 0-based column index (0 → A, 26 → AA)."""
    name = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        name = chr(65 + rem) + name
    return name


def _footer_note(row: list[Any], number: int) -> str:
    """The footer's own words are kept: they often name the reporter and a phone number."""
    text = " ".join(t for t in dict.fromkeys(cell_text(v) for v in row) if t)
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
            first = min(stripped)  # "" sorts first: a column without empty text is settled here
            if first:
                return stripped, first[:1] <= "#"
            if not any(stripped):
                return [None] * len(stripped), False
            stripped = [v or None for v in stripped]
            return stripped, min(filter(None, stripped))[:1] <= "#"
    if str not in set(map(type, col)):
        return col, False
    out = [(v.strip() or None) if v.__class__ is str else v for v in col]
    return out, min([v for v in out if v.__class__ is str], default="$")[:1] <= "#"


def _blank(row: list[Any]) -> bool:
    return all(is_empty(v) for v in row)


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
    if all(scan):  # every row has a first cell
        heads = list(map(_first, scan))
        try:  # the first letters of the heads, when all are text
            letters = "".join(map(_first, heads))
        except (TypeError, IndexError):
            letters = ""
        if len(letters) == len(
            heads
        ):  # only rows headed by a footer's first letter or a space can be footers
            for m in _FOOTER_HEAD.finditer(letters):
                k = m.start()
                first = next((v for v in body[k] if not is_empty(v)), None)
                if first.__class__ is str and _FOOTER.match(first.strip()):
                    return k, True
            return end, False
    else:
        heads = [r[0] if r else None for r in scan]
    footer_start = _FOOTER_START
    for k in range(end):
        head = heads[k]
        if head.__class__ is str and head:
            if head[0] not in footer_start and not head[0].isspace():
                continue
        elif (head is not None and head != "") or not filled[k]:
            continue
        first = next((v for v in body[k] if not is_empty(v)), None)
        if first.__class__ is str and _FOOTER.match(first.strip()):
            return k, True
    return end, False


_BUILDERS: dict[tuple[str, ...], Callable[..., dict[str, Any]]] = {}


def _row_builder(fields: tuple[str, ...]) -> Callable[..., dict[str, Any]]:
    """A function making a row's dict from its values, written for these fields (the way
    ``dataclasses`` writes ``__init__``): a dict display is sized once, where
    ``dict(zip(fields, values))`` grows twice on the way — half the cost for a report's
    dozen columns. Field names enter the code as ``repr`` literals, never as code."""
    builder = _BUILDERS.get(fields)
    if builder is None:
        if not all(f.__class__ is str for f in fields):
            return lambda *values: dict(zip(fields, values, strict=True))
        names = [f"v{i}" for i in range(len(fields))]
        items = ", ".join(f"{f!r}: {v}" for f, v in zip(fields, names, strict=True))
        builder = eval(f"lambda {', '.join(names)}: {{{items}}}", {"__builtins__": {}})
        if len(_BUILDERS) > 1_000:
            _BUILDERS.clear()
        _BUILDERS[fields] = builder
    return builder


def read_body(
    rows: list[list[Any]], columns: dict[str, int], start: int, first_row: int, first_col: int
) -> tuple[list[SubmissionRow], list[str]]:
    """The data rows under the header, up to a blank run or a footer; blank rows skipped.

    The row loop is kept out of Python where it can be: the end is found on whole rows,
    the values are cleaned column by column, and rows are built with ``map``. A report of
    a few dozen rows costs little more than calamine's own reading of it.
    """
    cols = sorted(columns.items(), key=lambda kv: kv[1])
    fields = [f for f, _ in cols]
    index = [c for _, c in cols]
    width = max(index) + 1
    nfields = len(fields)
    body = rows[start:]
    notes: list[str] = []
    end, footer = _table_end(body)
    if footer:
        notes.append(_footer_note(body[end], first_row + start + end))
    table = body[:end]
    shortest = min(map(len, table), default=0)
    if shortest == width == nfields and max(map(len, table)) == width:  # every column, nothing else
        picked: list[Any] = table  # already in column order (index is 0 … width-1): no copy
    elif table and shortest >= width:
        picked = list(map(itemgetter(*index), table)) if nfields > 1 else [(r[index[0]],) for r in table]
    else:
        picked = [tuple(row[c] if c < len(row) else None for c in index) for row in table]
    out: list[SubmissionRow] = []
    errors: list[str] = []
    if picked:
        # rows empty in the report's columns are dropped below, once cleaned (blank text → None)
        cleaned = [_clean_column(col) for col in zip(*picked, strict=True)]
        columns = [col for col, _ in cleaned]
        for j, (col, may_err) in enumerate(cleaned):
            if may_err and not EXCEL_ERRORS.isdisjoint(col):
                col = columns[j] = list(col)
                for k, v in enumerate(col):
                    if v.__class__ is str and v in EXCEL_ERRORS:
                        errors.append(f"{column_name(first_col - 1 + index[j])}{first_row + start + k} {v}")
                        col[k] = None
        values = list(zip(*columns, strict=True))
        numbers: range | list[int] = range(first_row + start, first_row + start + len(values))
        if b"\x00" in bytes(map(any, values)):  # rows of blanks (or errors) only are dropped
            pairs = [(n, v) for n, v in zip(numbers, values) if any(v) or v.count(None) < nfields]  # noqa: B905
            numbers, values = [n for n, _ in pairs], [v for _, v in pairs]
        out = list(map(SubmissionRow, numbers, starmap(_row_builder(tuple(fields)), values)))
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

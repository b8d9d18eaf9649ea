"""The body of a report table: where it ends, and its values, cleaned, as ``SubmissionRow``s.

Thousands of returned files are read each quarter, so this walks as little as it can in
Python: the end of the table is found on whole rows with C-level calls, and each row is
cleaned and built by one function written for the table's layout of columns.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import repeat
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
_second = itemgetter(1)
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


def _blank(row: list[Any]) -> bool:
    return all(is_empty(v) for v in row)


def _table_end(body: list[list[Any]]) -> tuple[int, bool]:
    """Where the table ends in ``body``: before a run of blank rows or at a footer row.

    Works on whole rows with C-level calls (the first cells, ``any`` per row when a row
    may be blank, a byte search for the blank run); only candidate rows are looked at in
    Python.
    """
    end = len(body)
    heads = list(map(_first, body)) if all(body) else None  # every row has a first cell
    filled = b""
    if heads is None or not all(heads):  # only a row headed by an empty cell can be blank
        filled = bytes(map(any, body))  # 0: no truthy cell, so possibly blank
        run = b"\x00" * BLANK_RUN_END
        pos = filled.find(run)
        while pos != -1:
            not_blank = next((k for k in range(pos, pos + BLANK_RUN_END) if not _blank(body[k])), None)
            if not_blank is None:
                end = pos
                break
            pos = filled.find(run, not_blank + 1)
    if heads is not None:
        if end < len(heads):
            heads = heads[:end]
        try:  # the first letters of the heads, when all are text
            letters = "".join(map(_first, heads))
        except (TypeError, IndexError):
            letters = ""
        if len(letters) == len(heads):  # only a row headed by a footer's letter or a space can be one
            for m in _FOOTER_HEAD.finditer(letters):
                k = m.start()
                first = next((v for v in body[k] if not is_empty(v)), None)
                if first.__class__ is str and _FOOTER.match(first.strip()):
                    return k, True
            return end, False
    else:
        heads = [r[0] if r else None for r in body[:end]]
    footer_start = _FOOTER_START
    for k in range(end):
        head = heads[k]
        if head.__class__ is str and head:
            if head[0] not in footer_start and not head[0].isspace():
                continue
        elif (head is not None and head != "") or not filled[k]:  # all heads filled: never read
            continue
        first = next((v for v in body[k] if not is_empty(v)), None)
        if first.__class__ is str and _FOOTER.match(first.strip()):
            return k, True
    return end, False


_READERS: dict[tuple[tuple[Any, ...], tuple[int, ...], bool], Callable[..., list[SubmissionRow]]] = {}
#: what the written function uses, bound as defaults: locals are the cheapest names to load.
_READER_NAMES = {"_type": type, "_str": str, "_zip": zip, "_dict": dict, "_errors": EXCEL_ERRORS}
_READER_NAMES["_Row"] = SubmissionRow


def _rows_reader(fields: tuple[Any, ...], index: tuple[int, ...], unpack: bool) -> Callable[..., Any]:
    """A function turning grid rows into ``SubmissionRow``s, written once per layout of fields
    and columns (the way ``dataclasses`` writes ``__init__``).

    One loop cleans and builds each row with no call per value: cleaning column by column
    and transposing twice cost twice as much. A value is stripped in place (empty → None);
    only text sorting before ``$`` — empty, or starting with ``#`` like every Excel error
    value — takes the slow branch, where an error becomes None and is recorded as ``(field
    position, row number, text)`` in ``errors``. Rows left with no value are skipped.
    ``unpack``: each row holds exactly these columns, in order; else values are taken by
    index. Field names enter the code as ``repr`` literals of ``str`` only (other keys are
    zipped in from a bound tuple), indexes as ints: never as code.
    """
    key = (fields, index, unpack)
    reader = _READERS.get(key)
    if reader is not None:
        return reader
    names = [f"v{j}" for j in range(len(fields))]
    lines = ["    out = []", "    append = out.append", "    for n, row in _zip(numbers, table):"]
    if unpack:
        lines.append(f"        {', '.join(names)}, = row")
    else:
        lines += [f"        {v} = row[{int(c)}]" for v, c in zip(names, index, strict=True)]
    for j, v in enumerate(names):
        lines += [
            f"        if _type({v}) is _str:",
            f"            {v} = {v}.strip()",
            f'            if {v} < "$":',
            f"                if not {v}:",
            f"                    {v} = None",
            f"                elif {v} in _errors:",
            f"                    errors.append(({j}, n, {v}))",
            f"                    {v} = None",
        ]
    lines += [f"        if {' and '.join(f'{v} is None' for v in names)}:", "            continue"]
    if all(f.__class__ is str for f in fields):  # a dict display: sized once, no zip
        values = "{" + ", ".join(f"{f!r}: {v}" for f, v in zip(fields, names, strict=True)) + "}"
    else:
        values = f"_dict(_zip(_fields, ({', '.join(names)},)))"
    lines += [f"        append(_Row(n, {values}))", "    return out"]
    bound = {**_READER_NAMES, "_fields": fields}
    signature = ", ".join(f"{name}={name}" for name in bound)
    namespace: dict[str, Any] = {}
    source = f"def read_rows(numbers, table, errors, {signature}):\n" + "\n".join(lines)
    exec(source, {"__builtins__": {}, **bound}, namespace)
    reader = namespace["read_rows"]
    if len(_READERS) > 1_000:
        _READERS.clear()
    _READERS[key] = reader
    return reader


def read_body(
    rows: list[list[Any]], columns: dict[str, int], start: int, first_row: int, first_col: int
) -> tuple[list[SubmissionRow], list[str]]:
    """The data rows under the header, up to a blank run or a footer; blank rows skipped.

    The end is found on whole rows with C-level calls; then one function written for this
    layout of columns (``_rows_reader``) cleans each row's values and builds its row.
    """
    cols = sorted(columns.items(), key=_second)
    fields = tuple(map(_first, cols))
    index = tuple(map(_second, cols))
    width = max(index) + 1
    body = rows[start:]
    notes: list[str] = []
    end, footer = _table_end(body)
    if footer:
        notes.append(_footer_note(body[end], first_row + start + end))
    table = body[:end]
    out: list[SubmissionRow] = []
    errors: list[tuple[int, int, str]] = []
    if table:
        shortest = min(map(len, table))
        if shortest < width:  # a short row lacks the last columns: read as empty
            table = [r if len(r) >= width else [*r, *repeat(None, width - len(r))] for r in table]
        unpack = shortest == width == len(fields) and max(map(len, table)) == width
        numbers = range(first_row + start, first_row + start + len(table))
        out = _rows_reader(fields, index, unpack)(numbers, table, errors)
    if errors:
        errors.sort()  # column by column, then down
        shown = [f"{column_name(first_col - 1 + index[j])}{n} {v}" for j, n, v in errors[:_MAX_NOTES]]
        more = f" and {len(errors) - _MAX_NOTES} more" if len(errors) > _MAX_NOTES else ""
        notes.append("Excel error values read as empty: " + ", ".join(shown) + more)
    if end < len(body):
        left = sum(1 for row in body[end + (1 if footer else 0) :] if not _blank(row))
        if left and not footer:
            notes.append(
                f"table ends at a run of {BLANK_RUN_END} blank rows before row {first_row + start + end}"
            )
        if left:
            notes.append(f"{left} non-empty row(s) below the end of the table ignored")
    return out, notes

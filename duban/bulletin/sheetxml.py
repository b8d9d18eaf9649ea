"""Worksheet rows written as SpreadsheetML directly and streamed into the workbook's zip.

Why: the ledger sheet of a province holds 200,000 rows × 18 columns. xlsxwriter spends ~10 µs
per cell in Python (cell objects, shared-string table, XML writer) plus a full-compression zip:
about two minutes. Here xlsxwriter still writes the workbook — styles, headers, column widths,
frozen panes, filters — and ``stream_rows`` copies that package into the final file, appending
each sheet's rows to its ``<sheetData>`` on the way, a few thousand rows at a time.

A row is one call of a compiled f-string chosen by the types of its values: text as inline
strings (``t="inlineStr"``, as xlsxwriter's own constant-memory mode writes it), numbers and
datetimes as ``<v>``, blanks as styled empty cells. Templates trust nothing: each chunk is
checked, column by column, for anything a template cannot carry — ``&``, ``<``, ``>``, control
characters, ``_xHHHH_`` look-alikes, white space at either end, text starting with ``= + - @``
(it gets the quote-prefixed style and stays text), NaN or infinity, an unknown type — and a
row that has one is written value by value instead, escaped as xlsxwriter escapes.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import itemgetter
from pathlib import Path
from typing import IO

__all__ = ["CellStyles", "SheetRows", "column_letter", "column_widths", "display_width", "stream_rows"]

_FORMULA_START = ("=", "+", "-", "@")
#: What a row template may not carry as it is: in a text, characters to escape or an _xHHHH_
#: look-alike; at its edges, XML white space (needs xml:space="preserve") or a formula's first
#: character (needs the quote-prefixed style).
_BAD_CHARS = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]")
_BAD_FIRST = frozenset(" \t\n\r=+-@")
_BAD_LAST = frozenset(" \t\n\r")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")
_LOOKALIKE = re.compile(r"(_x[0-9a-fA-F]{4}_)")
_INFINITIES = (float("inf"), float("-inf"))
_SAFE_TYPES = frozenset({str, int, float, bool, datetime, date, type(None)})
_NUMBER_TYPES = frozenset({int, float, bool, type(None)})
_TEXT_TYPES = frozenset({str, type(None)})
_EPOCH_ORDINAL = date(1899, 12, 30).toordinal()
_CHUNK = 4000  # rows rendered, checked and compressed at a time: bounds memory
_ZIP64_CELLS = 10_000_000  # above this many cells a sheet may pass 2 GiB of XML
_WIDTH_SAMPLE = 50_000  # rows looked at for column widths


def column_letter(col: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    out = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        out = chr(65 + rem) + out
    return out


def display_width(text: str) -> int:
    """Characters as Excel's column width counts them: CJK and full-width count two."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _shown(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, int | float):
        return f"{v:g}"
    if isinstance(v, datetime):
        return "0000-00-00 00:00"
    if isinstance(v, date):
        return "0000-00-00"
    return str(v)


def column_widths(
    header: Sequence[str], rows: Sequence[Sequence[object]], *, cap: int = 60, sample: int = _WIDTH_SAMPLE
) -> list[int]:
    """Each column's widest shown value (header included), capped at ``cap``.

    Exact up to ``sample`` rows; above, from ``sample`` rows evenly spread (a province's
    200,000-row ledger: every fourth row — a width is cosmetic, and its columns repeat).
    Works on a column's distinct values, longest first, and stops once no shorter text can
    be wider (a text's width is at most twice its length).
    """
    if len(rows) > sample:
        rows = rows[:: -(-len(rows) // sample)]
    full = bool(rows) and min(map(len, rows)) >= len(header)
    widths = []
    for c, name in enumerate(header):
        best = min(display_width(name), cap)
        distinct = set(map(itemgetter(c), rows)) if full else {row[c] for row in rows if c < len(row)}
        if set(map(type, distinct)) == {str}:
            texts = distinct
        else:
            texts = {v if type(v) is str else _shown(v) for v in distinct}
        if texts and display_width(max(texts, key=len)) >= cap:
            texts = set()  # the longest already reaches the cap (narratives): no need to sort
            best = cap
        for text in sorted(texts, key=len, reverse=True):
            if best >= cap or 2 * len(text) <= best:
                break
            best = max(best, min(display_width(text), cap))
        widths.append(best)
    return widths


@dataclass(frozen=True)
class CellStyles:
    """xf numbers (a cell's ``s`` attribute) of the formats, as xlsxwriter numbered them."""

    text: tuple[int, ...]  # per column: text, numbers and blanks
    quoted: tuple[int, ...]  # per column: text starting with = + - @ (same look, quote-prefixed)
    when: int  # datetimes
    day: int  # dates


@dataclass(frozen=True)
class SheetRows:
    """The rows of one sheet of the package (``xl/worksheets/sheetN.xml``), from row 2."""

    member: str
    rows: Sequence[Sequence[object]]
    styles: CellStyles
    bold: CellStyles | None = None  # the styles of ``bold_rows`` (indexes into ``rows``)
    bold_rows: frozenset[int] = frozenset()

    @property
    def width(self) -> int:
        return len(self.styles.text)


def _excel_serial(v: datetime | date) -> float:
    """Days since Excel's 1900 epoch, in the value's own wall-clock time (as xlsxwriter)."""
    days = v.toordinal() - _EPOCH_ORDINAL
    if days < 61:
        days -= 1  # before 1 March 1900: the 1900 system's phantom 29 February
    if not isinstance(v, datetime):
        return float(days)
    return days + (v.hour * 3600 + v.minute * 60 + v.second + v.microsecond / 1e6) / 86400


class _Serials(dict):
    """(datetime, its tzinfo) → its Excel serial as text, computed once: a unit's rows share one
    time. The tzinfo is part of the key: equal instants in two zones have two wall-clock times."""

    def __missing__(self, key: tuple[datetime, object]) -> str:
        text = self[key] = repr(_excel_serial(key[0]))
        return text


def _escape(text: str) -> str:
    """Text as xlsxwriter writes it: ``_xHHHH_`` for control characters, XML entities."""
    if "_x" in text:
        text = _LOOKALIKE.sub(r"_x005F\1", text)
    text = _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    text = text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cell(ref: str, c: int, v: object, st: CellStyles) -> str:
    """One cell the careful way (any value, any text)."""
    s = st.text[c]
    if v is None or v == "":
        return f'<c r="{ref}" s="{s}"/>'
    if isinstance(v, bool):
        v = "是" if v else "否"
    elif isinstance(v, int | float):
        if v != v or v in _INFINITIES:
            return f'<c r="{ref}" s="{s}"/>'  # SpreadsheetML has no NaN or infinity
        return f'<c r="{ref}" s="{s}"><v>{v!r}</v></c>'
    elif isinstance(v, datetime):
        return f'<c r="{ref}" s="{st.when}"><v>{_excel_serial(v)!r}</v></c>'
    elif isinstance(v, date):
        return f'<c r="{ref}" s="{st.day}"><v>{_excel_serial(v)!r}</v></c>'
    text = str(v)
    if text.startswith(_FORMULA_START):
        s = st.quoted[c]
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    return f'<c r="{ref}" s="{s}" t="inlineStr"><is><t{space}>{_escape(text)}</t></is></c>'


def _careful_row(r: int, row: Sequence[object], letters: list[str], st: CellStyles) -> str:
    cells = "".join(_cell(f"{letters[c]}{r}", c, v, st) for c, v in enumerate(row))
    return f'<row r="{r}">{cells}</row>'


_RowFn = Callable[..., str]


def _template(shape: tuple[type, ...], letters: list[str], st: CellStyles, serials: _Serials) -> _RowFn:
    """A compiled f-string rendering rows of this shape: ``fn(row_number, *values)``.

    Like a namedtuple's methods, the source is generated; it holds only column letters, style
    numbers and tags. Values are arguments, never part of the source.
    """
    parts = []
    for c, kind in enumerate(shape):
        ref, a, s = f"{letters[c]}{{r}}", f"a{c}", st.text[c]
        if kind is type(None):
            parts.append(f'<c r="{ref}" s="{s}"/>')
        elif kind is bool:
            parts.append(f'<c r="{ref}" s="{s}" t="inlineStr"><is><t>{{_yes_no[{a}]}}</t></is></c>')
        elif kind is int or kind is float:
            parts.append(f'<c r="{ref}" s="{s}"><v>{{{a}!r}}</v></c>')
        elif kind is datetime:
            parts.append(f'<c r="{ref}" s="{st.when}"><v>{{_serials[{a}, {a}.tzinfo]}}</v></c>')
        elif kind is date:
            parts.append(f'<c r="{ref}" s="{st.day}"><v>{{_serial({a})!r}}</v></c>')
        else:  # str; rows with any other type are written with care
            parts.append(f'<c r="{ref}" s="{s}" t="inlineStr"><is><t>{{{a}}}</t></is></c>')
    args = "".join(f", a{c}" for c in range(len(shape)))
    body = '<row r="{r}">' + "".join(parts) + "</row>"
    names = {"_serials": serials, "_serial": _excel_serial, "_yes_no": {True: "是", False: "否"}}
    return eval(f"lambda r{args}: f'''{body}'''", names)


def _column_needs_care(col: Sequence[object], seen: set[str]) -> bool:
    """Whether a column (of a chunk) has a value a template cannot carry: C loops, one search.

    ``seen`` holds the column's texts already found clean in earlier chunks: only new texts
    are searched (unit names, titles, statuses repeat; narratives do not).
    """
    kinds = set(map(type, col))
    if not kinds <= _SAFE_TYPES:
        return True
    if float in kinds:
        numbers = filter(None, col) if kinds <= _NUMBER_TYPES else (v for v in col if type(v) is float)
        total = sum(numbers)  # type: ignore[arg-type]
        if total != total or total in _INFINITIES:
            return True  # NaN or infinity (or an overflow: care costs only time)
    if str in kinds:
        texts = set(filter(None, col)) if kinds <= _TEXT_TYPES else {v for v in col if type(v) is str}
        texts -= seen  # type: ignore[operator]
        if not texts:
            return False
        if not _BAD_FIRST.isdisjoint(map(itemgetter(0), texts)):
            return True
        if not _BAD_LAST.isdisjoint(map(itemgetter(-1), texts)):
            return True
        joined = "\n".join(texts)  # type: ignore[arg-type]
        if _BAD_CHARS.search(joined) or ("_x" in joined and _LOOKALIKE.search(joined)):
            return True
        seen |= texts  # type: ignore[arg-type]
    return False


def _row_needs_care(row: Sequence[object]) -> bool:
    for v in row:
        kind = type(v)
        if kind is str:
            text: str = v  # type: ignore[assignment]
            if text[0] in _BAD_FIRST or text[-1] in _BAD_LAST or _BAD_CHARS.search(text):
                return True
            if "_x" in text and _LOOKALIKE.search(text):
                return True
        elif kind is float:
            if v != v or v in _INFINITIES:
                return True
        elif kind not in _SAFE_TYPES:
            return True
    return False


def _prepare(
    rows: Sequence[Sequence[object]], width: int, seen: list[set[str]]
) -> tuple[Sequence[Sequence[object]], bool]:
    """The rows with ``""`` as ``None`` (a blank cell, as xlsxwriter's ``write_blank``) and
    ``width`` values each, and whether any of them needs care. A few C loops per column.
    """
    if not rows or not width:
        return [()] * len(rows), False
    if set(map(len, rows)) != {width}:
        rows = [(*row[:width], *(None,) * (width - len(row))) for row in rows]
    cols = list(zip(*rows, strict=True))
    changed = False
    for c, col in enumerate(cols):
        if "" in col:
            cols[c] = tuple(None if v == "" else v for v in col)
            changed = True
    careful = any(map(_column_needs_care, cols, seen))
    return (list(zip(*cols, strict=True)) if changed else rows), careful


def _row_chunks(sheet: SheetRows) -> Iterator[bytes]:
    """The sheet's rows as UTF-8 XML, ``_CHUNK`` rows at a time."""
    letters = [column_letter(c) for c in range(sheet.width)]
    plain: dict[tuple[type, ...], _RowFn] = {}
    bold: dict[tuple[type, ...], _RowFn] = {}
    serials = _Serials()
    seen: list[set[str]] = [set() for _ in letters]
    bold_rows = sheet.bold_rows if sheet.bold is not None else frozenset()
    for start in range(0, len(sheet.rows), _CHUNK):
        rows, careful = _prepare(sheet.rows[start : start + _CHUNK], sheet.width, seen)
        out = []
        for r, row in enumerate(rows, start=start + 2):
            is_bold = r - 2 in bold_rows
            st = sheet.bold if is_bold else sheet.styles
            if careful and _row_needs_care(row):
                out.append(_careful_row(r, row, letters, st))  # type: ignore[arg-type]
                continue
            templates = bold if is_bold else plain
            shape = tuple(map(type, row))
            fn = templates.get(shape)
            if fn is None:
                fn = templates[shape] = _template(shape, letters, st, serials)  # type: ignore[arg-type]
            out.append(fn(r, *row))
        yield "".join(out).encode("utf-8", errors="replace")  # a lone surrogate becomes "?"


def stream_rows(
    package: IO[bytes], path: Path, sheets: Sequence[SheetRows], *, compresslevel: int = 1
) -> Path:
    """Copy the xlsx ``package`` to ``path``, appending each sheet's rows to its ``<sheetData>``.

    Each of these sheets in the package holds only its header row; its ``<dimension>`` is
    widened to the rows written. Fast deflate for the rows: level 1 makes a file ~30 % larger
    than level 6 in a fraction of the time (rows are repetitive: still ~10× smaller than XML).
    """
    by_member = {s.member: s for s in sheets}
    tmp = path.with_name(path.name + ".part")
    try:
        with (
            zipfile.ZipFile(package) as src,
            zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as dst,
        ):
            missing = set(by_member) - set(src.namelist())
            if missing:
                raise ValueError(f"no such sheet in the workbook: {sorted(missing)}")
            for info in src.infolist():
                data = src.read(info.filename)
                sheet = by_member.get(info.filename)
                if sheet is None:
                    dst.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
                else:
                    _write_sheet(dst, info.filename, data.decode("utf-8"), sheet)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    shutil.move(tmp, path)
    return path


def _write_sheet(dst: zipfile.ZipFile, member: str, xml: str, sheet: SheetRows) -> None:
    """The sheet's XML with its rows inside ``<sheetData>``, compressed as it is rendered."""
    xml = xml.replace("<sheetData/>", "<sheetData></sheetData>")
    end = xml.index("</sheetData>")
    last = f"{column_letter(max(sheet.width, 1) - 1)}{len(sheet.rows) + 1}"
    head = re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:{last}"/>', xml[:end], count=1)
    huge = len(sheet.rows) * sheet.width > _ZIP64_CELLS
    with dst.open(member, "w", force_zip64=huge) as out:
        out.write(head.encode("utf-8"))
        for chunk in _row_chunks(sheet):
            out.write(chunk)
        out.write(xml[end:].encode("utf-8"))

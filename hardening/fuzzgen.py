"""Hostile spreadsheets: hypothesis strategies for CSV, .xlsx, .xls and HTML-as-.xls.

What units really send is messier than any fixture: headers renamed or missing or below row
30, merged ranges everywhere, GBK/Big5/UTF-16 text, 100,000-character cells, dates such as
2026年2月30日, formulas with error values, a ``_duban`` sheet with nonsense in it. The
strategies draw such files as bytes, with a file name suffix (which may lie).
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from connectors.spreadsheets import SYNONYMS
from duban.domain import CANONICAL_STATUSES, FIELDS

__all__ = ["csv_files", "html_files", "xls_files", "xlsx_files"]

HEADER_WORDS = sorted({w for words in SYNONYMS.values() for w in words} | set(FIELDS.values()))
TRICKY = [
    "=1+1",
    "+cmd|' /C calc'!A0",
    "@SUM(A1)",
    "-2+3",
    "80%",
    "八成",
    "百分之八十",
    "１００",
    "1,234.5",
    "1e308",
    "-0",
    "NaN",
    "inf",
    "#N/A",
    "#DIV/0!",
    "#REF!",
    "2026/13/45",
    "2026年2月30日",
    "0000-00-00",
    "9999-12-31",
    "1899-12-30",
    "45678",
    "2026Q4",
    "2026年第四季度",
    "填报单位：市发改委",
    "填报单位:",
    "合计",
    "注：",
    "报送单位：市大数据局",
    "丽水市发展和改革委员会",
    "市级有关单位",
    "T01",
    "T99",
    "D0",
    "'; DROP TABLE submission;--",
    '""',
    "\x00",
    "\x1b[31m",
    "\u202e反转",
    "\ufeff",
    "𠀀𪛖",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    " ",
    "\t",
    "\r\n",
    *CANONICAL_STATUSES,
]
ENCODINGS = [
    "utf-8",
    "utf-8-sig",
    "gbk",
    "gb18030",
    "big5",
    "utf-16",
    "utf-16-le",
    "utf-16-be",
    "latin-1",
    "shift_jis",
]


def _huge(draw: Any) -> str:
    ch = draw(st.sampled_from(["a", "中", '"', ",", "\n", "进展", "\t", "；"]))
    return ch * draw(st.integers(1_000, 120_000))


@st.composite
def text_cell(draw: Any, huge: bool = True) -> str:
    kind = draw(st.integers(0, 9))
    if kind <= 2:
        return draw(st.sampled_from(TRICKY))
    if kind <= 4:
        return draw(st.sampled_from(HEADER_WORDS))
    if kind == 5 and huge and draw(st.integers(0, 5)) == 0:
        return _huge(draw)
    if kind == 6:
        return draw(st.from_regex(r"[0-9]{1,4}[-/.年][0-9]{1,2}[-/.月][0-9]{1,2}日?", fullmatch=True))
    return draw(st.text(max_size=40))


def _header(draw: Any) -> list[str]:
    n = draw(st.integers(0, 14))
    return [
        draw(st.sampled_from(HEADER_WORDS)) if draw(st.booleans()) else draw(text_cell(huge=False))
        for _ in range(n)
    ]


@st.composite
def csv_files(draw: Any) -> tuple[bytes, str]:
    """(content, suffix) of a delimited text in some encoding, maybe broken."""
    rows: list[list[str]] = []
    for _ in range(draw(st.integers(0, 3))):
        rows.append(
            [draw(st.sampled_from(["2026年第四季度工作进展", "填报单位：市发改委", "报送期间：2026Q4", ""]))]
        )
    rows.append(_header(draw))
    width = max(1, len(rows[-1]))
    for _ in range(draw(st.integers(0, 20))):
        n = draw(st.integers(0, width + 3))
        rows.append([draw(text_cell()) for _ in range(n)])
    delim = draw(st.sampled_from([",", "\t", ";", "|"]))
    newline = draw(st.sampled_from(["\r\n", "\n", "\r"]))
    if draw(st.booleans()):
        buf = io.StringIO()
        quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
        csv.writer(buf, delimiter=delim, lineterminator=newline, quoting=quoting).writerows(rows)
        text = buf.getvalue()
    else:  # naive join: quotes and delimiters inside cells stay unbalanced
        text = newline.join(delim.join(r) for r in rows)
    encoding = draw(st.sampled_from(ENCODINGS))
    data = text.encode(
        encoding,
        errors=draw(st.sampled_from(["replace", "ignore", "surrogatepass"]))
        if encoding.startswith("utf-16")
        else draw(st.sampled_from(["replace", "ignore"])),
    )
    return data, draw(st.sampled_from([".csv", ".csv", ".txt", ".tsv", ".xls"]))


def _sheet_name(draw: Any, used: set[str]) -> str:
    raw = re.sub(
        r"[\[\]:*?/\\']",
        "",
        draw(st.sampled_from(["填报表", "Sheet1", "_duban", "进展", "x" * 31, ""]))
        + draw(st.text(max_size=8)),
    )[:31].strip()
    name = raw if raw and raw.lower() not in used and raw == raw.strip("'") else f"S{len(used)}"
    used.add(name.lower())
    return name


def _cell_value(draw: Any) -> Any:
    kind = draw(st.integers(0, 9))
    if kind <= 4:
        return draw(text_cell())
    if kind == 5:
        return draw(st.one_of(st.integers(-(2**53), 2**53), st.floats(allow_nan=True, allow_infinity=True)))
    if kind == 6:
        return draw(st.datetimes(min_value=datetime(1800, 1, 1), max_value=datetime(9999, 12, 31)))
    if kind == 7:
        return draw(st.booleans())
    if kind == 8:
        return (
            "formula",
            draw(st.sampled_from(["=1/0", "=NA()", "=A1&B1", "=SUM(A:A)", '="=1+1"', '=INDIRECT("ZZ99")'])),
        )
    return None


@st.composite
def xlsx_files(draw: Any) -> tuple[bytes, str]:
    """(content, suffix) of an .xlsx written by xlsxwriter: offsets, merges, odd values, hidden sheets."""
    import xlsxwriter
    from xlsxwriter.exceptions import OverlappingRange

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(
        buf,
        {
            "in_memory": True,
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "nan_inf_to_errors": True,
        },
    )
    datefmt = wb.add_format(
        {"num_format": draw(st.sampled_from(["yyyy-mm-dd", "yyyy年m月d日", "0.00", "@", "[h]:mm"]))}
    )
    used: set[str] = set()
    for s in range(draw(st.integers(1, 3))):
        ws = wb.add_worksheet(_sheet_name(draw, used))
        if s and draw(st.booleans()):
            ws.hide()
        top, left = draw(st.integers(0, 34)), draw(st.integers(0, 4))
        for r in range(top):
            if draw(st.integers(0, 4)) == 0:
                ws.write_string(r, left, draw(text_cell(huge=False))[:32767])
        rows = [_header(draw)] + [
            [_cell_value(draw) for _ in range(draw(st.integers(0, 12)))]
            for _ in range(draw(st.integers(0, 15)))
        ]
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                r, c = top + i, left + j
                if v is None:
                    continue
                if isinstance(v, tuple):
                    ws.write_formula(r, c, v[1], None, draw(st.sampled_from(["#DIV/0!", "#N/A", 0, "", "x"])))
                elif isinstance(v, bool):
                    ws.write_boolean(r, c, v)
                elif isinstance(v, int | float):
                    ws.write_number(r, c, v)
                elif isinstance(v, datetime):
                    ws.write_datetime(r, c, v, datefmt)
                else:
                    ws.write_string(r, c, str(v)[:32767])
        for _ in range(draw(st.integers(0, 4))):
            r0, c0 = draw(st.integers(0, top + 8)), draw(st.integers(0, left + 8))
            r1, c1 = r0 + draw(st.integers(0, 30)), c0 + draw(st.integers(0, 6))
            if (r0, c0) == (r1, c1):
                continue
            with contextlib.suppress(OverlappingRange):
                ws.merge_range(r0, c0, r1, c1, draw(st.sampled_from(["", "完成情况", "任务编码", "合计"])))
        if draw(st.integers(0, 6)) == 0:  # a stray far cell makes the used range large (but sane)
            ws.write_string(draw(st.integers(100, 5_000)), draw(st.integers(20, 100)), "x")
    if draw(st.booleans()):
        meta = wb.add_worksheet("_duban" if "_duban" not in used else "_duban2")
        for r in range(draw(st.integers(0, 8))):
            meta.write_string(
                r,
                0,
                draw(
                    st.sampled_from(
                        [
                            "duban_template",
                            "unit",
                            "period",
                            "catalogue_version",
                            "template_version",
                            "plan",
                            "x",
                        ]
                    )
                ),
            )
            meta.write_string(r, 1, draw(text_cell(huge=False))[:32767])
        meta.hide()
    wb.close()
    return buf.getvalue(), draw(st.sampled_from([".xlsx", ".xlsx", ".xls", ".csv", ".et"]))


@st.composite
def xls_files(draw: Any) -> tuple[bytes, str]:
    """(content, suffix) of a BIFF8 .xls written by xlwt, with merges and dates."""
    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    datefmt = xlwt.easyxf(num_format_str=draw(st.sampled_from(["YYYY-MM-DD", "0.00", "@"])))
    for s in range(draw(st.integers(1, 2))):
        ws = wb.add_sheet(f"S{s}", cell_overwrite_ok=True)
        top = draw(st.integers(0, 34))
        rows = [_header(draw)] + [
            [_cell_value(draw) for _ in range(draw(st.integers(0, 12)))]
            for _ in range(draw(st.integers(0, 15)))
        ]
        for i, row in enumerate(rows):
            for j, v in enumerate(row[:200]):
                if v is None or isinstance(v, tuple):
                    continue
                if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
                    continue
                if isinstance(v, datetime):
                    ws.write(top + i, j, v if v.year >= 1900 else v.isoformat(), datefmt)
                elif isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2**31:
                    ws.write(top + i, j, float(v))
                else:
                    ws.write(top + i, j, v if not isinstance(v, str) else v[:32767])
        for _ in range(draw(st.integers(0, 3))):
            r0, c0 = draw(st.integers(0, top + 5)), draw(st.integers(0, 8))
            rows, cols = draw(st.integers(0, 20)), draw(st.integers(0, 4))
            with contextlib.suppress(Exception):  # xlwt refuses overlapping writes; skip that merge
                ws.write_merge(r0, r0 + rows, c0, c0 + cols, "完成情况")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue(), draw(st.sampled_from([".xls", ".xls", ".xlsx", ".et"]))


@st.composite
def html_files(draw: Any) -> tuple[bytes, str]:
    """(content, suffix) of an HTML table saved as .xls, as old reporting systems export."""
    parts = [draw(st.sampled_from(["<html><body>", "<!DOCTYPE html><html>", "", "<table>"]))]
    for _ in range(draw(st.integers(0, 2))):
        parts.append("<table>")
        for _ in range(draw(st.integers(0, 12))):
            parts.append("<tr>")
            for _ in range(draw(st.integers(0, 9))):
                tag = draw(st.sampled_from(["td", "th"]))
                span = draw(
                    st.sampled_from(
                        [
                            "",
                            ' colspan="2"',
                            ' colspan="999"',
                            ' colspan="-1"',
                            ' colspan="x"',
                            ' rowspan="3"',
                        ]
                    )
                )
                cell = draw(text_cell()).replace("<", draw(st.sampled_from(["&lt;", "<"])))
                parts.append(f"<{tag}{span}>{cell}{draw(st.sampled_from([f'</{tag}>', '']))}")
            parts.append(draw(st.sampled_from(["</tr>", ""])))
        parts.append(draw(st.sampled_from(["</table>", ""])))
    text = "".join(parts) + draw(st.sampled_from(["</html>", "&lol;", "&#x4e2d;&#99999999;", ""]))
    encoding = draw(st.sampled_from(["utf-8", "gbk", "utf-16", "big5"]))
    return text.encode(encoding, errors="replace"), draw(st.sampled_from([".xls", ".xls", ".html", ".xlsx"]))

"""Identity hints found around a table: the reporting period, the unit, dates written as text.

A unit's file says who and when in many ways — ``填报单位：市发改委`` above the header, a title
with ``2026年第四季度``, a file named ``发改委-2026Q4.xlsx``. These helpers turn that text into
``2026Q4`` / ``2026M10`` and a unit name; resolving the name against the directory is the
caller's job. Pure functions, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta
from itertools import compress

__all__ = ["find_period", "find_unit", "normalize_period", "parse_date", "period_in_rows"]

_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}

_QUARTER = (
    re.compile(r"(20\d{2})\s*年\s*(?:度\s*)?(?:第\s*)?([一二三四1-4])\s*季"),
    re.compile(r"(?<!\d)(20\d{2})\s*[-_/.]?\s*[Qq]\s*([1-4])(?!\d)"),
    re.compile(r"(?<![A-Za-z])[Qq]([1-4])\s*[-_/ ]?\s*(20\d{2})(?!\d)"),
)
_MONTH = (
    re.compile(
        r"(20\d{2})\s*年\s*(1[0-2]|0?[1-9]|十[一二]?|[一二三四五六七八九])\s*月(?!\s*\d{1,2}\s*日|份?\s*[至到-])"
    ),
    re.compile(r"(?<!\d)(20\d{2})\s*[-_]?\s*[Mm]\s*(1[0-2]|0?[1-9])(?!\d)"),
    re.compile(r"(?<!\d)(20\d{2})[-/.](1[0-2]|0?[1-9])(?!\d|[-/.]\d)"),
)


def _num(text: str) -> int:
    if text.isdigit():
        return int(text)
    if text.startswith("十"):
        return 10 + (_CN_DIGITS[text[1]] if len(text) > 1 else 0)
    return _CN_DIGITS[text]


def normalize_period(text: object) -> str | None:
    """The first period named in ``text`` as ``2026Q4`` or ``2026M10`` (quarters win), else None.

    Accepts 2026年第四季度, 2026年四季度, 2026年第4季度, 2026Q4, 2026-Q4, Q4 2026, 2026年10月,
    2026-10, 2026M10. Full dates (2027-01-08, 2026年10月8日) are not periods.
    """
    if not isinstance(text, str) or not text:
        return None
    try:  # titles, template periods and file names repeat across a batch's files
        return _PERIODS[text]
    except KeyError:
        pass
    found = _period(text)
    if len(_PERIODS) > 20_000:
        _PERIODS.clear()
    _PERIODS[text] = found
    return found


_PERIODS: dict[str, str | None] = {}


def _period(text: str) -> str | None:
    text = unicodedata.normalize("NFKC", text)
    for i, rx in enumerate(_QUARTER):
        m = rx.search(text)
        if m:
            year, q = (m.group(1), m.group(2)) if i < 2 else (m.group(2), m.group(1))
            return f"{year}Q{_num(q)}"
    for rx in _MONTH:
        m = rx.search(text)
        if m:
            return f"{m.group(1)}M{_num(m.group(2)):02d}"
    return None


def find_period(*texts: object) -> str | None:
    """The period of the first text that names one."""
    for text in texts:
        found = normalize_period(text)
        if found:
            return found
    return None


_DATE_LABEL = r"(?:填报|报送|截止|填表|制表|打印|编制|统计)(?:日期|时间)"
_DATED = re.compile(_DATE_LABEL + r"\s*[:：]\s*\S*")
_DATE_LABEL_ONLY = re.compile(r"^\s*" + _DATE_LABEL + r"\s*[:：]\s*$")


def period_in_rows(rows: list[list[object]]) -> str | None:
    """The period named in the lines above a table, ignoring dates labelled 填报日期/截止时间 …

    Those say when the form was filled in or is due, not which period it reports on.
    """
    for row in rows:
        skip = False
        for cell in row:
            if not isinstance(cell, str) or not cell.strip():
                if not isinstance(cell, str) and cell is not None:
                    skip = False
                continue
            if skip:
                skip = False
                continue
            if _DATE_LABEL_ONLY.match(cell):
                skip = True
                continue
            found = normalize_period(_DATED.sub(" ", cell))
            if found:
                return found
    return None


_UNIT_LABEL = re.compile(
    r"(?:填报单位|报送单位|填报部门|报送部门|单位名称|填表单位)\s*(?:[(（][^)）]{0,8}[)）])?\s*[:：]\s*"
)
_UNIT_END = re.compile(
    r"\s{2,}|[\t\n]|\s*(?:报送期间|报告期间|填报期间|报告期|期间|填报日期|报送日期|填表日期|截止日期|"
    r"截止时间|日期|时间|联系人|填报人|填表人|联系电话|电话|审核人|负责人)\s*[:：]"
)
_UNIT_TRIM = " \t\u3000,，;；。:："
_SEAL = re.compile(r"[(（]\s*(?:盖章|公章|签章)\s*[)）]")


def _unit_value(text: str) -> str:
    value = _UNIT_END.split(text, maxsplit=1)[0]
    if "(" in value or "（" in value:  # a （盖章） note needs a bracket
        value = _SEAL.sub("", value)
    return value.strip(_UNIT_TRIM)


def find_unit(rows: list[list[object]]) -> str | None:
    """The unit named by a ``填报单位：X`` label in ``rows`` (label and name in one cell or two)."""
    for row in rows:
        for i in compress(range(len(row)), row):  # empty cells hold no label: skipped in C
            cell = row[i]
            if not isinstance(cell, str) or ("单位" not in cell and "部门" not in cell):
                continue
            m = _UNIT_LABEL.search(cell)
            if not m:
                continue
            value = _unit_value(cell[m.end() :])
            if not value:  # label alone in its cell: the name is in the next filled cell
                nxt = next((v for v in row[i + 1 :] if isinstance(v, str) and v.strip()), None)
                value = _unit_value(nxt) if nxt else ""
            if value:
                return value
    return None


_EXCEL_EPOCH = date(1899, 12, 30)
_DATE_TEXT = re.compile(r"^\s*(\d{4})\s*(?:年|[-/.])\s*(\d{1,2})\s*(?:月|[-/.])\s*(\d{1,2})\s*日?(?:\s|T|$)")
_DATE_COMPACT = re.compile(r"^\s*(\d{4})(\d{2})(\d{2})\s*$")


def parse_date(value: object) -> date | None:
    """A date from a cell: a date/datetime, an Excel serial (1900 system) or text.

    Text forms: 2026-12-31, 2026/12/31, 2026.12.31, 2026年12月31日, 20261231 (a time after
    the date is ignored). Anything else gives None.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if 1 <= value < 2_958_466:
            return _EXCEL_EPOCH + timedelta(days=int(value))
        return None
    if not isinstance(value, str):
        return None
    text = unicodedata.normalize("NFKC", value)
    m = _DATE_TEXT.match(text) or _DATE_COMPACT.match(text)
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None

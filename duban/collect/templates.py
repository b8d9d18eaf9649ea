"""The per-unit, pre-filled reporting template (.xlsx) sent with the opening notice.

Each unit gets a sheet of *its own* tasks only (units must not see each other's rows),
pre-filled with what it reported last period to cut the reporting burden, and a hidden
``_duban`` sheet so that a returned file identifies its unit, period and catalogue version by
itself. Layout contract, read by connectors/spreadsheets:

- visible sheet ``填报表``: row 1 title, row 2 ``填报单位：…　　报送期间：…　　截止日期：…``,
  row 3 the headers in ``HEADERS``, data from row 4;
- hidden sheet ``_duban``: key/value text rows in A:B — duban_template, unit, unit_name,
  period, catalogue_version, template_version, plan.

Every text cell is written with ``write_string`` (and the workbook has
``strings_to_formulas: False``); text starting with ``= + - @`` also gets Excel's quote prefix
so it stays text even when a user edits the cell. Output bytes are deterministic for the
same inputs (fixed creation time; xlsxwriter fixes the zip timestamps).
"""

from __future__ import annotations

import io
import math
import os
import re
import tempfile
from datetime import datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from duban.domain import CANONICAL_STATUSES, FIELDS, Catalogue, Item, ReportedItem, Role
from duban.periods import Period

if TYPE_CHECKING:
    from duban.units import Unit

__all__ = [
    "HEADERS",
    "META_SHEET",
    "SHEET",
    "TEMPLATE_VERSION",
    "template_bytes",
    "template_filename",
    "unit_items",
    "write_unit_template",
]

TEMPLATE_VERSION = "1"
SHEET = "填报表"
META_SHEET = "_duban"
_COLUMNS: tuple[tuple[str, float], ...] = (
    ("item_id", 11),
    ("number", 6),
    ("title", 34),
    ("role", 6),
    ("lead_unit", 14),
    ("status", 10),
    ("progress", 11),
    ("narrative", 42),
    ("problems", 26),
    ("next_steps", 26),
    ("coordination", 22),
    ("reporter", 10),
    ("phone", 14),
)
#: The header row (row 3), in column order.
HEADERS: tuple[str, ...] = tuple(FIELDS[f] for f, _ in _COLUMNS)
_FIXED = {"item_id", "number", "title", "role", "lead_unit"}
_PREFILL_TEXT = ("narrative", "problems", "next_steps", "coordination", "reporter", "phone")
_FORMULA_START = ("=", "+", "-", "@")
_UNSAFE_NAME = re.compile(r"[^\w\-（）()·]+")


def unit_items(catalogue: Catalogue, unit: str) -> list[tuple[Item, Role]]:
    """The items ``unit`` is assigned to (placeholders excluded), in catalogue order, with its role."""
    out: list[tuple[Item, Role]] = []
    for item in catalogue.items:
        roles = [a.role for a in item.assignments if a.unit == unit and not a.placeholder]
        if roles:
            out.append((item, Role.LEAD if Role.LEAD in roles else Role.CO))
    return out


def template_filename(unit: Unit, period: Period) -> str:
    """E.g. ``2026Q4_市发改委_工作进展报表.xlsx``; anything but word characters becomes ``_``."""
    name = _UNSAFE_NAME.sub("_", unit.short_name).strip("_") or "unit"
    return f"{period.key}_{name}_工作进展报表.xlsx"


class _Formats:
    def __init__(self, wb: xlsxwriter.Workbook) -> None:
        base = {"font_name": "宋体", "font_size": 10, "valign": "top", "text_wrap": True, "border": 1}
        self.title = wb.add_format({"font_name": "宋体", "bold": True, "font_size": 16, "align": "center"})
        self.info = wb.add_format({"font_name": "宋体", "font_size": 11})
        self.header = wb.add_format(
            {**base, "bold": True, "align": "center", "valign": "vcenter", "bg_color": "#D9E1F2"}
        )
        self.fixed = wb.add_format({**base, "bg_color": "#EDEDED", "font_color": "#404040"})
        self.fixed_q = wb.add_format(
            {**base, "bg_color": "#EDEDED", "font_color": "#404040", "quote_prefix": True}
        )
        self.input = wb.add_format(base)
        self.input_q = wb.add_format({**base, "quote_prefix": True})
        self.center_fixed = wb.add_format({**base, "bg_color": "#EDEDED", "align": "center"})
        self.center_input = wb.add_format({**base, "align": "center"})


def _put_text(ws: Worksheet, r: int, c: int, text: str, fmt: Any, fmt_q: Any) -> None:
    ws.write_string(r, c, text, fmt_q if text.startswith(_FORMULA_START) else fmt)


def _row_height(texts: dict[str, str]) -> float:
    """Enough height for the wrapped texts (Excel does not grow rows written with a height)."""
    widths = dict(_COLUMNS)
    lines = 1
    for f, text in texts.items():
        if text:
            per_line = max(1.0, widths[f] / 2.1)  # a CJK character is about two width units
            lines = max(lines, sum(math.ceil(max(len(p), 1) / per_line) for p in text.split("\n")))
    return min(15.0 * lines + 4, 240.0)


def _write_meta(wb: xlsxwriter.Workbook, pairs: list[tuple[str, str]]) -> None:
    meta = wb.add_worksheet(META_SHEET)
    for r, (key, value) in enumerate(pairs):
        meta.write_string(r, 0, key)
        meta.write_string(r, 1, value)
    meta.hide()


def _build(
    target: str | io.BytesIO,
    *,
    catalogue: Catalogue,
    unit: Unit,
    period: Period,
    catalogue_version: int,
    previous: dict[str, ReportedItem] | None,
    plan_title: str | None,
) -> None:
    plan = catalogue.plan
    wb = xlsxwriter.Workbook(
        target, {"strings_to_formulas": False, "strings_to_urls": False, "in_memory": True}
    )
    wb.set_properties(
        {
            "title": f"{unit.short_name} {period.label_zh}工作进展报表",
            "author": "duban",
            "created": datetime.combine(period.window_opens, time()),
        }
    )
    fm = _Formats(wb)
    ws = wb.add_worksheet(SHEET)
    last_col = len(_COLUMNS) - 1
    title = f"{plan_title or plan.title} {period.label_zh}工作进展报表".strip()
    ws.merge_range(0, 0, 0, last_col, "", fm.title)
    ws.write_string(0, 0, title, fm.title)
    ws.set_row(0, 30)
    info = f"填报单位：{unit.short_name}　　报送期间：{period.key}　　截止日期：{period.deadline.isoformat()}"
    ws.merge_range(1, 0, 1, last_col, "", fm.info)
    ws.write_string(1, 0, info, fm.info)
    for c, (f, width) in enumerate(_COLUMNS):
        ws.set_column(c, c, width)
        ws.write_string(2, c, FIELDS[f], fm.header)
    ws.set_row(2, 30)

    items = unit_items(catalogue, unit.short_name)
    previous = previous or {}
    for i, (item, role) in enumerate(items):
        r = 3 + i
        prev = previous.get(item.id)
        texts = {
            "item_id": item.id,
            "title": item.title,
            "role": role.value,
            "lead_unit": item.lead_unit or "",
            "status": (prev.status or "") if prev else "",
            **{f: (getattr(prev, f) or "") if prev else "" for f in _PREFILL_TEXT},
        }
        for c, (f, _) in enumerate(_COLUMNS):
            fixed = f in _FIXED
            if f == "number":
                if item.number is None:
                    ws.write_blank(r, c, None, fm.center_fixed)
                else:
                    ws.write_number(r, c, item.number, fm.center_fixed)
            elif f == "progress":
                if prev is not None and prev.progress is not None:
                    ws.write_number(r, c, prev.progress, fm.center_input)
                else:
                    ws.write_blank(r, c, None, fm.center_input)
            elif texts.get(f):
                _put_text(
                    ws, r, c, texts[f], fm.fixed if fixed else fm.input, fm.fixed_q if fixed else fm.input_q
                )
            else:
                ws.write_blank(r, c, None, fm.fixed if fixed else fm.input)
        ws.set_row(r, _row_height(texts))

    if items:
        first, last = 3, 3 + len(items) - 1
        status_col = next(c for c, (f, _) in enumerate(_COLUMNS) if f == "status")
        ws.data_validation(
            first,
            status_col,
            last,
            status_col,
            {
                "validate": "list",
                "source": list(CANONICAL_STATUSES),
                "input_title": "完成状态",
                "input_message": "请从下拉列表中选择：" + "、".join(CANONICAL_STATUSES),
                "error_title": "完成状态有误",
                "error_message": "请从下拉列表中选择：" + "、".join(CANONICAL_STATUSES),
            },
        )
        ws.data_validation(
            first,
            status_col + 1,
            last,
            status_col + 1,
            {
                "validate": "decimal",
                "criteria": "between",
                "minimum": 0,
                "maximum": 100,
                "input_title": "完成进度(%)",
                "input_message": "填写0–100之间的数字，如 80 表示完成80%",
                "error_title": "完成进度有误",
                "error_message": "请填写0–100之间的数字",
            },
        )
        ws.autofilter(2, 0, last, last_col)
    else:
        ws.merge_range(3, 0, 3, last_col, "", fm.input)
        ws.write_string(3, 0, "本期没有需要本单位报送的任务。", fm.input)

    ws.freeze_panes(3, 3)
    ws.set_landscape()
    ws.set_paper(9)
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(2)
    ws.activate()

    _write_meta(
        wb,
        [
            ("duban_template", "1"),
            ("unit", unit.short_name),
            ("unit_name", unit.full_name or unit.short_name),
            ("period", period.key),
            ("catalogue_version", str(catalogue_version)),
            ("template_version", TEMPLATE_VERSION),
            ("plan", plan.doc_number or plan.title),
        ],
    )
    wb.close()


def template_bytes(
    *,
    catalogue: Catalogue,
    unit: Unit,
    period: Period,
    catalogue_version: int,
    previous: dict[str, ReportedItem] | None = None,
    plan_title: str | None = None,
) -> bytes:
    """The unit's template as .xlsx bytes (for a mail attachment); deterministic for equal inputs."""
    buf = io.BytesIO()
    _build(
        buf,
        catalogue=catalogue,
        unit=unit,
        period=period,
        catalogue_version=catalogue_version,
        previous=previous,
        plan_title=plan_title,
    )
    return buf.getvalue()


def write_unit_template(
    path: Path,
    *,
    catalogue: Catalogue,
    unit: Unit,
    period: Period,
    catalogue_version: int,
    previous: dict[str, ReportedItem] | None = None,
    plan_title: str | None = None,
) -> Path:
    """Write the unit's template to ``path`` (atomically: a half-written file never appears)."""
    data = template_bytes(
        catalogue=catalogue,
        unit=unit,
        period=period,
        catalogue_version=catalogue_version,
        previous=previous,
        plan_title=plan_title,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".xlsx")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

"""The bulletin's spreadsheet appendix: unit table, items needing attention, the period's ledger.

Written with xlsxwriter cell by cell: every text goes through ``write_string`` (a unit's
narrative that starts with ``=``, ``+``, ``-`` or ``@`` stays text and never becomes a
formula), numbers stay numbers (shares formatted as percentages) so the office can sort and
filter. The numbers are those of the bulletin's tables, not recomputed.
"""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from duban.bulletin.model import Bulletin, Column, Table, format_cell

__all__ = ["SHEETS", "render_xlsx"]

#: Sheet name → the bulletin table it shows (台账 comes from the caller's ledger rows).
SHEETS = {"单位报送情况": "units", "滞后事项": "lagging", "分部分统计": "groups"}
_FORMULA_START = ("=", "+", "-", "@")


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


class _Writer:
    def __init__(self, wb: xlsxwriter.Workbook) -> None:
        self.head = wb.add_format(
            {
                "bold": True,
                "border": 1,
                "align": "center",
                "valign": "vcenter",
                "bg_color": "#EEEEEE",
                "text_wrap": True,
            }
        )
        self.cell = wb.add_format({"border": 1, "valign": "top", "text_wrap": True})
        self.bold = wb.add_format({"border": 1, "valign": "top", "bold": True})
        # text that looks like a formula also gets Excel's quote prefix, so it stays text when edited
        quote = {"border": 1, "valign": "top", "quote_prefix": True}
        self.quoted = {
            id(self.cell): wb.add_format({**quote, "text_wrap": True}),
            id(self.bold): wb.add_format({**quote, "bold": True}),
        }
        self.pct = wb.add_format({"border": 1, "valign": "top", "num_format": "0.0%"})
        self.pct_bold = wb.add_format({"border": 1, "valign": "top", "num_format": "0.0%", "bold": True})
        self.when = wb.add_format({"border": 1, "valign": "top", "num_format": "yyyy-mm-dd hh:mm"})
        self.day = wb.add_format({"border": 1, "valign": "top", "num_format": "yyyy-mm-dd"})

    def value(self, ws: Worksheet, r: int, c: int, v: object, fmt: Format) -> str:
        """Write one cell by its Python type and return the text shown (for column widths)."""
        if v is None or v == "":
            ws.write_blank(r, c, None, fmt)
            return ""
        if isinstance(v, bool):
            text = "是" if v else "否"
            ws.write_string(r, c, text, fmt)
            return text
        if isinstance(v, int | float):
            ws.write_number(r, c, v, fmt)
            return f"{v:g}"
        if isinstance(v, datetime):
            ws.write_datetime(r, c, v.replace(tzinfo=None), self.when)
            return "0000-00-00 00:00"
        if isinstance(v, date):
            ws.write_datetime(r, c, datetime.combine(v, time()), self.day)
            return "0000-00-00"
        text = str(v)
        if text.startswith(_FORMULA_START):
            fmt = self.quoted.get(id(fmt), fmt)
        ws.write_string(r, c, text, fmt)
        return text

    def sheet(
        self,
        ws: Worksheet,
        header: list[str],
        rows: list[list[object]],
        fmts: list[list[Format]] | None = None,
    ) -> None:
        widths = [_width(h) for h in header]
        for c, h in enumerate(header):
            ws.write_string(0, c, h, self.head)
        for r, row in enumerate(rows, start=1):
            for c, v in enumerate(row):
                fmt = fmts[r - 1][c] if fmts else self.cell
                shown = self.value(ws, r, c, v, fmt)
                widths[c] = max(widths[c], min(_width(shown), 60))
        for c, w in enumerate(widths):
            ws.set_column(c, c, max(6, w + 2))
        ws.freeze_panes(1, 0)
        if header:
            ws.autofilter(0, 0, max(len(rows), 1), len(header) - 1)

    def table(self, ws: Worksheet, t: Table) -> None:
        rows: list[list[object]] = []
        fmts: list[list[Format]] = []
        for i, raw in enumerate(t.rows):
            bold = i in t.bold_rows
            rows.append([self._cell(v, col) for v, col in zip(raw, t.columns, strict=True)])
            fmts.append([self._fmt(col, bold) for col in t.columns])
        self.sheet(ws, t.header, rows, fmts)

    @staticmethod
    def _cell(v: object, col: Column) -> object:
        if col.kind == "stars":
            return format_cell(v, "stars") if v is not None else ""
        if col.kind == "progress" and v is not None:
            return float(v)  # type: ignore[arg-type]
        return v

    def _fmt(self, col: Column, bold: bool) -> Format:
        if col.kind == "pct":
            return self.pct_bold if bold else self.pct
        return self.bold if bold else self.cell


def render_xlsx(b: Bulletin, ledger_rows: list[dict], path: Path) -> Path:
    """Write the appendix workbook: 单位报送情况, 滞后事项, 分部分统计, 台账, 说明."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(
        str(path), {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
    )
    wb.set_properties(
        {"title": b.title, "author": b.office_name, "created": datetime.combine(b.issued_on, time(9, 0))}
    )
    w = _Writer(wb)
    try:
        for name, key in SHEETS.items():
            w.table(wb.add_worksheet(name), b.table(key))
        header: list[str] = []
        for row in ledger_rows:
            header += [k for k in row if k not in header]
        w.sheet(wb.add_worksheet("台账"), header, [[row.get(k) for k in header] for row in ledger_rows])
        notes = wb.add_worksheet("说明")
        w.sheet(notes, ["说明"], [[b.title], [f"统计期：{b.period_label}"], *([n] for n in b.notes)])
        notes.set_column(0, 0, 120)
    finally:
        wb.close()
    return path

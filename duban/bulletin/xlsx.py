"""The bulletin's spreadsheet appendix: unit table, items needing attention, the period's ledger.

Every text stays text (a unit's narrative that starts with ``=``, ``+``, ``-`` or ``@`` never
becomes a formula, and gets Excel's quote prefix so it stays text when edited), numbers stay
numbers (shares formatted as percentages) so the office can sort and filter. The numbers are
those of the bulletin's tables, not recomputed; the unit sheet has every unit even when the
document's 附件1 lists only some.

xlsxwriter writes the workbook — formats, headers, column widths, frozen panes, filters,
properties — and ``sheetxml.stream_rows`` the rows of every sheet (the ledger holds 200,000
rows at province scale, where xlsxwriter's per-cell cost was about two minutes).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from duban.bulletin.model import Bulletin, Column, Table, format_cell
from duban.bulletin.sheetxml import CellStyles, SheetRows, column_widths, stream_rows

__all__ = ["SHEETS", "LedgerTable", "render_xlsx"]

#: Sheet name → the bulletin table it shows (台账 comes from the caller's ledger rows).
SHEETS = {"单位报送情况": "units", "滞后事项": "lagging", "分部分统计": "groups"}


@dataclass(frozen=True)
class LedgerTable:
    """The ledger as a header and rows of values in header order (no dict per row)."""

    header: tuple[str, ...]
    rows: Sequence[Sequence[object]]

    @classmethod
    def of(cls, rows: list[dict]) -> LedgerTable:
        """From dict rows; the header is every key in order of first appearance."""
        header: dict[str, None] = {}
        keys = None
        for row in rows:
            if row.keys() != keys:  # rows of one shape share their key set: checked once per change
                keys = row.keys()
                header.update(dict.fromkeys(keys))
        names = tuple(header)
        values = [tuple(row.values()) if tuple(row) == names else tuple(map(row.get, names)) for row in rows]
        return cls(names, values)


class _Writer:
    def __init__(self, wb: xlsxwriter.Workbook) -> None:
        self.wb = wb
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
        cell = {"border": 1, "valign": "top"}
        # text that looks like a formula also gets Excel's quote prefix, so it stays text when edited
        self.cell = wb.add_format({**cell, "text_wrap": True})
        self.cell_quoted = wb.add_format({**cell, "text_wrap": True, "quote_prefix": True})
        self.bold = wb.add_format({**cell, "bold": True})
        self.bold_quoted = wb.add_format({**cell, "bold": True, "quote_prefix": True})
        self.pct = wb.add_format({**cell, "num_format": "0.0%"})
        self.pct_bold = wb.add_format({**cell, "num_format": "0.0%", "bold": True})
        self.when = wb.add_format({**cell, "num_format": "yyyy-mm-dd hh:mm"})
        self.day = wb.add_format({**cell, "num_format": "yyyy-mm-dd"})

    def styles(self, fmts: Sequence[Format], quoted: Format) -> CellStyles:
        """The formats' xf numbers: the rows using them are streamed, so number them now."""
        return CellStyles(
            text=tuple(f._get_xf_index() for f in fmts),
            quoted=(quoted._get_xf_index(),) * len(fmts),
            when=self.when._get_xf_index(),
            day=self.day._get_xf_index(),
        )

    def sheet(
        self, name: str, header: Sequence[str], rows: Sequence[Sequence[object]], *, cap: int = 60
    ) -> tuple[Worksheet, SheetRows]:
        """A sheet with its header, column widths, frozen header and filter; its rows to stream."""
        ws = self.wb.add_worksheet(name)
        member = f"xl/worksheets/sheet{len(self.wb.worksheets())}.xml"
        for c, h in enumerate(header):
            ws.write_string(0, c, h, self.head)
        for c, width in enumerate(column_widths(header, rows, cap=cap)):
            ws.set_column(c, c, max(6, width + 2))
        ws.freeze_panes(1, 0)
        if header:
            ws.autofilter(0, 0, max(len(rows), 1), len(header) - 1)
        styles = self.styles([self.cell] * len(header), self.cell_quoted)
        return ws, SheetRows(member, rows, styles)

    def table(self, name: str, t: Table) -> SheetRows:
        rows = [tuple(self._cell(v, col) for v, col in zip(raw, t.columns, strict=True)) for raw in t.rows]
        _, plain = self.sheet(name, t.header, rows)
        pct = [col.kind == "pct" for col in t.columns]
        styles = self.styles([self.pct if p else self.cell for p in pct], self.cell_quoted)
        bold = self.styles([self.pct_bold if p else self.bold for p in pct], self.bold_quoted)
        return SheetRows(plain.member, rows, styles, bold, frozenset(t.bold_rows))

    @staticmethod
    def _cell(v: object, col: Column) -> object:
        if col.kind == "stars":
            return format_cell(v, "stars") if v is not None else ""
        if col.kind == "progress" and v is not None:
            return float(v)  # type: ignore[arg-type]
        return v


def render_xlsx(b: Bulletin, ledger_rows: list[dict] | LedgerTable, path: Path) -> Path:
    """Write the appendix workbook: 单位报送情况, 滞后事项, 分部分统计, 台账, 说明."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ledger = ledger_rows if isinstance(ledger_rows, LedgerTable) else LedgerTable.of(ledger_rows)
    package = io.BytesIO()
    options = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
    wb = xlsxwriter.Workbook(package, {**options, "in_memory": True})
    wb.set_properties(
        {"title": b.title, "author": b.office_name, "created": datetime.combine(b.issued_on, time(9, 0))}
    )
    w = _Writer(wb)
    try:
        sheets = [w.table(name, b.sheet_table(key)) for name, key in SHEETS.items()]
        sheets.append(w.sheet("台账", ledger.header, ledger.rows)[1])
        notes_rows = [(b.title,), (f"统计期：{b.period_label}",), *((n,) for n in b.notes)]
        notes, rows = w.sheet("说明", ["说明"], notes_rows)
        notes.set_column(0, 0, 120)
        sheets.append(rows)
    finally:
        wb.close()
    package.seek(0)
    return stream_rows(package, path, sheets)

"""Writing the returned files fast, in the template's layout contract (duban/collect/templates.py).

Visible sheet ``填报表``: title in row 1, ``填报单位：…`` in row 2, the template's headers in
row 3, data from row 4; hidden ``_duban`` key/value sheet. The .xls is the same layout saved
with xlwt (as Excel or WPS keep it when a unit re-saves the template as .xls); the CSV has a
``填报单位：`` line, the common headers and is UTF-8 (with BOM) or GBK.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xlsxwriter
import xlwt

from benchmarks.vocab import CSV_HEADERS
from duban.collect.templates import HEADERS, META_SHEET, SHEET
from duban.domain import Item

__all__ = ["FileJob", "write_files"]


@dataclass
class FileJob:
    """One file to write: where, in which format, whose, and when it arrives (its mtime)."""

    period: str
    path: str
    fmt: str
    unit: str
    unit_name: str
    lead: dict[str, str]
    rows: list[tuple[Item, str, dict[str, Any] | None]]  # item, role, entry (None: left blank)
    at: float


def _template_rows(job: FileJob) -> list[list[Any]]:
    out = []
    for it, role, e in job.rows:
        e = e or {}
        out.append(
            [
                it.id,
                it.number,
                it.title,
                role,
                job.lead[it.id],
                e.get("status", ""),
                e.get("progress"),
                e.get("narrative", ""),
                e.get("problems", ""),
                e.get("next_steps", ""),
                "",
                e.get("reporter", ""),
                e.get("phone", ""),
            ]
        )
    return out


def _meta(job: FileJob) -> list[tuple[str, str]]:
    return [
        ("duban_template", "1"),
        ("unit", job.unit),
        ("unit_name", job.unit_name),
        ("period", job.period),
        ("catalogue_version", "1"),
        ("template_version", "1"),
        ("plan", "浙数改办〔2026〕1号"),
    ]


def _info(job: FileJob) -> tuple[str, str]:
    return (f"{job.period}重点任务工作进展报表", f"填报单位：{job.unit}　　报送期间：{job.period}")


def _write_xlsx(job: FileJob) -> None:
    wb = xlsxwriter.Workbook(job.path, {"strings_to_formulas": False, "strings_to_urls": False})
    ws = wb.add_worksheet(SHEET)
    title, info = _info(job)
    ws.write_string(0, 0, title)
    ws.write_string(1, 0, info)
    for c, h in enumerate(HEADERS):
        ws.write_string(2, c, h)
    for r, row in enumerate(_template_rows(job), start=3):
        for c, v in enumerate(row):
            if isinstance(v, int | float):
                ws.write_number(r, c, v)
            elif v:
                ws.write_string(r, c, str(v))
    meta = wb.add_worksheet(META_SHEET)
    for r, (k, v) in enumerate(_meta(job)):
        meta.write_string(r, 0, k)
        meta.write_string(r, 1, v)
    meta.hide()
    wb.close()


def _write_xls(job: FileJob) -> None:
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet(SHEET)
    title, info = _info(job)
    ws.write(0, 0, title)
    ws.write(1, 0, info)
    for c, h in enumerate(HEADERS):
        ws.write(2, c, h)
    for r, row in enumerate(_template_rows(job), start=3):
        for c, v in enumerate(row):
            if v is not None and v != "":
                ws.write(r, c, v)
    meta = wb.add_sheet(META_SHEET)
    for r, (k, v) in enumerate(_meta(job)):
        meta.write(r, 0, k)
        meta.write(r, 1, v)
    meta.visibility = 1  # hidden, as Excel/WPS keep the template's hidden sheet when re-saving as .xls
    wb.save(job.path)


def _write_csv(job: FileJob) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([f"填报单位：{job.unit}"])
    w.writerow(CSV_HEADERS)
    for it, _role, e in job.rows:
        e = e or {}
        w.writerow(
            [
                it.id,
                it.number,
                it.title,
                e.get("status", ""),
                e.get("progress", ""),
                e.get("narrative", ""),
                e.get("problems", ""),
                e.get("next_steps", ""),
                e.get("reporter", ""),
                e.get("phone", ""),
            ]
        )
    encoding = "gbk" if job.fmt == "csv_gbk" else "utf-8-sig"
    Path(job.path).write_bytes(buf.getvalue().encode(encoding, errors="replace"))


def write_files(jobs: list[FileJob]) -> int:
    for job in jobs:
        {"xlsx": _write_xlsx, "xls": _write_xls}.get(job.fmt, _write_csv)(job)
        os.utime(job.path, (job.at, job.at))
    return len(jobs)

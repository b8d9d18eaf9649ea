"""A realistic quarter of unit submissions, generated from the catalogue with a fixed seed.

The demo and the benchmark replay it: each unit gets a fate (on time, late, missing, with
invalid values, reporting through the API, resubmitting), and its returned spreadsheet comes
in one of the layouts units really send back — the template itself, a LibreOffice .xls or
.ods, a GBK CSV, or a home-made sheet with a title, a ``填报单位：`` line, merged two-row
headers and renamed columns. Same seed, same quarter, byte for byte where the formats allow.
"""

from __future__ import annotations

import csv
import io
import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import xlsxwriter

from duban.collect.templates import template_bytes, template_filename
from duban.domain import Catalogue, Item, Role
from duban.periods import Period, WorkCalendar
from duban.reconcile import expected_pairs
from duban.store.db import SHANGHAI
from duban.units import Unit, UnitDirectory

__all__ = ["Arrival", "Quarter", "UnitPlan", "generate_quarter", "spoil"]

FATES = ("on_time", "late", "missing", "invalid", "api")
LAYOUTS = ("template", "xls", "ods", "csv_gbk", "custom")
STATUS_WEIGHTS = {"已完成": 18, "推进中": 60, "滞后": 10, "未启动": 7, "暂停": 5}
DOING = [
    "完成需求调研和方案设计",
    "推进系统开发和部署",
    "组织业务培训{n}场次",
    "归集数据{n}万条",
    "上线应用场景{n}个",
    "召开专题推进会{n}次",
    "完成试点{n}个",
    "对接省级平台接口{n}项",
]
PROBLEMS = [
    "部门间数据共享不够顺畅",
    "项目资金尚未完全到位",
    "专业技术人员不足",
    "基层应用推广力度有待加强",
    "",
]
NEXT = ["加快系统迭代升级", "扩大试点范围", "强化部门协同", "完善考核评价机制", "推进成果固化为制度"]


@dataclass
class UnitPlan:
    unit: str
    fate: str
    layout: str
    items: list[tuple[Item, Role]]


@dataclass
class Arrival:
    """A file that reaches the inbox at ``at``."""

    path: Path
    at: datetime
    unit: str
    layout: str


@dataclass
class Quarter:
    period: Period
    plans: list[UnitPlan]
    arrivals: list[Arrival]
    api_records: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    def fate(self, unit: str) -> str:
        return next(p.fate for p in self.plans if p.unit == unit)


def _workdays(cal: WorkCalendar, a: date, b: date) -> list[date]:
    out, d = [], a
    while d <= b:
        if cal.is_workday(d):
            out.append(d)
        d += timedelta(days=1)
    return out


def _when(rng: random.Random, d: date) -> datetime:
    return datetime.combine(d, time(rng.randint(8, 17), rng.randint(0, 59)), SHANGHAI)


def _entry(rng: random.Random, it: Item, *, invalid: bool) -> dict[str, Any]:
    status = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
    progress: Any = 100 if status == "已完成" else {"未启动": 0}.get(status, rng.randrange(20, 95, 5))
    n = rng.randint(2, 30)
    doing = "；".join(s.format(n=n) for s in rng.sample(DOING, 2))
    narrative = f"围绕“{it.title[:18]}”，{doing}，工作总体按计划推进。"
    if status == "已完成":
        narrative = f"“{it.title[:18]}”相关任务已全部完成，{doing}。"
    row = {
        "status": status,
        "progress": progress,
        "narrative": narrative,
        "problems": rng.choice(PROBLEMS) if status != "已完成" else "",
        "next_steps": rng.choice(NEXT) + "。",
        "reporter": rng.choice(["王", "李", "张", "陈", "刘"]) + "科员",
        "phone": f"0578-2{rng.randint(100000, 999999)}",
    }
    if invalid:
        spoil(rng, row)
    return row


def spoil(rng: random.Random, row: dict[str, Any]) -> None:
    """One invalid value, of the kinds units really send."""
    kind = rng.choice(["progress_text", "progress_range", "status", "narrative"])
    if kind == "progress_text":
        row["progress"] = "八十左右"
    elif kind == "progress_range":
        row["progress"] = 150
    elif kind == "status":
        row["status"] = "差不多了"
    else:
        row["status"], row["narrative"] = "推进中", ""


def _fill_template(data: bytes, entries: list[dict[str, Any]], path: Path) -> None:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    ws = wb["填报表"]
    header = [c.value for c in ws[3]]
    col = {name: i + 1 for i, name in enumerate(header)}
    names = {
        "status": "完成状态",
        "progress": "完成进度(%)",
        "narrative": "本期进展情况",
        "problems": "存在问题",
        "next_steps": "下步计划",
        "reporter": "填报人",
        "phone": "联系电话",
    }
    for r, e in enumerate(entries, start=4):
        for key, head in names.items():
            ws.cell(row=r, column=col[head], value=e[key])
    wb.save(path)


def _custom_xlsx(
    path: Path,
    unit: Unit,
    period: Period,
    items: list[tuple[Item, Role]],
    entries: list[dict[str, Any]],
    rng: random.Random,
) -> None:
    """A unit's home-made sheet: title, 填报单位 (full name), merged two-row header, renamed columns."""
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False})
    ws = wb.add_worksheet("Sheet1")
    merge = wb.add_format({"bold": True, "align": "center", "valign": "vcenter", "border": 1})
    ws.merge_range(0, 0, 0, 6, f"{period.label_zh}数字政府建设重点任务推进情况表", merge)
    ws.write_string(1, 0, f"填报单位：{unit.full_name}")
    ws.merge_range(2, 0, 3, 0, "序号", merge)
    ws.merge_range(2, 1, 3, 1, "重点任务", merge)
    ws.merge_range(2, 2, 2, 3, "完成情况", merge)
    ws.write_string(3, 2, "完成状态", merge)
    ws.write_string(3, 3, "完成进度", merge)
    ws.merge_range(2, 4, 3, 4, "工作进展", merge)
    ws.merge_range(2, 5, 3, 5, "存在问题", merge)
    ws.merge_range(2, 6, 3, 6, "下一步计划", merge)
    for r, ((it, _role), e) in enumerate(zip(items, entries, strict=True), start=4):
        title = it.title if rng.random() < 0.6 else it.title.replace("能力", "水平", 1).rstrip("。") + "工作"
        ws.write(r, 0, it.number if it.number is not None else "")
        ws.write_string(r, 1, title)
        ws.write_string(r, 2, str(e["status"]))
        p = e["progress"]
        ws.write_string(r, 3, f"{p}%" if isinstance(p, int | float) else str(p))
        ws.write_string(r, 4, e["narrative"])
        ws.write_string(r, 5, e["problems"])
        ws.write_string(r, 6, e["next_steps"])
    wb.close()


def _csv_gbk(path: Path, items: list[tuple[Item, Role]], entries: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "任务编码",
            "序号",
            "工作任务",
            "状态",
            "进度(%)",
            "进展情况",
            "存在问题",
            "下步工作",
            "联系人",
            "电话",
        ]
    )
    for (it, _r), e in zip(items, entries, strict=True):
        w.writerow(
            [
                it.id,
                it.number or "",
                it.title,
                e["status"],
                e["progress"],
                e["narrative"],
                e["problems"],
                e["next_steps"],
                e["reporter"],
                e["phone"],
            ]
        )
    path.write_bytes(buf.getvalue().encode("gbk", errors="replace"))


def _convert(paths: list[tuple[Path, str]], out_dir: Path) -> list[str]:
    """Convert templates to .xls / .ods with LibreOffice when present (one call per format)."""
    notes: list[str] = []
    soffice = shutil.which("soffice")
    for fmt in ("xls", "ods"):
        batch = [p for p, f in paths if f == fmt]
        if not batch:
            continue
        if soffice is None:
            notes.append(f"LibreOffice not found: {len(batch)} file(s) kept as .xlsx instead of .{fmt}")
            continue
        with tempfile.TemporaryDirectory() as profile:
            cmd = [
                soffice,
                f"-env:UserInstallation=file://{profile}",
                "--headless",
                "--convert-to",
                fmt,
                "--outdir",
                str(out_dir),
                *map(str, batch),
            ]
            done = subprocess.run(cmd, capture_output=True, timeout=300, check=False)
        for p in batch:
            target = p.with_suffix(f".{fmt}")
            if done.returncode == 0 and target.exists():
                p.unlink()
            else:
                notes.append(f"LibreOffice could not convert {p.name}; kept as .xlsx")
    return notes


def generate_quarter(
    catalogue: Catalogue,
    version: int,
    directory: UnitDirectory,
    period: Period,
    calendar: WorkCalendar,
    out_dir: Path,
    *,
    seed: int = 2026,
    resubmit: int = 1,
    convert: bool = True,
) -> Quarter:
    """Write the quarter's returned files under ``out_dir`` and return when each arrives.

    ``convert=False`` keeps the .xls/.ods units as .xlsx (no LibreOffice round trip; faster).
    """
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    units = sorted({u for _i, u, _r in expected_pairs(catalogue)})
    by_unit: dict[str, list[tuple[Item, Role]]] = {u: [] for u in units}
    for it in catalogue.items:
        for a in it.assignments:
            if not a.placeholder and a.unit in by_unit and all(x[0].id != it.id for x in by_unit[a.unit]):
                by_unit[a.unit].append((it, a.role))
    window = _workdays(calendar, period.window_opens, period.deadline)
    after = _workdays(
        calendar, period.deadline + timedelta(days=1), calendar.add_workdays(period.deadline, 4)
    )
    plans, arrivals, records, converts = [], [], [], []
    for unit_name in units:
        try:
            unit = directory.get(unit_name)
        except KeyError:
            continue
        fate = rng.choices(FATES, weights=[58, 14, 10, 10, 8])[0]
        layout = rng.choices(LAYOUTS, weights=[45, 15, 10, 15, 15])[0]
        items = by_unit[unit_name]
        plans.append(UnitPlan(unit_name, fate, layout, items))
        if fate == "missing":
            continue
        entries = [
            _entry(rng, it, invalid=(fate == "invalid" and k == 0)) for k, (it, _r) in enumerate(items)
        ]
        day = rng.choice(after) if fate == "late" else rng.choice(window[1:] or window)
        if fate == "api":
            for (it, _r), e in zip(items, entries, strict=True):
                stamp = _when(rng, day)
                records.append(
                    {
                        "id": f"{period.key}-{unit.short_name}-{it.id}",
                        "task_code": it.id,
                        "org_name": unit.full_name if rng.random() < 0.5 else unit.short_name,
                        "period": period.key,
                        "status": e["status"],
                        "progress": e["progress"],
                        "progress_text": e["narrative"],
                        "issues": e["problems"],
                        "next_plan": e["next_steps"],
                        "reporter": e["reporter"],
                        "phone": e["phone"],
                        "updated_at": stamp.isoformat(),
                    }
                )
            continue
        stem = template_filename(unit, period).rsplit(".", 1)[0]
        if layout == "csv_gbk":
            path = out_dir / f"{stem}.csv"
            _csv_gbk(path, items, entries)
        elif layout == "custom":
            path = out_dir / f"{unit.full_name}{period.label_zh}报送.xlsx"
            _custom_xlsx(path, unit, period, items, entries, rng)
        else:
            data = template_bytes(
                catalogue=catalogue,
                unit=unit,
                period=period,
                catalogue_version=version,
                plan_title=catalogue.plan.title,
            )
            path = out_dir / f"{stem}.xlsx"
            _fill_template(data, entries, path)
            if layout in ("xls", "ods"):
                converts.append((path, layout))
        arrivals.append(Arrival(path, _when(rng, day), unit_name, layout))
    notes = _convert(converts, out_dir) if convert else []
    for a in arrivals:
        if not a.path.exists():
            a.path = next(a.path.parent.glob(a.path.stem + ".*"))
    candidates = [a for a in arrivals if a.layout == "template" and a.at.date() < period.deadline]
    for a in candidates[:resubmit]:
        wb = openpyxl.load_workbook(a.path)
        ws = wb["填报表"]
        ws.cell(row=4, column=8, value=f"（更正）{ws.cell(row=4, column=8).value or ''}补充完善了推进情况。")
        second = a.path.with_name(a.path.stem + "_更正.xlsx")
        wb.save(second)
        later = calendar.add_workdays(a.at.date(), 1)
        arrivals.append(Arrival(second, _when(rng, min(later, period.deadline)), a.unit, "resubmission"))
    arrivals.sort(key=lambda a: (a.at, a.path.name))
    return Quarter(period, plans, arrivals, records, notes)

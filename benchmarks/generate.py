"""A synthetic quarter at a chosen scale: catalogue, unit directory, returned files, API records.

Why synthetic: the seed plan has 43 units; a province has thousands. The benchmark needs the
same *kind* of input at 500–5,000 units — ~200 tasks in parts and sections, ~40 assignments
per unit (one lead per task), one returned spreadsheet per unit on average (the duban
template as .xlsx, the same layout re-saved as .xls, or a CSV in UTF-8 or GBK), Chinese
narratives, some late, missing, invalid or resubmitted, and a tenth of the units reporting
through the API. Files are written directly in the template's layout contract (see
duban/collect/templates.py) with xlsxwriter and xlwt, in parallel, because the point is to
time duban, not the generator. The result is cached under ``var/bench/data/<scale>/`` and
reused while ``DATA_VERSION`` is unchanged.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from benchmarks.vocab import (
    CITIES,
    DEPTS,
    DOING,
    FIELDS_ZH,
    FORMATS,
    NEXT,
    OBJECTS,
    PARTS,
    PROBLEMS,
    RESULTS,
    SECTION_KEYS,
    STATUS_WEIGHTS,
    VERBS,
)
from benchmarks.writers import FileJob, write_files
from duban.domain import Assignment, Catalogue, Item, Plan, Role
from duban.periods import parse_period, work_calendar
from duban.settings import get_settings
from duban.store.db import SHANGHAI
from duban_app.simulate import spoil

__all__ = ["DATA_VERSION", "PERIOD_KEY", "RUN_DATE", "SCALES", "Dataset", "Scale", "ensure_dataset"]

DATA_VERSION = "3"
PERIOD_KEY = "2026Q3"
#: The simulated day of the measured cycle: the 督办 (overdue) stage of 2026Q3, after the deadline.
RUN_DATE = date(2026, 10, 15)


@dataclass(frozen=True)
class Scale:
    name: str
    units: int
    items: int
    per_unit: int


SCALES: dict[str, Scale] = {
    "tiny": Scale("tiny", 20, 30, 8),
    "city": Scale("city", 500, 200, 40),
    "1000": Scale("1000", 1000, 200, 40),
    "2000": Scale("2000", 2000, 200, 40),
    "province": Scale("province", 5000, 200, 40),
}


@dataclass
class Dataset:
    """A generated quarter on disk (see ``ensure_dataset``)."""

    scale: Scale
    root: Path
    catalogue: Catalogue
    api_records: list[dict[str, Any]]
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def files_dir(self) -> Path:
        return self.root / "files"

    @property
    def units_path(self) -> Path:
        return self.root / "units.yaml"

    def files(self) -> list[Path]:
        return sorted(p for p in self.files_dir.iterdir() if p.is_file())


def _catalogue(scale: Scale, rng: random.Random) -> tuple[Catalogue, list[str]]:
    units = [f"单位{i:04d}" for i in range(1, scale.units + 1)]
    combos = [f"{v}{f}{o}" for v in VERBS for f in FIELDS_ZH for o in OBJECTS]
    titles = rng.sample(combos, scale.items)
    chosen: dict[int, list[str]] = {i: [] for i in range(scale.items)}
    for u in units:
        for i in rng.sample(range(scale.items), min(scale.per_unit, scale.items)):
            chosen[i].append(u)
    for names in chosen.values():
        if not names:
            names.append(rng.choice(units))
    sections = [(p, s) for p in PARTS for s in SECTION_KEYS]
    items = []
    for i, title in enumerate(titles):
        (pk, pt), sk = sections[i * len(sections) // scale.items]
        names = sorted(chosen[i])
        lead = rng.randrange(len(names))
        order = [names[lead], *names[:lead], *names[lead + 1 :]]
        assignments = tuple(
            Assignment(u, Role.LEAD if k == 0 else Role.CO, k, u) for k, u in enumerate(order)
        )
        text = f"{title}，到2026年底取得明显成效，形成一批可复制推广的经验做法。"
        items.append(
            Item(f"T{i + 1:03d}", i + 1, pk, pt, sk, f"{pt[:4]}第{sk[1]}项工作", title, text, assignments)
        )
    plan = Plan(
        "浙数改办〔2026〕1号", "浙江省数字政府建设重点任务督办清单（基准测试）", date(2026, 1, 15), "基准测试"
    )
    return Catalogue(plan, tuple(items), source_name=f"synthetic-{scale.name}"), units


def _directory(units: list[str], rng: random.Random) -> dict[str, Any]:
    entries = []
    for n, short in enumerate(units, start=1):
        city_no = n % len(CITIES)
        city = CITIES[city_no]
        entries.append(
            {
                "short_name": short,
                "full_name": f"{city}{rng.choice(DEPTS)}（第{n:04d}号）",
                "emails": [f"u{n:04d}@bench.example.gov.cn"],
                "supervisor": {
                    "name": f"{city}政府督查室",
                    "email": f"dcs{city_no:02d}@bench.example.gov.cn",
                },
            }
        )
    return {"placeholders": ["各有关单位"], "units": entries}


def _entry(rng: random.Random, item: Item) -> dict[str, Any]:
    status = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
    progress: Any = 100 if status == "已完成" else 0 if status == "未启动" else rng.randrange(20, 95, 5)
    n = rng.randint(2, 60)
    doing = "；".join(s.format(n=n) for s in rng.sample(DOING, 2))
    result = rng.choice(RESULTS).format(n=rng.randint(10, 90))
    narrative = f"围绕“{item.title}”，{doing}，{result}。"
    return {
        "status": status,
        "progress": progress,
        "narrative": narrative,
        "problems": "" if status == "已完成" else rng.choice(PROBLEMS),
        "next_steps": rng.choice(NEXT) + "。",
        "reporter": rng.choice("王李张陈刘杨黄赵吴周") + "科员",
        "phone": f"0571-8{rng.randint(1000000, 9999999)}",
    }


def _at(rng: random.Random, day: date) -> float:
    return datetime(
        day.year, day.month, day.day, rng.randint(8, 17), rng.randint(0, 59), tzinfo=SHANGHAI
    ).timestamp()


def _plan_quarter(cat: Catalogue, units: list[str], names: dict[str, str], rng: random.Random, out: Path):
    """Each unit's fate and its file jobs / API records."""
    settings = get_settings()
    period, cal = parse_period(PERIOD_KEY, settings), work_calendar(settings)
    days = [
        period.window_opens + timedelta(d) for d in range((period.deadline - period.window_opens).days + 1)
    ]
    window = [d for d in days if cal.is_workday(d)][1:]
    after = [period.deadline + timedelta(d) for d in range(1, (RUN_DATE - period.deadline).days)]
    late_days = [d for d in after if cal.is_workday(d)] or [period.deadline + timedelta(1)]
    by_unit: dict[str, list[tuple[Item, str]]] = {u: [] for u in units}
    lead = {it.id: it.assignments[0].unit for it in cat.items}
    for it in cat.items:
        for a in it.assignments:
            by_unit[a.unit].append((it, str(a.role)))
    n_api, n_missing = round(0.10 * len(units)), round(0.05 * len(units))
    order = units[:]
    rng.shuffle(order)
    api_units, missing = set(order[:n_api]), set(order[n_api : n_api + n_missing])
    file_units = [u for u in units if u not in api_units and u not in missing]
    jobs: list[FileJob] = []
    records: list[dict[str, Any]] = []
    fates: dict[str, int] = {"missing": len(missing), "api": len(api_units)}
    for u in units:
        if u in missing:
            continue
        fate = rng.choices(["on_time", "late", "invalid", "partial"], weights=[74, 10, 8, 8])[0]
        entries = [(it, role, _entry(rng, it)) for it, role in by_unit[u]]
        if fate == "invalid" and entries:
            spoil(rng, entries[0][2])
        if fate == "partial":
            for k in rng.sample(range(len(entries)), min(3, len(entries) - 1)):
                entries[k] = (entries[k][0], entries[k][1], None)
        day = rng.choice(late_days) if fate == "late" else rng.choice(window)
        if u in api_units:
            fates["api_" + fate] = fates.get("api_" + fate, 0) + 1
            for it, _role, e in entries:
                if e is None:
                    continue
                stamp = datetime.fromtimestamp(_at(rng, day), SHANGHAI).isoformat()
                records.append(
                    {
                        "id": f"{PERIOD_KEY}-{u}-{it.id}",
                        "task_code": it.id,
                        "org_name": names[u] if rng.random() < 0.5 else u,
                        "period": PERIOD_KEY,
                        "status": e["status"],
                        "progress": e["progress"],
                        "progress_text": e["narrative"],
                        "issues": e["problems"],
                        "next_plan": e["next_steps"],
                        "reporter": e["reporter"],
                        "phone": e["phone"],
                        "updated_at": stamp,
                    }
                )
            continue
        fates[fate] = fates.get(fate, 0) + 1
        fmt = rng.choices(list(FORMATS), weights=list(FORMATS.values()))[0]
        suffix = {"xlsx": ".xlsx", "xls": ".xls"}.get(fmt, ".csv")
        path = out / f"{PERIOD_KEY}_{u}_工作进展报表{suffix}"
        jobs.append(
            FileJob(
                PERIOD_KEY,
                str(path),
                fmt,
                u,
                names[u],
                lead,
                [(i, r, e) for i, r, e in entries],
                _at(rng, day),
            )
        )
    for job in rng.sample([j for j in jobs if j.fmt == "xlsx"], min(len(units) - len(jobs), len(jobs))):
        fix = [(it, role, dict(e) if e else None) for it, role, e in job.rows]
        for _it, _role, e in fix[:2]:
            if e is not None:
                e["narrative"] = "（更正）" + e["narrative"]
        path = str(Path(job.path).with_name(Path(job.path).stem + "_更正.xlsx"))
        jobs.append(FileJob(PERIOD_KEY, path, "xlsx", job.unit, job.unit_name, lead, fix, job.at + 86400))
    fates["resubmitted"] = len(jobs) - len(file_units)
    return jobs, records, fates


def _generate(scale: Scale, root: Path, workers: int) -> dict[str, Any]:
    rng = random.Random(f"duban-bench-{scale.name}")
    cat, units = _catalogue(scale, rng)
    directory = _directory(units, rng)
    names = {e["short_name"]: e["full_name"] for e in directory["units"]}
    files = root / "files"
    files.mkdir(parents=True)
    jobs, records, fates = _plan_quarter(cat, units, names, rng, files)
    chunks = [jobs[i::workers] for i in range(workers)]
    if workers > 1 and len(jobs) > 50:
        with ProcessPoolExecutor(workers) as pool:
            written = sum(pool.map(write_files, chunks))
    else:
        written = write_files(jobs)
    (root / "units.yaml").write_text(yaml.safe_dump(directory, allow_unicode=True, sort_keys=False), "utf-8")
    (root / "catalogue.pickle").write_bytes(pickle.dumps(cat))
    (root / "api.json").write_text(json.dumps(records, ensure_ascii=False), "utf-8")
    formats: dict[str, int] = {}
    for j in jobs:
        formats[j.fmt] = formats.get(j.fmt, 0) + 1
    return {
        "version": DATA_VERSION,
        "scale": scale.name,
        "units": scale.units,
        "items": len(cat.items),
        "assignments": sum(len(i.assignments) for i in cat.items),
        "files": written,
        "formats": formats,
        "api_records": len(records),
        "fates": fates,
        "period": PERIOD_KEY,
        "run_date": RUN_DATE.isoformat(),
        "bytes": sum(p.stat().st_size for p in files.iterdir()),
    }


def ensure_dataset(scale: Scale, base: Path, *, workers: int | None = None) -> Dataset:
    """The scale's dataset under ``base/<scale>``: reused when its manifest has this DATA_VERSION."""
    root = base / scale.name
    manifest_path = root / "manifest.json"
    manifest: dict[str, Any] = {}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text("utf-8"))
    if manifest.get("version") != DATA_VERSION:
        shutil.rmtree(root, ignore_errors=True)
        started = time.perf_counter()
        manifest = _generate(scale, root, workers or os.cpu_count() or 1)
        manifest["generation_s"] = round(time.perf_counter() - started, 2)
        manifest["reused"] = False
        manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), "utf-8")
    else:
        manifest["reused"] = True
    cat = pickle.loads((root / "catalogue.pickle").read_bytes())
    records = json.loads((root / "api.json").read_text("utf-8"))
    return Dataset(scale, root, cat, records, manifest)

"""A hostile quarter: units, tasks and submissions whose text attacks whatever reads it.

Unit names with quotes, SQL, control characters, markup, ``../`` and formula prefixes; task
titles that are formulas and markup; narratives with ``=HYPERLINK(…)``, ``<script>``, links,
NUL; API records whose id, unit and period are paths. ``run_hostile`` takes this through
the whole cycle — templates, collect (files and API), reconcile, notices (SMTP and dry-run),
ledger, bulletin, status — and returns where everything landed, for ``hardening.injection``
to inspect.
"""

from __future__ import annotations

import csv
import io
import os
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from duban.domain import Assignment, Catalogue, Item, Plan, Role
from duban.store.db import SHANGHAI
from hardening.world import World, pg_create, pg_drop, settings_for

__all__ = ["FORMULAS", "HTML", "MARKER", "NAMES", "HostileRun", "discard", "hostile_catalogue", "run_hostile"]

MARKER = "PWNED"
FORMULAS = (
    '=HYPERLINK("http://evil.example/f","点此领取")',
    "+cmd|' /C calc'!A0",
    "-1+1+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "=1+1",
    "\t=1+1",
    "\r=2+2",
)
HTML = (
    '<script>alert("x")</script>',
    '<a href="http://evil.example/l">点此核对</a>',
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    "javascript:alert(1)",
    "[点此](http://evil.example/md)",
)
NAMES = (
    "市'单引号'局",
    '市"双引号"局',
    "市局'; DROP TABLE submission;--",
    "市<b>标签</b>局",
    "市\x1b[31m控制\x07符局",
    f"市../../{MARKER}局",
    "=市公式局",
    "市\u202e反向局",
    "市%s占位%d局",
    "市\\反斜杠局",
    "市局\r\nBcc: spy@evil.example",
)
PERIOD = "2026Q4"


def hostile_catalogue() -> Catalogue:
    """Eight tasks over the hostile units (each a lead of one, a co-unit of another)."""
    titles = [
        FORMULAS[0],
        HTML[0],
        "推进'; DELETE FROM item;--",
        HTML[1],
        FORMULAS[1],
        "普通任务",
        FORMULAS[4],
        HTML[2],
    ]
    items = []
    for k, title in enumerate(titles):
        units = [NAMES[k % len(NAMES)], NAMES[(k + 3) % len(NAMES)]]
        assignments = tuple(
            Assignment(unit=u, role=Role.LEAD if i == 0 else Role.CO, position=i, raw=u)
            for i, u in enumerate(units)
        )
        items.append(
            Item(f"H{k + 1:02d}", k + 1, "二", "重点任务", "(一)", "小节", title, title + "。", assignments)
        )
    for extra, unit in enumerate(NAMES[8:]):  # every hostile unit has at least one task
        items.append(
            Item(
                f"H{9 + extra:02d}",
                9 + extra,
                "二",
                "重点任务",
                None,
                None,
                f"任务{extra}",
                "正文",
                (Assignment(unit=unit, role=Role.LEAD, position=0, raw=unit),),
            )
        )
    return Catalogue(
        Plan("测政发〔2026〕1号", "<b>测试</b>方案", date(2026, 1, 1), "测试市"),
        tuple(items),
        source_name="hostile",
    )


def _config(world: World, dest: Path) -> Path:
    import shutil

    shutil.copytree(world.config_dir, dest)
    units = [
        {
            "short_name": n,
            "full_name": f"丽水{n}全称",
            "aliases": [],
            "emails": [f"u{i}@hostile.example"],
            **(
                {"supervisor": {"name": "副秘书长<script>", "email": "sup@hostile.example"}} if i == 0 else {}
            ),
        }
        for i, n in enumerate(NAMES)
    ]
    (dest / "units.yaml").write_text(
        yaml.safe_dump({"placeholders": ["市级有关单位"], "units": units}, allow_unicode=True),
        encoding="utf-8",
    )
    return dest


@dataclass
class HostileRun:
    root: Path
    home: Path
    out: Path
    maildir: Path
    outbox: Path
    xlsx: list[Path] = field(default_factory=list)
    bulletin: dict[str, Path] = field(default_factory=dict)
    status: list[Any] = field(default_factory=list)
    notices: dict[str, Any] = field(default_factory=dict)
    collected: dict[str, Any] = field(default_factory=dict)
    url: str = ""


def _fill(template: Path, dest: Path, k: int) -> Path:
    import openpyxl

    wb = openpyxl.load_workbook(template)
    ws = wb["填报表"]
    head = {c.value: c.column for c in ws[3]}
    for r in range(4, ws.max_row + 1):
        if not ws.cell(r, 1).value:
            continue
        values = {
            "完成状态": "推进中",
            # invalid values, quoted back in the unit's notice: a formula, then markup and a link
            "完成进度(%)": FORMULAS[4] if k == 0 else HTML[0] + HTML[1] if k == 1 else 60,
            "本期进展情况": f"{HTML[k % len(HTML)]} {FORMULAS[k % len(FORMULAS)]} 原文",
            "存在问题": FORMULAS[(k + 1) % len(FORMULAS)],
            "下步计划": HTML[(k + 2) % len(HTML)],
        }
        for name, v in values.items():
            cell = ws.cell(r, head[name], value=v)
            if isinstance(v, str):
                cell.data_type = "s"  # typed text, as a unit's Excel stores it (not a formula)
    wb.save(dest)
    return dest


def _csv_return(dest: Path, items: list[str]) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["任务编码", "完成状态", "完成进度(%)", "本期进展情况", "存在问题"])
    for i in items:
        w.writerow([i, "推进中", "=1+1", f"{HTML[1]}{FORMULAS[0]}", "@SUM(1)"])
    dest.write_text(buf.getvalue(), encoding="utf-8-sig")
    return dest


def _api_records() -> list[dict[str, Any]]:
    stamp = datetime(2027, 1, 5, 10, tzinfo=SHANGHAI).isoformat()
    return [
        {
            "id": f"../../{MARKER}-api-1",
            "task_code": "H08",
            "org_name": NAMES[7],
            "period": PERIOD,
            "status": "推进中",
            "progress": 50,
            "progress_text": f"{HTML[0]}{HTML[1]}\x00",
            "issues": FORMULAS[0],
            "next_plan": HTML[2],
            "reporter": "王",
            "phone": "1",
            "updated_at": stamp,
        },
        {
            "id": f"..\\..\\{MARKER}-api-2",
            "task_code": "H01",
            "org_name": f"../../{MARKER}",
            "period": f"../{MARKER}",
            "status": "推进中",
            "progress": 50,
            "progress_text": "x",
            "updated_at": stamp,
        },
    ]


def run_hostile(world: World, root: Path, *, backend: str = "sqlite") -> HostileRun:
    """The whole cycle on the hostile quarter; everything written lands under ``root``."""
    from connectors.api.loopback import LoopbackApi
    from connectors.mail.loopback import LoopbackSmtpServer
    from connectors.mail.smtp import SmtpSender
    from duban.store.catalogue import import_catalogue
    from duban_app.collect import collect_api, collect_files
    from duban_app.context import AppContext
    from duban_app.cycle import reconcile_period, status, write_ledger_file, write_templates
    from duban_app.notices import run_stage
    from duban_app.summary import write_bulletin
    from hardening.apifaults import TOKEN, write_sources
    from hardening.crash import WHEN
    from hardening.isolation import seed_state

    home = root / "home"
    url = (
        f"sqlite:///{home / 'duban.db'}"
        if backend == "sqlite"
        else pg_create(f"hx_hostile_{uuid.uuid4().hex[:10]}")
    )
    run = HostileRun(root, home, root / "out", root / "maildir", root / "outbox", url=url)
    cfg = write_sources(_config(world, root / "config-base"), root / "config", "cursor")
    with LoopbackSmtpServer(run.maildir) as smtp, LoopbackApi(_api_records(), token=TOKEN) as api:
        settings = settings_for(
            home, url, cfg, host="127.0.0.1", port=smtp.port, security="none", rate_per_second=0
        )
        ctx = AppContext(settings)
        try:
            cat = hostile_catalogue()
            import_catalogue(ctx.store, cat, source_sha256="hostile")
            marks = {n: f"{HTML[i % len(HTML)]}{FORMULAS[i % len(FORMULAS)]}" for i, n in enumerate(NAMES)}
            seed_state(
                ctx, {n: "previous" for n in NAMES}, marks
            )  # last period's values pre-fill the templates
            templates = write_templates(ctx, PERIOD, run.out / "templates")
            run.xlsx += templates
            returns = run.out / "returns"
            returns.mkdir(parents=True)
            files = [_fill(p, returns / p.name, k) for k, p in enumerate(templates[:6])]
            files.append(_csv_return(returns / "csv_return.csv", [it.id for it in cat.items[:3]]))
            run.collected["files"] = collect_files(ctx, files, period=PERIOD).as_dict()
            os.environ["DUBAN_SOURCE_ZZD_PROGRESS_URL"] = api.base_url
            try:
                run.collected["api"] = collect_api(ctx, token=TOKEN).as_dict()
            finally:
                os.environ.pop("DUBAN_SOURCE_ZZD_PROGRESS_URL", None)
            reconcile_period(ctx, PERIOD)
            for stage in ("open", "due"):
                sender = SmtpSender(settings.smtp, backoff_s=0.01)
                run.notices[stage] = run_stage(ctx, PERIOD, stage, when=lambda: WHEN, sender=sender).report
            run.notices["overdue (dry run)"] = run_stage(
                ctx, PERIOD, "overdue", dry_run=True, outbox_dir=run.outbox, when=lambda: WHEN
            ).report
            run.xlsx.append(write_ledger_file(ctx, PERIOD, run.out / "ledger.xlsx"))
            run.bulletin = dict(write_bulletin(ctx, PERIOD, run.out / "bulletin", pdf=False).files)
            run.xlsx += [p for p in run.bulletin.values() if str(p).endswith(".xlsx")]
            run.status = status(ctx, PERIOD)
        finally:
            ctx.close()
    return run


def discard(run: HostileRun) -> None:
    """Drop the run's PostgreSQL database (SQLite lives under ``run.root``)."""
    if run.url.startswith("postgresql"):
        pg_drop(run.url.rsplit("/", 1)[1])

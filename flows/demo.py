"""The main job (`make demo`): a whole simulated quarter, 2026Q4, run through the Prefect flows.

1. Import the seed plan (idempotent) and generate the units' returned files and API records
   with a fixed seed (once per DUBAN_HOME; a rerun replays the same quarter).
2. Start a loopback SMTP server that keeps every message as an .eml file, and a loopback
   reporting API.
3. Run ``reporting_cycle`` for every day from the window's opening to after the last notice
   stage on a simulated clock: each day the files that have arrived land in the inbox and the
   API shows the records updated so far.
4. Print what happened and where the files are.

Run again with the same DUBAN_HOME it sends nothing new and reproduces the same numbers.
"""

from __future__ import annotations

import os
import shutil
import sys
import time as _time
from datetime import date, timedelta
from pathlib import Path

DEMO_PERIOD = "2026Q4"
DEMO_TOKEN = "demo-token-not-a-secret"


def _prepare_env() -> Path:
    """Environment for the demo's own servers and Prefect's local state, before anything reads it."""
    home = Path(os.environ.get("DUBAN_HOME", "var")).resolve()
    os.environ["DUBAN_HOME"] = str(home)
    os.environ.setdefault("PREFECT_HOME", str(home / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    return home


def main() -> int:
    home = _prepare_env()
    started = _time.monotonic()
    from rich.console import Console

    console = Console()
    console.print(f"[bold]duban demo[/] — quarter {DEMO_PERIOD}, DUBAN_HOME={home}")

    from connectors.api.loopback import LoopbackApi
    from connectors.mail.loopback import LoopbackSmtpServer

    mail_dir = home / "mail"
    with LoopbackSmtpServer(mail_dir) as smtp, LoopbackApi([], token=DEMO_TOKEN, page_size=50) as api:
        os.environ.update(
            {
                "DUBAN_SMTP_HOST": "127.0.0.1",
                "DUBAN_SMTP_PORT": str(smtp.port),
                "DUBAN_SMTP_SECURITY": "none",
                "DUBAN_SOURCE_ZZD_PROGRESS_URL": api.base_url,
                "DUBAN_ZZD_TOKEN": DEMO_TOKEN,
            }
        )
        from duban.settings import get_settings

        get_settings.cache_clear()
        settings = get_settings()
        from duban.periods import parse_period, stage_dates, work_calendar
        from duban_app.catalogue import import_plan
        from duban_app.context import AppContext
        from duban_app.simulate import generate_quarter

        ctx = AppContext(settings)
        imported = import_plan(ctx, settings.plan_path)
        catalogue, version = ctx.catalogue()
        console.print(
            f"plan {catalogue.plan.doc_number} {catalogue.plan.title}: {len(catalogue.items)} items, "
            f"catalogue version {version} ({'new' if imported.result.created else 'already stored'})"
        )
        period = parse_period(DEMO_PERIOD, settings)
        cal = work_calendar(settings)
        returns = home / "demo" / "returns"
        quarter = generate_quarter(catalogue, version, ctx.directory, period, cal, returns)
        for note in quarter.notes:
            console.print(f"[yellow]note:[/] {note}")
        last_stage = max(stage_dates(period, settings).values())
        days = []
        d = period.window_opens
        while d <= cal.add_workdays(last_stage, 1):
            days.append(d)
            d += timedelta(days=1)
        console.print(
            f"window opens {period.window_opens}, deadline {period.deadline}, "
            f"replaying {len(days)} days to {days[-1]}; starting Prefect …"
        )

        from flows.cycle import reporting_cycle

        inbox = settings.path("inbox")
        inbox.mkdir(parents=True, exist_ok=True)
        results = []
        for day in days:
            _deliver_arrivals(quarter, day, inbox)
            api.upsert(*[r for r in quarter.api_records if date.fromisoformat(r["updated_at"][:10]) <= day])
            t0 = _time.monotonic()
            results.append(reporting_cycle(run_date=day, record_time=True))
            console.print(f"  {day} {_one_line(results[-1])} ({_time.monotonic() - t0:.1f} s)")
        ctx.close()
        _report(console, home, quarter, settings, smtp, _time.monotonic() - started)
    return 0


def _deliver_arrivals(quarter, day: date, inbox: Path) -> None:
    for a in quarter.arrivals:
        if a.at.date() > day:
            continue
        target = inbox / a.path.name
        if not target.exists():
            shutil.copyfile(a.path, target)
            ts = a.at.timestamp()
            os.utime(target, (ts, ts))


def _one_line(result: dict) -> str:
    parts = []
    for key, done in result.get("periods", {}).items():
        st = done.get("status", {})
        bits = [f"{key}: {st.get('on_time', 0) + st.get('late', 0)}/{st.get('expected', 0)} reported"]
        for k, v in done.items():
            if k.startswith("notices_"):
                bits.append(f"{k[8:]} sent {v['sent']}")
        if "bulletin" in done:
            bits.append("bulletin written")
        parts.append(", ".join(bits))
    return "; ".join(parts) or "nothing due"


def _report(console, home: Path, quarter, settings, smtp, seconds: float) -> None:
    from collections import Counter

    from sqlalchemy import func, select

    from duban.bulletin import compute_metrics
    from duban.store.models import NoticeRow
    from duban_app.context import AppContext
    from duban_app.cycle import period_facts, status

    ctx = AppContext(settings)
    try:
        fates = Counter(p.fate for p in quarter.plans)
        rows = status(ctx, DEMO_PERIOD)
        with ctx.store.session() as s:
            notices = s.execute(
                select(NoticeRow.stage, NoticeRow.state, func.count())
                .where(NoticeRow.period == DEMO_PERIOD)
                .group_by(NoticeRow.stage, NoticeRow.state)
            ).all()
        metrics = compute_metrics(period_facts(ctx, DEMO_PERIOD), settings.rating)
    finally:
        ctx.close()
    console.rule("what happened")
    console.print("unit fates (generated): " + ", ".join(f"{k} {v}" for k, v in sorted(fates.items())))
    console.print(f"files returned: {len(quarter.arrivals)}; API records: {len(quarter.api_records)}")
    tot = {k: sum(getattr(u, k) for u in rows) for k in ("expected", "on_time", "late", "missing", "invalid")}
    console.print("assignments: " + ", ".join(f"{k} {v}" for k, v in tot.items()))
    console.print("notices: " + ", ".join(f"{stage}/{state} {n}" for stage, state, n in sorted(notices)))
    console.print(f"messages received by the loopback SMTP server this run: {len(smtp.messages)}")
    c = metrics.overall
    console.print("bulletin items: " + ", ".join(f"{k} {v}" for k, v in c.counts.items()))
    console.rule("where the files are")
    console.print(f"notices (.eml, open in a mail client): {home / 'mail'}")
    bulletin_dir = home / "bulletin" / DEMO_PERIOD
    console.print(f"bulletin: {bulletin_dir}")
    for f in sorted(bulletin_dir.glob("*")):
        console.print(f"  {f.name}")
    if not (bulletin_dir / f"{DEMO_PERIOD}_季度通报.pdf").exists():
        console.print("  [yellow]no PDF: install LibreOffice (see README) to get one[/]")
    console.print(f"templates sent with the opening notice: {home / 'templates' / DEMO_PERIOD}")
    console.print(f"store: {settings.db_url}")
    console.print(
        f"Prefect runs and artifacts: PREFECT_HOME={os.environ['PREFECT_HOME']} "
        "(see them with `PREFECT_HOME=… prefect server start`)"
    )
    console.print(f"[green]done in {seconds:.0f} s[/]")


if __name__ == "__main__":
    sys.exit(main())

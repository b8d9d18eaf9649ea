"""The daily ``reporting_cycle``: the period calendar decides what is due today.

For every period whose cycle is under way on ``run_date`` (from the day its window opens
until a few working days after its last notice stage):

1. on the opening day, the pre-filled templates are written;
2. every day: collect (inbox + APIs) and reconcile, so the lists are never stale;
3. the notice stages due today — and any earlier stage that was missed and not yet
   overtaken by the next one — are sent through the outbox;
4. once the deadline has passed, the bulletin is (re)written from the store.

Running any day again changes nothing: files are stored by hash, findings are replaced
wholesale, the outbox never re-sends, and the bulletin is rewritten from the same data.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from prefect import flow, get_run_logger
from sqlalchemy import select

from duban.periods import Period, period_for, previous_period, stage_dates, today, work_calendar
from duban.settings import Settings, get_settings
from duban.store.db import SHANGHAI
from duban.store.models import NoticeRow
from duban_app.context import AppContext
from flows.artifacts import bulletin_artifact, outbox_artifact, status_artifact
from flows.collect import run_collection
from flows.tasks import reconcile_task, send_stage, summarize_task, templates_task

__all__ = ["active_periods", "reporting_cycle", "stages_to_run"]

#: Working days after the last stage during which the cycle still collects for a period.
GRACE_WORKING_DAYS = 10


def active_periods(d: date, settings: Settings) -> list[Period]:
    """Periods whose cycle is under way on ``d``: window open, not long past the last stage."""
    cal = work_calendar(settings)
    current = period_for(d, settings)
    out = []
    for p in (previous_period(current, settings), current):
        last = max(stage_dates(p, settings).values(), default=p.deadline)
        if p.window_opens <= d <= cal.add_workdays(last, GRACE_WORKING_DAYS):
            out.append(p)
    return out


def stages_to_run(d: date, p: Period, settings: Settings, already: set[str]) -> list[str]:
    """Stages due on ``d``, plus a missed earlier one whose successor is not yet due."""
    dates = sorted(stage_dates(p, settings).items(), key=lambda kv: kv[1])
    due = [sid for sid, when in dates if when == d]
    past = [sid for sid, when in dates if when < d]
    if past and not due and past[-1] not in already:
        due.append(past[-1])
    return due


def _stages_done(ctx: AppContext, period: str) -> set[str]:
    with ctx.store.session() as s:
        return set(s.scalars(select(NoticeRow.stage).where(NoticeRow.period == period).distinct()))


@flow(name="reporting-cycle")
def reporting_cycle(
    run_date: date | None = None,
    dry_run: bool = False,
    clock_time: str = "09:00",
    record_time: bool = False,
) -> dict[str, Any]:
    """Run what the calendar says is due on ``run_date`` (default: today in Asia/Shanghai).

    ``clock_time`` is the simulated time of day for notices' Date headers when ``run_date`` is
    given (replays and the demo); a scheduled run uses the real clock.
    """
    settings = get_settings()
    log = get_run_logger()
    d = run_date or today(settings)
    when = datetime.combine(d, time.fromisoformat(clock_time), SHANGHAI) if run_date else None
    periods = active_periods(d, settings)
    summary: dict[str, Any] = {"date": d.isoformat(), "periods": {}}
    if not periods:
        log.info("%s: no period is under way; nothing to do", d)
        return summary
    collected = run_collection(record_time=record_time)
    for p in periods:
        done: dict[str, Any] = {"collected": collected}
        if d == p.window_opens:
            done["templates"] = templates_task(p.key)
        units = reconcile_task(p.key, d)
        ctx = AppContext()
        try:
            status_artifact(p.key, units)
            already = _stages_done(ctx, p.key)
        finally:
            ctx.close()
        done["status"] = {
            k: sum(u[k] for u in units) for k in ("expected", "on_time", "late", "missing", "invalid")
        }
        for stage in stages_to_run(d, p, settings, already):
            res = send_stage(p.key, stage, dry_run=dry_run, when=when)
            outbox_artifact(p.key, stage, res.report)
            done[f"notices_{stage}"] = {
                "sent": res.report.sent,
                "skipped": res.report.skipped,
                "failed": res.report.failed,
                "already_sent": res.report.already_sent,
            }
        if d > p.deadline:
            res = summarize_task(p.key, None, d)
            bulletin_artifact(p.key, res.files, res.metrics)
            done["bulletin"] = {k: str(v) for k, v in res.files.items()}
        summary["periods"][p.key] = done
        log.info("%s %s: %s", d, p.key, {k: v for k, v in done.items() if k != "bulletin"})
    return summary

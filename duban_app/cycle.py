"""Jobs of the period: templates, reconciliation, status, ledger, and the bulletin's facts.

Each reads the store and the catalogue in force, and writes only its own output, so the
CLI and the flows can run them in any order and any number of times.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path

from duban.bulletin.facts import AssignmentFact, PeriodFacts
from duban.collect.templates import template_filename, write_unit_template
from duban.domain import ReportedItem
from duban.ledger import ledger_rows, period_findings, write_ledger
from duban.periods import Period, parse_period, previous_period, work_calendar
from duban.reconcile import (
    ReconcileReport,
    UnitStatus,
    current_entries,
    expected_pairs,
    period_status,
    reconcile,
)
from duban_app.context import AppContext

__all__ = ["period_facts", "reconcile_period", "status", "write_ledger_file", "write_templates"]


def reconcile_period(ctx: AppContext, key: str, *, today: date | None = None) -> ReconcileReport:
    """Reconcile the period against the catalogue in force; replaces the previous run's findings."""
    catalogue, _ = ctx.catalogue()
    period = parse_period(key, ctx.settings)
    prev = previous_period(period, ctx.settings)
    return reconcile(
        ctx.store,
        catalogue,
        period=period.key,
        deadline=period.deadline,
        calendar=work_calendar(ctx.settings),
        previous_period=prev.key,
        today=today,
    )


def status(ctx: AppContext, key: str) -> list[UnitStatus]:
    """The per-unit status table (what was received when; no texts are read)."""
    catalogue, _ = ctx.catalogue()
    period = parse_period(key, ctx.settings)
    return period_status(ctx.store, catalogue, period.key, period.deadline, work_calendar(ctx.settings))


def _ledger(ctx: AppContext, period: Period) -> list[dict]:
    catalogue, _ = ctx.catalogue()
    cal = work_calendar(ctx.settings)
    return ledger_rows(
        catalogue,
        current_entries(ctx.store, period.key),
        period_findings(ctx.store, period.key),
        deadline=period.deadline,
        late_days=lambda d: cal.workdays_between(period.deadline, d),
    )


def write_ledger_file(ctx: AppContext, key: str, out: Path) -> Path:
    period = parse_period(key, ctx.settings)
    return write_ledger(_ledger(ctx, period), out, title=f"{period.key}台账")


def write_templates(ctx: AppContext, key: str, out_dir: Path) -> list[Path]:
    """One pre-filled template per addressable unit, pre-filled from the previous period."""
    catalogue, version = ctx.catalogue()
    period = parse_period(key, ctx.settings)
    prev = current_entries(ctx.store, previous_period(period, ctx.settings).key)
    by_unit: dict[str, dict[str, ReportedItem]] = defaultdict(dict)
    for (unit, item_id), e in prev.items():
        by_unit[unit][item_id] = ReportedItem(
            item_id, unit, e.status, e.progress, e.narrative, e.problems, e.next_steps, e.coordination
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for short in sorted({u for _i, u, _r in expected_pairs(catalogue)}):
        try:
            unit = ctx.directory.get(short)
        except KeyError:
            continue
        path = out_dir / template_filename(unit, period)
        paths.append(
            write_unit_template(
                path,
                catalogue=catalogue,
                unit=unit,
                period=period,
                catalogue_version=version,
                previous=by_unit.get(short),
                plan_title=catalogue.plan.title,
            )
        )
    return paths


def _facts(ctx: AppContext, period: Period, as_of: date, with_previous: bool) -> PeriodFacts:
    catalogue, _ = ctx.catalogue()
    cal = work_calendar(ctx.settings)
    entries = current_entries(ctx.store, period.key)
    invalid: dict[tuple[str | None, str | None], int] = defaultdict(int)
    flags: dict[tuple[str | None, str | None], set[str]] = defaultdict(set)
    for f in period_findings(ctx.store, period.key):
        if f.kind == "invalid_value":
            invalid[(f.unit, f.item_id)] += 1
        elif f.kind in ("stalled", "regressed"):
            flags[(f.unit, f.item_id)].add(f.kind)
    late_by_day: dict[date, int | None] = {}  # 200,000 assignments share a few dozen arrival days

    def late_days(received: date | None) -> int | None:
        if received is None or received <= period.deadline:
            return None
        if received not in late_by_day:
            late_by_day[received] = cal.workdays_between(period.deadline, received)
        return late_by_day[received]

    no_flags: set[str] = set()
    facts = []
    for item_id, unit, role in expected_pairs(catalogue):
        e = entries.get((unit, item_id))
        marks = flags.get((unit, item_id), no_flags)
        facts.append(
            AssignmentFact(
                item_id=item_id,
                unit=unit,
                role=str(role),
                status=e.status if e else None,
                progress=e.progress if e else None,
                narrative=e.narrative if e else "",
                problems=e.problems if e else "",
                next_steps=e.next_steps if e else "",
                submitted_at=e.received_at if e else None,
                late_days=late_days(e.received_at.date()) if e else None,
                invalid=invalid.get((unit, item_id), 0),
                stalled="stalled" in marks,
                regressed="regressed" in marks,
            )
        )
    previous = None
    if with_previous:
        prev = previous_period(period, ctx.settings)
        if current_entries(ctx.store, prev.key):
            previous = _facts(ctx, prev, prev.deadline, with_previous=False)
    names = {}
    for u in ctx.directory.units:
        names[u.short_name] = u.full_name
    return PeriodFacts(
        catalogue=catalogue,
        period_key=period.key,
        period_label=period.label_zh,
        deadline=period.deadline,
        as_of=as_of,
        assignments=facts,
        previous=previous,
        unit_names=names,
        office_name=ctx.settings.office.name,
    )


def period_facts(ctx: AppContext, key: str, *, as_of: date | None = None) -> PeriodFacts:
    """Everything the bulletin needs, from the store."""
    period = parse_period(key, ctx.settings)
    return _facts(ctx, period, as_of or period.deadline, with_previous=True)

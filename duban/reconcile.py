"""Reconciliation: what was expected for a period against what was received.

Expected is every (item, unit) assignment of the catalogue in force, placeholders excluded.
Received is, per (unit, item), the entry of the latest-received accepted submission. The
findings written here (origin ``reconcile``) are replaced wholesale on every run, so running
it again is always safe and the lists are never stale; collection's own findings (invalid
values, unknown items, superseded files …) are left alone and counted.

At province scale (200,000 assignments) the work is one pass over the expected pairs and one
over the received rows, read with only the columns each check needs (``duban.entries``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import delete

from duban.domain import Catalogue, Finding, FindingKind
from duban.entries import TEXTS, Current, Entry, current_entries, read_current, to_shanghai
from duban.expected import assignment_role, expected_index, expected_pairs, unit_items
from duban.store.db import Store, now
from duban.store.models import FindingRow

__all__ = [
    "TEXTS",
    "Entry",
    "ReconcileReport",
    "UnitStatus",
    "assignment_role",
    "current_entries",
    "expected_pairs",
    "period_status",
    "reconcile",
    "to_shanghai",
    "unit_items",
    "unit_status",
]

#: Status ranks for "regressed": a lower rank than last period is going backwards.
RANK = {"未启动": 0, "暂停": 1, "滞后": 1, "推进中": 2, "已完成": 3}
DONE, BEHIND = "已完成", ("未启动", "滞后")


@dataclass
class UnitStatus:
    unit: str
    expected: int = 0
    on_time: int = 0
    late: int = 0
    missing: int = 0
    invalid: int = 0
    late_days: int = 0
    missing_items: list[str] = field(default_factory=list)
    invalid_items: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "expected": self.expected,
            "on_time": self.on_time,
            "late": self.late,
            "missing": self.missing,
            "invalid": self.invalid,
        }


class _Calendar:  # the part of duban.periods.WorkCalendar used here
    def workdays_between(self, a: date, b: date) -> int: ...


def _status_table(
    catalogue: Catalogue,
    units: Mapping[str, Mapping[str, Sequence[Any]]],
    valid_at: int,
    dates: Mapping[int, date],
    deadline: date,
    calendar: _Calendar,
) -> list[UnitStatus]:
    """The per-unit table from rows by unit and item (submission id first, the valid flag at ``valid_at``)."""
    out: list[UnitStatus] = []
    lateness: dict[int, int | None] = {}  # submission id → working days late, None if on time
    by_date: dict[date, int] = {}  # a few dates, many submissions
    nothing: dict[str, Sequence[Any]] = {}
    for unit, items in expected_index(catalogue).by_unit.items():
        got = units.get(unit, nothing)
        st = UnitStatus(unit, expected=len(items))
        for item_id in items:
            row = got.get(item_id)
            if row is None:
                st.missing_items.append(item_id)
                continue
            sid = row[0]
            if sid in lateness:
                late = lateness[sid]
            else:
                received, late = dates[sid], None
                if received > deadline:
                    late = by_date.get(received)
                    if late is None:
                        late = by_date[received] = calendar.workdays_between(deadline, received)
                lateness[sid] = late
            if late is None:
                st.on_time += 1
            else:
                st.late += 1
                st.late_days = max(st.late_days, late)
            if not row[valid_at]:
                st.invalid_items.append(item_id)
        st.missing, st.invalid = len(st.missing_items), len(st.invalid_items)
        out.append(st)
    return out


def unit_status(
    catalogue: Catalogue, entries: Mapping[tuple[str, str], Entry], deadline: date, calendar: _Calendar
) -> list[UnitStatus]:
    """Per unit: expected, on time, late (with the worst working days late), missing, invalid."""
    units: dict[str, dict[str, tuple[int, bool]]] = defaultdict(dict)
    for (unit, item_id), e in entries.items():
        units[unit][item_id] = (e.submission_id, e.valid)
    dates = {e.submission_id: e.received_at.date() for e in entries.values()}
    return _status_table(catalogue, units, 1, dates, deadline, calendar)


def _dates(cur: Current) -> dict[int, date]:
    return {sid: at.date() for sid, (at, _ref) in cur.received.items()}


def period_status(
    store: Store, catalogue: Catalogue, period: str, deadline: date, calendar: _Calendar
) -> list[UnitStatus]:
    """``unit_status`` of the period's current entries, reading only what the table needs."""
    cur = read_current(store, period, ("valid",))
    return _status_table(catalogue, cur.units, 3, _dates(cur), deadline, calendar)


@dataclass
class ReconcileReport:
    period: str
    expected: int
    received: int
    findings: dict[str, int]
    units: list[UnitStatus]


def _f(kind: FindingKind, zh: str, en: str, **kw: Any) -> Finding:
    return Finding(kind, zh, en, **kw)


def _missing_and_late(
    statuses: list[UnitStatus], titles: dict[str, str], period: str, past_deadline: bool
) -> list[Finding]:
    findings: list[Finding] = []
    for st in statuses:
        if st.missing and past_deadline:
            names = "、".join(f"{i}（{titles[i]}）" for i in st.missing_items)
            findings.append(
                _f(
                    FindingKind.MISSING,
                    f"{st.unit}未报送{st.missing}项任务进展：{names}",
                    f"{st.unit}: {st.missing} item(s) not reported: {', '.join(st.missing_items)}",
                    unit=st.unit,
                    period=period,
                    evidence={"items": st.missing_items, "expected": st.expected},
                )
            )
        elif st.missing:
            for i in st.missing_items:
                findings.append(
                    _f(
                        FindingKind.MISSING,
                        f"{st.unit}尚未报送任务{i}（{titles[i]}）的进展",
                        f"{st.unit}: {i} not yet reported",
                        unit=st.unit,
                        item_id=i,
                        period=period,
                        evidence={"before_deadline": True},
                    )
                )
        if st.late:
            findings.append(
                _f(
                    FindingKind.LATE,
                    f"{st.unit}逾期报送{st.late}项，最多逾期{st.late_days}个工作日",
                    f"{st.unit}: {st.late} item(s) late, up to {st.late_days} working day(s)",
                    unit=st.unit,
                    period=period,
                    evidence={"late": st.late, "working_days_late": st.late_days},
                )
            )
    return findings


def _unexpected(unit: str, item_id: str, submission_id: int, known: bool, period: str) -> Finding:
    return _f(
        FindingKind.UNEXPECTED if known else FindingKind.UNKNOWN_ITEM,
        f"{unit}报送了未分配给本单位的任务{item_id}" if known else f"{unit}报送的任务{item_id}不在任务清单中",
        f"{unit} reported {item_id}, which is not assigned to it"
        if known
        else f"{unit}: unknown item {item_id}",
        unit=unit,
        item_id=item_id,
        period=period,
        evidence={"submission_id": submission_id},
    )


def _against_previous(
    unit: str, item_id: str, row: Sequence[Any], p: Sequence[Any], period: str, previous_period: str | None
) -> Finding | None:
    """Regressed or stalled; rows are (sid, unit, item, status, valid, progress, narrative)."""
    status, progress, narrative = row[3], row[5], row[6] or ""
    p_status, p_progress, p_narrative = p[3], p[4], p[5] or ""
    if p_status in RANK and status in RANK and RANK[status] < RANK[p_status]:
        return _f(
            FindingKind.REGRESSED,
            f"{unit}任务{item_id}状态由“{p_status}”退回“{status}”",
            f"{unit} {item_id}: status went back from {p_status} to {status}",
            unit=unit,
            item_id=item_id,
            period=period,
            evidence={"previous": p_status, "current": status},
        )
    if status != DONE and progress == p_progress and narrative.strip() == p_narrative.strip():
        return _f(
            FindingKind.STALLED,
            f"{unit}任务{item_id}的进度和进展情况与上期相同",
            f"{unit} {item_id}: progress and narrative unchanged since {previous_period}",
            unit=unit,
            item_id=item_id,
            period=period,
            evidence={"previous_period": previous_period, "progress": progress},
        )
    return None


def _conflicts(
    by_item: dict[str, dict[str, str]], leads: dict[str, frozenset[str]], period: str
) -> list[Finding]:
    """A lead reporting done while another unit of the item reports not started or behind."""
    findings: list[Finding] = []
    for item_id, by_unit in by_item.items():
        for lead, lead_status in by_unit.items():
            if lead_status != DONE or lead not in leads[item_id]:
                continue
            for unit, status in by_unit.items():
                if unit != lead and status in BEHIND:
                    findings.append(
                        _f(
                            FindingKind.CONFLICT,
                            f"任务{item_id}：牵头单位{lead}报“已完成”，配合单位{unit}报“{status}”",
                            f"{item_id}: lead {lead} says done, co-unit {unit} says {status}",
                            unit=unit,
                            item_id=item_id,
                            period=period,
                            evidence={"lead": lead, "lead_status": lead_status, "co_status": status},
                        )
                    )
    return findings


def reconcile(
    store: Store,
    catalogue: Catalogue,
    *,
    period: str,
    deadline: date,
    calendar: _Calendar,
    previous_period: str | None = None,
    today: date | None = None,
) -> ReconcileReport:
    """Compute and store this period's reconciliation findings (replacing the previous run's)."""
    index = expected_index(catalogue)
    # progress and narrative are read only to compare with last period's (stalled, regressed)
    prev = (
        read_current(store, previous_period, ("status", "progress", "narrative")).units
        if previous_period
        else {}
    )
    cur = read_current(
        store, period, ("status", "valid", "progress", "narrative") if prev else ("status", "valid")
    )
    titles = {it.id: it.title for it in catalogue.items}
    statuses = _status_table(catalogue, cur.units, 4, _dates(cur), deadline, calendar)
    findings = _missing_and_late(statuses, titles, period, today is None or today > deadline)
    by_item: dict[str, dict[str, str]] = defaultdict(dict)  # only the statuses a conflict is made of
    received = 0
    assigned = index.assigned
    for unit, items in cur.units.items():
        mine = assigned.get(unit, frozenset())
        before = prev.get(unit, {})
        for item_id, row in items.items():
            if item_id not in mine:
                findings.append(_unexpected(unit, item_id, row[0], item_id in titles, period))
                continue
            received += 1
            if row[3] == DONE or row[3] in BEHIND:
                by_item[item_id][unit] = row[3]
            p = before.get(item_id)
            if p is not None:
                f = _against_previous(unit, item_id, row, p, period, previous_period)
                if f is not None:
                    findings.append(f)
    findings += _conflicts(by_item, index.leads, period)
    at = now()
    with store.session() as s:
        s.execute(delete(FindingRow).where(FindingRow.period == period, FindingRow.origin == "reconcile"))
        if findings:
            s.execute(
                FindingRow.__table__.insert(),
                [
                    {
                        "period": period,
                        "origin": "reconcile",
                        "kind": str(f.kind),
                        "unit": f.unit,
                        "item_id": f.item_id,
                        "submission_id": None,
                        "message_zh": f.message_zh,
                        "message_en": f.message_en,
                        "evidence": f.evidence,
                        "created_at": at,
                    }
                    for f in findings
                ],
            )
    counts: dict[str, int] = defaultdict(int)
    for f in findings:
        counts[str(f.kind)] += 1
    return ReconcileReport(period, index.count, received, dict(counts), statuses)

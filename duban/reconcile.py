"""Reconciliation: what was expected for a period against what was received.

Expected is every (item, unit) assignment of the catalogue in force, placeholders excluded.
Received is, per (unit, item), the entry of the latest-received accepted submission. The
findings written here (origin ``reconcile``) are replaced wholesale on every run, so running
it again is always safe and the lists are never stale; collection's own findings (invalid
values, unknown items, superseded files …) are left alone and counted.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select

from duban.domain import Catalogue, Finding, FindingKind, Role
from duban.store.db import Store, now
from duban.store.models import FindingRow, SubmissionItemRow, SubmissionRow

__all__ = [
    "Entry",
    "ReconcileReport",
    "UnitStatus",
    "current_entries",
    "expected_pairs",
    "reconcile",
    "to_shanghai",
    "unit_status",
]

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: Status ranks for "regressed": a lower rank than last period is going backwards.
RANK = {"未启动": 0, "暂停": 1, "滞后": 1, "推进中": 2, "已完成": 3}


def to_shanghai(dt: datetime) -> datetime:
    """Stored timestamps come back naive from SQLite (written in Shanghai time) and in UTC from PostgreSQL."""
    return dt.replace(tzinfo=SHANGHAI) if dt.tzinfo is None else dt.astimezone(SHANGHAI)


@dataclass
class Entry:
    """The current accepted entry of one unit for one item."""

    unit: str
    item_id: str
    status: str | None
    progress: float | None
    narrative: str
    problems: str
    next_steps: str
    coordination: str
    valid: bool
    received_at: datetime
    submission_id: int
    source_ref: str


def expected_pairs(catalogue: Catalogue) -> list[tuple[str, str, Role]]:
    """(item id, unit, role) for every addressable assignment, in catalogue order."""
    out: list[tuple[str, str, Role]] = []
    for it in catalogue.items:
        seen: set[str] = set()
        for a in it.assignments:
            if a.placeholder or a.unit in seen:
                continue
            seen.add(a.unit)
            out.append((it.id, a.unit, a.role))
    return out


def current_entries(store: Store, period: str, *, unit: str | None = None) -> dict[tuple[str, str], Entry]:
    """(unit, item id) → the entry from the latest-received accepted submission (of one unit if given)."""
    i = SubmissionItemRow
    q = (
        select(
            i.unit,
            i.item_id,
            i.status,
            i.progress,
            i.narrative,
            i.problems,
            i.next_steps,
            i.coordination,
            i.valid,
            i.submission_id,
            SubmissionRow.received_at,
            SubmissionRow.source_ref,
        )
        .join(SubmissionRow, SubmissionRow.id == SubmissionItemRow.submission_id)
        .where(SubmissionRow.state == "accepted", SubmissionItemRow.period == period)
    )
    if unit is not None:
        q = q.where(SubmissionItemRow.unit == unit)
    out: dict[tuple[str, str], Entry] = {}
    with store.session() as s:
        for it in s.execute(q):
            received_at, ref = it.received_at, it.source_ref
            at = to_shanghai(received_at)
            key = (it.unit, it.item_id)
            old = out.get(key)
            if old is not None and (old.received_at, old.submission_id) >= (at, it.submission_id):
                continue
            out[key] = Entry(
                it.unit,
                it.item_id,
                it.status,
                it.progress,
                it.narrative or "",
                it.problems or "",
                it.next_steps or "",
                it.coordination or "",
                it.valid,
                at,
                it.submission_id,
                ref,
            )
    return out


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


def unit_status(
    catalogue: Catalogue, entries: dict[tuple[str, str], Entry], deadline: date, calendar: _Calendar
) -> list[UnitStatus]:
    """Per unit: expected, on time, late (with the worst working days late), missing, invalid."""
    table: dict[str, UnitStatus] = {}
    for item_id, unit, _role in expected_pairs(catalogue):
        st = table.setdefault(unit, UnitStatus(unit))
        st.expected += 1
        e = entries.get((unit, item_id))
        if e is None:
            st.missing += 1
            st.missing_items.append(item_id)
            continue
        received = e.received_at.date()
        if received > deadline:
            st.late += 1
            st.late_days = max(st.late_days, calendar.workdays_between(deadline, received))
        else:
            st.on_time += 1
        if not e.valid:
            st.invalid += 1
            st.invalid_items.append(item_id)
    return sorted(table.values(), key=lambda u: u.unit)


@dataclass
class ReconcileReport:
    period: str
    expected: int
    received: int
    findings: dict[str, int]
    units: list[UnitStatus]


def _f(kind: FindingKind, zh: str, en: str, **kw: Any) -> Finding:
    return Finding(kind, zh, en, **kw)


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
    entries = current_entries(store, period)
    prev = current_entries(store, previous_period) if previous_period else {}
    expected = expected_pairs(catalogue)
    roles = {(u, i): r for i, u, r in expected}
    titles = {it.id: it.title for it in catalogue.items}
    findings: list[Finding] = []
    statuses = unit_status(catalogue, entries, deadline, calendar)
    past_deadline = today is None or today > deadline
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
    by_item: dict[str, dict[str, Entry]] = defaultdict(dict)
    for (unit, item_id), e in entries.items():
        if (unit, item_id) not in roles:
            known = item_id in titles
            findings.append(
                _f(
                    FindingKind.UNEXPECTED if known else FindingKind.UNKNOWN_ITEM,
                    f"{unit}报送了未分配给本单位的任务{item_id}"
                    if known
                    else f"{unit}报送的任务{item_id}不在任务清单中",
                    f"{unit} reported {item_id}, which is not assigned to it"
                    if known
                    else f"{unit}: unknown item {item_id}",
                    unit=unit,
                    item_id=item_id,
                    period=period,
                    evidence={"submission_id": e.submission_id},
                )
            )
            continue
        by_item[item_id][unit] = e
        p = prev.get((unit, item_id))
        if p is None:
            continue
        if p.status in RANK and e.status in RANK and RANK[e.status] < RANK[p.status]:
            findings.append(
                _f(
                    FindingKind.REGRESSED,
                    f"{unit}任务{item_id}状态由“{p.status}”退回“{e.status}”",
                    f"{unit} {item_id}: status went back from {p.status} to {e.status}",
                    unit=unit,
                    item_id=item_id,
                    period=period,
                    evidence={"previous": p.status, "current": e.status},
                )
            )
        elif e.status != "已完成" and e.progress == p.progress and e.narrative.strip() == p.narrative.strip():
            findings.append(
                _f(
                    FindingKind.STALLED,
                    f"{unit}任务{item_id}的进度和进展情况与上期相同",
                    f"{unit} {item_id}: progress and narrative unchanged since {previous_period}",
                    unit=unit,
                    item_id=item_id,
                    period=period,
                    evidence={"previous_period": previous_period, "progress": e.progress},
                )
            )
    for item_id, by_unit in by_item.items():
        leads = [u for u in by_unit if roles[(u, item_id)] is Role.LEAD]
        for lead in leads:
            le = by_unit[lead]
            for unit, e in by_unit.items():
                if unit == lead:
                    continue
                if le.status == "已完成" and e.status in ("未启动", "滞后"):
                    findings.append(
                        _f(
                            FindingKind.CONFLICT,
                            f"任务{item_id}：牵头单位{lead}报“已完成”，配合单位{unit}报“{e.status}”",
                            f"{item_id}: lead {lead} says done, co-unit {unit} says {e.status}",
                            unit=unit,
                            item_id=item_id,
                            period=period,
                            evidence={"lead": lead, "lead_status": le.status, "co_status": e.status},
                        )
                    )
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
    received = sum(1 for k in entries if k in roles)
    return ReconcileReport(period, len(expected), received, dict(counts), statuses)

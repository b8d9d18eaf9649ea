"""The bulletin's numbers, computed once from the period's facts.

Every figure the docx, HTML, xlsx and charts show comes from a ``Metrics`` value, so the
renderers never count anything themselves and a test can check one set of totals against
all of them. The counting rules are stated in ``Metrics.rules`` so the bulletin can print
them in its notes (说明).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from duban.bulletin.facts import AssignmentFact, PeriodFacts
from duban.domain import Item

if TYPE_CHECKING:
    from duban.settings import RatingConfig

__all__ = [
    "MISSING",
    "STATUS_ORDER",
    "Change",
    "GroupCounts",
    "ItemStatus",
    "LaggingItem",
    "Metrics",
    "StatusCounts",
    "UnitRow",
    "compute_metrics",
    "pct",
    "stars_text",
]

#: Item status when the lead unit has not reported a usable status.
MISSING = "未报送"
#: Buckets in the order the bulletin lists them. 暂停 is kept apart from 滞后: a pause can be
#: decided on purpose, but it is listed among the items needing attention (附件2).
STATUS_ORDER: tuple[str, ...] = ("已完成", "推进中", "滞后", "暂停", "未启动", MISSING)
_ATTENTION = ("滞后", "暂停")


def pct(part: int, whole: int) -> str:
    """A share as the bulletin prints it: one decimal, e.g. ``33.3%``; ``—`` for 0/0."""
    if whole == 0:
        return "—"
    return f"{part * 100 / whole:.1f}%"


def stars_text(stars: int) -> str:
    return "★" * stars + "☆" * (5 - stars)


@dataclass(frozen=True)
class StatusCounts:
    counts: dict[str, int]  # every bucket of STATUS_ORDER, zeros included

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def share(self, status: str) -> str:
        return pct(self.counts.get(status, 0), self.total)

    @classmethod
    def of(cls, statuses: list[str]) -> StatusCounts:
        c = Counter(statuses)
        return cls({s: c.get(s, 0) for s in STATUS_ORDER})


@dataclass(frozen=True)
class GroupCounts:
    """Status counts of one part (``二、…``) or section (``（一）…``) of the plan."""

    key: str
    title: str
    part: str
    counts: StatusCounts


@dataclass(frozen=True)
class ItemStatus:
    """An item as the bulletin sees it: the lead unit's report."""

    item: Item
    lead_unit: str
    status: str
    progress: float | None
    narrative: str
    problems: str
    stalled: bool
    regressed: bool


@dataclass(frozen=True)
class LaggingItem:
    item: Item
    lead_unit: str
    status: str
    progress: float | None
    reasons: tuple[str, ...]
    problems: str


@dataclass(frozen=True)
class UnitRow:
    """One unit's reporting record in the period (附件1)."""

    unit: str
    name: str
    expected: int
    on_time: int
    late: int
    late_days_max: int
    late_days_total: int
    missing: int
    invalid: int  # reports with at least one invalid value
    timeliness: float  # on_time / expected
    invalid_share: float  # invalid / submitted
    stars: int
    rank: int

    @property
    def submitted(self) -> int:
        return self.on_time + self.late


@dataclass(frozen=True)
class Change:
    """What moved since the previous period."""

    previous_key: str
    previous_label: str
    previous: StatusCounts
    delta: dict[str, int]
    newly_completed: tuple[str, ...]  # item ids
    timeliness_previous: float | None


@dataclass(frozen=True)
class Metrics:
    period_key: str
    period_label: str
    overall: StatusCounts
    by_part: list[GroupCounts]
    by_section: list[GroupCounts]
    items: list[ItemStatus]
    units: list[UnitRow]  # in rank order
    lagging: list[LaggingItem]
    change: Change | None
    rules: list[str]  # counting and rating rules, in Chinese, for the notes

    @property
    def expected(self) -> int:
        return sum(u.expected for u in self.units)

    @property
    def on_time(self) -> int:
        return sum(u.on_time for u in self.units)

    @property
    def late(self) -> int:
        return sum(u.late for u in self.units)

    @property
    def missing(self) -> int:
        return sum(u.missing for u in self.units)

    @property
    def invalid(self) -> int:
        return sum(u.invalid for u in self.units)

    @property
    def timeliness(self) -> float:
        return self.on_time / self.expected if self.expected else 0.0


def _lead_fact(item: Item, facts: list[AssignmentFact]) -> AssignmentFact:
    """The fact that decides the item's status: the catalogue's lead, else the first unit."""
    leads = [f for f in facts if f.role == "牵头"]
    for f in leads:
        if f.unit == item.lead_unit:
            return f
    return leads[0] if leads else facts[0]


def _item_statuses(pf: PeriodFacts) -> list[ItemStatus]:
    by_item: dict[str, list[AssignmentFact]] = defaultdict(list)
    for f in pf.assignments:
        by_item[f.item_id].append(f)
    out: list[ItemStatus] = []
    for item in pf.catalogue.items:
        facts = by_item.get(item.id)
        if not facts:
            continue  # only placeholders: nobody can report it
        lead = _lead_fact(item, facts)
        out.append(
            ItemStatus(
                item=item,
                lead_unit=lead.unit,
                status=lead.status if lead.status in STATUS_ORDER else MISSING,
                progress=lead.progress,
                narrative=lead.narrative.strip(),
                problems=lead.problems.strip(),
                stalled=lead.stalled,
                regressed=lead.regressed,
            )
        )
    return out


def _groups(items: list[ItemStatus], *, section: bool) -> list[GroupCounts]:
    order: dict[tuple[str, str], tuple[str, str]] = {}
    statuses: dict[tuple[str, str], list[str]] = defaultdict(list)
    for it in items:
        i = it.item
        if section:
            key = (i.part_key, i.section_key or "")
            title = i.section or "（未分节）"
        else:
            key = (i.part_key, "")
            title = i.part_title
        order.setdefault(key, (title, i.part))
        statuses[key].append(it.status)
    return [
        GroupCounts(key=k[1] or k[0], title=t, part=p, counts=StatusCounts.of(statuses[k]))
        for k, (t, p) in order.items()
    ]


def _stars(timeliness: float, invalid_share: float, rating: RatingConfig) -> int:
    stars = 1
    for i, band in enumerate(rating.bands[:4]):
        if timeliness >= band - 1e-9:
            stars = 5 - i
            break
    if invalid_share > rating.invalid_penalty_threshold + 1e-9:
        stars -= 1
    return max(1, stars)


def _unit_rows(pf: PeriodFacts, rating: RatingConfig) -> list[UnitRow]:
    # One pass over the facts, the properties (submitted, late, on_time) spelled out inline:
    # at province scale (200,000 facts) the property calls were most of the metrics' time.
    by_unit: dict[str, list[int]] = {}  # unit → [expected, submitted, invalid]
    late_by_unit: dict[str, list[int]] = defaultdict(list)  # unit → working days late, per late report
    for f in pf.assignments:
        counts = by_unit.get(f.unit)
        if counts is None:
            counts = by_unit[f.unit] = [0, 0, 0]
        counts[0] += 1
        if f.submitted_at is not None or f.status is not None:
            counts[1] += 1
            if f.invalid > 0:
                counts[2] += 1
            if f.late_days is not None and f.late_days > 0:
                late_by_unit[f.unit].append(f.late_days)
    raw = []
    for unit, (expected, submitted, invalid) in by_unit.items():
        late_days = late_by_unit.get(unit, [])
        on_time = submitted - len(late_days)
        timeliness = on_time / expected
        invalid_share = invalid / submitted if submitted else 0.0
        raw.append(
            dict(
                unit=unit,
                name=pf.unit_names.get(unit, unit),
                expected=expected,
                on_time=on_time,
                late=len(late_days),
                late_days_max=max(late_days, default=0),
                late_days_total=sum(late_days),
                missing=expected - submitted,
                invalid=invalid,
                timeliness=timeliness,
                invalid_share=invalid_share,
                stars=_stars(timeliness, invalid_share, rating),
            )
        )

    def score(r: dict) -> tuple:
        return (-r["stars"], -round(r["timeliness"], 9), round(r["invalid_share"], 9), r["late_days_total"])

    raw.sort(key=lambda r: (*score(r), r["unit"]))
    rows: list[UnitRow] = []
    for pos, r in enumerate(raw, start=1):
        rank = rows[-1].rank if rows and score(raw[pos - 2]) == score(r) else pos
        rows.append(UnitRow(**r, rank=rank))
    return rows


def _lagging(items: list[ItemStatus]) -> list[LaggingItem]:
    out = []
    for it in items:
        reasons = []
        if it.status in _ATTENTION:
            reasons.append(f"状态为{it.status}")
        if it.stalled and it.status != "已完成":
            reasons.append("连续两期无进展")
        if it.regressed:
            reasons.append("进度倒退")
        if reasons:
            out.append(
                LaggingItem(it.item, it.lead_unit, it.status, it.progress, tuple(reasons), it.problems)
            )
    return out


def _change(pf: PeriodFacts, items: list[ItemStatus], overall: StatusCounts) -> Change | None:
    prev = pf.previous
    if prev is None:
        return None
    prev_items = _item_statuses(prev)
    prev_counts = StatusCounts.of([i.status for i in prev_items])
    was = {i.item.id: i.status for i in prev_items}
    newly = tuple(i.item.id for i in items if i.status == "已完成" and was.get(i.item.id) != "已完成")
    expected = len(prev.assignments)
    on_time = sum(f.on_time for f in prev.assignments)
    return Change(
        previous_key=prev.period_key,
        previous_label=prev.period_label,
        previous=prev_counts,
        delta={s: overall.counts[s] - prev_counts.counts[s] for s in STATUS_ORDER},
        newly_completed=newly,
        timeliness_previous=on_time / expected if expected else None,
    )


def _rules(rating: RatingConfig) -> list[str]:
    bands = list(rating.bands[:4])
    names = ("五星", "四星", "三星", "二星")
    steps = "，".join(f"达到{b * 100:g}%为{names[i]}" for i, b in enumerate(bands))
    return [
        "事项状态以牵头单位报送的完成状态为准；牵头单位未报送或所报状态无法识别的，计为“未报送”；"
        "牵头单位未明确的，以第一个责任单位为准。仅由“市级有关单位”等泛指单位承担的事项不计入统计。",
        "报告“暂停”的事项单独统计，不计入“滞后”，但与滞后、连续两期无进展、进度倒退的事项一并列入附件2。",
        "应报数为单位承担（牵头或配合）的事项数；按时报送指在报送截止日期当日或之前报送；迟报天数按工作日计算"
        "（扣除法定节假日，计入调休上班日）；不合格指报送内容中存在无效数值的事项数。",
        f"按时报送率＝按时报送数÷应报数。星级评定：按时报送率{steps}，以下为一星；"
        f"不合格事项占已报送事项比例超过{rating.invalid_penalty_threshold * 100:g}%的降一星（最低一星）。"
        "排名依次按星级、按时报送率、不合格比例、迟报天数合计确定。",
    ]


def compute_metrics(facts: PeriodFacts, rating: RatingConfig) -> Metrics:
    """All numbers of the period's bulletin, from the period's facts and the rating rule."""
    items = _item_statuses(facts)
    overall = StatusCounts.of([i.status for i in items])
    return Metrics(
        period_key=facts.period_key,
        period_label=facts.period_label,
        overall=overall,
        by_part=_groups(items, section=False),
        by_section=_groups(items, section=True),
        items=items,
        units=_unit_rows(facts, rating),
        lagging=_lagging(items),
        change=_change(facts, items, overall),
        rules=_rules(rating),
    )

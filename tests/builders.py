"""Small hand-built catalogues and submissions for store and reconciliation tests."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from duban.domain import Assignment, Catalogue, Item, Plan, ReportedItem, Role

SH = ZoneInfo("Asia/Shanghai")


def item(
    item_id: str,
    number: int | None,
    title: str,
    units: list[str],
    *,
    part: str = "二",
    section: str | None = "(一)",
    placeholders: tuple[str, ...] = (),
) -> Item:
    assignments = [
        Assignment(unit=u, role=Role.LEAD if i == 0 else Role.CO, position=i, raw=u)
        for i, u in enumerate(units)
    ]
    assignments += [
        Assignment(unit=p, role=Role.CO, position=len(units) + k, raw=p, placeholder=True)
        for k, p in enumerate(placeholders)
    ]
    return Item(
        item_id,
        number,
        part,
        f"第{part}部分",
        section,
        "小节" if section else None,
        title,
        title + "。正文",
        tuple(assignments),
    )


def catalogue(items: list[Item] | None = None) -> Catalogue:
    items = items or [
        item("T01", 1, "建立感知体系", ["市发改委", "市大数据局"]),
        item("T02", 2, "完善监测预警", ["市发改委"]),
        item("T03", 3, "提升政策能力", ["市经信局", "市发改委"], placeholders=("市级有关单位",)),
    ]
    return Catalogue(
        Plan("测政发〔2026〕1号", "测试实施方案", date(2026, 1, 1), "测试市人民政府"),
        tuple(items),
        source_name="test",
    )


def reported(
    item_id: str,
    unit: str,
    status: str = "推进中",
    progress: float | None = 50,
    narrative: str = "按计划推进",
    row: int = 4,
) -> ReportedItem:
    return ReportedItem(
        item_id=item_id, unit=unit, status=status, progress=progress, narrative=narrative, row=row
    )


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SH)


class WeekdayCalendar:
    """Mon–Fri working days: enough for reconciliation tests independent of holidays."""

    def workdays_between(self, a: date, b: date) -> int:
        n, d = 0, a
        while d < b:
            d += timedelta(days=1)
            n += d.weekday() < 5
        return n

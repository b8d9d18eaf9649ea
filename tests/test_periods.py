"""Periods and the Chinese working-day calendar, against dates worked out by hand.

2026 (announced, State Council notice): 1 Jan–3 Jan off, Sun 4 Jan worked; Spring Festival
15–23 Feb off, Sat 14 Feb and Sat 28 Feb worked; National Day 1–7 Oct off (with the
Mid-Autumn Festival), Sun 20 Sep and Sat 10 Oct worked. 2027 is not announced in the
libraries: 1 Jan (a Friday) is New Year's Day by rule.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import holidays
import pytest

from duban.errors import CalendarUnknown, ConfigError
from duban.periods import (
    Period,
    WorkCalendar,
    find_period_key,
    next_period,
    normalise_period_key,
    parse_period,
    period_for,
    previous_period,
    stage_dates,
    stage_due,
    work_calendar,
)
from duban.settings import CalendarConfig, Settings, StageConfig, get_settings


def cal(**kw: object) -> WorkCalendar:
    return WorkCalendar(CalendarConfig(**kw))


def test_both_libraries_agree_on_2024_to_2026_and_the_calendar_follows_them() -> None:
    c = cal()
    cn = holidays.China(years=range(2024, 2027))
    d = date(2024, 1, 1)
    while d.year < 2027:
        assert chinese_calendar.is_workday(d) == cn.is_working_day(d), d
        assert c.is_workday(d) == chinese_calendar.is_workday(d), d
        d += timedelta(days=1)


def test_make_up_working_days_of_2026_are_working_days() -> None:
    c = cal()
    for d in (date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 9, 20), date(2026, 10, 10)):
        assert d.weekday() >= 5 and c.is_workday(d), d
        assert c.source(d) == "announced"
    assert not c.is_workday(date(2026, 1, 2))  # a Friday given off for the Sunday worked
    assert not c.is_workday(date(2026, 2, 20))
    assert not c.is_workday(date(2026, 2, 21))  # an ordinary Saturday


def test_add_workdays_across_spring_festival_and_backwards() -> None:
    c = cal()
    assert c.add_workdays(date(2026, 2, 13), 1) == date(2026, 2, 14)  # Sat 14 Feb is worked
    assert c.add_workdays(date(2026, 2, 14), 1) == date(2026, 2, 24)  # 15–23 Feb off
    assert c.add_workdays(date(2026, 2, 24), -1) == date(2026, 2, 14)
    assert c.add_workdays(date(2026, 2, 24), -2) == date(2026, 2, 13)
    assert c.add_workdays(date(2026, 2, 16), 0) == date(2026, 2, 24)  # n=0: next working day
    assert c.add_workdays(date(2026, 2, 13), 0) == date(2026, 2, 13)


def test_workdays_between_counts_working_days_late() -> None:
    c = cal()
    assert c.workdays_between(date(2026, 2, 13), date(2026, 2, 13)) == 0
    assert c.workdays_between(date(2026, 2, 13), date(2026, 2, 1)) == 0
    assert c.workdays_between(date(2026, 2, 13), date(2026, 2, 24)) == 2  # 14 Feb and 24 Feb
    assert c.workdays_between(date(2026, 2, 13), date(2026, 2, 23)) == 1
    sh = ZoneInfo("Asia/Shanghai")
    # An aware timestamp is read as its local date in Shanghai: 16:30 UTC on 13 Feb is 14 Feb there.
    late = datetime(2026, 2, 13, 16, 30, tzinfo=ZoneInfo("UTC"))
    assert late.astimezone(sh).date() == date(2026, 2, 14)
    assert c.workdays_between(date(2026, 2, 13), late) == 1


def test_2025q4_deadline_counts_the_sunday_make_up_day(settings: Settings) -> None:
    p = parse_period("2025Q4", settings)
    assert (p.start, p.end) == (date(2025, 10, 1), date(2025, 12, 31))
    assert p.window_opens == date(2025, 12, 21)  # 10 calendar days before 31 Dec
    # 1–3 Jan off, Sun 4 Jan worked: 4, 5, 6, 7, 8 Jan → the 5th working day is Thu 8 Jan.
    assert p.deadline == date(2026, 1, 8)
    assert p.label_zh == "2025年第四季度"


def test_2026q3_deadline_spans_national_day_and_a_make_up_saturday(settings: Settings) -> None:
    p = parse_period("2026Q3", settings)
    # 1–7 Oct off; 8, 9, Sat 10, 12, 13 Oct → Tue 13 Oct.
    assert p.deadline == date(2026, 10, 13)
    # window opens Sun 20 Sep, itself a make-up working day: the opening notice goes that day.
    assert p.window_opens == date(2026, 9, 20)
    assert stage_dates(p, settings)["open"] == date(2026, 9, 20)


def test_2026q4_deadline_in_january_2027_is_computed_by_rule(settings: Settings) -> None:
    p = parse_period("2026Q4", settings)
    assert p.end == date(2026, 12, 31)
    # Fri 1 Jan 2027 New Year's Day; 4, 5, 6, 7, 8 Jan → Fri 8 Jan.
    assert p.deadline == date(2027, 1, 8)
    assert p.label_zh == "2026年第四季度"
    c = work_calendar(settings)
    assert c.source(p.deadline) == "rule"
    assert c.source(p.end) == "announced"
    assert c.span_source(p.end, p.deadline) == "rule"
    stages = stage_dates(p, settings)
    assert stages == {
        "open": date(2026, 12, 21),
        "remind": date(2027, 1, 5),
        "due": date(2027, 1, 8),
        "overdue": date(2027, 1, 12),
    }
    assert stage_due(date(2027, 1, 8), p, settings) == ["due"]
    assert stage_due(date(2027, 1, 9), p, settings) == []


def test_config_override_from_env_wins_over_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUBAN_CALENDAR__EXTRA_HOLIDAYS", '["2027-01-04"]')
    monkeypatch.setenv("DUBAN_CALENDAR__EXTRA_WORKDAYS", '["2027-01-09"]')
    get_settings.cache_clear()
    s = get_settings()
    assert s.calendar.extra_holidays == ["2027-01-04"]
    p = parse_period("2026Q4", s)
    # 4 Jan off, Sat 9 Jan worked: 5, 6, 7, 8, 9 Jan → Sat 9 Jan.
    assert p.deadline == date(2027, 1, 9)
    c = work_calendar(s)
    assert c.source(date(2027, 1, 4)) == "override"
    assert not c.is_workday(date(2027, 1, 4))


def test_override_beats_announced_data() -> None:
    c = cal(extra_holidays=["2026-02-14"], extra_workdays=["2026-02-21"])
    assert not c.is_workday(date(2026, 2, 14))
    assert c.is_workday(date(2026, 2, 21))
    assert c.source(date(2026, 2, 21)) == "override"


def test_unknown_year_raises_with_date_year_and_fix() -> None:
    c = cal()
    with pytest.raises(CalendarUnknown) as err:
        c.is_workday(date(2028, 3, 1))
    msg = str(err.value)
    assert "2028-03-01" in msg and "2028" in msg and "calendar.extra_holidays" in msg
    assert err.value.year == 2028  # type: ignore[attr-defined]
    with pytest.raises(CalendarUnknown):
        cal().is_workday(date(2003, 5, 6))


def test_overrides_for_a_year_make_it_usable_by_rule() -> None:
    c = cal(extra_holidays=["2028-01-03"])
    assert c.source(date(2028, 3, 1)) == "rule"
    assert c.is_workday(date(2028, 3, 1))
    assert not c.is_workday(date(2028, 1, 3))


def test_bad_override_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"calendar\.extra_holidays"):
        cal(extra_holidays=["2027-13-01"])
    with pytest.raises(ConfigError, match="both"):
        cal(extra_holidays=["2027-01-04"], extra_workdays=["2027-01-04"])


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("2026Q4", "2026Q4"),
        ("2026-Q4", "2026Q4"),
        ("2026q4", "2026Q4"),
        (" 2026 Q4 ", "2026Q4"),
        ("２０２６Ｑ４", "2026Q4"),
        ("2026年第四季度", "2026Q4"),
        ("2026年4季度", "2026Q4"),
        ("2026M10", "2026M10"),
        ("2026-M3", "2026M03"),
        ("2026-10", "2026M10"),
        ("2026年10月", "2026M10"),
    ],
)
def test_period_key_forms(text: str, key: str) -> None:
    assert normalise_period_key(text) == key


@pytest.mark.parametrize("text", ["2026Q5", "2026M13", "2026", "Q4", "last quarter", ""])
def test_bad_period_key_names_the_accepted_forms(text: str, settings: Settings) -> None:
    with pytest.raises(ValueError, match="2026-Q4"):
        parse_period(text, settings)


def test_find_period_key_inside_text() -> None:
    assert find_period_key("2026Q3_市发改委_工作进展报表.xlsx") == "2026Q3"
    assert find_period_key("丽水市2026年第三季度工作进展") == "2026Q3"
    assert find_period_key("报送期间：2026年10月") == "2026M10"
    assert find_period_key("扫描件2026-10-15.xlsx") is None  # a date, not a period
    assert find_period_key(None) is None


def test_monthly_periods_and_neighbours(settings: Settings) -> None:
    p = parse_period("2026M02", settings)
    assert (p.start, p.end, p.label_zh, p.cadence) == (
        date(2026, 2, 1),
        date(2026, 2, 28),
        "2026年2月",
        "monthly",
    )
    # Sat 28 Feb (the end) is worked, Mar 2–6 → the 5th working day after is Fri 6 Mar.
    assert p.deadline == date(2026, 3, 6)
    assert previous_period(p, settings).key == "2026M01"
    assert next_period(parse_period("2026M12", settings), settings).key == "2027M01"


def test_period_for_follows_the_cadence() -> None:
    q = Settings()
    assert period_for(date(2026, 11, 5), q).key == "2026Q4"
    assert previous_period(parse_period("2026Q1", q), q).key == "2025Q4"
    m = Settings(calendar=CalendarConfig(cadence="monthly"))
    assert period_for(date(2026, 11, 5), m).key == "2026M11"


def test_deadline_rule_and_stages_come_from_config() -> None:
    s = Settings(
        calendar=CalendarConfig(deadline_working_days=3, window_opens_days_before_end=0),
        stages=[StageConfig(id="late", name="催报", anchor="deadline", offset_working_days=1)],
    )
    p: Period = parse_period("2026Q3", s)
    assert p.window_opens == date(2026, 9, 30)
    assert p.deadline == date(2026, 10, 10)  # 8, 9, Sat 10 Oct
    assert stage_dates(p, s) == {"late": date(2026, 10, 12)}

"""Reporting periods, their windows and deadlines, on the Chinese working-day calendar.

Deadlines such as "the 5th working day after the quarter ends" must follow the State
Council's holiday notice, make-up working days (调休) included, or a unit is called late on a
day it was told to rest. Where the working days come from, strongest first:

1. ``calendar.extra_holidays`` / ``calendar.extra_workdays`` in config (ISO dates): the
   operators enter the notice the State Council publishes each November → source "override".
2. chinese-calendar, for the years it covers (2004–2026 in 1.11): transcribed from the
   notices → source "announced".
3. python-holidays ``China``, which computes statutory holidays by rule (weekend holidays
   moved to the next working day, no make-up days) → source "rule": *computed by rule, not
   announced*. Used only for the year right after the announced range (``rule_years_ahead``,
   so a Q4 deadline in January works before the notice is out) or for a year that has
   overrides in config (the operators have entered that year's notice).

Any other year raises :class:`~duban.errors.CalendarUnknown` naming the date, the year and
the fix. Dates are plain ``date`` values meant in Asia/Shanghai (``today()`` gives the local
date there).

Period rules: ``window_opens`` is ``calendar.window_opens_days_before_end`` *calendar* days
before the period's last day; ``deadline`` is the ``calendar.deadline_working_days``-th
working day after the last day; stage dates are an anchor (window_open or deadline) moved by
``offset_working_days`` working days.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar
import holidays

from duban.errors import CalendarUnknown, ConfigError
from duban.settings import CalendarConfig, Settings

__all__ = [
    "RULE_YEARS_AHEAD",
    "SOURCE_ANNOUNCED",
    "SOURCE_OVERRIDE",
    "SOURCE_RULE",
    "Period",
    "WorkCalendar",
    "find_period_key",
    "next_period",
    "normalise_period_key",
    "parse_period",
    "period_for",
    "previous_period",
    "stage_dates",
    "stage_due",
    "today",
    "work_calendar",
]

SOURCE_ANNOUNCED = "announced"
SOURCE_RULE = "rule"
SOURCE_OVERRIDE = "override"
#: How many years past the announced range the rule-based estimate may be used without config.
RULE_YEARS_AHEAD = 1

_QUARTER_ZH = "一二三四"
_ACCEPTED_FORMS = "2026Q4, 2026-Q4, 2026M10, 2026-M10, 2026-10, 2026年第四季度, 2026年10月"


# ---------------------------------------------------------------------------- calendar


@lru_cache(maxsize=1)
def _announced_years() -> tuple[int, int]:
    """The years chinese-calendar holds announced data for (the range its own check uses)."""
    from chinese_calendar.constants import holidays as known

    years = [d.year for d in known]
    return min(years), max(years)


@lru_cache(maxsize=64)
def _rule_holidays(year: int) -> holidays.HolidayBase:
    return holidays.China(years=year)


def _parse_dates(values: list[str], key: str) -> frozenset[date]:
    out = set()
    for v in values:
        try:
            out.add(date.fromisoformat(str(v).strip()))
        except ValueError:
            raise ConfigError(
                f"config/settings.yaml {key}: {v!r} is not an ISO date (expected YYYY-MM-DD)"
            ) from None
    return frozenset(out)


def _as_date(d: date | datetime, tz: ZoneInfo) -> date:
    if isinstance(d, datetime):
        return (d.astimezone(tz) if d.tzinfo else d).date()
    return d


class WorkCalendar:
    """Working days in China: config overrides, then announced data, then the library's rule."""

    def __init__(self, cfg: CalendarConfig, *, rule_years_ahead: int = RULE_YEARS_AHEAD) -> None:
        self.tz = ZoneInfo(cfg.timezone)
        self._off = _parse_dates(cfg.extra_holidays, "calendar.extra_holidays")
        self._on = _parse_dates(cfg.extra_workdays, "calendar.extra_workdays")
        both = self._off & self._on
        if both:
            days = ", ".join(sorted(d.isoformat() for d in both))
            raise ConfigError(
                f"config/settings.yaml calendar: {days} listed in both extra_holidays and extra_workdays"
            )
        self._override_years = {d.year for d in self._off | self._on}
        self.announced_years = _announced_years()
        self.rule_years_ahead = rule_years_ahead

    def year_source(self, year: int, *, for_day: date | None = None) -> str:
        """A whole year's source ("announced" or "rule"); CalendarUnknown for an unknown year."""
        lo, hi = self.announced_years
        if lo <= year <= hi:
            return SOURCE_ANNOUNCED
        if hi < year <= hi + self.rule_years_ahead or year in self._override_years:
            return SOURCE_RULE
        day = for_day or date(year, 1, 1)
        exc = CalendarUnknown(
            f"{day.isoformat()}: the working-day calendar does not know the year {year} "
            f"(chinese-calendar has the announced days for {lo}–{hi}; the rule-based estimate of "
            f"python-holidays is used up to {hi + self.rule_years_ahead}). Fix: add the State "
            f"Council's announced holidays and make-up working days (调休) for {year} to "
            "config/settings.yaml calendar.extra_holidays / calendar.extra_workdays "
            "(or upgrade chinese-calendar)."
        )
        exc.day = day  # type: ignore[attr-defined]
        exc.year = year  # type: ignore[attr-defined]
        raise exc

    def source(self, d: date) -> str:
        """Where ``d``'s working/rest status comes from: "announced" | "rule" | "override"."""
        d = _as_date(d, self.tz)
        if d in self._off or d in self._on:
            return SOURCE_OVERRIDE
        return self.year_source(d.year, for_day=d)

    def span_source(self, a: date, b: date) -> str:
        """The weakest source among the days after ``a`` up to ``b``: "rule" beats "override"."""
        seen = {self.source(a + timedelta(days=i)) for i in range(1, (b - a).days + 1)}
        for s in (SOURCE_RULE, SOURCE_OVERRIDE):
            if s in seen:
                return s
        return SOURCE_ANNOUNCED

    def is_workday(self, d: date) -> bool:
        d = _as_date(d, self.tz)
        if d in self._on:
            return True
        if d in self._off:
            return False
        if self.year_source(d.year, for_day=d) == SOURCE_ANNOUNCED:
            return bool(chinese_calendar.is_workday(d))
        return bool(_rule_holidays(d.year).is_working_day(d))

    def add_workdays(self, d: date, n: int) -> date:
        """Move ``n`` working days from ``d`` (``d`` itself not counted); ``n=0``: ``d`` or the next."""
        d = _as_date(d, self.tz)
        if n == 0:
            while not self.is_workday(d):
                d += timedelta(days=1)
            return d
        step = timedelta(days=1 if n > 0 else -1)
        left = abs(n)
        while left:
            d += step
            if self.is_workday(d):
                left -= 1
        return d

    def workdays_between(self, a: date, b: date) -> int:
        """Working days after ``a`` up to and including ``b`` (0 if ``b <= a``): days late."""
        a, b = _as_date(a, self.tz), _as_date(b, self.tz)
        return sum(self.is_workday(a + timedelta(days=i)) for i in range(1, (b - a).days + 1))


@lru_cache(maxsize=16)
def _calendar_cached(cfg_json: str) -> WorkCalendar:
    return WorkCalendar(CalendarConfig.model_validate_json(cfg_json))


def work_calendar(settings: Settings) -> WorkCalendar:
    """The (cached) calendar for these settings."""
    return _calendar_cached(settings.calendar.model_dump_json())


def today(settings: Settings) -> date:
    """Today's date in the configured timezone (Asia/Shanghai)."""
    return datetime.now(ZoneInfo(settings.calendar.timezone)).date()


# ----------------------------------------------------------------------------- periods


@dataclass(frozen=True)
class Period:
    key: str
    start: date
    end: date
    window_opens: date
    deadline: date

    @property
    def cadence(self) -> str:
        return "quarterly" if "Q" in self.key else "monthly"

    @property
    def year(self) -> int:
        return self.start.year

    @property
    def label_zh(self) -> str:
        """ "2026年第四季度" or "2026年10月"."""
        if self.cadence == "quarterly":
            return f"{self.year}年第{_QUARTER_ZH[(self.start.month - 1) // 3]}季度"
        return f"{self.year}年{self.start.month}月"


_FULL_FORMS = [
    (re.compile(r"(\d{4})[-_/.]?Q([1-4])"), "Q"),
    (re.compile(r"(\d{4})[-_/.]?M(\d{1,2})"), "M"),
    (re.compile(r"(\d{4})[-/.](\d{1,2})"), "M"),
    (re.compile(r"(\d{4})年?(?:第)?([1-4一二三四])季度?"), "Q"),
    (re.compile(r"(\d{4})年(\d{1,2})月份?"), "M"),
]
# Forms found inside longer text (file names, 报送期间 lines); a bare 2026-10 may be a date.
_SEARCH_FORMS = [
    (re.compile(r"(?<!\d)(\d{4})[-_/.]?Q([1-4])(?!\d)"), "Q"),
    (re.compile(r"(?<!\d)(\d{4})[-_/.]?M(\d{1,2})(?!\d)"), "M"),
    (re.compile(r"(?<!\d)(\d{4})年(?:第)?([1-4一二三四])季度"), "Q"),
    (re.compile(r"(?<!\d)(\d{4})年(\d{1,2})月"), "M"),
]


def _clean(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))).upper()


def _key(year: str, kind: str, num: str) -> str | None:
    n = _QUARTER_ZH.index(num) + 1 if num in _QUARTER_ZH else int(num)
    if kind == "Q":
        return f"{year}Q{n}" if 1 <= n <= 4 else None
    return f"{year}M{n:02d}" if 1 <= n <= 12 else None


def normalise_period_key(text: str) -> str:
    """The canonical key ("2026Q4", "2026M10") of a whole period string; ValueError otherwise."""
    s = _clean(text)
    for rx, kind in _FULL_FORMS:
        m = rx.fullmatch(s)
        if m and (key := _key(m.group(1), kind, m.group(2))):
            return key
    raise ValueError(f"Unrecognised period {text!r}; accepted forms: {_ACCEPTED_FORMS}")


def find_period_key(text: str | None) -> str | None:
    """A period key found inside longer text (a file name, a 报送期间 line), or None."""
    if not text:
        return None
    s = _clean(text)
    try:
        return normalise_period_key(s)
    except ValueError:
        pass
    for rx, kind in _SEARCH_FORMS:
        for m in rx.finditer(s):
            if key := _key(m.group(1), kind, m.group(2)):
                return key
    return None


def _bounds(key: str) -> tuple[date, date]:
    year, kind, n = int(key[:4]), key[4], int(key[5:])
    first_month = (n - 1) * 3 + 1 if kind == "Q" else n
    months = 3 if kind == "Q" else 1
    start = date(year, first_month, 1)
    nm = first_month + months
    end = (date(year + 1, 1, 1) if nm > 12 else date(year, nm, 1)) - timedelta(days=1)
    return start, end


def _build(key: str, settings: Settings) -> Period:
    cfg = settings.calendar
    start, end = _bounds(key)
    cal = work_calendar(settings)
    return Period(
        key=key,
        start=start,
        end=end,
        window_opens=end - timedelta(days=cfg.window_opens_days_before_end),
        deadline=cal.add_workdays(end, cfg.deadline_working_days),
    )


def parse_period(key: str, settings: Settings) -> Period:
    """The period for "2026Q4", "2026-Q4", "2026M10", "2026年第四季度", …; ValueError with the forms."""
    return _build(normalise_period_key(key), settings)


def period_for(d: date, settings: Settings) -> Period:
    """The period of the configured cadence that contains ``d``."""
    return _build_containing(d, settings.calendar.cadence, settings)


def previous_period(p: Period, settings: Settings) -> Period:
    """The period of the same kind just before ``p``."""
    return _build_containing(p.start - timedelta(days=1), p.cadence, settings)


def next_period(p: Period, settings: Settings) -> Period:
    """The period of the same kind just after ``p``."""
    return _build_containing(p.end + timedelta(days=1), p.cadence, settings)


def _build_containing(d: date, cadence: str, settings: Settings) -> Period:
    if cadence == "monthly":
        return _build(f"{d.year}M{d.month:02d}", settings)
    return _build(f"{d.year}Q{(d.month - 1) // 3 + 1}", settings)


def stage_dates(p: Period, settings: Settings) -> dict[str, date]:
    """Each configured notice stage's date: its anchor moved by ``offset_working_days``."""
    cal = work_calendar(settings)
    out: dict[str, date] = {}
    for s in settings.stages:
        anchor = p.window_opens if s.anchor == "window_open" else p.deadline
        out[s.id] = cal.add_workdays(anchor, s.offset_working_days)
    return out


def stage_due(d: date, p: Period, settings: Settings) -> list[str]:
    """The ids of the stages whose date is ``d``, in configured order."""
    return [sid for sid, sd in stage_dates(p, settings).items() if sd == d]

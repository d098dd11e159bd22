"""Working time, in one place: working days, working hours and public holidays (a data file
per country, validated on load), and the arithmetic on them (working seconds between two
moments, statutory due dates in working days).

Statutory processing times of dossiers are counted in working days, and the feeds follow
the working week, so the simulator, the alert rules and the wall's KPIs all use this module:
`WorkCalendar` on datetimes, `WorkingTimeIndex` (the same answers) on Unix times for the
simulator's hundreds of thousands of dossiers.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict

from ioc.datafile import load_yaml
from ioc.errors import SettingsError
from ioc.resources import CALENDARS_DIR
from ioc.settings import Settings

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class _Hours(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: time
    end: time


class _CalendarFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: Literal[1]
    country: str
    timezone: str
    workdays: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]]
    working_hours: _Hours
    holidays: dict[str, list[date]]
    # days worked although their weekday is not a workday (a Saturday worked in a swap)
    working_days: dict[str, list[date]] = {}
    # decided but not yet in the Labour Code: days off only when IOC_PENDING_HOLIDAYS=on
    pending_holidays: dict[str, list[date]] = {}
    # from this day on no official schedule was announced: the dates follow the statutory
    # rules and may move (make-up days and swaps are not known yet)
    provisional_from: date | None = None


class WorkCalendar:
    """Which local days and hours are working time, and due dates in working days."""

    def __init__(self, timezone: str, workdays: set[int], start: time, end: time,
                 holidays: dict[date, str], working_days: dict[date, str] | None = None,
                 provisional_from: date | None = None):
        self.tz = ZoneInfo(timezone)
        self.workdays = workdays
        self.start, self.end = start, end
        self.holidays = holidays
        self.working_days = working_days or {}
        self.provisional_from = provisional_from

    def is_working_day(self, day: date) -> bool:
        if day in self.working_days:
            return True
        return day.weekday() in self.workdays and day not in self.holidays

    def is_provisional(self, day: date) -> bool:
        """True when no official schedule covers `day` yet (its dates may still move)."""
        return self.provisional_from is not None and day >= self.provisional_from

    def is_working_time(self, at: datetime) -> bool:
        local = at.astimezone(self.tz)
        return self.is_working_day(local.date()) and self.start <= local.time() < self.end

    def working_hours(self, day: date) -> tuple[datetime, datetime] | None:
        """[opens, closes) of the local day `day`, or None when it is not a working day:
        `is_working_time` for many moments of one day at the cost of one call."""
        if not self.is_working_day(day):
            return None
        return datetime.combine(day, self.start, self.tz), datetime.combine(day, self.end, self.tz)

    def working_seconds_between(self, start: datetime, end: datetime,
                                cap_days: int = 31) -> float:
        """Working seconds in [start, end) (local working hours of working days); spans
        longer than `cap_days` count only their last `cap_days` (enough to judge lateness)."""
        if end <= start:
            return 0.0
        start = max(start, end - timedelta(days=cap_days))
        local_start, local_end = start.astimezone(self.tz), end.astimezone(self.tz)
        total = 0.0
        day = local_start.date()
        while day <= local_end.date():
            if self.is_working_day(day):
                opens = datetime.combine(day, self.start, self.tz)
                closes = datetime.combine(day, self.end, self.tz)
                overlap = (min(closes, local_end) - max(opens, local_start)).total_seconds()
                total += max(0.0, overlap)
            day += timedelta(days=1)
        return total

    def add_working_days(self, at: datetime, days: int) -> datetime:
        """The same local time `days` working days after `at` (weekends and holidays skipped)."""
        local = at.astimezone(self.tz)
        day = local.date()
        left = days
        while left > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                left -= 1
        return datetime.combine(day, local.timetz()).astimezone(at.tzinfo)


class WorkingTimeIndex:
    """Working periods of the calendar as sorted Unix-time intervals, for the due dates and
    processing times of hundreds of thousands of dossiers (a bisect instead of a walk through
    local dates). Same answers as `WorkCalendar`; covers more days as it is asked about them.
    """

    MARGIN_DAYS = 400

    def __init__(self, calendar: WorkCalendar):
        self.cal, self.tz = calendar, tz = calendar, calendar.tz
        today = date(2000, 1, 3)
        #: length of a working day's working period
        self.day_seconds = (datetime.combine(today, calendar.end)
                            - datetime.combine(today, calendar.start)).total_seconds()
        self._lo = self._hi = 0            # ordinals covered: [lo, hi)
        self._ords: list[int] = []         # working days, ascending
        self._opens: list[float] = []
        self._closes: list[float] = []
        # zones without daylight saving (all of Vietnam): local days by arithmetic
        offsets = {datetime(2026, month, 1, tzinfo=tz).utcoffset() for month in (1, 7)}
        self._fixed = int(offsets.pop().total_seconds()) if len(offsets) == 1 else None

    def _day(self, t: float) -> int:
        """Ordinal of the local date of `t`."""
        if self._fixed is not None:
            return int((t + self._fixed) // 86400) + _EPOCH_ORDINAL
        return datetime.fromtimestamp(t, self.tz).toordinal()

    def _cover(self, lo: int, hi: int) -> None:
        if self._ords and self._lo <= lo and hi <= self._hi:
            return
        if self._ords:
            lo, hi = min(lo, self._lo), max(hi, self._hi)
        lo, hi = lo - self.MARGIN_DAYS, hi + self.MARGIN_DAYS
        cal, tz = self.cal, self.tz
        days = [d for d in map(date.fromordinal, range(lo, hi)) if cal.is_working_day(d)]
        self._ords = [d.toordinal() for d in days]
        self._opens = [datetime.combine(d, cal.start, tz).timestamp() for d in days]
        self._closes = [datetime.combine(d, cal.end, tz).timestamp() for d in days]
        self._lo, self._hi = lo, hi

    def _period(self, t: float) -> int:
        """Index of the first working period that ends after `t`."""
        day = self._day(t)
        self._cover(day - 1, day + 60)
        i = bisect_right(self._closes, t)
        if i == len(self._closes):
            self._cover(day, self._hi + 1)
            i = bisect_right(self._closes, t)
        return i

    def next_opening(self, t: float) -> float:
        """`t` if it is working time, else when the next working period opens."""
        return max(t, self._opens[self._period(t)])

    def add_seconds(self, t: float, seconds: float) -> float:
        """The moment `seconds` of working time after `t` (nights, weekends, holidays skipped)."""
        i = self._period(t)
        start = max(t, self._opens[i])
        while start + seconds >= self._closes[i]:
            seconds -= self._closes[i] - start
            i += 1
            if i == len(self._closes):
                self._cover(self._lo, self._hi + 1)
            start = self._opens[i]
        return start + seconds

    def add_days(self, t: float, days: int) -> float:
        """The same local time `days` working days after `t`."""
        day = self._day(t)
        self._cover(day, day + 2 * days + 30)
        j = bisect_right(self._ords, day) + days - 1
        while j >= len(self._ords):
            self._cover(self._lo, self._hi + days)
            j = bisect_right(self._ords, day) + days - 1
        if self._fixed is not None:
            return t + (self._ords[j] - day) * 86400.0
        local = datetime.fromtimestamp(t, self.tz)
        return datetime.combine(date.fromordinal(self._ords[j]), local.timetz()).timestamp()

    def midnight_days_before(self, t: float, days: int) -> float:
        """Local midnight of the day `days` working days before the local day of `t`."""
        day = self._day(t)
        if days <= 0:
            return datetime.combine(date.fromordinal(day), time(), self.tz).timestamp()
        self._cover(day - 2 * days - 30, day + 1)
        j = bisect_right(self._ords, day - 1) - days
        while j < 0:
            self._cover(self._lo - days - 30, self._hi)
            j = bisect_right(self._ords, day - 1) - days
        return datetime.combine(date.fromordinal(self._ords[j]), time(), self.tz).timestamp()


def load_calendar(path: Path = CALENDARS_DIR / "vn.yaml", pending: bool = False) -> WorkCalendar:
    """Read a calendar file; `SettingsError` names the file, the path in it and the problem.
    `pending`: the pending holidays are days off too (IOC_PENDING_HOLIDAYS=on)."""
    parsed = load_yaml(path, _CalendarFile, "calendar")
    if parsed.working_hours.start >= parsed.working_hours.end:
        raise SettingsError(f"{path}: working_hours: start must be before end")
    groups = {**parsed.holidays, **(parsed.pending_holidays if pending else {})}
    holidays = {day: name for name, days in groups.items() for day in days}
    worked = {day: name for name, days in parsed.working_days.items() for day in days}
    both = sorted(set(holidays) & set(worked))
    if both:
        raise SettingsError(f"{path}: working_days: {both[0]} is also a holiday "
                            f"({holidays[both[0]]!r})")
    try:
        return WorkCalendar(parsed.timezone, {_DAYS.index(d) for d in parsed.workdays},
                            parsed.working_hours.start, parsed.working_hours.end, holidays,
                            worked, parsed.provisional_from)
    except ZoneInfoNotFoundError:
        raise SettingsError(f"{path}: timezone: unknown time zone {parsed.timezone!r}") from None


def settings_calendar(settings: Settings) -> WorkCalendar:
    """The shipped calendar as these settings want it (pending holidays on or off)."""
    return load_calendar(pending=settings.pending_holidays == "on")

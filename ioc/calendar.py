"""Working days, working hours and public holidays (a data file per country, validated on load).

Statutory processing times of dossiers are counted in working days, and the feeds follow
the working week, so both the simulator and the wall need the same calendar.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict

from ioc.datafile import load_yaml
from ioc.errors import SettingsError
from ioc.resources import CALENDARS_DIR

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


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


class WorkCalendar:
    """Which local days and hours are working time, and due dates in working days."""

    def __init__(self, timezone: str, workdays: set[int], start: time, end: time,
                 holidays: dict[date, str]):
        self.tz = ZoneInfo(timezone)
        self.workdays = workdays
        self.start, self.end = start, end
        self.holidays = holidays

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.workdays and day not in self.holidays

    def is_working_time(self, at: datetime) -> bool:
        local = at.astimezone(self.tz)
        return self.is_working_day(local.date()) and self.start <= local.time() < self.end

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


def load_calendar(path: Path = CALENDARS_DIR / "vn.yaml") -> WorkCalendar:
    """Read a calendar file; `SettingsError` names the file, the path in it and the problem."""
    parsed = load_yaml(path, _CalendarFile, "calendar")
    if parsed.working_hours.start >= parsed.working_hours.end:
        raise SettingsError(f"{path}: working_hours: start must be before end")
    holidays = {day: name for name, days in parsed.holidays.items() for day in days}
    try:
        return WorkCalendar(parsed.timezone, {_DAYS.index(d) for d in parsed.workdays},
                            parsed.working_hours.start, parsed.working_hours.end, holidays)
    except ZoneInfoNotFoundError:
        raise SettingsError(f"{path}: timezone: unknown time zone {parsed.timezone!r}") from None

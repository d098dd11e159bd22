"""The working calendar: weekends and Vietnamese public holidays, due dates in working days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ioc.calendar import load_calendar
from ioc.errors import SettingsError
from ioc.province import load_province
from ioc.settings import PROVINCES_DIR
from simulators.generator import ProvinceSimulator

CAL = load_calendar()


def test_holidays_and_weekends_are_not_working_days():
    assert CAL.is_working_day(date(2026, 3, 2))          # a Monday
    assert not CAL.is_working_day(date(2026, 3, 1))      # Sunday
    for holiday in (date(2026, 2, 17), date(2026, 4, 30), date(2026, 5, 1), date(2026, 9, 2)):
        assert not CAL.is_working_day(holiday), holiday


def test_working_hours_are_local_time():
    assert CAL.is_working_time(datetime(2026, 3, 2, 0, 30, tzinfo=UTC))      # 07:30 in Hà Nội
    assert not CAL.is_working_time(datetime(2026, 3, 2, 10, 30, tzinfo=UTC))  # 17:30


def test_a_days_working_hours_say_what_is_working_time_says():
    # every 7 minutes and 13 seconds over two weeks with a holiday and weekends, and the
    # opening and closing moments themselves
    at = datetime(2026, 4, 24, 17, 0, tzinfo=UTC)
    moments = [at + timedelta(seconds=433 * i) for i in range(14 * 86400 // 433)]
    for day in (date(2026, 4, 27), date(2026, 4, 30), date(2026, 5, 4)):
        hours = CAL.working_hours(day)
        if hours:
            moments += [hours[0], hours[0] - timedelta(microseconds=1), hours[1],
                        hours[1] - timedelta(microseconds=1)]
    working = 0
    for m in moments:
        hours = CAL.working_hours(m.astimezone(CAL.tz).date())
        inside = hours is not None and hours[0] <= m < hours[1]
        assert inside == CAL.is_working_time(m), m
        working += inside
    assert 0 < working < len(moments)
    assert CAL.working_hours(date(2026, 4, 30)) is None  # Reunification Day


def test_due_dates_skip_weekends_and_holidays():
    friday = datetime(2026, 4, 24, 3, 0, tzinfo=UTC)  # Friday 10:00 before 26/4, 30/4, 1/5
    # (Mon 27/4 make-up day off) Tue 28, Wed 29, (Thu 30/4, Fri 1/5 holidays), Mon 4, Tue 5/5
    assert CAL.add_working_days(friday, 4) == datetime(2026, 5, 5, 3, 0, tzinfo=UTC)
    tet_eve = datetime(2026, 2, 13, 2, 0, tzinfo=UTC)  # Friday before Tết 2026
    assert CAL.add_working_days(tet_eve, 1) == datetime(2026, 2, 23, 2, 0, tzinfo=UTC)


def _payments_in_an_hour(start: datetime) -> int:
    # a fresh simulator per span: one simulator generates contiguous time only
    sim = ProvinceSimulator(load_province(PROVINCES_DIR / "thanh-hoa.yaml"), seed=3)
    return sum(o.feed == "payments"
               for o in sim.events_between(start, start + timedelta(hours=1)))


def test_tet_is_quiet_in_the_simulation():
    tet = datetime(2026, 2, 18, 2, 0, tzinfo=UTC)        # Wednesday of Tết, 09:00
    normal = tet + timedelta(days=14)                     # a normal Wednesday
    assert _payments_in_an_hour(tet) * 4 < _payments_in_an_hour(normal)


def test_a_broken_calendar_names_the_problem(tmp_path):
    bad = tmp_path / "cal.yaml"
    bad.write_text((load_calendar.__defaults__[0]).read_text(encoding="utf-8")
                   .replace("timezone: Asia/Ho_Chi_Minh", "timezone: Mars/Olympus"),
                   encoding="utf-8")
    with pytest.raises(SettingsError, match="unknown time zone 'Mars/Olympus'"):
        load_calendar(bad)
    bad.write_text("schema_version: 1\nworkdays: [someday]\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"cal.yaml: country: Field required"):
        load_calendar(bad)


def test_working_seconds_between_skip_nights_weekends_and_holidays():
    cal = load_calendar()
    tz = cal.tz
    friday_4pm = datetime(2026, 11, 20, 16, 0, tzinfo=tz)
    monday_8am = datetime(2026, 11, 23, 8, 0, tzinfo=tz)
    # Friday 16:00-17:00 and Monday 07:00-08:00: two hours, the weekend counts nothing
    assert cal.working_seconds_between(friday_4pm, monday_8am) == 2 * 3600
    assert cal.working_seconds_between(monday_8am, friday_4pm) == 0
    # 2 September (National Day, a holiday) counts nothing either
    sept_2 = datetime(2026, 9, 2, 8, 0, tzinfo=tz)
    assert cal.working_seconds_between(sept_2, sept_2.replace(hour=16)) == 0


def test_2026_make_up_day_and_civil_service_swaps():
    assert not CAL.is_working_day(date(2026, 4, 27))   # Giỗ Tổ on Sunday 26/4: Monday off
    assert not CAL.is_working_day(date(2026, 1, 2))    # Friday off ...
    assert CAL.is_working_day(date(2026, 1, 10))       # ... for Saturday 10/1 worked
    assert not CAL.is_working_day(date(2026, 8, 31))   # Monday off ...
    assert CAL.is_working_day(date(2026, 8, 22))       # ... for Saturday 22/8 worked
    assert not CAL.is_working_day(date(2026, 1, 17))   # other Saturdays stay off
    # a worked Saturday counts toward due dates: Fri 9/1 + 1 working day is Sat 10/1
    friday = datetime(2026, 1, 9, 3, 0, tzinfo=UTC)
    assert CAL.add_working_days(friday, 1) == datetime(2026, 1, 10, 3, 0, tzinfo=UTC)
    assert CAL.is_working_time(datetime(2026, 1, 10, 2, 0, tzinfo=UTC))  # 09:00 that Saturday


def test_the_pending_culture_day_counts_only_when_switched_on():
    culture_day = date(2026, 11, 24)
    assert CAL.is_working_day(culture_day)
    assert not load_calendar(pending=True).is_working_day(culture_day)
    from ioc.calendar import settings_calendar
    from ioc.settings import Settings

    assert not settings_calendar(Settings(pending_holidays="on")).is_working_day(culture_day)
    assert settings_calendar(Settings()).is_working_day(culture_day)


def test_2027_is_marked_provisional():
    assert not CAL.is_provisional(date(2026, 12, 31))
    assert CAL.is_provisional(date(2027, 2, 8))


def test_a_day_both_off_and_worked_is_refused(tmp_path):
    bad = tmp_path / "cal.yaml"
    bad.write_text((load_calendar.__defaults__[0]).read_text(encoding="utf-8")
                   .replace('"Làm bù cho ngày 2/1": [2026-01-10]',
                            '"Làm bù cho ngày 2/1": [2026-01-02]'), encoding="utf-8")
    with pytest.raises(SettingsError, match=r"working_days: 2026-01-02 is also a holiday"):
        load_calendar(bad)

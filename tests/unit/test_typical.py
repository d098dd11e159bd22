"""A usual day. The payments page's typical band: bins, the band from earlier weeks, the
rhythm model until such history exists, and the rates of the last hour. The dossiers: today
by hour against the same weekday of earlier weeks or the model, the usual shares so far."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ioc.calendar import load_calendar
from ioc.province import load_province
from ioc.rhythms import load_rhythms, payment_mix
from ioc.settings import PROVINCES_DIR
from ioc_dashboard.data.rows import (
    ConsultationWeek,
    DossierHour,
    DossierWeekHour,
    LinkWeekMinute,
    Snapshot,
)
from ioc_dashboard.typical import (
    UsualCount,
    _model_rate,
    bins_before,
    dossier_day,
    typical,
    usual_consultations,
    usual_dossiers,
    usual_links,
)

# Monday 2/3/2026 10:07:30 in Vietnam (a working day)
NEWEST = datetime(2026, 3, 2, 3, 7, 30, tzinfo=UTC)
CURRENT = NEWEST.replace(second=0)


@pytest.fixture(scope="module")
def world():
    return load_province(PROVINCES_DIR / "thanh-hoa.yaml"), load_rhythms(), load_calendar()


def _minutes(start: datetime, end: datetime) -> list[datetime]:
    out, at = [], start
    while at < end:
        out.append(at)
        at += timedelta(minutes=1)
    return out


def test_bins_cover_the_last_hour_aligned_on_the_hour():
    bins = bins_before(NEWEST)
    assert len(bins) == 12
    assert bins[-1] == datetime(2026, 3, 2, 3, 5, tzinfo=UTC)  # holds the newest minute
    assert bins[0] == datetime(2026, 3, 2, 2, 10, tzinfo=UTC)
    assert all(b - a == timedelta(minutes=5) for a, b in zip(bins, bins[1:], strict=False))


def test_the_band_holds_every_earlier_week_and_a_silent_week_does_not_count(world):
    province, rhythms, calendar = world
    start = bins_before(NEWEST)[0]
    minutes = _minutes(start, CURRENT + timedelta(minutes=1))
    # week 1: 6 tuition payments a minute, week 2: 10, week 3: stored but all zero (down)
    weeks = [(1, m, "tuition", 6, 0) for m in minutes] + [(2, m, "tuition", 9, 1) for m in minutes]
    weeks += [(3, m, "tuition", 0, 0) for m in minutes]
    now = [(m, "tuition", 3) for m in minutes]
    got = typical(now, weeks, NEWEST, province, rhythms, calendar)
    assert (got.source, got.weeks) == ("history", 2)
    # the usual success: 1 of the 16 a minute failed (week 2); the silent week is not counted
    assert got.success_ratio == pytest.approx(15 / 16)
    tuition = next(s for s in got.series if s.category == "tuition")
    for low, high in zip(tuition.low, tuition.high, strict=True):
        assert low <= 6 and high >= 10  # both weeks inside, around their mean of 8
        assert low > 0 and high - 8 == pytest.approx(8 - low)  # symmetric, not clipped
    # this hour's rate: 3 a minute in every complete minute; the last bin counts its two
    # complete minutes (10:05, 10:06), not the one still filling (10:07)
    assert tuition.now == (3.0,) * 12
    assert all(v < low for v, low in zip(tuition.now, tuition.low, strict=True))
    # a category with no earlier payments in those weeks: a band around zero
    other = next(s for s in got.series if s.category != "tuition")
    assert set(other.low) == {0.0} and set(other.high) == {0.0}
    assert [s.category for s in got.series][:len(payment_mix(province))] == list(
        payment_mix(province))


def test_the_last_bin_has_no_rate_before_its_first_minute_is_complete(world):
    province, rhythms, calendar = world
    newest = datetime(2026, 3, 2, 3, 5, 20, tzinfo=UTC)  # 10:05:20: its bin just began
    start = bins_before(newest)[0]
    now = [(m, "tuition", 4) for m in _minutes(start, newest.replace(second=0)
                                               + timedelta(minutes=1))]
    tuition = next(s for s in typical(now, (), newest, province, rhythms, calendar).series
                   if s.category == "tuition")
    assert tuition.now[:-1] == (4.0,) * 11 and tuition.now[-1] is None


def test_without_earlier_weeks_the_rhythm_model_gives_the_band(world):
    province, rhythms, calendar = world
    got = typical((), (), NEWEST, province, rhythms, calendar)
    assert (got.source, got.weeks) == ("model", 0)
    assert got.success_ratio == province.simulation.payment_success_ratio
    for s in got.series:
        for b, start in enumerate(got.bins):
            rate = _model_rate(province, rhythms, calendar, payment_mix(province)[s.category],
                               s.category, start)
            assert s.low[b] <= round(rate, 3) <= s.high[b]
    # over a working day the model's minutes add up to the province's daily volume of the
    # category (the hour weights sum to one), as the simulator draws it
    day = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)  # Monday 2/3/2026 00:00 in Vietnam
    share = payment_mix(province)["tuition"]
    total = sum(_model_rate(province, rhythms, calendar, share, "tuition",
                            day + timedelta(hours=h)) * 60 for h in range(24))
    expected = (province.simulation.payments_per_day * share
                * rhythms.month_factor("tuition", day.astimezone(calendar.tz).date()))
    assert total == pytest.approx(expected)
    # a Sunday keeps the off-day share of it
    sunday = day - timedelta(days=1)
    off = sum(_model_rate(province, rhythms, calendar, share, "tuition",
                          sunday + timedelta(hours=h)) * 60 for h in range(24))
    assert off == pytest.approx(
        province.simulation.payments_per_day * share
        * rhythms.month_factor("tuition", sunday.astimezone(calendar.tz).date())
        * rhythms.off_day_payments("tuition", False))


def test_usual_dossiers_from_earlier_weeks_or_the_calibrated_shares(world):
    province = world[0]
    day = datetime(2026, 3, 1, 17, tzinfo=UTC)  # Monday 2/3 at midnight in Vietnam
    # weeks back, hour (moved to this week), received, online, resolved, on time; week 3
    # was down; hours from NEWEST's on are not "so far"
    rows = [DossierWeekHour(1, day + timedelta(hours=8), 60, 30, 50, 45),
            DossierWeekHour(1, day + timedelta(hours=9), 40, 30, 30, 27),
            DossierWeekHour(1, day + timedelta(hours=11), 900, 0, 900, 0),
            DossierWeekHour(2, day + timedelta(hours=10), 50, 40, 20, 18),
            DossierWeekHour(3, day + timedelta(hours=9), 0, 0, 0, 0)]
    got = usual_dossiers(rows, NEWEST, province)
    assert (got.source, got.weeks) == ("history", 2)
    assert got.online_ratio == pytest.approx(100 / 150)
    assert got.on_time_ratio == pytest.approx(90 / 100)
    # received but none resolved yet at this hour: no usual on-time share, not 0 %
    early = usual_dossiers([DossierWeekHour(1, day, 12, 5, 0, 0)], NEWEST, province)
    assert early.on_time_ratio is None and early.online_ratio == pytest.approx(5 / 12)
    for model in (usual_dossiers([], NEWEST, province), usual_dossiers(rows, None, province)):
        assert (model.source, model.weeks) == ("model", 0)
        assert (model.on_time_ratio, model.online_ratio) == (
            province.simulation.on_time_share, province.simulation.online_share)


def _dossier_snapshot(weeks: tuple[DossierWeekHour, ...] = ()) -> Snapshot:
    day = datetime(2026, 3, 1, 17, tzinfo=UTC)  # Monday 2/3 at midnight in Vietnam
    return Snapshot(newest={"dossier_events": NEWEST}, dossiers_day_start=day,
                    dossiers_hourly=(DossierHour(day - timedelta(hours=1), 5, 5, 5, 5),
                                     DossierHour(day + timedelta(hours=8), 40, 20, 30, 28),
                                     DossierHour(day + timedelta(hours=10), 7, 3, 2, 2)),
                    dossiers_weeks=weeks)


def test_todays_dossiers_by_hour_against_the_same_weekday_of_earlier_weeks(world):
    province, rhythms, calendar = world
    snap = _dossier_snapshot()
    day = snap.dossiers_day_start
    weeks = (DossierWeekHour(1, day + timedelta(hours=8), 60, 30, 50, 45),
             DossierWeekHour(2, day + timedelta(hours=8), 20, 10, 10, 9),
             DossierWeekHour(2, day + timedelta(hours=10), 30, 10, 20, 9),
             DossierWeekHour(3, day + timedelta(hours=8), 0, 0, 0, 0))  # down that day
    got = dossier_day(replace(snap, dossiers_weeks=weeks), province, rhythms, calendar)
    assert got.hours[0] == day and got.hours[-1] == day + timedelta(hours=23)
    # today: stored hours as counted, hours without a dossier 0, hours to come None (the
    # newest dossier is at 10:07); yesterday's hour is not today's
    assert got.received[:11] == (0,) * 8 + (40, 0, 7) and got.received[11:] == (None,) * 13
    assert got.resolved[8] == 30 and got.resolved[10] == 2
    assert (got.source, got.weeks) == ("history", 2)
    assert got.usual_received[8] == 40 and got.usual_received[10] == 15
    assert got.usual_resolved[8] == 30 and got.usual_resolved[10] == 10
    assert sum(got.usual_received) == 55
    # so far: every hour before 10:00 and 7.5 minutes of the tenth
    assert got.usual_so_far(got.usual_received) == pytest.approx(40 + 15 * 7.5 / 60)


def test_a_usual_day_by_the_rhythm_model_until_history_exists(world):
    province, rhythms, calendar = world
    sim = province.simulation
    got = dossier_day(_dossier_snapshot(), province, rhythms, calendar)
    assert (got.source, got.weeks) == ("model", 0)
    # a working day: received as the simulator draws them, resolved evenly in working hours
    for hour in range(24):
        online, desk = rhythms.dossiers_in_hour(sim.dossiers_per_working_day, sim.online_share,
                                                hour, True)
        assert got.usual_received[hour] == pytest.approx(online + desk, abs=0.05)
    assert sum(got.usual_received) == pytest.approx(sim.dossiers_per_working_day, rel=0.01)
    assert sum(got.usual_resolved) == pytest.approx(sim.dossiers_per_working_day, rel=0.01)
    opens, closes = calendar.start.hour, calendar.end.hour
    assert all((v > 0) == (opens <= h < closes) for h, v in enumerate(got.usual_resolved))
    # a Sunday: online only, fewer; nothing resolved
    sunday = _dossier_snapshot()
    sunday = replace(sunday, dossiers_day_start=sunday.dossiers_day_start - timedelta(days=1),
                     newest={"dossier_events": NEWEST - timedelta(days=1)})
    off = dossier_day(sunday, province, rhythms, calendar)
    assert sum(off.usual_resolved) == 0
    assert sum(off.usual_received) == pytest.approx(
        sim.dossiers_per_working_day * sim.online_share
        * rhythms.off_day_volume.dossiers_online, rel=0.01)
    assert dossier_day(Snapshot(), province, rhythms, calendar) is None


def test_usual_payments_per_minute_adds_the_categories_in_the_newest_complete_bin(world):
    province, rhythms, calendar = world
    start = bins_before(NEWEST)[0]
    minutes = _minutes(start, CURRENT + timedelta(minutes=1))
    weeks = [(1, m, c, 2, 0) for m in minutes for c in ("tuition", "water")]
    got = typical((), weeks, NEWEST, province, rhythms, calendar)
    assert got.usual_per_minute() == pytest.approx(4.0)  # 2 + 2 a minute, the weeks' mean
    # 10:05:20: the newest bin has no complete minute; the one before it speaks
    early = typical((), weeks, datetime(2026, 3, 2, 3, 5, 20, tzinfo=UTC), province, rhythms,
                    calendar)
    assert early.usual_per_minute() == pytest.approx(4.0)


def test_usual_consultations_come_from_the_same_weekday_or_the_clinic_hours(world):
    province, rhythms, calendar = world
    assert usual_consultations(Snapshot(), province, rhythms, calendar) is None
    # Monday 10:07 (a working day), nothing stored from earlier weeks: the model, which is the
    # rate of a clinic day times a consultation's mean length (steady since 07:30)
    snap = Snapshot(newest={"consultations": NEWEST - timedelta(minutes=20),
                            "link_heartbeats": NEWEST})
    got = usual_consultations(snap, province, rhythms, calendar)
    per_day = province.simulation.consultations_per_hospital_per_day * len(province.hospitals)
    mean = sum(rhythms.consultation_minutes) / 2
    assert (got.source, got.weeks) == ("model", 0)
    assert got.value == pytest.approx(per_day * 60 / rhythms.clinic_seconds * mean)
    # at lunch (12:30) the clinics are closed; a week that held consultations that day counts
    lunch = Snapshot(newest={"link_heartbeats": datetime(2026, 3, 2, 5, 30, tzinfo=UTC)})
    assert usual_consultations(lunch, province, rhythms, calendar).value == 0
    weeks = replace(snap, consultations_weeks=(ConsultationWeek(1, 2, 50),
                                               ConsultationWeek(2, 0, 0)))
    assert usual_consultations(weeks, province, rhythms, calendar) == UsualCount(
        2.0, "history", 1)


def test_usual_links_come_from_the_same_minute_or_every_link(world):
    province, rhythms, calendar = world
    assert usual_links(Snapshot(), province) is None
    snap = Snapshot(newest={"link_heartbeats": NEWEST})
    assert usual_links(snap, province) == UsualCount(float(len(province.hospitals)), "model", 0)
    # a week that heard from no link then is not counted
    weeks = replace(snap, links_weeks=(LinkWeekMinute(1, 26, 27), LinkWeekMinute(2, 0, 0),
                                       LinkWeekMinute(3, 21, 25)))
    assert usual_links(weeks, province) == UsualCount(23.5, "history", 2)

"""The wall's pure logic: query-string views, kiosk playlist, the wall file, passwords,
unit layout and link states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ioc.errors import SettingsError
from ioc.province import load_province
from ioc.settings import PROVINCES_DIR, Settings
from ioc_dashboard.app import kiosk_playlist
from ioc_dashboard.auth import hash_password, verify_password
from ioc_dashboard.config import load_wall_config
from ioc_dashboard.context import parse_view
from ioc_dashboard.data import ReplayRun, Snapshot, local_day_start
from ioc_dashboard.data.rows import LinkMinute
from ioc_dashboard.figures import (
    label_sides,
    link_kpis,
    replay_clock,
    short_name,
    unit_positions,
)
from ioc_dashboard.pages.alerts import _silence_id, matchers_for
from tests.unit.test_overview import _alert

NOW = datetime(2026, 11, 22, 3, 0, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def province():
    return load_province(PROVINCES_DIR / "thanh-hoa.yaml")


def test_views_from_the_query_string():
    v = parse_view("?lang=en&source=replay&kiosk=1&every=2&wall=hall-a")
    assert (v.lang, v.replay, v.kiosk, v.every, v.wall) == ("en", True, True, 5.0, "hall-a")
    assert parse_view("?lang=fr&every=x").lang == "vi"
    assert parse_view("", "en").lang == "en" and not parse_view(None).kiosk
    assert v.query(lang="vi") == "?lang=vi&source=replay&kiosk=1&wall=hall-a"


def test_kiosk_playlist_names_pages_and_refuses_unknown_ones():
    assert kiosk_playlist(Settings()) == ["/", "/portal", "/telemedicine", "/payments", "/alerts"]
    with pytest.raises(SettingsError, match="IOC_KIOSK_PAGES.*unknown page 'maps'"):
        kiosk_playlist(Settings(kiosk_pages="overview,maps"))
    with pytest.raises(SettingsError, match="IOC_KIOSK_PAGES"):
        Settings.from_env({"IOC_KIOSK_PAGES": "overview;alerts"})


def test_wall_settings_are_validated():
    with pytest.raises(SettingsError, match="IOC_WALL_VIEW"):
        Settings.from_env({"IOC_WALL_VIEW": "public"})
    with pytest.raises(SettingsError, match="IOC_WALL_SECRET: expected at least 16"):
        Settings.from_env({"IOC_WALL_SECRET": "short"})
    with pytest.raises(SettingsError, match="IOC_WALL_PROXY_USER_HEADER"):
        Settings.from_env({"IOC_WALL_PROXY_USER_HEADER": "X User"})


def test_wall_file_errors_name_file_and_key(tmp_path):
    bad = tmp_path / "wall.yaml"
    bad.write_text("schema_version: 1\nfeeds:\n  portal: {late_after_seconds: 60}\n"
                   "  telemedicine: {late_after_seconds: -1}\n"
                   "  payments: {late_after_seconds: 5}\n")
    with pytest.raises(SettingsError, match=r"wall.yaml: feeds.telemedicine.late_after_seconds"):
        load_wall_config(bad)
    bad.write_text("schema_version: 1\nfeeds:\n  portal: {late_after_seconds: 60}\n")
    with pytest.raises(SettingsError, match="give late_after_seconds for telemedicine, payments"):
        load_wall_config(bad)
    assert load_wall_config().feeds["telemedicine"].late_after_seconds == 30


def test_passwords_are_salted_scrypt():
    stored = hash_password("mật khẩu dài")
    assert stored.startswith("scrypt$") and "mật" not in stored
    assert stored != hash_password("mật khẩu dài")
    assert verify_password("mật khẩu dài", stored)
    assert not verify_password("mat khau dai", stored)
    assert not verify_password("x", "plain-text")
    with pytest.raises(ValueError):
        hash_password("short")


def test_units_sit_where_they_are(province):
    pos = unit_positions(province)
    assert len(pos) == 166 and all(6 <= x <= 94 and 6 <= y <= 94 for x, y in pos.values())
    # Mường Lát (14845) is in the north-west, Sầm Sơn (16531) lies east of Hạc Thành (14797)
    assert pos["14845"][0] < pos["14797"][0] < pos["16531"][0]
    assert pos["14845"][1] < pos["14797"][1]


def test_link_states(province):
    config = load_wall_config()
    minute = NOW.replace(second=0)
    h0, h1 = province.hospitals[:2]
    snap = Snapshot(links=(LinkMinute(minute, h0.link_id, h0.code, h0.unit, 12, 0, 40.0, 0.0),
                           LinkMinute(minute, h1.link_id, h1.code, h1.unit, 12, 3, 40.0, 9.0)))
    k = link_kpis(snap, province, config, NOW)
    states = {s.link_id: s.state for s in k.links}
    assert states[h0.link_id] == "up" and states[h1.link_id] == "down"
    assert list(states.values()).count("silent") == 25
    assert (k.up, k.total, k.trend) == (1, 27, ((minute, 1),))
    later = link_kpis(snap, province, config, NOW + timedelta(minutes=5))
    assert later.up == 0


def test_replay_clock_is_the_event_time_reached():
    run = ReplayRun(1, "day.jsonl.gz", 7, 60.0, False, NOW, None, 10,
                    NOW - timedelta(days=300), NOW - timedelta(days=299))
    assert replay_clock(Snapshot(replay_runs=(run,)), NOW) == NOW - timedelta(days=299)
    assert replay_clock(Snapshot(), NOW) == NOW


def test_local_day_starts_at_midnight_in_vietnam():
    assert local_day_start(NOW) == datetime(2026, 11, 21, 17, 0, tzinfo=UTC)
    assert local_day_start(datetime(2026, 11, 22, 17, 30, tzinfo=UTC)) == \
        datetime(2026, 11, 22, 17, 0, tzinfo=UTC)


def test_a_silence_matches_exactly_the_alert():
    a = _alert("critical", {"unit": "16531", "feed": "payments"})
    assert matchers_for(a) == [{"name": "alertname", "op": "=", "value": "link_down"},
                               {"name": "feed", "op": "=", "value": "payments"},
                               {"name": "unit", "op": "=", "value": "16531"}]


def test_an_expire_request_from_the_browser_names_a_silence_or_nothing():
    assert _silence_id("7:1765000000000") == 7 and _silence_id("12") == 12
    for bad in (None, "", ":1", "0:1", "-3:1", "x:1", "1.5:1", "٣:1", {"id": 7}, [7], 7,
                True):
        assert _silence_id(bad) is None, bad


def test_map_labels_go_where_they_hide_nothing():
    names = {"a": "Hà Trung", "b": "Nga Sơn", "c": "Mường Lát", "d": "Nghi Sơn"}
    positions = {"a": (60.0, 40.0), "b": (65.0, 40.5), "c": (5.0, 5.0), "d": (96.0, 90.0)}
    sides = label_sides(positions, names)
    # a's label to the right would cover b's dot and label: it goes left; b keeps the right
    assert sides["a"] == "left" and sides["b"] == "right"
    assert sides["c"] == "right"  # alone: the default side
    assert sides["d"] == "left"  # at the east edge: the right side is off the map
    assert short_name("Xã Nga Sơn") == "Nga Sơn" and short_name("Bim Son ward") == "Bim Son"
    assert short_name("Đặc khu Hòn Mê") == "Hòn Mê"

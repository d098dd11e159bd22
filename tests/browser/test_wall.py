"""End to end: simulator -> broker -> Faust worker -> database -> the wall in Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By

from ioc.contract import FEEDS
from ioc.db import connect
from ioc.migrate import migrate_database
from ioc.province import load_province
from ioc_dashboard.i18n import format_float, format_percent
from tests.browser.conftest import (
    class_of,
    console_errors,
    set_screen,
    text_of,
    wait_text,
    waiter,
)
from tests.conftest import REPO, child_env, run_ioc, start_part, wait_http, wait_until

pytestmark = pytest.mark.browser

ORIGIN = "TIMESTAMPTZ '2000-01-03 00:00:00+00'"
# Independent of the wall's code: the province's links heard within the last 90 s whose
# newest minute has no 'down' beat.
LINKS_UP = f"""
WITH newest AS (SELECT link_id, max(date_bin('1 minute', occurred_at, {ORIGIN})) AS b
                  FROM link_heartbeats WHERE link_id = ANY(%s) GROUP BY link_id)
SELECT count(*) FROM newest n
 WHERE n.b + interval '1 minute' >= now() - interval '90 seconds'
   AND NOT EXISTS (SELECT 1 FROM link_heartbeats h WHERE h.link_id = n.link_id
                     AND date_bin('1 minute', h.occurred_at, {ORIGIN}) = n.b
                     AND h.status = 'down')
"""


def _link_down(path: Path, at: str, duration: str) -> Path:
    """A scenario: the province's first hospital link down from `at` for `duration`."""
    path.write_text(json.dumps({
        "schema_version": 1, "name": "wall-link-down", "title_vi": "Mất kết nối",
        "title_en": "Link down", "description": "The first link goes down.",
        "incidents": [{"kind": "link_down", "at": at, "duration": duration}]}))
    return path
# Today: the province-local day of the newest dossier event.
TODAY = """(date_trunc('day', (SELECT max(occurred_at) FROM dossier_events)
                        AT TIME ZONE 'Asia/Ho_Chi_Minh') AT TIME ZONE 'Asia/Ho_Chi_Minh')"""
# Received online today; resolved on time today.
ONLINE = f"""
SELECT count(*) FILTER (WHERE channel = 'online'), count(*) FROM dossier_events
 WHERE event_type = 'received' AND occurred_at >= {TODAY}
"""
ON_TIME = f"""
SELECT count(*) FILTER (WHERE occurred_at <= due_at), count(*) FROM dossier_events
 WHERE event_type = 'resolved' AND occurred_at >= {TODAY}
"""
# Payments per minute over the 5 newest complete minutes that had payments (before the minute
# of the newest payment), and the success ratio over the last 15 minutes.
PAYMENTS = """
WITH cur AS (SELECT date_trunc('minute', max(occurred_at)) AS m FROM payments),
     recent AS (SELECT date_trunc('minute', occurred_at) AS m, count(*) AS n
                  FROM payments, cur WHERE occurred_at < cur.m GROUP BY 1
                 ORDER BY 1 DESC LIMIT 5)
SELECT (SELECT avg(n) FROM recent),
       (SELECT avg((status = 'succeeded')::int) FROM payments, cur
         WHERE occurred_at >= cur.m - interval '15 minutes')
"""


def _db_counts(settings) -> dict[str, int]:
    with connect(settings.database_url, settings.db_schema) as conn:
        return {f: n for f, n, _ in conn.execute("SELECT * FROM feed_stats")}


def _lag(settings) -> dict[str, int | None]:
    out = run_ioc("status", "--json", settings=settings, check=True).stdout
    return {f: v["consumer_lag"] for f, v in json.loads(out)["feeds"].items()}


def _simulate(settings, *args: str) -> int:
    sent = run_ioc("simulate", *args, settings=settings)
    assert sent.returncode == 0, sent.stderr
    events = json.loads(sent.stdout.strip().splitlines()[-1])["events"]
    assert events > 0
    return events


def test_simulated_feeds_reach_the_wall(migrated, worker, browser, request, tmp_path):
    migrate_database(migrated.for_replay(), migrated.database_url)  # as `ioc up` does
    # the last six hours of the province, ending now, at once (a day's figures and trends),
    # with the first hospital's link down for the last ten minutes; then the wall and the
    # alert engine start; then the province goes on live
    hours = 6
    start = (datetime.now(UTC) - timedelta(hours=hours)).isoformat(timespec="seconds")
    total = _simulate(migrated, "--start", start, "--speed", "max", "--duration",
                      str(hours * 3600), "--rate-multiplier", "2", "--seed", "11", "--scenario",
                      str(_link_down(tmp_path / "backfill.yaml", f"{hours * 60 - 10}m", "1h")))
    # a two-page playlist, so the test sees it wrap around to its start
    wall = start_part(migrated.with_(kiosk_pages="overview,portal"), "dashboard", "dashboard")
    caught_up = lambda: all(v == 0 for v in _lag(migrated).values())  # noqa: E731
    wait_until(caught_up, 90, what="the worker to store the six hours")
    # the shipped rules, catching up on the last 15 minutes only (not the whole backfill)
    rules = yaml.safe_load((REPO / "ioc/rules/default.yaml").read_text())
    rules["evaluation"]["max_catchup_seconds"] = 900
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules, allow_unicode=True))
    alerter = start_part(migrated.with_(alert_rules=tmp_path / "rules.yaml"), "alerter",
                         "alerter")
    province = load_province(migrated.province_file)
    first = province.hospitals[0]
    live: subprocess.Popen | None = None
    try:
        def link_alert() -> bool:
            with connect(migrated.database_url, migrated.db_schema) as conn:
                return conn.execute(
                    "SELECT count(*) FROM alerts WHERE rule = 'link_heartbeat_missing'"
                    " AND state = 'firing' AND labels->>'link_id' = %s",
                    (first.link_id,)).fetchone()[0] == 1
        wait_until(link_alert, 120, what="the alert engine to raise the link's alert")
        # the province goes on live (the link still down) while the wall is looked at, so
        # every feed stays fresh however slow this machine is; what the tiles must show is
        # read from the database at the moment they are compared
        live = subprocess.Popen(
            [sys.executable, "-m", "ioc_command.cli", "simulate", "--duration", "60",
             "--rate-multiplier", "2", "--seed", "12",
             "--scenario", str(_link_down(tmp_path / "live.yaml", "0s", "1h"))],
            env=child_env(migrated), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        province_links = [h.link_id for h in province.hospitals]

        def expected() -> dict[str, str]:
            with connect(migrated.database_url, migrated.db_schema) as conn:
                links_up = conn.execute(LINKS_UP, (province_links,)).fetchone()[0]
                online, received = conn.execute(ONLINE).fetchone()
                on_time, resolved = conn.execute(ON_TIME).fetchone()
                per_minute, succeeded = conn.execute(PAYMENTS).fetchone()
            tiles = {"kpi-links-value": f"{links_up}/27",
                     "kpi-pay-value": format_float(float(per_minute)),
                     "kpi-pay-sub": f"thành công {format_percent(float(succeeded))}"}
            if received:  # the six hours may all be outside working hours
                tiles["kpi-online-value"] = format_percent(online / received)
            if resolved:
                tiles["kpi-ontime-value"] = format_percent(on_time / resolved)
            return tiles

        base = f"http://127.0.0.1:{migrated.dashboard_port}"
        assert json.loads(wait_http(f"{base}/healthz", 30, wall)) == {
            "ok": True, "database": "reachable"}
        browser.get(base + "/")
        wait = waiter(browser)
        wait_text(browser, "kpi-links-fresh", lambda s: s.startswith("Dữ liệu mới nhất:"),
                  what="the telemedicine tile fresh")
        wait.until(lambda d: "stale" not in class_of(d, "kpi-links-card"))
        # tile values equal what the database holds
        compared: list[tuple[dict, dict]] = []

        def tiles_match(d) -> bool:
            want = expected()
            seen = {k: text_of(d, k) for k in want}
            compared[:] = [(want, seen)]
            return seen == want

        try:
            wait.until(tiles_match)
        except TimeoutException:
            pytest.fail(f"the tiles never matched the database: {compared}")
        assert compared[0][0]["kpi-links-value"] == "26/27"  # the first link is down
        # beside each target, a usual day so far: the calibrated model (no earlier week)
        for tile in ("kpi-ontime", "kpi-online", "kpi-pay"):
            wait_text(browser, f"{tile}-target", lambda s: " · mô hình " in s,
                      what=f"{tile}: the usual day beside its target")
        # the overview fits a 16:9 wall screen: nothing below the fold
        set_screen(browser, 1920, 1080)
        height = browser.execute_script("return document.documentElement.scrollHeight")
        assert height <= 1080, f"the overview is {height} px high at 1920x1080"
        # the engine's alert: in the list (shown, or counted among those that did not fit),
        # its district red on the map, the panels live
        hospital = first.name_vi
        wait.until(lambda d: hospital in d.find_element(By.ID, "overview-alerts")
                   .get_attribute("textContent"))
        wait.until(lambda d: "unit-critical" in d.find_element(
            By.CSS_SELECTOR, f"[data-unit='{first.unit}']").get_attribute("class"))
        wait.until(lambda d: "stale" not in class_of(d, "alerts-card"))
        wait_text(browser, "live-badge", lambda s: s == "Trực tiếp")
        assert "Trung tâm điều hành thông minh" in browser.title

        shots = request.config.getoption("--screenshot-dir")
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            browser.save_screenshot(str(Path(shots) / "wall-overview.png"))

        # every page loads, in both languages and as a replay, without console errors
        for path, marker in (("/portal", "portal-health"), ("/telemedicine", "tele-links-value"),
                             ("/payments", "payments-categories"), ("/alerts", "alerts-table"),
                             ("/replay", "replay-none"), ("/?lang=en", "kpi-pay-value")):
            browser.get(base + path)
            wait.until(lambda d, m=marker: d.find_elements(By.ID, m))
        wait_text(browser, "nav-overview", lambda s: s == "Overview")
        # each payment category against its typical band: the rhythm model's (six hours
        # stored, no earlier week), its newest rate in words beside it
        browser.get(base + "/payments")
        wait_text(browser, "pay-typical-note", lambda s: "mô hình nhịp hoạt động" in s)
        wait.until(lambda d: [e.text.split(" ")[0].endswith("/phút") and "thường lệ" in e.text
                              for e in d.find_elements(By.CLASS_NAME, "band-now")] == [True] * 5)
        browser.get(base + "/payments?source=replay")
        wait_text(browser, "replay-marker", lambda s: s == "PHÁT LẠI / REPLAY")
        wait_text(browser, "payments-fresh", lambda s: s == "Chưa có dữ liệu")
        assert console_errors(browser) == []

        # kiosk: no navigation, and the playlist moves on by itself
        browser.get(base + "/?kiosk=1&every=5")
        wait.until(lambda d: d.find_elements(By.ID, "kpi-pay-value"))
        wait.until(lambda d: "d-none" in class_of(d, "wall-nav"))
        waiter(browser, 20).until(lambda d: d.current_url.startswith(base + "/portal"))
        assert "kiosk=1" in browser.current_url
        wait.until(lambda d: d.find_elements(By.ID, "portal-health"))
        # ...and round again: the playlist has no end (the next page is computed from the
        # current one, so it keeps rotating for as long as the wall is open)
        waiter(browser, 20).until(lambda d: d.current_url.startswith(base + "/?"))
        wait.until(lambda d: d.find_elements(By.ID, "kpi-pay-value"))
        wait.until(lambda d: "d-none" in class_of(d, "wall-nav"))
        assert console_errors(browser) == []

        # every event sent is stored once
        out, err = live.communicate(timeout=120)
        assert live.returncode == 0, err
        total += json.loads(out.strip().splitlines()[-1])["events"]
        wait_until(caught_up, 90, what="the worker to catch up")
        counts = _db_counts(migrated)
        assert sum(counts.values()) == total
        assert all(counts[f] > 0 for f in FEEDS), counts
    finally:
        if live is not None and live.poll() is None:
            live.kill()
            live.communicate()
        alerter.stop()
        wall.stop()

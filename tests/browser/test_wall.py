"""End to end: simulator -> broker -> Faust worker -> database -> the wall in Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from ioc.contract import FEEDS
from ioc.db import connect
from ioc_dashboard.i18n import format_int
from tests.browser.conftest import console_errors
from tests.conftest import REPO, child_env, start_part, wait_http, wait_until

pytestmark = pytest.mark.browser


def _db_counts(settings) -> dict[str, int]:
    with connect(settings.database_url, settings.db_schema) as conn:
        return {f: n for f, n, _ in conn.execute("SELECT * FROM feed_stats")}


def _lag(settings) -> dict[str, int | None]:
    out = subprocess.run([sys.executable, "-m", "ioc.cli", "status", "--json"],
                         env=child_env(settings), cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    return {f: v["consumer_lag"] for f, v in json.loads(out)["feeds"].items()}


def test_simulated_feeds_reach_the_wall(migrated, worker, browser, request):
    sent = subprocess.run(
        [sys.executable, "-m", "ioc.cli", "simulate", "--duration", "4",
         "--rate-multiplier", "20", "--seed", "11"],
        env=child_env(migrated), cwd=REPO, capture_output=True, text=True, timeout=120)
    assert sent.returncode == 0, sent.stderr
    total = json.loads(sent.stdout.strip().splitlines()[-1])["events"]
    assert total > 0
    wait_until(lambda: all(v == 0 for v in _lag(migrated).values()), 60,
               what="the worker to catch up")
    counts = _db_counts(migrated)
    assert sum(counts.values()) == total
    assert all(counts[f] > 0 for f in FEEDS), counts

    wall = start_part(migrated, "dashboard", "dashboard")
    try:
        base = f"http://127.0.0.1:{migrated.dashboard_port}"
        assert json.loads(wait_http(f"{base}/healthz", 30, wall)) == {
            "ok": True, "database": "reachable"}
        browser.get(base + "/")
        wait = WebDriverWait(browser, 30)
        for feed in FEEDS:
            expected = format_int(counts[feed])
            wait.until(lambda d, f=feed, e=expected:
                       d.find_element(By.ID, f"rows-{f}").text == e)
            fresh = browser.find_element(By.ID, f"fresh-{feed}").text
            assert fresh.startswith("Dữ liệu mới nhất:"), fresh
        assert "Trung tâm điều hành thông minh" in browser.title

        # the page refreshes by itself: new rows appear without reloading
        subprocess.run([sys.executable, "-m", "ioc.cli", "simulate", "--duration", "2",
                        "--seed", "12"], env=child_env(migrated), cwd=REPO, check=True,
                       capture_output=True, timeout=120)
        wait.until(lambda d: d.find_element(By.ID, "rows-telemedicine").text
                   != format_int(counts["telemedicine"]))
        assert console_errors(browser) == []

        shots = request.config.getoption("--screenshot-dir")
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False})
            browser.save_screenshot(str(Path(shots) / "wall-overview.png"))
    finally:
        wall.stop()

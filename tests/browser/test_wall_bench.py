"""`ioc bench --suite wall --browser`, short: every page that refreshes from the shared
snapshot, at both wall sizes, in headless Chromium, with its long tasks recorded. Speed is
not asserted (figures go to docs/performance.md); that the figures exist and add up is."""

from __future__ import annotations

import pytest

from tests.integration.test_bench_suites import bench

pytestmark = pytest.mark.browser


def test_wall_bench_records_the_long_tasks_of_each_page_in_chromium(settings):
    figures = bench(settings.with_(refresh_seconds=1), "--suite", "wall", "--days", "0.05",
                    "--refreshes", "2", "--walls", "2", "--browser", "--browser-seconds", "5")
    browser = figures["browser"]
    pages = browser["pages"]
    assert set(pages) == {"overview", "portal", "telemedicine", "payments"}
    for page, sizes in pages.items():
        assert set(sizes) == {"1920x1080", "3840x2160"}, page
        for size, seen in sizes.items():
            assert seen["refreshes"] >= 2, (page, size, seen)  # the page kept refreshing
            assert seen["long_tasks"] >= 0 and seen["longest_ms"] >= 0
            assert (seen["longest_ms"] > 0) == (seen["long_tasks"] > 0), (page, size, seen)
    # the observer sees tasks: loading Plotly and the first draw hold the main thread
    assert max(s["longest_loading_ms"] for p in pages.values() for s in p.values()) > 50
    worst = max(s["longest_ms"] for p in pages.values() for s in p.values())
    assert browser["longest_refresh_task_ms"] == worst
    assert browser["met"] == (worst <= browser["target_ms"] == 200)

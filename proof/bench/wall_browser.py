"""`ioc bench --suite wall --browser`: what a wall refresh costs in the browser.

Each page that refreshes from the shared snapshot is opened in headless Chromium at a wall's
sizes (1920x1080 and 3840x2160) and left to refresh; the Long Tasks API (a
PerformanceObserver of `longtask` entries, installed before the page's own scripts) records
every task that held the main thread over 50 ms. The figures: per page and size, the refreshes
seen, the long tasks during them and the longest, and the longest while the page loaded
(Plotly and the layout's first draw, once per page, not per refresh). Target: no long task
over 200 ms on a refresh.
"""

from __future__ import annotations

import time
from typing import Any

from ioc.settings import Settings
from proof.browser import chromium, serving, set_screen

SCREENS = ((1920, 1080), (3840, 2160))
TARGET_MS = 200

# page -> (path, the element its refresh rewrites every time: the "updated at" line)
PAGES: dict[str, tuple[str, str]] = {
    "overview": ("/", "overview-updated"),
    "portal": ("/portal", "portal-updated"),
    "telemedicine": ("/telemedicine", "telemedicine-updated"),
    "payments": ("/payments", "payments-updated"),
}

# before any script of the page: every long task, with its start (ms since navigation)
OBSERVE = """
window.__iocLong = [];
new PerformanceObserver(list => {
  for (const e of list.getEntries()) window.__iocLong.push([e.startTime, e.duration]);
}).observe({type: 'longtask', buffered: true});
"""

# from now on: count the refreshes (each rewrites the updated line once)
START = """
const el = document.getElementById(arguments[0]);
window.__iocStart = performance.now();
window.__iocRefreshes = 0;
new MutationObserver(() => { window.__iocRefreshes++; })
  .observe(el, {childList: true, characterData: true, subtree: true});
"""

RESULT = "return [window.__iocStart, window.__iocRefreshes, window.__iocLong];"


def measure(app: Any, settings: Settings, port: int, seconds: float) -> dict[str, Any]:
    """Open each page at each size for `seconds` of refreshes; return the figures."""
    from selenium.webdriver.support.ui import WebDriverWait

    pages: dict[str, Any] = {}
    worst = 0.0
    with serving(app, port), chromium() as drv:
        drv.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": OBSERVE})
        for width, height in SCREENS:
            set_screen(drv, width, height)
            for page, (path, updated) in PAGES.items():
                drv.get(f"http://127.0.0.1:{port}{path}")
                # loaded: the first refresh has written its line; then one more refresh, so
                # the fitting scripts and fonts have settled
                WebDriverWait(drv, 60).until(
                    lambda d, i=updated: d.find_element("id", i).text.strip())
                time.sleep(settings.refresh_seconds * 1.5)
                drv.execute_script(START, updated)
                time.sleep(seconds)
                start, refreshes, tasks = drv.execute_script(RESULT)
                during = [d for at, d in tasks if at >= start]
                loading = [d for at, d in tasks if at < start]
                longest = max(during, default=0.0)
                worst = max(worst, longest)
                pages.setdefault(page, {})[f"{width}x{height}"] = {
                    "refreshes": refreshes, "long_tasks": len(during),
                    "longest_ms": round(longest, 1),
                    "longest_loading_ms": round(max(loading, default=0.0), 1)}
    return {"browser": {"seconds_per_page": seconds, "refresh_seconds": settings.refresh_seconds,
                        "pages": pages, "longest_refresh_task_ms": round(worst, 1),
                        "target_ms": TARGET_MS, "met": worst <= TARGET_MS}}

"""Headless Debian Chromium driven by Selenium, one browser per test; the wall served
in-process by waitress for tests that build their own app."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from dash import Dash
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from waitress import create_server, wasyncore

# Sizes of the walls the pages must fit: Full HD and 4K UHD (the same layout, scaled).
SCREENS = ((1920, 1080), (3840, 2160))


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.fail("chromium and chromedriver are required: `make test` installs them "
                    "(Debian packages chromium, chromium-driver)")
    profile = tempfile.mkdtemp(prefix="ioc-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    # no network here: keep Chromium from reaching out (and failing) in the background
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--window-size=1920,1080", f"--user-data-dir={profile}", "--lang=vi-VN"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(options=options, service=Service(driver))
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(drv: webdriver.Chrome) -> list[str]:
    return [e["message"] for e in drv.get_log("browser") if e["level"] == "SEVERE"]


def waiter(drv: webdriver.Chrome, timeout: float = 30) -> WebDriverWait:
    """Waits that re-find elements: panels are re-rendered every refresh, so an element
    found a moment ago may be gone (stale) when it is read."""
    return WebDriverWait(drv, timeout, ignored_exceptions=(StaleElementReferenceException,))


def text_of(drv: webdriver.Chrome, element_id: str) -> str:
    """The text of the element with this id, found afresh (never a stale reference)."""
    return drv.find_element(By.ID, element_id).text


def class_of(drv: webdriver.Chrome, element_id: str) -> str:
    return drv.find_element(By.ID, element_id).get_attribute("class") or ""


def wait_text(drv: webdriver.Chrome, element_id: str, check: Callable[[str], bool],
              timeout: float = 30, what: str = "") -> str:
    """Wait until the element's text passes `check`; fail naming what was last seen."""
    seen: list[str] = []

    def ok(d: webdriver.Chrome) -> str | bool:
        seen[:] = [text_of(d, element_id)]
        return seen[0] if check(seen[0]) else False

    try:
        return waiter(drv, timeout).until(ok)
    except Exception as exc:  # TimeoutException, or no such element
        pytest.fail(f"#{element_id}: {what or 'expected text'} not seen within {timeout} s; "
                    f"last text {seen[0] if seen else None!r} ({type(exc).__name__})")


def click(drv: webdriver.Chrome, by: str, selector: str, timeout: float = 20,
          where: Callable[[list], list] = lambda found: found[-1:]) -> None:
    """Find and click in one step, again if the element was re-rendered in between; `where`
    picks the element to click among those found (by default the last)."""
    def done(d: webdriver.Chrome) -> bool:
        chosen = where(d.find_elements(by, selector))
        if not chosen:
            return False
        chosen[0].click()
        return True

    waiter(drv, timeout).until(done)


def set_screen(drv: webdriver.Chrome, width: int, height: int) -> None:
    """Emulate a wall screen of exactly this CSS size (the headless window is 1920x1080)."""
    drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


@contextmanager
def serving(app: Dash, port: int) -> Iterator[Callable[[], None]]:
    """Serve `app` on 127.0.0.1:`port` in a thread; yields a function that closes every
    connection at once, as a dead server process would (closing only the listening socket
    would leave keep-alive connections answering)."""
    server = create_server(app.server, host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    def close() -> None:
        wasyncore.close_all(server._map)

    try:
        yield close
    finally:
        if thread.is_alive():  # the test may have closed it already
            close()
        thread.join(5)

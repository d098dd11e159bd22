"""A real browser on a served wall, shared by the browser tests and `ioc bench --suite wall
--browser`: headless Debian Chromium driven by Selenium, and the wall served in-process by
waitress. Selenium is a test extra: importing this module without it says how to get it."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ioc.errors import ServiceError

if TYPE_CHECKING:
    from dash import Dash
    from selenium import webdriver


@contextmanager
def chromium(lang: str = "vi-VN") -> Iterator[webdriver.Chrome]:
    """A headless Chromium (window 1920x1080, its own profile, no network chatter), closed
    and its profile removed afterwards; `ServiceError` says what is missing."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        raise ServiceError("the browser needs Selenium, a test extra: pip install "
                           "'ioc-monitor[test]' (make test installs it)") from exc
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver:
        raise ServiceError("chromium and chromedriver are required: `make test` installs them "
                           "(Debian packages chromium, chromium-driver)")
    profile = tempfile.mkdtemp(prefix="ioc-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    # no network here: keep Chromium from reaching out (and failing) in the background
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--window-size=1920,1080", f"--user-data-dir={profile}", f"--lang={lang}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(options=options, service=Service(driver))
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


def set_screen(drv: webdriver.Chrome, width: int, height: int) -> None:
    """Emulate a wall screen of exactly this CSS size (the headless window is 1920x1080)."""
    drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


@contextmanager
def serving(app: Dash, port: int) -> Iterator[Callable[[], None]]:
    """Serve `app` on 127.0.0.1:`port` in a thread; yields a function that closes every
    connection at once, as a dead server process would (closing only the listening socket
    would leave keep-alive connections answering)."""
    from waitress import create_server, wasyncore

    server = create_server(app.server, host="127.0.0.1", port=port, threads=4)
    closing = threading.Event()

    def run() -> None:
        try:
            server.run()
        except OSError:  # its sockets closed under its select(): the way it is stopped
            if not closing.is_set():
                raise

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def close() -> None:
        closing.set()
        wasyncore.close_all(server._map)

    try:
        yield close
    finally:
        if thread.is_alive():  # the caller may have closed it already
            close()
        thread.join(5)

"""Headless Debian Chromium driven by Selenium, one browser per test."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service


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

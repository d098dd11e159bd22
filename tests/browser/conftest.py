"""Headless Debian Chromium driven by Selenium, one browser per test; the wall served
in-process by waitress for tests that build their own app."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from ioc.errors import ServiceError
from proof.browser import chromium, serving, set_screen

__all__ = ["SCREENS", "chromium", "serving", "set_screen"]

# Sizes of the walls the pages must fit: Full HD and 4K UHD (the same layout, scaled).
SCREENS = ((1920, 1080), (3840, 2160))


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    try:
        with chromium() as drv:
            yield drv
    except ServiceError as exc:
        pytest.fail(str(exc))


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

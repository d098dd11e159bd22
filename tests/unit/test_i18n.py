"""Vietnamese-first labels and vi-VN formats."""

from __future__ import annotations

from datetime import UTC, datetime

from ioc_dashboard.i18n import (
    CATALOGUE,
    LANGUAGES,
    format_age,
    format_int,
    format_percent,
    format_time,
    t,
)


def test_vietnamese_number_formats():
    assert format_int(1525644) == "1.525.644"
    assert format_int(1525644, "en") == "1,525,644"
    assert format_percent(0.9872) == "98,72%"
    assert format_percent(0.9872, "en") == "98.72%"


def test_times_are_in_vietnam():
    at = datetime(2026, 11, 22, 3, 5, 9, tzinfo=UTC)
    assert format_time(at) == "10:05:09 22/11/2026"


def test_ages():
    assert format_age(42) == "42 giây trước"
    assert format_age(600, "en") == "10 min ago"
    assert format_age(3 * 3600) == "3 giờ trước"


def test_every_label_exists_in_every_language():
    for key, entry in CATALOGUE.items():
        assert set(entry) == set(LANGUAGES), key
    assert t("title") == "Trung tâm điều hành thông minh"


def test_decimals_and_clock():
    from ioc_dashboard.i18n import format_clock, format_float

    assert format_float(1234.56) == "1.234,6" and format_float(1234.56, "en") == "1,234.6"
    assert format_clock(datetime(2026, 11, 22, 3, 5, 9, tzinfo=UTC)) == "10:05:09"

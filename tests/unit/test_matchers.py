"""Silence matchers as operators type them (CLI and the wall's alerts page)."""

from __future__ import annotations

import pytest

from ioc.matchers import MatcherError, parse_matchers


def test_typed_matchers_parse_into_the_silence_format():
    assert parse_matchers(" unit=16531, alertname=~link_.* ,severity!=info,x!~a|b") == [
        {"name": "unit", "op": "=", "value": "16531"},
        {"name": "alertname", "op": "=~", "value": "link_.*"},
        {"name": "severity", "op": "!=", "value": "info"},
        {"name": "x", "op": "!~", "value": "a|b"}]
    assert parse_matchers("  ") == []


@pytest.mark.parametrize(("text", "message"), [
    ("unit", "expected NAME=VALUE"),
    ("1unit=x", "expected NAME=VALUE"),
    ("alertname=~link_(", "not a valid regular expression"),
])
def test_bad_matchers_are_named(text, message):
    with pytest.raises(MatcherError, match=message):
        parse_matchers(text)

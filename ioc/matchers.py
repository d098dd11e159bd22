"""Label matchers of silences, as operators type them ("unit=16531", "alertname=~link_.*"),
for `ioc alerts silence` and the wall's alerts page alike."""

from __future__ import annotations

import re

from ioc.errors import IocError

_MATCHER = re.compile(r"^([a-zA-Z_][a-zA-Z0-9_]*)(=~|!~|!=|=)(.*)$")


class MatcherError(IocError, ValueError):
    """A matcher that is not NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX."""


def parse_matcher(raw: str) -> dict[str, str]:
    """'link_id=BV-01', 'alertname=~link_.*' -> {"name", "op", "value"}."""
    m = _MATCHER.match(raw.strip())
    if not m:
        raise MatcherError(
            f"{raw.strip()!r}: expected NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX")
    name, op, value = m.group(1), m.group(2), m.group(3).strip()
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise MatcherError(f"{raw.strip()!r}: not a valid regular expression: {exc}") from None
    return {"name": name, "op": op, "value": value}


def parse_matchers(text: str) -> list[dict[str, str]]:
    """Comma-separated matchers; an empty text gives an empty list."""
    return [parse_matcher(part) for part in text.split(",") if part.strip()]

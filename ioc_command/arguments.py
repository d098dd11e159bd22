"""Argument types the `ioc` subcommands share: each checks a value against its domain and
says what it expected, so argparse stops with that line instead of a traceback."""

from __future__ import annotations

import argparse
from datetime import date, datetime


def speed(raw: str) -> float | None:
    """A replay or simulation speed: a positive number, or 'max' (None: as fast as it goes)."""
    if raw == "max":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{raw!r}: expected a positive number or 'max'")
    return value


def workers(raw: str) -> int:
    """A number of processes, 1 to 64."""
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        raise argparse.ArgumentTypeError(f"{raw!r}: expected a whole number from 1 to 64")
    return int(raw)


def moment(raw: str) -> datetime:
    """A moment in RFC 3339 with its offset (a time without one is ambiguous here)."""
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{raw!r}: expected RFC 3339 with an offset, e.g. 2026-03-02T08:00:00+07:00")
    return value


def day(raw: str) -> datetime:
    """A local day, YYYY-MM-DD."""
    try:
        return datetime.strptime(raw, "%Y-%m-%d")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r}: expected a day as YYYY-MM-DD") from None


def month(raw: str) -> datetime:
    """A month, YYYY-MM."""
    try:
        return datetime.strptime(raw, "%Y-%m")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r}: expected a month as YYYY-MM") from None


def this_year() -> int:
    return date.today().year

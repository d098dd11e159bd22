"""Which part of a fault run crashed, and why, read from its log and its exit.

A fault run's bar is not met when a part crashed, and a bare `worker_crashed: true` leaves
whoever reads the run to dig through logs; this names the part and gives the exception's
last line (issue 39). A crash is either a line Faust writes when one of its services
crashes (`Crashed reason=...`, whether or not the process then exits) or the process
having exited on its own.
"""

from __future__ import annotations

from typing import Any

from ioc.services.process import ManagedProcess

CRASH_MARK = "Crashed reason="
TRACEBACK = "Traceback (most recent call last):"


def crash_in_log(text: str) -> str | None:
    """The first crash a part's log shows, as the exception's last line (the line a
    traceback ends with, e.g. `AssertionError` or `IllegalStateError: Partition ... is not
    assigned`); the crash line's own reason when no traceback follows it; None: no crash."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if CRASH_MARK not in line:
            continue
        reason = line.split(CRASH_MARK, 1)[1].strip()
        return _traceback_end(lines[i + 1:]) or reason
    return None


def _traceback_end(lines: list[str]) -> str | None:
    """The exception line of the first traceback in `lines`: its first line past the
    frames, which are indented."""
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith(TRACEBACK))
    except StopIteration:
        return None
    for line in lines[start + 1:]:
        if line and not line[0].isspace():
            return line.strip()
    return None


def crash_report(part: ManagedProcess) -> dict[str, Any] | None:
    """`part`'s crash (its name, exit code or None while it runs, and why), or None. Call
    it before stopping the part: an exit after a stop is not a crash."""
    try:
        text = part.log_file.read_text(errors="replace")
    except OSError:
        text = ""
    reason = crash_in_log(text)
    code = part.exit_code()
    if reason is None and code is None:
        return None
    if reason is None:  # exited with no crash line: its last traceback, or its last line
        tail = text.splitlines()
        starts = [i for i, line in enumerate(tail) if line.startswith(TRACEBACK)]
        reason = (_traceback_end(tail[starts[-1]:]) if starts else None) or \
            (tail[-1].strip() if tail else "no output")
    return {"part": part.name, "exit_code": code, "reason": reason}


def crash_reports(*parts: ManagedProcess) -> list[dict[str, Any]]:
    """`crash_report` of each part that crashed."""
    return [report for part in parts if (report := crash_report(part)) is not None]

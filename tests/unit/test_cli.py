"""`ioc --help` lists every subcommand with a one-line purpose."""

from __future__ import annotations

import argparse
import os
import subprocess

from ioc_command.cli import build_parser
from tests.conftest import run_ioc


def _subcommands() -> dict[str, str]:
    action = next(a for a in build_parser()._actions
                  if isinstance(a, argparse._SubParsersAction))
    return {c.dest: c.help for c in action._choices_actions}


def test_help_lists_every_subcommand_with_a_purpose():
    out = run_ioc("--help", check=True).stdout
    commands = _subcommands()
    assert {"up", "status", "worker", "dashboard", "simulate", "migrate"} <= set(commands)
    for name, purpose in commands.items():
        assert purpose, name
        assert name in out


def test_bad_setting_stops_with_a_message_not_a_traceback():
    result = run_ioc("status", env={"IOC_DASHBOARD_PORT": "x", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    assert "IOC_DASHBOARD_PORT='x': expected a TCP port number" in result.stderr
    assert "Traceback" not in result.stderr


def test_calendar_lists_the_years_days_off_and_worked_saturdays():
    def run(*args: str, **env: str) -> str:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
        return run_ioc("calendar", *args, env={**environ, **env}, check=True).stdout

    year = run("--year", "2026")
    assert "2026-04-27 Mon  off     Nghỉ bù Giỗ Tổ Hùng Vương" in year
    assert "2026-01-10 Sat  worked  Làm bù cho ngày 2/1" in year
    assert "2026-11-24" not in year
    assert "2026-11-24 Tue  off     Ngày Văn hóa Việt Nam (24/11)" in run(
        "--year", "2026", IOC_PENDING_HOLIDAYS="on")
    assert all(line.endswith("(provisional)") for line in run("--year", "2027").splitlines())


def test_backtest_says_what_input_it_needs_before_touching_anything(tmp_path):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}

    def run(*args: str) -> subprocess.CompletedProcess:
        return run_ioc("backtest", *args, env=environ)

    missing = run("--from", "2026-03-02T00:00:00+07:00")
    assert missing.returncode == 2
    assert "give --recording FILE, or --from and --to" in missing.stderr
    backwards = run("--from", "2026-03-02T00:00:00+07:00", "--to", "2026-03-01T00:00:00+07:00")
    assert "--to must be after --from" in backwards.stderr
    not_a_recording = tmp_path / "day.jsonl.gz"
    not_a_recording.write_bytes(b"hello")
    refused = run("--recording", str(not_a_recording))
    assert refused.returncode == 2 and "not an IOC recording" in refused.stderr
    no_workers = run("--recording", str(not_a_recording), "--workers", "0")
    assert no_workers.returncode == 2 and "expected a whole number from 1 to 64" in \
        no_workers.stderr
    assert "Traceback" not in (missing.stderr + backwards.stderr + refused.stderr
                               + no_workers.stderr)


def test_chaos_refuses_to_run_a_scenario_no_times_before_starting_anything():
    result = run_ioc("chaos", "--times", "0", "--scenario", "rebalance", timeout=60)
    assert result.returncode == 2
    assert "--times must be at least 1 (got 0)" in result.stderr
    assert "Traceback" not in result.stderr

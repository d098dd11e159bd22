"""`ioc --help` lists every subcommand with a one-line purpose."""

from __future__ import annotations

import argparse
import subprocess
import sys

from ioc_command.cli import build_parser
from tests.conftest import REPO


def _subcommands() -> dict[str, str]:
    action = next(a for a in build_parser()._actions
                  if isinstance(a, argparse._SubParsersAction))
    return {c.dest: c.help for c in action._choices_actions}


def test_help_lists_every_subcommand_with_a_purpose():
    out = subprocess.run([sys.executable, "-m", "ioc_command.cli", "--help"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    commands = _subcommands()
    assert {"up", "status", "worker", "dashboard", "simulate", "migrate"} <= set(commands)
    for name, purpose in commands.items():
        assert purpose, name
        assert name in out


def test_bad_setting_stops_with_a_message_not_a_traceback():
    result = subprocess.run([sys.executable, "-m", "ioc_command.cli", "status"], cwd=REPO,
                            env={"IOC_DASHBOARD_PORT": "x", "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "IOC_DASHBOARD_PORT='x': expected a TCP port number" in result.stderr
    assert "Traceback" not in result.stderr

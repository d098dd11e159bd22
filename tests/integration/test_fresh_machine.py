"""Commands typed on a fresh machine, with nothing running (issue 40, item 7): a command that
needs a database of its own starts the embedded one for as long as it runs; one about the
running system says in one line what to start."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ioc_command.services import answers
from tests.conftest import free_port, run_ioc

pytestmark = pytest.mark.integration


def test_commands_on_a_fresh_machine_start_what_they_need_or_say_what_to_start(tmp_path):
    db_port, kafka_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    env |= {"IOC_DATA_DIR": str(tmp_path / ".ioc"), "IOC_EMBEDDED_DB_PORT": str(db_port),
            "IOC_EMBEDDED_KAFKA_PORT": str(kafka_port)}

    def ioc(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return run_ioc(*args, env=env, cwd=tmp_path, stdin=stdin)

    # about the running system: one line saying what to start
    status = ioc("status")
    assert status.returncode == 2, status.stderr
    assert status.stderr.strip() == (
        f"ioc status: the embedded PostgreSQL (port {db_port}) is not running: start "
        "`ioc up` (in another terminal) first, or set IOC_DATABASE_URL")
    day = tmp_path / "day.jsonl.gz"
    recorded = ioc("simulate", "--record-only", "--record", str(day), "--speed", "max",
                   "--duration", "3600", "--seed", "7",
                   "--start", "2026-03-02T08:00:00+07:00")  # needs no service at all
    assert recorded.returncode == 0, recorded.stderr[-2000:]
    replay = ioc("replay", str(day))
    assert replay.returncode == 2 and "not running: start `ioc up`" in replay.stderr
    assert "IOC_DATABASE_URL and IOC_KAFKA_BOOTSTRAP" in replay.stderr
    # reads what the running system stored: nothing is stored yet
    alerts = ioc("alerts", "list")
    assert alerts.returncode == 2
    assert f"nothing is stored under {tmp_path / '.ioc'} yet" in alerts.stderr
    assert not (tmp_path / ".ioc" / "postgres").exists()  # and nothing was made

    # a database of its own: the embedded one, started for the command and stopped after
    backtest = ioc("backtest", "--recording", str(day), "--workers", "1", "--json")
    assert backtest.returncode == 0, backtest.stderr[-3000:]
    assert "started the embedded PostgreSQL" in backtest.stderr
    result = json.loads(backtest.stdout)
    assert json.loads(recorded.stdout)["events"] > 0
    assert result["events"]["stored"] > 0 and result["events"]["refused"] == {}
    assert result["summary"]  # the rules were evaluated over it
    assert not answers("127.0.0.1", db_port)  # stopped with the command
    user = ioc("wall-user", "add", "ops", "--password-stdin", stdin="a long passphrase 1\n")
    assert user.returncode == 0 and "wall user ops can log in" in user.stdout, user.stderr
    # now something is stored: the read commands start it too
    listed = ioc("alerts", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    assert not answers("127.0.0.1", db_port)
    assert "Traceback" not in "".join(
        p.stderr for p in (status, replay, alerts, backtest, user, listed))
    assert Path(tmp_path / ".ioc" / "postgres" / "PG_VERSION").exists()

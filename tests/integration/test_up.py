"""`ioc up` as a user runs it: everything starts, everything stops, failures are plain."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest
from kafka import KafkaAdminClient

from ioc.db import connect
from ioc.services.kafka import DEFAULT_JARS
from ioc.services.postgres import embedded_url
from ioc.settings import Settings
from ioc.units import UnitsDataset
from proof.harness import up_ports
from tests.conftest import REPO, free_port, run_ioc, wait_until

pytestmark = pytest.mark.integration


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    env.update({
        "IOC_DATA_DIR": str(tmp_path / "ioc"),
        **up_ports(),
        "IOC_REFRESH_SECONDS": "1",
        "PYTHONUNBUFFERED": "1",
        # no simulated history unless a test asks for one (test_a_first_start_backfills...)
        "IOC_BACKFILL_HOURS": "0",
    })
    env.update(extra)
    return env


def _up(env: dict[str, str], *args: str, cwd: Path = REPO) -> subprocess.Popen:
    # -P: as the `ioc` script, whose folder (not the working one) leads the import path
    return subprocess.Popen([sys.executable, "-P", "-m", "ioc_command.cli", "up", *args],
                            env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _tree(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def _alive(procs: list[psutil.Process]) -> list[str]:
    left = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{p.pid} {' '.join(p.cmdline())[:80]}")
        except psutil.NoSuchProcess:
            pass
    return left


def _running_tree(proc: subprocess.Popen, env: dict[str, str], broker: str = "tansu"
                  ) -> list[psutil.Process]:
    def up() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"ioc up exited ({proc.returncode}):\n{proc.stderr.read()[-3000:]}")
        try:
            for url in (f"http://127.0.0.1:{env['IOC_DASHBOARD_PORT']}/healthz",
                        f"http://127.0.0.1:{env['IOC_WORKER_PORT']}/metrics",
                        f"http://127.0.0.1:{env['IOC_INTAKE_PORT']}/healthz"):
                with urllib.request.urlopen(url, timeout=2):
                    pass
            return True
        except OSError:
            return False

    wait_until(up, 120, what="ioc up's dashboard, worker and intake to answer")
    tree = _tree(proc.pid)
    names = " ".join(" ".join(p.cmdline()) for p in tree)
    for part in ("postgres", broker, "ioc_command.cli worker", "ioc_command.cli simulate",
                 "ioc_command.cli dashboard", "ioc_command.cli intake"):
        assert part in names, f"{part} not running under ioc up: {names}"
    return tree


def test_up_for_seconds_runs_everything_then_stops_it_all(tmp_path):
    # a province by its national code alone (01 Hà Nội: no file ships for it)
    env = _env(tmp_path, IOC_PROVINCE="01")
    # run from the folder holding the data folder, named "ioc" like the package: the parts
    # must still import the package, not that folder
    proc = _up(env, "--for", "40", cwd=tmp_path)
    tree = _running_tree(proc, env)
    url = embedded_url(Path(env["IOC_DATA_DIR"]), int(env["IOC_EMBEDDED_DB_PORT"]))
    communes = {c.code for c in UnitsDataset().communes("01")}
    with connect(url, "ioc", autocommit=True) as conn:
        def stored() -> set[str]:
            # portal health comes every 10 s at any hour; dossiers and payments as the hour has
            return {r[0] for r in conn.execute(
                "SELECT unit_code FROM portal_health UNION SELECT unit_code FROM payments"
                " UNION SELECT unit_code FROM dossier_events")}

        wait_until(lambda: conn.execute("SELECT count(*) FROM portal_health").fetchone()[0] > 0,
                   30, what="portal health stored")
        assert stored() <= communes
        assert conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 0
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    assert "IOC is up" in out and "Stopped." in out
    assert _alive(tree) == []


def _committed(bootstrap: str, above: int) -> int:
    """The live worker group's committed offsets on the portal topic, when above `above`
    (else 0)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="ioc-test")
    try:
        offsets = admin.list_group_offsets("ioc-worker").get("ioc-worker", {})
    finally:
        admin.close()
    total = sum(max(0, o.offset) for tp, o in offsets.items() if tp.topic == "ioc.portal")
    return total if total > above else 0


def test_up_on_an_embedded_apache_kafka_keeps_its_topics_across_a_restart(tmp_path):
    """Issue 17, item 5: IOC_EMBEDDED_BROKER=kafka runs one Apache Kafka node instead of
    Tansu; its storage outlives `ioc up` (formatted once), so the worker's group resumes
    where it stopped, as the embedded database's rows outlive it."""
    env = _env(tmp_path, IOC_EMBEDDED_BROKER="kafka",
               IOC_EMBEDDED_KAFKA_CONTROLLER_PORT=str(free_port()),
               IOC_KAFKA_JARS=str(Settings.from_env().kafka_jars or DEFAULT_JARS))
    meta = Path(env["IOC_DATA_DIR"]) / "apache-kafka" / "node-1" / "data" / "meta.properties"
    bootstrap = f"127.0.0.1:{env['IOC_EMBEDDED_KAFKA_PORT']}"
    committed = []
    for run in (1, 2):
        proc = _up(env, "--for", "120")
        tree = _running_tree(proc, env, broker="kafka.Kafka")
        # the passwords are made on the first start
        url = embedded_url(Path(env["IOC_DATA_DIR"]), int(env["IOC_EMBEDDED_DB_PORT"]))
        with connect(url, "ioc", autocommit=True) as conn:
            stored = conn.execute("SELECT count(*) FROM portal_health").fetchone()[0]
            wait_until(lambda stored=stored: conn.execute(
                "SELECT count(*) FROM portal_health").fetchone()[0] > stored, 60,
                what=f"portal health stored through Apache Kafka (start {run})")
        before = committed[-1] if committed else 0
        committed.append(wait_until(lambda before=before: _committed(bootstrap, before), 30,
                                    what="the worker group's offsets to move on"))
        if run == 1:
            cluster = meta.read_text()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err
        assert "Stopped." in out and "Traceback" not in err
        assert _alive(tree) == []
    # the same cluster (not formatted again), and the group's offsets went on from the first
    assert meta.read_text() == cluster
    assert 0 < committed[0] < committed[1]


def test_a_first_start_backfills_the_last_hours_and_evaluates_them(tmp_path):
    """Issue 14, item 2: the wall is alive from the first minute at any hour."""
    env = _env(tmp_path, IOC_BACKFILL_HOURS="3")
    began = datetime.now(UTC)
    proc = _up(env, "--for", "150")
    _running_tree(proc, env)
    url = embedded_url(Path(env["IOC_DATA_DIR"]), int(env["IOC_EMBEDDED_DB_PORT"]))
    with connect(url, "ioc", autocommit=True) as conn:
        def backfilled() -> tuple | None:
            return conn.execute("SELECT period_from, period_to, events FROM backfills"
                                " WHERE finished_at IS NOT NULL").fetchone()

        since, until, events = wait_until(backfilled, 45, what="the simulated history stored")
        assert abs(since - (began - timedelta(hours=3))).total_seconds() < 60
        assert events > 27 * 3 * 600  # three hours of 27 links beating every 5 s, and more
        oldest = conn.execute("SELECT min(occurred_at) FROM link_heartbeats").fetchone()[0]
        assert oldest < datetime.now(UTC) - timedelta(hours=2, minutes=55)

        def evaluated() -> tuple | None:
            row = conn.execute("SELECT step_at, state->>'origin' FROM alert_engine_state"
                               " WHERE engine = 'alerter'").fetchone()
            return row if row and row[0] and row[0] > until - timedelta(minutes=1) else None

        # the engine began at the history's start (beyond its hour of catch-up) and caught up
        step_at, origin = wait_until(evaluated, 50, what="the alerter through the history")
        assert datetime.fromisoformat(origin) < since + timedelta(seconds=15)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    assert "IOC is up" in out


def test_ctrl_c_stops_everything_and_exits_zero(tmp_path):
    env = _env(tmp_path)
    proc = _up(env)
    tree = _running_tree(proc, env)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Stopped." in out
    assert _alive(tree) == []


def _worker(pid: int) -> psutil.Process | None:
    """The live worker under ioc up, if one is running (a killed one may linger as a zombie)."""
    for p in _tree(pid):
        try:
            argv = p.cmdline()
        except psutil.Error:  # gone, or a zombie
            continue
        if "ioc_command.cli worker" in " ".join(argv) and "--replay" not in argv:
            return p
    return None


def _restarted(proc: subprocess.Popen, old: psutil.Process) -> psutil.Process:
    def new() -> psutil.Process | None:
        if proc.poll() is not None:
            pytest.fail(f"ioc up exited ({proc.returncode}):\n{proc.stderr.read()[-3000:]}")
        found = _worker(proc.pid)
        return found if found is not None and found.pid != old.pid else None

    wait_until(lambda: new() is not None, 60, what="ioc up to start the killed worker again")
    return new()


def test_a_dying_part_is_restarted_reported_and_alerted_while_the_wall_serves(tmp_path):
    env = _env(tmp_path)
    proc = _up(env)
    _running_tree(proc, env)
    first = _worker(proc.pid)
    first.kill()
    second = _restarted(proc, first)
    assert second.is_running()
    with urllib.request.urlopen(
            f"http://127.0.0.1:{env['IOC_DASHBOARD_PORT']}/healthz", timeout=5) as answer:
        assert answer.status == 200
    # recorded, and the live alert engine raises part_restarted for the worker
    url = embedded_url(Path(env["IOC_DATA_DIR"]), int(env["IOC_EMBEDDED_DB_PORT"]))
    with connect(url, "ioc", autocommit=True) as conn:
        assert conn.execute("SELECT part, exit_code, restart FROM part_restarts").fetchall() \
            == [("worker", -9, 1)]

        def alerted() -> bool:
            return conn.execute(
                "SELECT count(*) FROM alerts WHERE rule = 'part_restarted' AND state = 'firing'"
                " AND labels->>'part' = 'worker'").fetchone()[0] == 1

        wait_until(alerted, 60, what="the part_restarted alert")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "worker exited with code -9; restarting it in 1 s" in err
    assert "Traceback" not in err


def test_a_crash_loop_stops_everything_and_is_named(tmp_path):
    env = _env(tmp_path, IOC_RESTART_LIMIT="1")
    proc = _up(env)
    tree = _running_tree(proc, env)
    first = _worker(proc.pid)
    first.kill()
    second = _restarted(proc, first)
    tree.append(second)
    second.kill()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "worker exited 2 times within 600 s (last code -9): a crash loop" in err
    assert "IOC_RESTART_LIMIT=1" in err
    assert "Traceback" not in err
    assert _alive(tree) == []


def test_kill_of_ioc_up_itself_leaves_no_orphans(tmp_path):
    env = _env(tmp_path)
    proc = _up(env)
    tree = _running_tree(proc, env)
    proc.kill()  # SIGKILL: no chance to clean up; the kernel's parent-death signal must
    proc.communicate(timeout=30)
    wait_until(lambda: _alive(tree) == [], 15, what="children to die with ioc up")


def test_a_taken_port_is_reported_plainly(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for variable in ("IOC_DASHBOARD_PORT", "IOC_EMBEDDED_DB_PORT"):
            result = subprocess.run(
                [sys.executable, "-m", "ioc_command.cli", "up", "--for", "5"],
                env=_env(tmp_path, **{variable: str(port)}), cwd=REPO,
                capture_output=True, text=True, timeout=90)
            assert result.returncode != 0
            assert f"port {port}" in result.stderr and variable in result.stderr
            assert "Traceback" not in result.stderr


def test_a_missing_broker_binary_is_reported_plainly(tmp_path):
    fake = tmp_path / "tansu"
    fake.write_text("not a program")  # exists but not executable
    result = run_ioc("up", "--for", "5", env=_env(tmp_path, IOC_TANSU_BIN=str(fake)),
                     timeout=60)
    assert result.returncode != 0
    assert "IOC_TANSU_BIN" in result.stderr and "executable" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_external_database_is_reported_plainly(tmp_path):
    port = free_port()
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "ioc_command.cli", "up", "--for", "5"],
        env=_env(tmp_path, IOC_DATABASE_URL=f"postgresql://ioc@127.0.0.1:{port}/ioc"),
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"cannot reach the database at 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 30

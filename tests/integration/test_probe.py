"""`ioc probe` (issue 41, item 4) as an operator runs it: a province file whose hospitals have
endpoints, the links' heartbeats on the telemedicine topic as source `prober`, stored by the
real worker like a hospital's own."""

from __future__ import annotations

import json
import socket

import pytest
import yaml

from ioc.db import connect
from ioc.resources import PROVINCES_DIR
from proof.harness import free_port
from tests.conftest import run_ioc, wait_until

pytestmark = pytest.mark.integration


def test_ioc_probe_sends_measured_heartbeats_that_the_worker_stores(migrated, worker, tmp_path):
    province = yaml.safe_load((PROVINCES_DIR / "thanh-hoa.yaml").read_text(encoding="utf-8"))
    listening = socket.create_server(("127.0.0.1", 0))  # accepts connections: a link up
    up, closed = listening.getsockname()[1], free_port()
    province["hospitals"][0]["endpoint"] = f"tcp://127.0.0.1:{up}"
    province["hospitals"][1]["endpoint"] = f"tcp://127.0.0.1:{closed}"
    path = tmp_path / "province.yaml"
    path.write_text(yaml.safe_dump(province, allow_unicode=True), encoding="utf-8")
    first, second = province["hospitals"][0], province["hospitals"][1]
    links = {f"{h['code']}--{h['hub']}" for h in (first, second)}
    settings = migrated.with_(province_file=path, probe_seconds=0.5, probe_timeout_seconds=0.4)
    try:
        probed = run_ioc("probe", "--rounds", "3", settings=settings, timeout=60)
    finally:
        listening.close()
    assert probed.returncode == 0, probed.stderr[-2000:]
    figures = json.loads(probed.stdout.strip().splitlines()[-1])
    assert set(figures) == links
    assert figures[f"{first['code']}--{first['hub']}"]["status"] == "up"
    assert figures[f"{second['code']}--{second['hub']}"] == {
        "status": "down", "latency_ms": None, "jitter_ms": None, "loss_pct": 100.0}

    def stored() -> dict:
        with connect(settings.database_url, settings.db_schema) as conn:
            return dict(conn.execute("SELECT link_id, count(*) FROM link_heartbeats"
                                     " GROUP BY link_id").fetchall())
    assert wait_until(lambda: len(stored()) == 2 and stored(), 30) == dict.fromkeys(links, 3)

    # nothing to probe: said plainly
    bare = run_ioc("probe", "--rounds", "1", settings=migrated, timeout=60)
    assert bare.returncode != 0 and "has an `endpoint`" in bare.stderr
    assert "Traceback" not in bare.stderr

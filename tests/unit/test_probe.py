"""`ioc probe`'s measurements (issue 41, item 4) against real servers on loopback: one that
answers, one closed port, one that answers slowly, one that drops every other connection
before answering; the heartbeats are contract events of the province's own links."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ioc import contract
from ioc.known_codes import KnownCodes
from ioc.province import Hospital, load_province
from ioc.settings import Settings
from ioc.units import UnitsDataset
from prober.run import Prober
from prober.targets import Target
from prober.window import LinkWindow
from proof.harness import free_port

PROVINCE = load_province("38")


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        kind = self.server.kind  # type: ignore[attr-defined]
        if kind == "slow":
            time.sleep(0.3)
        if kind == "flaky":
            self.server.calls += 1  # type: ignore[attr-defined]
            if self.server.calls % 2 == 0:  # type: ignore[attr-defined]
                self.close_connection = True
                return  # the connection closes with no answer
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


@pytest.fixture
def servers():
    started = {}
    for kind in ("answers", "slow", "flaky"):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.kind, server.calls = kind, 0  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started[kind] = server
    yield {kind: s.server_address[1] for kind, s in started.items()}
    for s in started.values():
        s.shutdown()
        s.server_close()


def test_links_are_measured_as_a_probe_from_the_ioc_sees_them(servers):
    endpoints = {
        "answers": f"http://127.0.0.1:{servers['answers']}/health",
        "tcp": f"tcp://127.0.0.1:{servers['answers']}",
        "slow": f"http://127.0.0.1:{servers['slow']}/",
        "flaky": f"http://127.0.0.1:{servers['flaky']}/",
        "closed": f"tcp://127.0.0.1:{free_port()}",
    }
    hospitals = PROVINCE.hospitals[:len(endpoints)]
    targets = [Target(h.link_id, h.code, h.hub, h.unit, url)
               for h, url in zip(hospitals, endpoints.values(), strict=True)]
    sent: list[list[contract.LinkHeartbeat]] = []
    prober = Prober(Settings(probe_seconds=0.05, probe_timeout_seconds=1.0), targets,
                    sent.append)
    assert asyncio.run(prober.run(threading.Event(), rounds=6)) == 6
    figures = {name: prober.windows[t.link_id].figures()
               for name, t in zip(endpoints, targets, strict=True)}

    assert figures["answers"].status == figures["tcp"].status == "up"
    assert figures["answers"].loss_pct == figures["tcp"].loss_pct == 0
    assert figures["answers"].latency_ms < 250 and figures["tcp"].latency_ms < 250
    slow = figures["slow"]
    assert slow.status == "up" and slow.loss_pct == 0 and slow.latency_ms >= 300
    flaky = figures["flaky"]
    assert flaky.status == "up" and flaky.loss_pct == 50.0  # 3 of 6, never 3 in a row
    closed = figures["closed"]
    assert closed.status == "down" and closed.loss_pct == 100.0
    assert closed.latency_ms is None and closed.jitter_ms is None

    # six rounds of five heartbeats, each a valid event of the province's own links
    assert [len(r) for r in sent] == [5] * 6
    codes, now = KnownCodes(PROVINCE, UnitsDataset()), datetime.now(UTC)
    for beat in sent[-1]:
        again = codes.check(contract.decode(contract.encode(beat), "telemedicine", now))
        assert again.data.link_id in {t.link_id for t in targets}


def test_a_link_is_down_after_three_losses_in_a_row_and_its_figures_are_over_ten_probes():
    window = LinkWindow()
    for seconds in (0.010, 0.030, None, 0.020):
        window.add(seconds)
    f = window.figures()
    assert (f.status, f.latency_ms, f.jitter_ms, f.loss_pct) == ("up", 20.0, 15.0, 25.0)
    for _ in range(3):
        window.add(None)
    assert window.figures().status == "down"
    window.add(0.01)
    assert window.figures().status == "up"
    for _ in range(10):
        window.add(0.01)
    assert window.figures().loss_pct == 0.0  # the old losses left the window


def test_an_endpoint_in_the_province_file_is_checked():
    base = PROVINCE.hospitals[0].model_dump()
    for good in ("tcp://10.0.0.1:443", "https://telemed.example.vn/health",
                 "http://[::1]:8080/"):
        assert Hospital(**{**base, "endpoint": good}).endpoint == good
    for bad in ("tcp://10.0.0.1", "icmp://10.0.0.1", "https://", "tcp://h:1/path"):
        with pytest.raises(ValueError, match="expected tcp://host:port"):
            Hospital(**{**base, "endpoint": bad})

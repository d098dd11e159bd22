"""Restart back-off and the crash-loop verdict of `ioc up`'s supervisor; its renewal of the
embedded Tansu."""

from __future__ import annotations

import io
import time

from ioc.settings import Settings
from ioc.supervision import MAX_BACKOFF_SECONDS, RestartPolicy
from ioc_command.up import Stack


def test_back_off_doubles_then_a_crash_loop_stops():
    policy = RestartPolicy(limit=5, window_seconds=600)
    delays = [policy.exited(t) for t in (0, 10, 20, 30, 40)]
    assert delays == [1, 2, 4, 8, 16]
    assert policy.exited(50) is None  # a sixth exit within ten minutes


def test_exits_older_than_the_window_are_forgotten():
    policy = RestartPolicy(limit=2, window_seconds=60)
    assert policy.exited(0) == 1
    assert policy.exited(30) == 2
    assert policy.exited(80) == 2  # the one at 0 is out of the window; 30 is still in
    assert policy.recent == 2
    assert policy.exited(200) == 1


def test_back_off_is_capped():
    policy = RestartPolicy(limit=100, window_seconds=10_000)
    assert max(policy.exited(t) for t in range(20)) == MAX_BACKOFF_SECONDS


class _Part:
    """Stands in for a ManagedProcess (or the Tansu service): records stops and starts."""

    def __init__(self, name: str, log: list[str]):
        self.name, self.log = name, log

    def stop(self) -> None:
        self.log.append(f"stop {self.name}")

    def start(self) -> None:
        self.log.append(f"start {self.name}")


def _stack(drained: list[bool]) -> tuple[Stack, list[str]]:
    log: list[str] = []
    stack = Stack(Settings.from_env({}), out=io.StringIO())
    stack.parts = [_Part(n, log) for n in ("worker", "replay-worker", "simulator", "dashboard")]
    stack.tansu = _Part("tansu", log)
    stack.restart_at["simulator"] = 5.0  # a back-off was pending for it
    answers = iter(drained)
    stack._drained = lambda timeout: next(answers)  # the workers' lag, as measured
    return stack, log


def test_tansu_is_renewed_only_once_the_workers_stored_everything():
    stack, log = _stack([True, True])
    assert stack.renew_tansu("it held 9 events")
    assert log == ["stop simulator", "stop worker", "stop replay-worker", "stop tansu",
                   "start tansu", "start worker", "start replay-worker", "start simulator"]
    assert "Renewed the embedded Tansu broker: it held 9 events;" in stack.out.getvalue()
    assert stack.restart_at == {}


def test_a_renewal_the_workers_cannot_drain_leaves_tansu_and_waits():
    stack, log = _stack([False])
    assert not stack.renew_tansu("it held 9 events")
    assert log == ["stop simulator", "start simulator"]
    assert stack.tansu_retry_at > time.monotonic() + 500
    assert stack.tansu_due() is None  # not tried again at the next look
    # someone else wrote between the workers' last commit and their stop: not now either
    stack, log = _stack([True, False])
    assert not stack.renew_tansu("it held 9 events")
    assert "stop tansu" not in log and log[-1] == "start simulator"

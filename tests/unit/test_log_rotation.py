"""`ioc up` keeps every part's log bounded: rotated by size while the part writes on."""

from __future__ import annotations

import sys
import time

from ioc.services.process import ManagedProcess
from proof.harness import until

# a part that writes a numbered line every millisecond until it is stopped
WRITER = ("import itertools, sys, time\n"
          "for n in itertools.count():\n"
          "    sys.stdout.write(f'line {n:08d} ' + 'x' * 80 + '\\n'); sys.stdout.flush()\n"
          "    time.sleep(0.001)\n")


def _numbers(path) -> list[int]:
    return [int(line.split()[1]) for line in path.read_text().splitlines()
            if line.startswith("line ") and len(line.split()) == 3]


def test_a_log_past_its_size_is_rotated_and_the_part_writes_on(tmp_path):
    log_file = tmp_path / "logs" / "writer.log"
    part = ManagedProcess("writer", [sys.executable, "-c", WRITER], log_file).start()
    try:
        assert not part.rotate_log(10_000_000, 2)  # small yet: left alone
        rotations = 0
        deadline = time.monotonic() + 30
        while rotations < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
            rotations += part.rotate_log(20_000, 2)
        assert rotations == 4
        # the part writes on into the emptied file: wait for its lines, not a fixed while
        assert until(lambda: len(_numbers(log_file)) >= 10, 10)
    finally:
        part.stop()
    names = sorted(p.name for p in log_file.parent.iterdir())
    assert names == ["writer.log", "writer.log.1", "writer.log.2"]  # the oldest went
    older, newer = (_numbers(log_file.with_name(n)) for n in ("writer.log.2", "writer.log.1"))
    current = _numbers(log_file)
    # each file holds consecutive lines, newer files later ones; the part wrote on after the
    # last rotation, from the start of the emptied file (no hole of zeros before its lines)
    for lines in (older, newer, current):
        assert lines and lines == list(range(lines[0], lines[0] + len(lines)))
    assert older[-1] < newer[0] <= newer[-1] < current[0]
    assert not log_file.read_bytes().startswith(b"\0")

"""Flakiness measured: run chosen test tiers N times in a row, each time as its own pytest
session (as CI runs them: fresh services, fresh schemas), and print one JSON object with
every run's outcome, wall time and slowest tests. Exit 1 when any run failed.

    python -m tests.repeat --times 5 tests/browser tests/integration/test_alert_engine.py

`make repeat` runs it on the browser and timing-sensitive tiers (TIMES=5 by default).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_once(paths: list[str], report: Path) -> dict:
    """One pytest session over `paths`: outcome, counts, wall time, slowest tests."""
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           f"--junitxml={report}", *paths], cwd=REPO,
                          capture_output=True, text=True)
    seconds = time.monotonic() - began
    cases = ET.parse(report).getroot().iter("testcase") if report.exists() else iter(())
    tests, failed = [], []
    for case in cases:
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        tests.append((float(case.get("time") or 0), name))
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(name)
    tail = done.stdout.strip().splitlines()[-1:] if done.stdout.strip() else []
    return {"exit_code": done.returncode, "seconds": round(seconds, 1), "tests": len(tests),
            "failed": failed, "summary": tail[0] if tail else "",
            "slowest": [{"test": n, "seconds": round(s, 1)} for s, n in sorted(tests)[-5:][::-1]]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.repeat", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="test files or folders, as given to pytest")
    parser.add_argument("--times", type=int, default=5, help="sessions to run (default 5)")
    args = parser.parse_args(argv)
    if args.times < 1:
        parser.error("--times must be at least 1")
    runs = []
    with tempfile.TemporaryDirectory(prefix="ioc-repeat-") as tmp:
        for i in range(1, args.times + 1):
            print(f"run {i}/{args.times}: pytest {' '.join(args.paths)}", file=sys.stderr,
                  flush=True)
            run = run_once(args.paths, Path(tmp) / f"run-{i}.xml")
            runs.append(run)
            print(f"run {i}/{args.times}: {run['summary'] or 'exit ' + str(run['exit_code'])}"
                  f" in {run['seconds']} s", file=sys.stderr, flush=True)
    green = sum(r["exit_code"] == 0 for r in runs)
    print(json.dumps({"paths": args.paths, "runs": runs, "green": green, "times": args.times},
                     ensure_ascii=False, indent=2))
    return 0 if green == args.times else 1


if __name__ == "__main__":
    sys.exit(main())

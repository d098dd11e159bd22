"""Recordings: exactly what a simulation sent (topic, key, value bytes, event time), as
gzip-compressed JSON lines (times as Unix seconds), and reading them back for `ioc replay`.

The first line is a header describing the run; the file is byte-for-byte reproducible
for the same seed (gzip without a timestamp), so recordings can be compared and versioned.
Values are kept as text when they are UTF-8 (every valid event), else base64 (`value_b64`),
so malformed input from a bad-data burst replays byte for byte too.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ioc.errors import SettingsError
from ioc.settings import Settings
from simulators.generator import Record

FORMAT = "ioc-recording"
VERSION = 2


class RecordingWriter:
    """Appends records to a recording file (an emitter, like the producer)."""

    def __init__(self, path: Path, header: dict[str, Any], settings: Settings):
        self.path = path
        self._topics = {feed: settings.topic(feed) for feed in ("portal", "telemedicine",
                                                                  "payments")}
        raw = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._gzip = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=3)
        self._raw = raw
        self._out = io.TextIOWrapper(self._gzip, encoding="utf-8", newline="\n")
        self._out.write(json.dumps({"format": FORMAT, "version": VERSION, **header},
                                   ensure_ascii=False, sort_keys=True) + "\n")
        self.written = 0

    def send(self, records: list[Record]) -> int:
        lines = []
        for r in records:
            row = {"topic": self._topics[r.feed], "feed": r.feed, "key": r.key.decode(),
                   "event_time": r.event_time}  # Unix seconds: exact through JSON
            if r.sent_at is not None:
                row["sent_at"] = r.sent_at
            try:
                row["value"] = r.value.decode()
            except UnicodeDecodeError:
                row["value_b64"] = base64.b64encode(r.value).decode()
            lines.append(json.dumps(row, ensure_ascii=False))
        if lines:
            self._out.write("\n".join(lines) + "\n")
        self.written += len(records)
        return len(records)

    def close(self) -> None:
        self._out.close()
        self._raw.close()


def read_header(path: Path) -> dict[str, Any]:
    """The header line of a recording; `SettingsError` when the file is not one."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            header = json.loads(f.readline())
    except (OSError, EOFError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: not an IOC recording ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise SettingsError(f"{path}: not an IOC recording (no '{FORMAT}' header)")
    if header.get("version") != VERSION:
        raise SettingsError(f"{path}: recording version {header.get('version')!r} "
                            f"is not supported (this build reads version {VERSION})")
    return header


def read_records(path: Path) -> Iterator[Record]:
    """The records of a recording, in the order they were sent."""
    read_header(path)
    with gzip.open(path, "rt", encoding="utf-8") as f:
        f.readline()
        for n, line in enumerate(f, start=2):
            try:
                row = json.loads(line)
                value = (row["value"].encode() if "value" in row
                         else base64.b64decode(row["value_b64"], validate=True))
                yield Record(row["feed"], row["key"].encode(), value,
                             float(row["event_time"]), row.get("sent_at"))
            except (KeyError, ValueError, TypeError) as exc:
                raise SettingsError(f"{path}: line {n} is not a record ({exc})") from None

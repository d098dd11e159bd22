"""Recordings: exactly what a simulation sent (feed, key, value bytes, event time), as
gzip-compressed JSON lines, and reading them back for `ioc replay`.

The first line is a header describing the run; the file is byte-for-byte reproducible
for the same seed (gzip without a timestamp), so recordings can be compared and versioned.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ioc import contract
from ioc.errors import SettingsError
from simulators.generator import Outgoing

FORMAT = "ioc-recording"
VERSION = 1


@dataclass(frozen=True)
class Record:
    """One message as sent: its feed (topic without prefix), key, value bytes, event time."""

    feed: str
    key: bytes
    value: bytes
    event_time: datetime


def to_records(batch: Iterable[Outgoing]) -> list[Record]:
    """Encode generated events once, so what is sent and what is recorded are the same bytes."""
    return [Record(o.feed, o.key.encode(), contract.encode(o.event), o.event.occurred_at)
            for o in batch]


class RecordingWriter:
    """Appends records to a recording file."""

    def __init__(self, path: Path, header: dict[str, Any]):
        self.path = path
        raw = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._gzip = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
        self._raw = raw
        self._out = io.TextIOWrapper(self._gzip, encoding="utf-8", newline="\n")
        self._out.write(json.dumps({"format": FORMAT, "version": VERSION, **header},
                                   ensure_ascii=False, sort_keys=True) + "\n")
        self.written = 0

    def send(self, records: list[Record]) -> int:
        for r in records:
            self._out.write(json.dumps({
                "feed": r.feed, "key": r.key.decode(), "value": r.value.decode(),
                "event_time": r.event_time.isoformat(),
            }, ensure_ascii=False) + "\n")
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
                yield Record(row["feed"], row["key"].encode(), row["value"].encode(),
                             datetime.fromisoformat(row["event_time"]))
            except (KeyError, ValueError, TypeError) as exc:
                raise SettingsError(f"{path}: line {n} is not a record ({exc})") from None

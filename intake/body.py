"""A request's body as events: a JSON array (or one JSON object) or NDJSON, each event's own
bytes kept (the worker decodes them again, and a pre-2025 unit code travels as sent)."""

from __future__ import annotations

import json

from ioc.errors import IocError

MAX_EVENTS = 5_000
MAX_BYTES = 5 * 1024 * 1024
JSON = "application/json"
NDJSON = ("application/x-ndjson", "application/ndjson", "application/jsonl")
_DECODER = json.JSONDecoder()
_SPACE = " \t\n\r"


class BodyError(IocError):
    """A body the intake cannot read events from; `status` is the HTTP answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def too_many() -> BodyError:
    return BodyError(413, f"more than {MAX_EVENTS:,} events in one request: send at most "
                          f"{MAX_EVENTS:,} (or {MAX_BYTES // 2**20} MB) a request")


def too_big(size: int | None = None) -> BodyError:
    told = f" ({size:,} bytes)" if size else ""
    return BodyError(413, f"the body is larger than {MAX_BYTES:,} bytes{told}: send at most "
                          f"{MAX_EVENTS:,} events or {MAX_BYTES // 2**20} MB a request")


def _malformed(text: str, pos: int, what: str, line: int | None = None) -> BodyError:
    if line is None:
        line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return BodyError(400, f"malformed JSON at line {line}, column {column} (character "
                          f"{pos + 1}): {what}")


def media_type(content_type: str | None) -> str:
    """The body's media type, checked: JSON or NDJSON (415 otherwise)."""
    kind = (content_type or JSON).split(";", 1)[0].strip().lower()
    if kind != JSON and kind not in NDJSON:
        raise BodyError(415, f"Content-Type {kind!r}: send {JSON} (an array of events, or "
                             f"one) or {NDJSON[0]} (one event a line)")
    return kind


def events_of(body: bytes, kind: str) -> list[bytes]:
    """Each event's bytes, in order; `BodyError` for a body that is not JSON (saying where),
    not UTF-8, empty, or holds more than MAX_EVENTS events."""
    if len(body) > MAX_BYTES:
        raise too_big(len(body))
    try:
        text = body.decode()
    except UnicodeDecodeError as exc:
        raise BodyError(400, f"the body is not UTF-8 (byte {exc.start + 1})") from None
    events = _ndjson(text) if kind in NDJSON else _json(text)
    if not events:
        raise BodyError(400, "no events in the body")
    return events


def _value_end(text: str, pos: int) -> int:
    try:
        return _DECODER.raw_decode(text, pos)[1]
    except json.JSONDecodeError as exc:
        raise _malformed(text, exc.pos, exc.msg) from None


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _SPACE:
        pos += 1
    return pos


def _json(text: str) -> list[bytes]:
    pos = _skip(text, 0)
    if pos == len(text):
        return []
    if text[pos] != "[":  # one event
        end = _value_end(text, pos)
        if _skip(text, end) != len(text):
            raise _malformed(text, _skip(text, end), "extra data after the event (send an "
                                                     "array, or NDJSON)")
        return [text[pos:end].encode()]
    events: list[bytes] = []
    pos = _skip(text, pos + 1)
    if pos < len(text) and text[pos] == "]":
        pos += 1
    else:
        while True:
            end = _value_end(text, pos)
            events.append(text[pos:end].encode())
            if len(events) > MAX_EVENTS:
                raise too_many()
            pos = _skip(text, end)
            if pos < len(text) and text[pos] == ",":
                pos = _skip(text, pos + 1)
                continue
            if pos < len(text) and text[pos] == "]":
                pos += 1
                break
            raise _malformed(text, pos, "expected ',' or ']' after an event")
    if _skip(text, pos) != len(text):
        raise _malformed(text, _skip(text, pos), "extra data after the array")
    return events


def _ndjson(text: str) -> list[bytes]:
    events: list[bytes] = []
    start = 0  # where the line begins in the body, for the position of a fault
    for number, line in enumerate(text.split("\n"), 1):
        first = _skip(line, 0)
        if first < len(line):
            try:
                end = _DECODER.raw_decode(line, first)[1]
            except json.JSONDecodeError as exc:
                raise _malformed(text, start + exc.pos, exc.msg, number) from None
            if _skip(line, end) != len(line):
                raise _malformed(text, start + _skip(line, end), "one event a line (NDJSON)",
                                 number)
            events.append(line[first:end].encode())
            if len(events) > MAX_EVENTS:
                raise too_many()
        start += len(line) + 1
    return events

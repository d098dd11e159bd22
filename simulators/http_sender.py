"""Sends events to the HTTP intake (`ioc intake`) as a careful integrator does: batches of up
to 1,000 a request; a request that times out, cannot connect, or is answered 408, 429 or 503
is sent again as it was (what was accepted comes back `duplicate`, nothing is stored twice).
`ioc simulate --via http` sends the simulated province this way, and the fault runs load the
intake with it."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable

from ioc.errors import ServiceError
from simulators.generator import Record

BATCH = 1_000
AGAIN = (408, 429, 503)  # answers that mean: send the same request again later


class IntakeSender:
    """Posts JSON arrays of events to `url` with the source's `key`."""

    def __init__(self, url: str, key: str, timeout: float = 10.0,
                 give_up_after: float | None = 120.0, keep_ids: bool = False,
                 pause: Callable[[float], None] = time.sleep):
        self.url, self.key, self.timeout = url, key, timeout
        self.give_up_after = give_up_after  # None: never (the fault runs' client)
        self.pause = pause
        self.answers: Counter[str] = Counter()  # "200", "503", "no connection", "timeout" ...
        self.accepted = 0  # events a 200 answered accepted or duplicate
        # their ids, when kept (a fault run compares them with what is stored)
        self.acknowledged: set[str] | None = set() if keep_ids else None
        self.refused: Counter[str] = Counter()  # reason -> events
        self.sent = 0

    def post(self, body: bytes) -> dict:
        """Send one request until it is answered 200; its answer. `ServiceError` when the
        intake refuses it for good (400, 401, 413, 415), or `give_up_after` seconds pass."""
        began = time.monotonic()
        while True:
            request = urllib.request.Request(self.url, data=body, method="POST", headers={
                "Authorization": f"Bearer {self.key}", "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                    result = json.load(answer)
                self.answers["200"] += 1
                break
            except urllib.error.HTTPError as err:
                self.answers[str(err.code)] += 1
                if err.code not in AGAIN:
                    raise ServiceError(f"the intake at {self.url} answered {err.code}: "
                                       f"{err.read()[:300].decode(errors='replace')}") from None
                wait = min(5.0, float(err.headers.get("Retry-After") or 1))
            except (TimeoutError, OSError) as exc:  # cut off, refused, reset: it is away
                self.answers["timeout" if isinstance(exc, TimeoutError) else "no connection"] += 1
                wait = 0.3
            if self.give_up_after is not None and time.monotonic() - began > self.give_up_after:
                raise ServiceError(f"the intake at {self.url} took no request for "
                                   f"{self.give_up_after:.0f} s (last: {self.answers})")
            self.pause(wait)
        for r in result["results"]:
            if r["status"] == "refused":
                self.refused[r["reason"]] += 1
            else:
                self.accepted += 1
                if self.acknowledged is not None:
                    self.acknowledged.add(r["event_id"])
        return result

    def send(self, records: list[Record]) -> int:
        """The simulator's emitter: every record sent, `BATCH` a request."""
        for start in range(0, len(records), BATCH):
            chunk = records[start:start + BATCH]
            self.post(b"[" + b",".join(r.value for r in chunk) + b"]")
            self.sent += len(chunk)
        return len(records)

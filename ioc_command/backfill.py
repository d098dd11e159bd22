"""The simulated province's last hours, stored at once on a first start, so the wall is alive
from the first minute at any hour (`ioc up` with the embedded database; IOC_BACKFILL_HOURS).

The live simulator does it before it goes live, with the same simulator it then goes on
with: the history and the live feeds are one continuous day (a dossier received in the
history is resolved live). The history is stored through the event contract, the code check
and the sink, as the worker stores, straight into the database rather than through the
broker: a day is half a million events, and the alert engine must see it complete, not
partition by partition. A `backfills` row says what it covers: the engine waits for it to
be complete and then evaluates it from its first hour with the same rules (its alerts follow
as fast as it evaluates, about half a minute for a day here); the wall marks the data as
simulated.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from ioc.db import WRITER_ROLE, connect, role_url
from ioc.known_codes import KnownCodes
from ioc.province import Province
from ioc.refusals import reason_label
from ioc.services.endpoints import embedded_urls
from ioc.settings import Settings
from ioc.units import UnitsDataset
from simulators.generator import ProvinceSimulator
from streams.alerts.backtest import load_recording

CHUNK_SECONDS = 3600.0  # stored an hour of events at a time
CAUGHT_UP_SECONDS = 1.0  # this close to now, the live simulation takes over
EVENT_TABLES = ("dossier_events", "portal_health", "link_heartbeats", "consultations",
                "payments")


def _begin(conn, hours: float, seed: int, now: float) -> tuple[int, float] | None:
    """Claim the backfill: (its id, where it starts), or None when events are stored or a
    backfill was made before (a restarted simulator must not make a second one)."""
    with conn.transaction():
        conn.execute("LOCK TABLE backfills IN EXCLUSIVE MODE")
        # one cut short (the simulator died) is complete as far as it got: the engine waits
        # for no more of it
        conn.execute("UPDATE backfills SET finished_at = now() WHERE finished_at IS NULL")
        made = conn.execute("SELECT EXISTS (SELECT 1 FROM backfills)").fetchone()[0]
        stored = conn.execute("SELECT " + " OR ".join(
            f"EXISTS (SELECT 1 FROM {t})" for t in EVENT_TABLES)).fetchone()[0]
        if made or stored:
            return None
        origin = float(int(now - hours * 3600))
        moment = datetime.fromtimestamp(origin, UTC)
        backfill_id = conn.execute(
            "INSERT INTO backfills (period_from, period_to, seed) VALUES (%s, %s, %s)"
            " RETURNING id", (moment, moment, seed)).fetchone()[0]
    return backfill_id, origin


def backfill(settings: Settings, province: Province, simulator: ProvinceSimulator,
             hours: float, seed: int, stop: threading.Event, out: TextIO = sys.stderr,
             clock: Callable[[], float] = time.time) -> float | None:
    """Store the `hours` before now from `simulator` (not started yet), then what passed
    meanwhile; return the Unix time it reached, where the live simulation goes on (None:
    nothing done, since events or an earlier backfill are stored)."""
    url = role_url(embedded_urls(settings)[0], WRITER_ROLE, settings.writer_password)
    codes = KnownCodes(province, UnitsDataset())
    with connect(url, settings.db_schema, autocommit=True,
                 application_name="ioc-backfill") as conn:
        claimed = _begin(conn, hours, seed, clock())
        if claimed is None:
            return None
        backfill_id, origin = claimed
        simulator.start(origin)
        at, stored, refused, began = origin, 0, 0, time.monotonic()
        try:
            while not stop.is_set() and clock() - at > CAUGHT_UP_SECONDS:
                target = min(at + CHUNK_SECONDS, clock())
                loaded = load_recording(url, settings.db_schema,
                                        simulator.records_until(target), codes,
                                        datetime.now(UTC), reason_label)
                at = target
                stored += loaded.stored
                refused += sum(loaded.refused.values())
                conn.execute("UPDATE backfills SET period_to = %s, events = %s WHERE id = %s",
                             (datetime.fromtimestamp(at, UTC), stored, backfill_id))
                print(f"backfill: simulated history stored up to "
                      f"{datetime.fromtimestamp(at, UTC):%Y-%m-%d %H:%M:%S} UTC, {stored} events"
                      + (f" ({refused} refused)" if refused else "")
                      + f", {time.monotonic() - began:.0f} s", file=out, flush=True)
        finally:
            conn.execute("UPDATE backfills SET finished_at = now() WHERE id = %s",
                         (backfill_id,))
    return at

"""`ioc bench --suite wall`: what a wall refresh costs with weeks of a province's data.

Generates N days (default 30) of the province's feeds straight into a fresh schema with
`generate_series` (volumes from the province file's `simulation:` block, so Thanh Hóa's
30 days are ~14 M link heartbeats, ~1.3 M payments, ~0.5 M portal-health windows), then
measures through the real Dash callbacks:
- the server time of a full refresh of each page that refreshes from the shared snapshot
  (overview, portal, telemedicine, payments: database read + figures + layout) at p50/p95;
- the statements the database runs for 1 wall and for 20 walls over the same intervals;
- with `--browser`, the long tasks in Chromium on each page's refreshes (wall_browser.py).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ioc.db import connect
from ioc.migrate import migrate
from ioc.province import Province, load_province
from ioc.settings import Settings

ORIGIN = "TIMESTAMPTZ '2000-01-03 00:00:00+00'"

# Each statement fills one table for [start, end); parameters come from the province file.
GENERATORS: dict[str, str] = {
    "link_heartbeats": """
INSERT INTO link_heartbeats (event_id, occurred_at, unit_code, unit_codes, link_id,
                             hospital_code, hub_code, status, latency_ms, jitter_ms, loss_pct)
SELECT 'b-hb-' || l.link || '-' || extract(epoch FROM t)::bigint, t, l.unit, ARRAY[l.unit],
       l.link, l.hosp, l.hub, CASE WHEN random() < 0.002 THEN 'down' ELSE 'up' END,
       %(latency)s * (0.7 + random() * 0.6), random() * 5, random() * 0.5
  FROM unnest(%(links)s::text[], %(hosps)s::text[], %(hubs)s::text[], %(units)s::text[])
       AS l(link, hosp, hub, unit)
 CROSS JOIN generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 ms',
                            make_interval(secs => %(heartbeat)s)) AS t
""",
    "payments": """
INSERT INTO payments (event_id, occurred_at, unit_code, unit_codes, payment_id, category,
                      channel, amount_vnd, status, failure_reason)
SELECT 'b-pay-' || n, t, u, ARRAY[u], 'p-' || n,
       (%(categories)s::text[])[1 + (n %% cardinality(%(categories)s::text[]))],
       (%(channels)s::text[])[1 + ((n / 7) %% cardinality(%(channels)s::text[]))],
       10000 + (n %% 97) * 25000,
       CASE WHEN random() < %(fail)s THEN 'failed' ELSE 'succeeded' END,
       NULL
  FROM (SELECT row_number() OVER () AS n, t,
               (%(all_units)s::text[])[1 + floor(random()
                                           * cardinality(%(all_units)s::text[]))::int] AS u
          FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 ms',
                               make_interval(secs => %(payment_step)s)) AS t) AS g
""",
    "portal_health": """
INSERT INTO portal_health (event_id, occurred_at, unit_code, unit_codes, portal_code,
                           window_seconds, requests, errors, p95_latency_ms)
SELECT 'b-ph-' || p || '-' || extract(epoch FROM t)::bigint, t, %(center)s, ARRAY[%(center)s],
       p, %(window)s, r, (r * %(error_ratio)s * random() * 2)::int, 200 + random() * 300
  FROM unnest(%(portals)s::text[]) AS p
 CROSS JOIN generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 ms',
                            make_interval(secs => %(window)s)) AS t
 CROSS JOIN LATERAL (SELECT (%(rps)s * %(window)s * (0.5 + random()))::int AS r) AS req
""",
    "dossier_events": """
WITH received AS (
    SELECT n, t, (%(all_units)s::text[])[1 + (n %% cardinality(%(all_units)s::text[]))] AS u,
           (%(agencies)s::text[])[1 + (n %% cardinality(%(agencies)s::text[]))] AS agency,
           t + interval '5 days' AS due, t + random() * interval '6 days' AS done,
           random() < %(online)s AS online,
           -- the provincial centre or the citizen's commune centre, half and half
           CASE WHEN n %% 2 = 0 THEN %(centre)s END AS centre
      FROM (SELECT row_number() OVER () AS n, t
              FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 ms',
                                   make_interval(secs => %(dossier_step)s)) AS t) AS g
)
INSERT INTO dossier_events (event_id, occurred_at, unit_code, unit_codes, event_type, dossier_id,
                            procedure_code, agency_code, service_level, channel, due_at, result,
                            centre_code, digitised, payment, e_result)
SELECT 'b-dr-' || n, t, u, ARRAY[u], 'received', 'd-' || n, 'proc', agency, 'full',
       CASE WHEN online THEN 'online' ELSE 'in_person' END, due, NULL, coalesce(centre, u),
       random() < %(digitised)s,
       CASE WHEN random() >= %(fee)s THEN 'none'
            WHEN random() < %(paid_online)s THEN 'online' ELSE 'in_person' END, NULL
  FROM received
UNION ALL
SELECT 'b-dd-' || n, done, u, ARRAY[u], 'resolved', 'd-' || n, 'proc', agency, NULL, NULL, due,
       'approved', coalesce(centre, u), NULL, NULL, random() < %(e_result)s
  FROM received WHERE done < %(end)s::timestamptz
""",
    "consultations": """
INSERT INTO consultations (event_id, occurred_at, unit_code, unit_codes, event_type, session_id,
                           link_id, hospital_code, hub_code, specialty)
SELECT 'b-c-' || l.link || '-' || d || '-' || e, t + (e = 'ended')::int * interval '40 minutes',
       l.unit, ARRAY[l.unit], e, 's-' || l.link || '-' || d, l.link, l.hosp, l.hub, 'general'
  FROM unnest(%(links)s::text[], %(hosps)s::text[], %(hubs)s::text[], %(units)s::text[])
       AS l(link, hosp, hub, unit)
 CROSS JOIN generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 hour',
                            make_interval(secs => %(consult_step)s)) WITH ORDINALITY AS g(t, d)
 CROSS JOIN unnest(ARRAY['started', 'ended']) AS e
""",
}


def generation_params(province: Province, start: datetime, end: datetime) -> dict[str, Any]:
    """Statement parameters from the province file (volumes of its `simulation:` block)."""
    sim = province.simulation
    hospitals = province.hospitals
    return {
        "start": start, "end": end,
        "links": [h.link_id for h in hospitals], "hosps": [h.code for h in hospitals],
        "hubs": [h.hub for h in hospitals], "units": [h.unit for h in hospitals],
        "all_units": [u.code for u in province.units], "center": province.units[0].code,
        "agencies": [a.code for a in province.agencies],
        "portals": [p.code for p in province.portals],
        "categories": list(sim.payment_mix), "channels": list(province.payment_channels),
        "heartbeat": sim.heartbeat_seconds, "latency": sim.link_latency_ms,
        "payment_step": 86400 / sim.payments_per_day, "fail": 1 - sim.payment_success_ratio,
        "window": sim.portal_health_seconds, "rps": sim.portal_requests_per_second,
        "error_ratio": sim.portal_error_ratio,
        # working days only in the simulator; spread evenly here (same volume per week)
        "dossier_step": 86400 * 7 / (sim.dossiers_per_working_day * 5),
        "online": sim.online_share, "centre": province.service_centre.code,
        "digitised": sim.digitised_share, "fee": sim.fee_share,
        "paid_online": sim.online_payment_share, "e_result": sim.e_result_share,
        "consult_step": 86400 / max(sim.consultations_per_hospital_per_day, 0.01),
    }


def generate(conn: psycopg.Connection, province: Province, start: datetime,
             end: datetime) -> dict[str, int]:
    """Fill every event table for [start, end); return rows inserted per table."""
    params = generation_params(province, start, end)
    counts = {}
    for table, statement in GENERATORS.items():
        counts[table] = conn.execute(statement, params).rowcount
    conn.execute("ANALYZE")
    return counts


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _reader(settings: Settings, owner_url: str) -> Callable[[], psycopg.Connection]:
    """Opens a connection as the wall does: the read-only role, on the bench's schema."""
    from ioc_dashboard.data import reader_url

    url = reader_url(settings.with_(database_url=owner_url))
    return lambda: connect(url, settings.db_schema, autocommit=True, timeout=3,
                           application_name="ioc-wall-bench")


def browser_figures(settings: Settings, owner_url: str, province: Province,
                    seconds: float) -> dict[str, Any]:
    """The browser half (proof/bench/wall_browser.py) on a wall refreshing as configured."""
    from ioc_dashboard.app import create_app
    from ioc_dashboard.data import WallData
    from proof.bench import wall_browser

    data = WallData(_reader(settings, owner_url), interval=settings.refresh_seconds,
                    replay_schema=settings.for_replay().db_schema)
    app = create_app(settings, data, province=province, replay_data=None)
    return wall_browser.measure(app, settings, _free_port(), seconds)


def measure(settings: Settings, owner_url: str, province: Province, refreshes: int,
            walls: int) -> dict[str, Any]:
    """Time full overview refreshes through the real Dash callback, then count statements
    for 1 wall and for `walls` walls over the same number of refresh intervals."""
    from ioc_dashboard.app import create_app
    from ioc_dashboard.data import WallData

    open_conn = _reader(settings, owner_url)

    # 1. cost of one full refresh of each page: a fresh read every time (interval 0), timed
    # around the callback exactly as Dash runs it for a browser, the pages in turn (so a
    # slow moment of the machine falls on all of them)
    data = WallData(open_conn, interval=0, replay_schema=settings.for_replay().db_schema)
    app = create_app(settings, data, province=province, replay_data=None)
    callbacks = {page: (app.callback_map[_output(app, marker)]["callback"], args)
                 for page, (marker, args) in PAGE_CALLBACKS.items()}
    for refresh, args in callbacks.values():
        refresh.__wrapped__(1, *args)  # warm: connection, plans, imports
    page_ms: dict[str, list[float]] = {page: [] for page in callbacks}
    read_ms = []
    for n in range(refreshes):
        for page, (refresh, args) in callbacks.items():
            started = time.perf_counter()
            refresh.__wrapped__(n, *args)
            page_ms[page].append((time.perf_counter() - started) * 1000)
            read_ms.append(data.last.read_ms or 0.0)
    slowest = max(_percentile(ms, 0.95) for ms in page_ms.values())

    # 2. statements the database runs: 1 wall vs `walls` walls over the same intervals, the
    # walls refreshing out of step (each at its own moment of the interval, as browsers
    # opened at different times do)
    def statements_for(clients: int, intervals: int = 3) -> int:
        interval = settings.refresh_seconds
        shared = WallData(open_conn, interval=interval,
                          replay_schema=settings.for_replay().db_schema)
        shared_app = create_app(settings, shared, province=province, replay_data=None)
        cb = shared_app.callback_map[_output(shared_app, PAGE_CALLBACKS["overview"][0])][
            "callback"]
        # start at the beginning of a slot so both runs span the same number of slots
        time.sleep(interval - time.monotonic() % interval)
        start = time.monotonic()
        for i in range(intervals):
            for wall in range(clients):
                due = start + (i + wall / clients) * interval
                time.sleep(max(0.0, due - time.monotonic()))
                cb.__wrapped__(i, "/", "")
        return shared.statements

    one, many = statements_for(1), statements_for(walls)
    return {
        "refreshes": refreshes,
        "page_refresh_server_ms": {page: {"p50": round(statistics.median(ms), 1),
                                          "p95": round(_percentile(ms, 0.95), 1),
                                          "max": round(max(ms), 1)}
                                   for page, ms in page_ms.items()},
        "db_read_ms": {"p50": round(statistics.median(read_ms), 1),
                       "p95": round(_percentile(read_ms, 0.95), 1)},
        "statements_per_3_intervals": {"1_wall": one, f"{walls}_walls": many},
        "targets": {"refresh_p95_ms_max": 150, "refresh_met": slowest <= 150,
                    "walls_met": many <= one},
    }


# page -> (an output only its refresh callback has, that callback's arguments after the
# tick): the pages that refresh from the shared snapshot (alerts and replay read more, per
# operator and per run)
PAGE_CALLBACKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "overview": ("kpi-ontime-value.children", ("/", "")),
    "portal": ("portal-updated.children", ("",)),
    "telemedicine": ("telemedicine-updated.children", ("",)),
    "payments": ("payments-updated.children", ("",)),
}


def _output(app: Any, marker: str) -> str:
    return next(k for k in app.callback_map if marker in k)


def run(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """The `ioc bench --suite wall` figures (see the module docstring)."""
    province = load_province(settings.province_file)
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=args.days)
    with tempfile.TemporaryDirectory(prefix="ioc-wall-bench-") as tmp:
        pg = None
        owner_url = settings.database_url
        if owner_url is None:
            from ioc.services.postgres import EmbeddedPostgres

            pg = EmbeddedPostgres(Path(tmp), _free_port()).start()
            owner_url = pg.url
        schema = args.reuse_schema or f"wall_bench_{uuid.uuid4().hex[:8]}"
        bench = settings.with_(db_schema=schema, database_url=owner_url)
        if pg is not None:
            bench = pg.configure(bench)
        keep = args.keep_schema or bool(args.reuse_schema)
        rows: dict[str, int] = {}
        generate_s = 0.0
        days = args.days
        try:
            if not args.reuse_schema:
                with psycopg.connect(owner_url) as conn:
                    migrate(conn, schema, "auto",
                            reader_statement_timeout_ms=settings.reader_statement_timeout_ms,
                            reader_password=bench.reader_password)
                with connect(owner_url, schema, autocommit=True) as conn:
                    started = time.perf_counter()
                    rows = generate(conn, province, start, end)
                    generate_s = time.perf_counter() - started
            else:
                with connect(owner_url, schema, autocommit=True) as conn:
                    first, last = conn.execute(
                        "SELECT min(occurred_at), max(occurred_at) FROM payments").fetchone()
                    days = round((last - first).total_seconds() / 86400, 2)
                    for table in GENERATORS:
                        rows[table] = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
                            sql.Identifier(table))).fetchone()[0]
            figures = measure(bench, owner_url, province, args.refreshes, args.walls)
            if args.browser:
                figures.update(browser_figures(bench, owner_url, province,
                                               args.browser_seconds))
        finally:
            if not keep:
                with psycopg.connect(owner_url, autocommit=True) as conn:
                    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                        sql.Identifier(schema)))
            if pg is not None:
                pg.stop()
    return {"suite": "wall", "province": province.province.code, "days": days,
            "rows": rows, "rows_total": sum(rows.values()),
            "generate_seconds": round(generate_s, 1), **figures,
            "schema_kept": schema if keep else None}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `ioc bench --suite wall` (added to the bench parser)."""
    parser.add_argument("--days", type=float, default=30,
                        help="wall: days of province data to generate (default 30)")
    parser.add_argument("--refreshes", type=int, default=100,
                        help="wall: refreshes of each page to time (default 100)")
    parser.add_argument("--walls", type=int, default=20,
                        help="wall: open walls to compare with one (default 20)")
    parser.add_argument("--browser", action="store_true",
                        help="wall: also open each page in headless Chromium at 1920x1080 and "
                             "3840x2160 and record its long tasks (needs the test extras)")
    parser.add_argument("--browser-seconds", type=float, default=30, metavar="S",
                        help="wall --browser: seconds of refreshes per page and size "
                             "(default 30)")
    parser.add_argument("--reuse-schema", metavar="SCHEMA",
                        help="wall: measure an existing schema (one kept by --keep-schema, or a "
                             "real one) instead of generating data")
    parser.add_argument("--keep-schema", action="store_true",
                        help="wall: keep the generated schema (its name is printed)")

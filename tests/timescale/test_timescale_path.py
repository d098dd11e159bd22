"""ioc/sql/ on a real TimescaleDB (2.23, PGlite build) and the same dashboard answers as on
plain PostgreSQL for the same rows."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from ioc import contract
from ioc.db import connect
from ioc.indicators import COUNTS_QUERY
from ioc.migrate import migrate
from ioc.province import load_province
from ioc_dashboard.data import DEAD_LETTERS, FEED_STATS
from simulators.generator import ProvinceSimulator
from streams.sink import _SHARED, TABLE_COLUMNS, rows_by_table

pytestmark = pytest.mark.timescale

HERE = Path(__file__).resolve().parent
START = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)  # Monday 08:30 in Vietnam

# What the wall and the KPI panels read, in a stable order so results compare exactly.
DASHBOARD_QUERIES = {
    "feed_stats": FEED_STATS,
    "dead_letters": DEAD_LETTERS,
    "payments_1m": "SELECT bucket, unit_code, category, succeeded, failed, amount_vnd"
                   " FROM payments_1m ORDER BY 1, 2, 3",
    "payments_per_minute": "SELECT bucket, sum(succeeded + failed) AS n,"
                           " sum(succeeded)::float / nullif(sum(succeeded + failed), 0)"
                           " FROM payments_1m GROUP BY 1 ORDER BY 1",
    "dossiers_1h": "SELECT bucket, unit_code, agency_code, received, received_online, resolved,"
                   " resolved_on_time, centre_code, received_digitised,"
                   " received_digitised_known, received_fee, received_paid_online,"
                   " resolved_e_result, resolved_e_result_known"
                   " FROM dossiers_1h ORDER BY 1, 2, 3, 8",
    # Decision 766's indicators: province, centres and agencies over all time
    "indicators": COUNTS_QUERY.replace("%(since)s", "'2000-01-03'").replace(
        "%(until)s", "'2100-01-01'") + " ORDER BY 1, 2, 3",
    "links_1m": "SELECT bucket, link_id, beats, down_beats, round(avg_latency_ms::numeric, 6),"
                " max_loss_pct FROM link_heartbeats_1m ORDER BY 1, 2",
    "portal_1m": "SELECT bucket, portal_code, requests, errors, max_p95_latency_ms"
                 " FROM portal_health_1m ORDER BY 1, 2",
}


@pytest.fixture(scope="session")
def timescale_url() -> Iterator[str]:
    """An in-memory TimescaleDB served by tests/timescale/server.mjs (see its README)."""
    node = shutil.which("node")
    if node is None or not (HERE / "node_modules").is_dir():
        pytest.fail("the TimescaleDB test server needs Node and `npm ci` in tests/timescale "
                    "(`make test` does both)")
    server = subprocess.Popen([node, "server.mjs", "--port", "0"], cwd=HERE,
                              stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        if not line.startswith("READY "):
            pytest.fail(f"TimescaleDB test server did not start (said {line!r})")
        yield f"postgresql://postgres:x@127.0.0.1:{line.split()[1]}/postgres"
    finally:
        server.terminate()
        server.wait(10)


def _rows() -> dict[str, list[tuple]]:
    province = load_province(Path(__file__).resolve().parents[2] / "ioc/provinces/thanh-hoa.yaml")
    sim = ProvinceSimulator(province, seed=21, multiplier=2)
    now = START + timedelta(hours=1)
    events = [contract.decode(r.value, r.feed, now)
              for r in sim.events_between(START, START + timedelta(minutes=40))]
    return rows_by_table(events)


def _insert(conn: psycopg.Connection, rows: dict[str, list[tuple]]) -> None:
    # plain INSERTs: the WASM build of TimescaleDB cannot take COPY
    for table, batch in rows.items():
        columns = _SHARED + TABLE_COLUMNS[table]
        sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
               f"({', '.join(['%s'] * len(columns))}) ON CONFLICT DO NOTHING")
        with conn.cursor() as cur:
            cur.executemany(sql, batch)
    conn.execute("INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, feed, reason,"
                 " raw) VALUES ('ioc.payments', 0, 7, 'payments', 'undecodable: x', '\\xff')"
                 " ON CONFLICT DO NOTHING")
    conn.commit()


def _answers(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    return {name: conn.execute(sql).fetchall() for name, sql in DASHBOARD_QUERIES.items()}


def test_timescale_path_has_hypertables_aggregates_and_policies(timescale_url):
    with psycopg.connect(timescale_url) as conn:
        applied = migrate(conn, "ioc_ts", "auto")
        assert any(m.name.startswith("timescale/") for m in applied)
        assert migrate(conn, "ioc_ts", "auto") == []
        hypertables = {r[0] for r in conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables"
            " WHERE hypertable_schema = 'ioc_ts'")}
        assert hypertables == set(TABLE_COLUMNS)
        caggs = dict(conn.execute(
            "SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates"
            " WHERE view_schema = 'ioc_ts'").fetchall())
        assert caggs == {"payments_1m": False, "dossiers_1h": False,
                         "link_heartbeats_1m": False, "portal_health_1m": False}
        jobs: dict[str, int] = {}
        for (proc,) in conn.execute(
                "SELECT proc_name FROM timescaledb_information.jobs"
                " WHERE hypertable_schema = 'ioc_ts' OR proc_name LIKE 'policy_refresh%'"):
            jobs[proc] = jobs.get(proc, 0) + 1
        assert jobs == {"policy_refresh_continuous_aggregate": 4, "policy_compression": 5,
                        "policy_retention": 5}
        settings = {r[0]: r[1] for r in conn.execute(
            "SELECT r.rolname, array_to_string(s.setconfig, ',') FROM pg_db_role_setting s"
            " JOIN pg_roles r ON r.oid = s.setrole")}
        assert "default_transaction_read_only=on" in settings["ioc_reader"]
        assert "statement_timeout=5000" in settings["ioc_reader"]


def test_dashboard_queries_answer_the_same_on_timescale_and_postgres(timescale_url, services):
    rows = _rows()
    assert len(rows) == len(TABLE_COLUMNS)
    with psycopg.connect(timescale_url) as ts:
        migrate(ts, "ioc_same", "timescale")
        ts.execute("SET search_path TO ioc_same, public")
        _insert(ts, rows)
        _insert(ts, rows)  # redelivered: no row counted twice
        on_timescale = _answers(ts)
        # the materialized part must agree with the raw rows too, not only real-time aggregation
        ts.execute("CALL refresh_continuous_aggregate('payments_1m', NULL, NULL)")
        ts.commit()
        refreshed = ts.execute(DASHBOARD_QUERIES["payments_1m"]).fetchall()
        # a late event in a bucket already materialized: stored at once, and its bucket
        # corrected by the next refresh (the policy's job, run here by hand)
        first = rows["payments"][0]
        late = {"payments": [("late-payment-1", *first[1:])]}
        bucket = ("SELECT succeeded + failed FROM payments_1m WHERE bucket ="
                  " date_bin('1 minute', %s::timestamptz, TIMESTAMPTZ '2000-01-03 00:00:00+00')"
                  " AND unit_code = %s AND category = %s")
        category = len(_SHARED) + TABLE_COLUMNS["payments"].index("category")
        key = (first[1], first[2], first[category])
        before = ts.execute(bucket, key).fetchone()[0]
        _insert(ts, late)
        ts.execute("CALL refresh_continuous_aggregate('payments_1m', NULL, NULL)")
        ts.commit()
        assert ts.execute(bucket, key).fetchone()[0] == before + 1
    with psycopg.connect(services.database_url) as pg:
        migrate(pg, "ioc_same_pg", "postgres")
    with connect(services.database_url, "ioc_same_pg") as pg:
        _insert(pg, rows)
        on_postgres = _answers(pg)
    assert sum(n for _, n, _ in on_postgres["feed_stats"]) == sum(len(b) for b in rows.values())
    assert len(on_postgres["payments_1m"]) > 50
    for name in DASHBOARD_QUERIES:
        assert on_timescale[name] == on_postgres[name], name
    assert refreshed == on_postgres["payments_1m"]

"""`ioc intake` (issue 41, items 1-3): events over HTTP from sources with a key, each
answered accepted, duplicate or refused with the dead-letter topic's reason and the field at
fault; accepted ones on Kafka (with their source) before the answer; a whole request refused
plainly (401, 400 saying where, 413, 415, 408, 503 with Retry-After). Real server process,
real HTTP client, the session's real broker and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from confluent_kafka import Consumer, TopicPartition

from intake.body import MAX_BYTES, MAX_EVENTS
from intake.ledger import Connections, Ledger
from ioc import sources
from ioc.contract import FEEDS
from ioc.db import connect, writer_url
from ioc.province import load_province
from ioc.services.broker import EmbeddedBroker
from ioc.source_health import SOURCE_HEADER, SourceTally, health, troubles
from proof.harness import free_port
from simulators.generator import ProvinceSimulator
from tests.conftest import REPO, run_ioc, start_part, wait_http

pytestmark = pytest.mark.integration


def _read_topics(settings, want: int, timeout: float = 30) -> list:
    """Every message on the feed topics, from their beginning, once `want` have arrived."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap,
                         "group.id": "intake-test", "enable.auto.commit": False})
    try:
        parts = [TopicPartition(settings.topic(feed), p)
                 for feed in FEEDS
                 for p in consumer.list_topics(settings.topic(feed)).topics[
                     settings.topic(feed)].partitions]
        for tp in parts:
            tp.offset = 0  # OFFSET_BEGINNING would do too; 0 is clearer
        consumer.assign(parts)
        got, deadline = [], time.monotonic() + timeout
        while len(got) < want and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                got.append(msg)
        time.sleep(0.5)  # nothing more should come
        while (msg := consumer.poll(0.2)) is not None:
            got.append(msg)
        return got
    finally:
        consumer.close()


def _post(url: str, key: str | None, body, content_type: str = "application/json",
          **kw) -> requests.Response:
    headers = {"Content-Type": content_type}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(url, data=data, headers=headers, timeout=30, **kw)


def _doc_examples() -> dict[str, str]:
    """docs/intake.md's curl (sh) and Python examples."""
    text = (REPO / "docs" / "intake.md").read_text(encoding="utf-8")
    return {lang: text.split(f"```{lang}\n")[-1].split("```")[0] for lang in ("sh", "python")}


def test_intake_answers_each_event_and_sends_the_accepted_ones_once(migrated, tmp_path):
    settings = migrated.with_(intake_port=free_port())
    province = load_province(settings.province_file)
    hospital, other = province.hospitals[0], province.hospitals[1]

    # beyond loopback with no key: it will not listen
    refused = run_ioc("intake", env={**settings.with_(intake_host="0.0.0.0").child_env()},
                      timeout=60)
    assert refused.returncode != 0
    assert "IOC_INTAKE_HOST=0.0.0.0" in refused.stderr and "ioc sources add" in refused.stderr

    with connect(settings.database_url, settings.db_schema, autocommit=True) as conn:
        key = sources.add(conn, "motcua", ("portal", "payments", "telemedicine"), (), "test")
        bv_key = sources.add(conn, "bv-1", ("telemedicine",),
                             (hospital.code, hospital.link_id), "test")
        gone = sources.add(conn, "gone", ("portal",), (), "test")
        sources.revoke(conn, "gone", "test")

    part = start_part(settings, "intake", "intake")
    url = f"http://127.0.0.1:{settings.intake_port}"
    try:
        wait_http(f"{url}/healthz", 60, part)
        events_url = f"{url}/v1/events"

        # a day's hour of the simulated province, sent as its systems would
        end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
        records = ProvinceSimulator(province, seed=4).events_between(
            end - timedelta(minutes=5), end)
        values = [json.loads(r.value) for r in records]
        assert len(values) > 50

        # no key, a made-up key, a revoked key: 401, nothing read
        for k in (None, "ioc_made-up", gone):
            r = _post(events_url, k, values[:1])
            assert r.status_code == 401, r.text
            assert r.headers["WWW-Authenticate"] == "Bearer"
            assert r.headers["Content-Type"] == "application/problem+json"

        # a JSON array: every event accepted and on Kafka once, with its source
        first = _post(events_url, key, values)
        assert first.status_code == 200, first.text
        answer = first.json()
        assert (answer["source"], answer["accepted"], answer["duplicate"], answer["refused"]) \
            == ("motcua", len(values), 0, 0)
        assert [r["index"] for r in answer["results"]] == list(range(len(values)))
        assert {r["event_id"] for r in answer["results"]} == {v["event_id"] for v in values}

        # sent again (a client retrying after a time-out), as NDJSON: all duplicates
        ndjson = "\n".join(json.dumps(v) for v in values) + "\n"
        again = _post(events_url, key, ndjson, "application/x-ndjson").json()
        assert (again["accepted"], again["duplicate"]) == (0, len(values))
        assert {r["status"] for r in again["results"]} == {"duplicate"}

        on_kafka = _read_topics(settings, len(values))
        assert sorted(json.loads(m.value())["event_id"] for m in on_kafka) == \
            sorted(v["event_id"] for v in values)
        assert {dict(m.headers())[SOURCE_HEADER] for m in on_kafka} == {b"motcua"}

        # refused per event, with the dead-letter labels and the field at fault; the good
        # event beside them is accepted; an id twice in one request: the second a duplicate
        beat = next(v for v in values if v["event_type"] == "link.heartbeat"
                    and v["data"]["link_id"] == other.link_id)
        fresh = lambda **change: {**beat, "event_id": f"t-{time.time_ns()}", **change}  # noqa: E731
        good = fresh()
        mixed = [
            good,
            fresh(unit_codes=["99999"]),
            fresh(occurred_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat()),
            fresh(data={**beat["data"], "latency_ms": -1}),
            fresh(schema_version=9),
            {"event_type": "link.heartbeat"},
            good,
            "not an object",
        ]
        result = _post(events_url, key, mixed).json()
        got = [(r["status"], r.get("reason"), r.get("field")) for r in result["results"]]
        assert got == [
            ("accepted", None, None),
            ("refused", "unknown_unit", "unit_codes.0"),
            ("refused", "future_timestamp", "occurred_at"),
            ("refused", "invalid_field", "data.latency_ms"),
            ("refused", "unknown_schema_version", "schema_version"),
            ("refused", "invalid_field", "event_id"),
            ("duplicate", None, None),
            ("refused", "invalid_field", None),
        ], result
        assert result["results"][1]["event_id"] == mixed[1]["event_id"]
        with connect(settings.database_url, settings.db_schema) as conn:  # its health
            counted = conn.execute("SELECT sum(refused), jsonb_object_agg(feed, reasons)"
                                   " FROM source_minutes WHERE source = 'motcua'").fetchone()
        assert counted[0] == 6 and counted[1]["telemedicine"]["unknown_unit"] == 1
        assert "99999" in result["results"][1]["detail"]

        # a hospital's key: its own link only, and only the telemedicine feed
        mine = next(v for v in values if v["event_type"] == "link.heartbeat"
                    and v["data"]["link_id"] == hospital.link_id)
        payment = next((v for v in values if v["feed"] == "payments"), None)
        scoped = [{**mine, "event_id": f"s-{time.time_ns()}"},
                  {**beat, "event_id": f"o-{time.time_ns()}"}]
        if payment is not None:
            scoped.append({**payment, "event_id": f"p-{time.time_ns()}"})
        result = _post(events_url, bv_key, scoped).json()
        assert result["source"] == "bv-1"
        got = [(r["status"], r.get("reason"), r.get("field")) for r in result["results"]]
        assert got[:2] == [("accepted", None, None),
                           ("refused", "out_of_scope", "data.hospital_code")]
        if payment is not None:
            assert got[2] == ("refused", "out_of_scope", "event_type")

        # a request refused as a whole, saying why
        r = _post(events_url, key, '[{"event_id": "x"},\n {"a": }]')
        assert r.status_code == 400 and "line 2, column 8" in r.json()["detail"], r.text
        r = _post(events_url, key, [{}] * (MAX_EVENTS + 1))
        assert r.status_code == 413 and "5,000" in r.json()["detail"]
        r = _post(events_url, key, b" " * (MAX_BYTES + 1))
        assert r.status_code == 413
        r = _post(events_url, key, "x", "text/plain")
        assert r.status_code == 415

        # docs/intake.md's examples, as an integrator runs them
        examples = _doc_examples()
        batch = tmp_path / "events.ndjson"
        batch.write_text("".join(json.dumps({**v, "event_id": f"doc-{i}-{time.time_ns()}"})
                                 + "\n" for i, v in enumerate(values[:3])), encoding="utf-8")
        env = {"PATH": "/usr/bin:/bin", "INTAKE_URL": url, "INTAKE_KEY": key}
        script = tmp_path / "send.py"
        script.write_text(examples["python"], encoding="utf-8")
        sent = subprocess.run([sys.executable, str(script), str(batch)], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        assert sent.stdout == "accepted 3, duplicate 0, refused 0\n", sent.stderr
        sent = subprocess.run(["bash", "-c", examples["sh"]], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        assert json.loads(sent.stdout)["duplicate"] == 3, sent.stderr

        # the simulated province sent through the intake (`ioc simulate --via http`), with a
        # key of its own
        simulated = run_ioc("simulate", "--via", "http", "--speed", "max", "--duration", "300",
                            "--seed", "5", "--start",
                            (end - timedelta(minutes=30)).isoformat(), settings=settings,
                            timeout=120)
        assert simulated.returncode == 0, simulated.stderr[-2000:]
        sent = json.loads(simulated.stdout.strip().splitlines()[-1])["events"]
        assert sent > 50
        with connect(settings.database_url, settings.db_schema) as conn:
            assert conn.execute("SELECT count(*) FROM intake_accepted WHERE source ="
                                " 'simulator'").fetchone()[0] == sent

        # what was counted, per source
        metrics = requests.get(f"{url}/metrics", timeout=5).text
        assert f'ioc_intake_events_total{{source="motcua",status="accepted"}} ' \
               f'{len(values) + 4}.0' in metrics
        assert 'ioc_intake_refused_events_total{reason="out_of_scope",source="bv-1"}' in metrics
        assert 'ioc_intake_requests_total{code="401",source="unknown"} 3.0' in metrics

        # the OpenAPI document: the endpoint, its answers, the contract's event schemas
        doc = requests.get(f"{url}/v1/openapi.json", timeout=5).json()
        post = doc["paths"]["/v1/events"]["post"]
        assert {"200", "400", "401", "408", "413", "415", "429", "503"} <= set(post["responses"])
        assert doc["components"]["schemas"]["LinkHeartbeat"]["properties"]["occurred_at"][
            "pattern"] == "^20[0-9]{2}-"
    finally:
        part.stop()
    assert key not in part.log_tail(500) and bv_key not in part.log_tail(500)


def test_intake_answers_503_when_the_broker_is_away_and_408_to_a_stalled_client(
        migrated, tmp_path):
    """Nothing answered as accepted while no broker acknowledges; a client that stops
    half-way through its headers or its body is cut off without holding up the others."""
    broker = EmbeddedBroker(tmp_path, free_port()).start()  # its own, to take away
    settings = migrated.with_(intake_port=free_port(), kafka_bootstrap=broker.bootstrap,
                              intake_delivery_seconds=1.0, intake_body_seconds=1.0,
                              intake_rate=1.0)  # a burst of one full request, then 1/s
    with connect(settings.database_url, settings.db_schema, autocommit=True) as conn:
        key = sources.add(conn, "gateway", ("portal", "payments", "telemedicine"), (), "test")
    end = datetime.now(UTC) - timedelta(minutes=10)
    values = [json.loads(r.value) for r in ProvinceSimulator(
        load_province(settings.province_file), seed=5).events_between(
        end - timedelta(minutes=1), end)]
    part = start_part(settings, "intake", "intake")
    url = f"http://127.0.0.1:{settings.intake_port}"
    try:
        wait_http(f"{url}/healthz", 60, part)
        assert _post(f"{url}/v1/events", key, values[:5]).json()["accepted"] == 5
        # over the source's rate: 429, and when to come back (5,000 more need ~5 s at 1/s)
        r = _post(f"{url}/v1/events", key, values[:1] * 5000)
        assert r.status_code == 429 and 4 <= int(r.headers["Retry-After"]) <= 7, r.text
        assert "IOC_INTAKE_RATE" in r.json()["detail"]

        # a client sends half its headers, then nothing: the connection is closed
        opened = time.monotonic()
        slow = socket.create_connection(("127.0.0.1", settings.intake_port))
        slow.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthor")
        silent = socket.create_connection(("127.0.0.1", settings.intake_port))
        slow.settimeout(10)
        silent.settimeout(10)
        assert slow.recv(200) == b"" and silent.recv(200) == b""
        assert 0.9 < time.monotonic() - opened < 5  # at the deadline (1 s here), not before

        # a client sends its headers and half its body, then nothing
        stalled = socket.create_connection(("127.0.0.1", settings.intake_port))
        stalled.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                        + key.encode() + b"\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 100\r\n\r\n[{")
        started = time.monotonic()
        assert requests.get(f"{url}/healthz", timeout=2).status_code == 200  # not held up
        stalled.settimeout(10)
        assert stalled.recv(200).startswith(b"HTTP/1.1 408")
        assert time.monotonic() - started < 5
        stalled.close()

        broker.stop()
        r = _post(f"{url}/v1/events", key, values[5:10])
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] == "5" and "send it again" in r.json()["detail"]
        with connect(settings.database_url, settings.db_schema) as conn:
            kept = {e for (e,) in conn.execute("SELECT event_id FROM intake_accepted")}
        assert kept == {v["event_id"] for v in values[:5]}  # none of the refused request
    finally:
        part.stop()
        broker.stop()


def test_accepted_ids_are_forgotten_once_their_events_are_past_the_live_limit(migrated):
    ledger = Ledger(Connections(writer_url(migrated), migrated.db_schema))
    now = datetime.now(UTC)
    events = [("old-1", now - timedelta(days=1101)), ("old-2", now - timedelta(days=1200)),
              ("new-1", now - timedelta(days=3))]

    async def run() -> tuple[set[str], int, set[str], int]:
        async with ledger.claim("s", events) as new:
            pass
        pruned = await ledger.prune(now - timedelta(days=1100), batch=1)
        async with ledger.claim("s", events) as again:
            pass
        tally = SourceTally()  # two minutes of a source's health, one past 35 days
        for days in (36, 1):
            tally.refused("s", "portal", now - timedelta(days=days), "invalid_field")
        await ledger.count(tally)
        minutes = await ledger.prune_minutes(now - timedelta(days=35))
        await ledger.connections.close()
        return new, pruned, again, minutes

    new, pruned, again, minutes = asyncio.run(run())
    assert new == {"old-1", "old-2", "new-1"} and pruned == 2
    assert again == {"old-1", "old-2"}  # forgotten (the intake refuses such old events)
    assert minutes == 1


def test_each_source_is_read_back_beside_its_usual_hour(migrated):
    """The health read (`ioc sources list`, later the wall and the rules): the last hour of
    each source against the same hour of the weeks before, refused and why, delay."""
    now = datetime.now(UTC)
    tally = SourceTally()
    for week in (1, 2):  # a usually busy source: 90 events in this hour, two weeks running
        for i in range(90):
            at = now - timedelta(days=7 * week, minutes=30) + timedelta(seconds=i)
            tally.stored("motcua", "portal", at, at - timedelta(seconds=2))
    for i in range(30):  # this hour: 30 stored, 20 minutes ago, and 10 refused
        at = now - timedelta(minutes=20, seconds=i)
        tally.stored("motcua", "portal", at, at - timedelta(seconds=4))
    for i in range(10):
        tally.refused("motcua", "portal", now - timedelta(minutes=20), "unknown_unit"
                      if i < 7 else "invalid_field")
    tally.stored("prober", "telemedicine", now - timedelta(seconds=5), now - timedelta(seconds=6))
    ledger = Ledger(Connections(writer_url(migrated), migrated.db_schema))

    async def write() -> None:
        await ledger.count(tally)
        await ledger.connections.close()

    asyncio.run(write())
    with connect(migrated.database_url, migrated.db_schema) as conn:
        found = {h.source: h for h in health(conn, now)}
    motcua = found["motcua"]
    assert (motcua.events, motcua.usual_events, motcua.usual_weeks) == (30, 90.0, 2)
    assert motcua.refused == 10 and motcua.refused_share == 0.25
    assert motcua.main_reasons() == [("unknown_unit", 7), ("invalid_field", 3)]
    assert motcua.delay_avg_ms == pytest.approx(4000.0) and motcua.delay_max_ms == 4000.0
    assert troubles(motcua, now) == ["quiet", "refusing"]  # busy, silent 20 min, 25 % refused
    assert troubles(found["prober"], now) == []

    listed = json.loads(run_ioc("sources", "list", "--json", settings=migrated,
                                timeout=60).stdout)
    assert {s["name"]: s["health"]["troubles"] for s in listed} == {
        "motcua": ["quiet", "refusing"], "prober": []}
    text = run_ioc("sources", "list", settings=migrated, timeout=60).stdout
    assert "30 events (usual 90), 10 refused (25.0%: unknown_unit 7, invalid_field 3)" in text

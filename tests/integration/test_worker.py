"""The real Faust worker between the real broker and database."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaConsumer, TopicPartition

from ioc import contract
from ioc.db import connect
from ioc.migrate import migrate_database
from ioc.services.kafka import DEFAULT_JARS, fetch_jars
from ioc.settings import Settings
from ioc.topics import ensure_topics
from proof.harness import Producer, make_events, metric_value, metrics_text
from tests.conftest import run_ioc, start_part, wait_http, wait_until

pytestmark = pytest.mark.integration


def _events(n: int = 3000, seed: int = 3):
    return make_events(n, seed=seed, start=datetime.now(UTC) - timedelta(minutes=10))


def _send(settings, events) -> None:
    producer = Producer(settings.kafka_bootstrap)
    for feed, key, value in events:
        producer.send(settings.topic(feed), key, value)
    producer.flush()


def _stats(settings) -> dict[str, int]:
    with connect(settings.database_url, settings.db_schema) as conn:
        rows = {f: n for f, n, _ in conn.execute("SELECT * FROM feed_stats")}
        rows["dead_letters"] = conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
    return rows


def _expected(events, dead: int) -> dict[str, int]:
    counts = dict.fromkeys(contract.FEEDS, 0)
    for feed, _, _ in events:
        counts[feed] += 1
    return {**counts, "dead_letters": dead}


def _status(settings) -> dict:
    out = run_ioc("status", "--json", settings=settings, check=True).stdout
    return json.loads(out)


def _metric(settings, name: str) -> float:
    return metric_value(metrics_text(settings.worker_port), name)


def _dead_letter_topic(settings) -> list:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                             enable_auto_commit=False, consumer_timeout_ms=3000)
    dlq = TopicPartition(settings.topic("deadletter"), 0)
    consumer.assign([dlq])
    consumer.seek_to_beginning(dlq)
    letters = list(consumer)
    consumer.close()
    return letters


def _bad_events(good: bytes) -> dict[str, bytes]:
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    too_old = (datetime.now(UTC) - timedelta(days=1101)).isoformat()
    body = json.loads(good)
    return {
        "undecodable": b"\xff\xfe not json",
        "missing event_type": json.dumps({k: v for k, v in body.items()
                                          if k != "event_type"}).encode(),
        "unknown schema version": json.dumps({**body, "schema_version": 9}).encode(),
        "data.": json.dumps({**body, "data": {**body["data"], "amount_vnd": "nhiều"}}).encode(),
        "in the future": json.dumps({**body, "occurred_at": future}).encode(),
        "in the past (the live limit": json.dumps({**body, "occurred_at": too_old}).encode(),
        "oversize": b"{" + b" " * (contract.MAX_EVENT_BYTES + 1) + b"}",
    }


def _source_totals(settings) -> dict[str, dict]:
    """source_minutes summed per source: events, refused, reasons, the largest delay."""
    out: dict[str, dict] = {}
    with connect(settings.database_url, settings.db_schema) as conn:
        for source, events, refused, reasons, delay in conn.execute(
                "SELECT source, events, refused, reasons, delay_ms_max FROM source_minutes"):
            t = out.setdefault(source, {"events": 0, "refused": 0, "reasons": {},
                                        "delay_ms_max": 0.0})
            t["events"] += events
            t["refused"] += refused
            t["delay_ms_max"] = max(t["delay_ms_max"], delay)
            for reason, n in reasons.items():
                t["reasons"][reason] = t["reasons"].get(reason, 0) + n
    return out


def test_feeds_are_stored_once_and_bad_events_dead_lettered(migrated, worker):
    events = _events()
    payment = next(v for f, _, v in events if f == "payments")
    bad = _bad_events(payment)
    producer = Producer(migrated.kafka_bootstrap)
    for feed, key, value in events:
        producer.send(migrated.topic(feed), key, value)
    for raw in bad.values():
        producer.send(migrated.topic("payments"), b"bad", raw)
    producer.flush()

    expected = _expected(events, len(bad))
    wait_until(lambda: _stats(migrated) == expected, 60, what=f"stored counts {expected}")

    # every bad event is on the dead-letter topic once, with its reason and source
    letters = wait_until(lambda: (lambda got: got if len(got) >= len(bad) else None)(
        _dead_letter_topic(migrated)), 30, what="dead letters published")
    assert len(letters) == len(bad)
    reasons = [dict(m.headers)["reason"].decode() for m in letters]
    for expected_reason in bad:
        assert any(expected_reason in r for r in reasons), (expected_reason, reasons)
    assert {dict(m.headers)["source_topic"].decode() for m in letters} == {
        migrated.topic("payments")}
    assert {m.value for m in letters} == set(bad.values())

    assert _metric(migrated, "ioc_events_stored_total") == len(events)
    assert _metric(migrated, "ioc_events_consumed_total") == len(events) + len(bad)
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{migrated.worker_port}/metrics",
                                     timeout=2).read().decode()
    assert 'ioc_events_dead_lettered_total{feed="payments",reason="oversize"} 1.0' in metrics
    assert 'ioc_consumer_lag{partition="0",topic="' in metrics

    # ioc status --json reads the same figures, and the worker has committed everything
    def settled():
        doc = _status(migrated)
        return doc if all(f["consumer_lag"] == 0 for f in doc["feeds"].values()) else None

    doc = wait_until(settled, 30, what="consumer lag 0")
    assert {f: v["rows_stored"] for f, v in doc["feeds"].items()} == {
        f: expected[f] for f in contract.FEEDS}
    assert doc["dead_letters"] == len(bad)
    health = json.loads(urllib.request.urlopen(
        f"http://127.0.0.1:{migrated.worker_port}/healthz", timeout=2).read())
    assert health["ok"] and not health["stalled"]

    # the source's health (issue 41, item 5): a producer naming no source is `kafka`
    sources = _source_totals(migrated)
    assert set(sources) == {"kafka"}
    kafka = sources["kafka"]
    assert (kafka["events"], kafka["refused"]) == (len(events), len(bad))
    assert sum(kafka["reasons"].values()) == len(bad) and kafka["reasons"]["oversize"] == 1
    assert 0 <= kafka["delay_ms_max"] < 15 * 60 * 1000  # made 10 minutes before they were sent


def test_the_replay_worker_takes_events_of_any_age(migrated):
    """The live past limit is the live path's: an old recording replays as it was."""
    replay = migrated.for_replay()
    migrate_database(replay, replay.database_url)
    ensure_topics(replay, replay.kafka_bootstrap)
    part = start_part(migrated, "replay-worker", "worker", "--replay")
    try:
        wait_http(f"http://127.0.0.1:{replay.worker_port}/healthz", 60, part)
        old = make_events(300, seed=9, start=datetime(2001, 3, 2, 2, 0, tzinfo=UTC))
        _send(replay, old)
        expected = _expected(old, 0)
        wait_until(lambda: _stats(replay) == expected, 60, what=f"replayed counts {expected}")
    finally:
        part.stop()


def test_redelivery_after_a_restart_stores_and_publishes_nothing_twice(migrated, worker):
    events = _events(2000, seed=5)
    bad = b"\xff not json"
    _send(migrated, events + [("payments", b"bad", bad)])
    expected = _expected(events, 1)
    wait_until(lambda: _stats(migrated) == expected, 60, what="first delivery stored")
    wait_until(lambda: len(_dead_letter_topic(migrated)) == 1, 30, what="dead letter published")

    # a producer retry after the worker restarted: the same events and bytes arrive again,
    # and the new worker's group starts from scratch (as after lost commits)
    worker.stop()
    _send(migrated, events + [("payments", b"bad", bad)])
    again_settings = migrated.with_(consumer_group=migrated.consumer_group + "-again")
    again = start_part(again_settings, "worker-2", "worker")
    try:
        wait_http(f"http://127.0.0.1:{migrated.worker_port}/healthz", 60, again)
        wait_until(lambda: _metric(migrated, "ioc_events_duplicate_total") == 2 * len(events),
                   60, what="both copies of every event seen as duplicates")
        assert _stats(migrated) == {**expected, "dead_letters": 2}  # a new offset, a new row
        # the first copy's dead letter was recorded already: not published again
        assert len(_dead_letter_topic(migrated)) == 2
        assert _metric(migrated, "ioc_events_stored_total") == 0
        # nothing counted twice in the source's health either; the new offset's letter is new
        totals = _source_totals(migrated)["kafka"]
        assert (totals["events"], totals["refused"]) == (len(events), 2)
    finally:
        again.stop()


def test_status_counts_every_unconsumed_event_as_lag(migrated):
    # Tansu's ListOffsets can under-report the end of a partition; status must not
    events = _events(1500)
    _send(migrated, events)
    lag = {f: v["consumer_lag"] for f, v in _status(migrated)["feeds"].items()}
    assert lag == {f: n for f, n in _expected(events, 0).items() if f in contract.FEEDS}


def _group_tool(settings) -> dict[tuple[str, int], tuple[int | None, int, int | None]]:
    """Apache Kafka's consumer-group command (from the jars the broker runs), describing the
    worker group: (topic, partition) -> (committed offset, log end offset, lag); None where
    it prints "-" (nothing committed)."""
    jars = fetch_jars(Settings.from_env().kafka_jars or DEFAULT_JARS)
    run = subprocess.run(
        [shutil.which("java") or "java", "-Xmx256m", "-cp", str(jars / "libs" / "*"),
         "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", "--bootstrap-server",
         settings.kafka_bootstrap, "--describe", "--group", settings.consumer_group],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    rows = {}
    for line in run.stdout.splitlines():
        # GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
        cells = line.split()
        if len(cells) >= 6 and cells[0] == settings.consumer_group and cells[2].isdigit():
            number = lambda c: None if c == "-" else int(c)  # noqa: E731
            rows[(cells[1], int(cells[2]))] = (number(cells[3]), int(cells[4]),
                                               number(cells[5]))
    return rows


def test_kafkas_own_group_tool_sees_the_lag_ioc_status_reports(migrated, request):
    if request.config.getoption("--broker") != "kafka":
        pytest.skip("this session's broker is Tansu (--broker tansu): Apache Kafka's own "
                    "tools are checked against Apache Kafka")
    # the worker stores a first batch and commits it; stopped, a second batch waits
    first = _events(400, seed=11)
    part = start_part(migrated, "worker", "worker")
    try:
        wait_http(f"http://127.0.0.1:{migrated.worker_port}/healthz", 60, part)
        _send(migrated, first)
        wait_until(lambda: all(f["consumer_lag"] == 0 for f in _status(migrated)["feeds"]
                               .values()) or None, 60, what="the first batch committed")
    finally:
        part.stop()
    waiting = _events(150, seed=12)
    _send(migrated, waiting)
    lag = {f: v["consumer_lag"] for f, v in _status(migrated)["feeds"].items()}
    assert lag == {f: n for f, n in _expected(waiting, 0).items() if f in contract.FEEDS}
    described = _group_tool(migrated)
    for feed in contract.FEEDS:
        rows = [v for (topic, _), v in described.items() if topic == migrated.topic(feed)]
        assert rows, (feed, described)
        # the tool's lag (log end from the broker's ListOffsets, minus committed; "-" where
        # nothing was committed: all of it) is ours
        assert all(shown is None or shown == end - done for done, end, shown in rows), rows
        assert sum(end - (done or 0) for done, end, _ in rows) == lag[feed], (feed, rows)
        assert sum(end for _, end, _ in rows) == _expected(first + waiting, 0)[feed]


def _kcat(settings, *args: str, data: bytes | None = None) -> subprocess.CompletedProcess:
    kcat = shutil.which("kcat")
    assert kcat, "kcat is required: `make test` installs it (Debian package kcat)"
    run = subprocess.run([kcat, "-b", settings.kafka_bootstrap, *args], input=data,
                         capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr.decode(errors="replace")[-2000:]
    return run


def test_kcat_lists_produces_and_consumes_on_the_ioc_topics(migrated, worker, request):
    if request.config.getoption("--broker") != "kafka":
        pytest.skip("this session's broker is Tansu (--broker tansu), whose ApiVersions "
                    "kcat (librdkafka) cannot read")
    # lists: every feed's topic and the dead-letter topic
    listed = json.loads(_kcat(migrated, "-L", "-J").stdout)
    names = {t["topic"] for t in listed["topics"]}
    assert {migrated.topic(f) for f in (*contract.FEEDS, "deadletter")} <= names
    # produces: a valid event is stored, a foreign one goes to the dead letters with why
    feed, key, value = _events(1, seed=21)[0]
    _kcat(migrated, "-P", "-t", migrated.topic(feed), "-k", key.decode(), data=value + b"\n")
    _kcat(migrated, "-P", "-t", migrated.topic("payments"), "-k", "kcat",
          data=b"written by hand with kcat\n")
    expected = _expected([(feed, key, value)], 1)
    wait_until(lambda: _stats(migrated) == expected, 60, what=f"stored counts {expected}")
    # consumes: the dead letter, with its reason and source in the headers
    lines = wait_until(lambda: [json.loads(line) for line in _kcat(
        migrated, "-C", "-t", migrated.topic("deadletter"), "-o", "beginning", "-e", "-J",
        "-q").stdout.decode().splitlines() if line.strip()] or None, 30,
        what="the dead letter read by kcat")
    assert [m["payload"] for m in lines] == ["written by hand with kcat"]
    headers = dict(zip(lines[0]["headers"][::2], lines[0]["headers"][1::2], strict=True))
    assert headers["source_topic"] == migrated.topic("payments") and headers["reason"]

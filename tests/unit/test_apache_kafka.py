"""Apache Kafka on loopback (ioc/services/kafka.py): node configuration and fetch errors; the
broker itself runs under the whole integration tier (tests/conftest.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ioc.errors import MissingBinaryError
from ioc.services.kafka import ApacheKafka, cluster_id, fetch_jars


def _properties(cluster: ApacheKafka, node: int) -> dict[str, str]:
    text = cluster._properties(cluster.nodes[node])
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_three_nodes_replicate_three_times_and_need_two_in_sync(tmp_path: Path):
    cluster = ApacheKafka(tmp_path, [9001, 9002, 9003], [9101, 9102, 9103])
    assert cluster.bootstrap == "127.0.0.1:9001,127.0.0.1:9002,127.0.0.1:9003"
    second = _properties(cluster, 1)
    assert second["node.id"] == "2"
    assert second["controller.quorum.voters"] == (
        "1@127.0.0.1:9101,2@127.0.0.1:9102,3@127.0.0.1:9103")
    assert second["listeners"] == "PLAINTEXT://127.0.0.1:9002,CONTROLLER://127.0.0.1:9102"
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "default.replication.factor"):
        assert second[key] == "3"
    assert second["min.insync.replicas"] == "2"
    assert second["log.dirs"].endswith("node-2/data")


def test_a_single_node_replicates_once(tmp_path: Path):
    only = _properties(ApacheKafka(tmp_path, [9001], [9101]), 0)
    assert only["default.replication.factor"] == "1"
    assert only["min.insync.replicas"] == "1"
    assert only["controller.quorum.voters"] == "1@127.0.0.1:9101"
    # bounded on disk by age and by size (issue 17, item 8): a week or 256 MB a partition
    assert (only["log.retention.hours"], only["log.retention.bytes"]) == ("168", str(256 << 20))
    assert int(only["log.segment.bytes"]) < int(only["log.retention.bytes"])


def test_ports_come_in_pairs(tmp_path: Path):
    with pytest.raises(ValueError):
        ApacheKafka(tmp_path, [9001, 9002], [9101])


def test_cluster_ids_are_kraft_shaped_and_new():
    first, second = cluster_id(), cluster_id()
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", first) and first != second
    # one random id in 64 would start with "-", which the storage tool takes for an option
    assert not any(cluster_id().startswith("-") for _ in range(5000))


def test_fetch_without_maven_names_what_to_install(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no mvn on it
    with pytest.raises(MissingBinaryError, match="mvn.*Maven.*IOC_KAFKA_JARS"):
        fetch_jars(tmp_path / "jars")
    assert not (tmp_path / "jars").exists()


def test_a_fetched_folder_is_not_fetched_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "jars").mkdir()
    (tmp_path / "jars" / ".complete").write_text("4.1.1\n")
    monkeypatch.setenv("PATH", str(tmp_path))  # Maven would be needed to fetch
    assert fetch_jars(tmp_path / "jars") == (tmp_path / "jars").resolve()

"""Which brokers hold copies of the feeds' partitions out of sync (the wall's broker alert)."""

from ioc.status import out_of_sync


def _partition(index: int, replicas: list[int], in_sync: list[int]) -> dict:
    # the keys of kafka-python's describe_topics answer (the Metadata response's fields)
    return {"partition_index": index, "leader_id": in_sync[0] if in_sync else -1,
            "replica_nodes": replicas, "isr_nodes": in_sync}


def test_every_replica_broker_is_counted_and_only_copies_out_of_sync_count():
    topics = [{"name": "ioc.payments", "partitions": [
        _partition(0, [1, 2, 3], [1, 2]), _partition(1, [2, 3, 1], [2, 1]),
        _partition(2, [3, 1, 2], [1, 2, 3])]},
        {"name": "ioc.portal", "partitions": [_partition(0, [1, 2, 3], [1, 2, 3])]}]
    assert out_of_sync(topics) == {1: 0, 2: 0, 3: 2}


def test_a_partition_without_leader_counts_its_copies_out_of_sync():
    # two brokers gone: the last one in sync stays in the set (Kafka keeps it there)
    topics = [{"name": "t", "partitions": [_partition(0, [1, 2, 3], [3])]}]
    assert out_of_sync(topics) == {1: 1, 2: 1, 3: 0}


def test_one_broker_and_no_topics():
    assert out_of_sync([{"name": "t", "partitions": [_partition(0, [1], [1])]}]) == {1: 0}
    assert out_of_sync([]) == {}

"""A Faust consumer that hands each poll's records to the agents as one batch per topic.

Why: Faust's own fetch loop delivers one message at a time (`wait_first` on two new tasks,
the conductor's lock, an `Event` and a queue hop per message, then one ack each), which
profiled at about 10x the cost of a plain aiokafka consumer with the same sink (see
docs/performance.md). This consumer keeps everything else of Faust (group membership,
rebalances, seeks, the commit timer, offset bookkeeping with gaps, flow control) and only
replaces the inner loop: records of a poll are grouped by topic and passed in one call to
the batch handler registered for that topic; the handler acks their offsets in bulk with
`ack_offsets()` once the rows are durable, and Faust's commit timer commits them.

Records of topics without a batch handler go through Faust's ordinary per-message path.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import IllegalStateError
from aiokafka.structs import TopicPartition
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types.tuples import TP, ack_lock

# How long the broker may hold a fetch that has too little data. Faust hard-codes 1,500 ms;
# Tansu holds fetches for up to that long even as records arrive, which measured as 0.8-0.9 s
# latency spikes every few seconds at 2,000 events/s (p99 1.7 s). With 100 ms an idle worker
# sends ten small fetch requests a second, and a busy one is not slowed (full fetches return
# at once).
FETCH_MAX_WAIT_MS = 100
# How much data a fetch waits for (up to FETCH_MAX_WAIT_MS). aiokafka's default, 1 byte, has
# Apache Kafka answer every fetch at once: at 2,000 events/s a worker then stored many tiny
# batches (a transaction each) and, once behind, caught up slowly (p99 0.54 s, and up to
# 1.6 s in a run without warm-up); 16 KB (about 40 ms of that stream) made the batches
# larger: p99 0.12-0.21 s on Kafka, 0.15-0.23 s on Tansu (docs/performance.md).
FETCH_MIN_BYTES = 16_384
# records of one topic merged into one batch while its agent is busy (one transaction)
MAX_BATCH = 10_000


class BatchConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread with a short fetch wait (`FETCH_MAX_WAIT_MS`) for a little
    data (`FETCH_MIN_BYTES`), whose livelock check passes over partitions without a
    position (`verify_event_path`)."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # set before start(), which hands them to the fetcher; Faust offers no setting for them
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        consumer._fetch_min_bytes = FETCH_MIN_BYTES
        return consumer

    def has_position(self, tp: TP) -> bool:
        """Whether aiokafka holds `tp` with a position (the next offset to fetch) now."""
        subscription = self._consumer and self._consumer._subscription.subscription
        assignment = subscription and subscription.assignment
        state = assignment and assignment.state_value(TopicPartition(tp.topic, tp.partition))
        return bool(state and state.has_valid_position)

    def verify_event_path(self, now: float, tp: TP) -> None:
        """Faust's livelock check of one partition, for partitions that have a position.

        Why: a partition aiokafka holds without a position yet (just assigned, or sent back
        to its beginning by `BatchConsumer.perform_seek`, until the fetcher has resolved the
        offset) is not livelocked, but Faust's check reads its position and aiokafka asserts
        there is one: the AssertionError crashed the consumer, so the worker that took over
        partitions in a rebalance died 0.4 s after it was ready (issue 39). Such a partition
        gets only the check of its fetch path, which needs no position. The fetcher runs in
        the consumer thread and can clear a position between our look and Faust's, so an
        AssertionError is also excused when the position is gone by then.
        """
        if not self.has_position(tp):
            self._verify_aiokafka_event_path(now, tp)
            return None
        try:
            return super().verify_event_path(now, tp)
        except AssertionError:
            if self.has_position(tp):
                raise
            return None


@dataclass(frozen=True)
class BatchHandler:
    """Where one topic's batches go: `put` hands a batch on (to the feed's agent), `has_room`
    says whether `put` would return at once."""

    put: Callable[[Sequence[Any]], Awaitable[None]]
    has_room: Callable[[], bool]


class BatchConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with a batch-per-topic fetch loop (see module doc).

    A topic whose agent is busy (its handler has no room) is paused, alone: its batches wait
    here and its partitions are not fetched, while the other topics go on. One feed stuck
    on a write (a locked table, a slow disk) therefore never stalls the others.
    """

    #: wall-clock time (time.time) of the last completed poll, even an empty one; the stall
    #: detector uses it to see a fetch loop that stopped (faust-streaming #175, #523, #640)
    last_poll: float = 0.0
    #: True while some topic waits for its agent (back-pressure, not a stall of the loop)
    waiting_on_agent: bool = False
    #: wall-clock time an agent last took a batch: back-pressure excuses a fetch loop only
    #: while the agents keep taking them (a stuck agent must not hide behind it)
    last_handed: float = 0.0
    #: topic -> batches read and not yet handed to its agent
    pending: dict[str, deque[list[Any]]] = {}

    def describe_flow(self) -> str:
        """What the fetch loop holds back, for the stall warning: paused partitions, batches
        waiting for an agent, partitions not fetched."""
        assigned = self.assignment()
        active = self._active_partitions or set()
        idle = sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned - active)
        waiting = {t: sum(map(len, q)) for t, q in self.pending.items() if q}
        return (f"flow {'on' if self.flow_active else 'off'}; not fetched: "
                f"{', '.join(idle) or 'none'}; waiting for an agent: {waiting or 'none'}")

    def _new_consumer_thread(self) -> BatchConsumerThread:
        return BatchConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def perform_seek(self) -> None:
        """Seek every held partition to its committed offset, and those with none to the
        beginning. (aiokafka's seek_to_committed leaves a partition without a committed
        offset where it is, so records read and then dropped in a rebalance, by our loop or
        by Faust clearing the agents' queues, were never read again while the group had
        committed nothing there yet. Found by `ioc chaos`: 10,000 events lost in one of
        three runs of worker_kill.)"""
        await super().perform_seek()
        fresh = [tp for tp in self.assignment() if not self._committed_offset.get(tp)]
        if fresh:
            await self._thread.seek_to_beginning(
                *(self._new_topicpartition(tp.topic, tp.partition) for tp in fresh))
            for tp in fresh:
                self._read_offset[tp] = None

    def batch_handlers(self) -> dict[str, BatchHandler]:
        return getattr(self.app, "batch_handlers", {})

    def ack_offsets(self, tp: TP, offsets: Sequence[int]) -> int:
        """Mark `offsets` of `tp` as processed, as `Consumer.ack` does for one message."""
        with ack_lock:
            committed = self._committed_offset[tp]
            index = self._acked_index[tp]
            new = [o for o in offsets
                   if (committed is None or o >= committed) and o not in index]
            index.update(new)
            self._acked[tp].extend(new)
            self._n_acked += len(new)
        return len(new)

    async def _hand_on(self, handlers: dict[str, BatchHandler],
                       pending: dict[str, deque[list[Any]]]) -> None:
        """Give waiting batches to agents with room; pause topics still waiting, resume the
        others."""
        for topic, queue in pending.items():
            handler = handlers[topic]
            while queue and handler.has_room():
                await handler.put(queue.popleft())
                self.last_handed = time.time()
        waiting = {topic for topic, queue in pending.items() if queue}
        paused = {tp for tp in self._paused_partitions if tp.topic in handlers}
        if not waiting and not paused:  # the usual case: nothing to pause or resume
            self.waiting_on_agent = False
            return
        to_pause = {tp for tp in self.assignment() if tp.topic in waiting} - paused
        to_resume = {tp for tp in paused if tp.topic not in waiting}
        if to_pause:
            self.pause_partitions(to_pause)
        if to_resume:
            self.resume_partitions(to_resume)
        self.waiting_on_agent = bool(waiting)

    async def _drain_messages(self, fetcher: Any) -> None:  # noqa: C901 - one loop, kept flat
        handlers = self.batch_handlers()
        if not handlers:
            return await super()._drain_messages(fetcher)
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        read_offset = self._read_offset
        acks_enabled_for = self.app.topics.acks_enabled_for
        callback = self.callback
        pending: dict[str, deque[list[Any]]] = {topic: deque() for topic in handlers}
        self.pending = pending
        reseek = False
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                if reseek:
                    # before fetching again, once the rebalance is over: back to the
                    # committed offsets of the partitions held now
                    if not self.flow_active:
                        await self.wait(self.can_resume_flow)
                    try:
                        await self.perform_seek()
                    except IllegalStateError:  # the assignment changed again meanwhile
                        await self.sleep(0.1)
                        continue
                    reseek = False
                generation = self.app.consumer_generation_id
                # with batches waiting, look again soon whether their agent has room
                wait = 0.05 if self.waiting_on_agent else 1.0
                records, active = await self._wait_next_records(wait)
                self.last_poll = time.time()
                await self.sleep(0)
                if self.should_stop:
                    continue
                if not self.flow_active or self.app.consumer_generation_id != generation:
                    # a rebalance began or ended while we fetched: drop what was read and
                    # seek back to the committed offsets so it is read again. (Faust's
                    # getmany drops records on a generation change without seeking: the
                    # position had moved past them, so a partition kept through the
                    # rebalance lost them until a restart. Found by `ioc chaos`: about 15 %
                    # of a rebalance run's events were never stored.)
                    if records or any(pending.values()):
                        for queue in pending.values():
                            queue.clear()
                        await self._hand_on(handlers, pending)
                        reseek = True
                    continue
                for tp, recs in (records or {}).items():
                    if not recs or (active is not None and tp not in active
                                    and tp not in self._buffered_partitions
                                    and tp not in self._paused_partitions):
                        continue
                    last_read = read_offset[tp]
                    if last_read is not None and recs[0].offset < last_read:
                        # stale records from before a seek: Faust drops these too
                        recs = [r for r in recs if r.offset >= last_read]
                        if not recs:
                            continue
                    if acks_enabled_for(tp.topic):
                        await self._note_gaps(tp, last_read, recs)
                    read_offset[tp] = recs[-1].offset
                    self._track_end_offset(tp)
                    if tp.topic in handlers:
                        queue = pending[tp.topic]
                        if queue and len(queue[-1]) < MAX_BATCH:  # merge small batches
                            queue[-1].extend(recs)
                        else:
                            queue.append(list(recs))
                    else:
                        for rec in recs:
                            await callback(self._to_message(tp, rec))
                await self._hand_on(handlers, pending)
                if self._commit_every is not None and self._n_acked >= self._commit_every:
                    self._n_acked = 0
                    await self.commit()
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise

    def _track_end_offset(self, tp: TP) -> None:
        """Give the monitor `tp`'s high watermark, as Faust's loop does. The partition can be
        revoked in the consumer thread since this loop read its records, and aiokafka then
        asserts it is not assigned: such a partition's end is no longer ours to track."""
        try:
            end = self.highwater(tp)
        except AssertionError:
            if tp in self.assignment():
                raise
            return
        self.app.monitor.track_tp_end_offset(tp, end)

    async def _note_gaps(self, tp: TP, last_read: int | None, recs: Sequence[Any]) -> None:
        """Tell Faust's offset bookkeeping about offsets that will never arrive (compaction,
        transaction markers), as its own loop does, so commits can move past them."""
        first, last = recs[0].offset, recs[-1].offset
        # (Faust's own loop passes the present offset as the gap's end, which would count
        # that record as done before it is stored; we stop one short)
        if last_read and first - last_read > 1:
            await self._add_gap(tp, last_read + 1, first - 1)
        if last - first + 1 != len(recs):  # holes inside the batch
            previous = first
            for rec in recs[1:]:
                if rec.offset - previous > 1:
                    await self._add_gap(tp, previous + 1, rec.offset - 1)
                previous = rec.offset


class BatchTransport(faust_aiokafka.Transport):
    """The aiokafka transport with `BatchConsumer`."""

    Consumer = BatchConsumer

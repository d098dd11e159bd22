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
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types.tuples import TP, ack_lock

# topic name -> coroutine taking the records of one poll (aiokafka ConsumerRecord objects,
# in offset order per partition)
BatchHandler = Callable[[Sequence[Any]], Awaitable[None]]


class BatchConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with a batch-per-topic fetch loop (see module doc)."""

    #: wall-clock time (time.time) of the last completed poll, even an empty one; the stall
    #: detector uses it to see a fetch loop that stopped (faust-streaming #175, #523, #640)
    last_poll: float = 0.0
    #: True while the loop waits for an agent to take a batch (back-pressure, not a stall)
    waiting_on_agent: bool = False

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

    async def _drain_messages(self, fetcher: Any) -> None:  # noqa: C901 - one loop, kept flat
        handlers = self.batch_handlers()
        if not handlers:
            return await super()._drain_messages(fetcher)
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        read_offset = self._read_offset
        acks_enabled_for = self.app.topics.acks_enabled_for
        callback = self.callback
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                generation = self.app.consumer_generation_id
                records, active = await self._wait_next_records(1.0)
                self.last_poll = time.time()
                await self.sleep(0)
                if not records or self.should_stop:
                    continue
                if not self.flow_active:
                    # a rebalance began while we fetched: drop the records, they are
                    # re-read from the committed offsets (as Faust's getmany does)
                    await self.perform_seek()
                    continue
                if self.app.consumer_generation_id != generation:
                    continue
                batches: dict[str, list[Any]] = {}
                for tp, recs in records.items():
                    if not recs or (active is not None and tp not in active
                                    and tp not in self._buffered_partitions):
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
                    self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                    if tp.topic in handlers:
                        batches.setdefault(tp.topic, []).extend(recs)
                    else:
                        for rec in recs:
                            await callback(self._to_message(tp, rec))
                for topic, recs in batches.items():
                    self.waiting_on_agent = True
                    try:
                        await self.wait_first(handlers[topic](recs), self.suspend_flow.wait())
                    finally:
                        self.waiting_on_agent = False
                if self._commit_every is not None and self._n_acked >= self._commit_every:
                    self._n_acked = 0
                    await self.commit()
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise

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

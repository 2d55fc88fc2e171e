"""Exactly-once consume-transform-produce on aiokafka transactions.

A :class:`TransactionalStage` reads a batch from its input topics (``read_committed``),
hands it to a handler that returns the records to write, and writes them together with
the input offsets in ONE Kafka transaction. Either the outputs and the offsets commit
together, or neither does: a worker killed at any point re-reads the batch after restart
and its earlier, unfinished transaction is aborted (fenced by the stable transactional id)
so ``read_committed`` readers never see it.

Handlers keep their state in memory and write every change to a changelog topic inside
the same transaction (see ``hub.stream.decide``); when a transaction fails, the stage
stops and must be restarted, which restores state from the changelog. That is simpler
and safer than trying to roll the in-memory state back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from hub.adapters.kafka import make_consumer, make_producer
from hub.settings import Settings

log = logging.getLogger(__name__)

Header = tuple[str, bytes]


@dataclass(frozen=True)
class Output:
    """One record to write in the stage's transaction."""

    topic: str  # full topic name (prefix applied)
    value: bytes | None
    key: bytes | None = None
    headers: Sequence[Header] = ()
    partition: int | None = None


BatchHandler = Callable[[list[ConsumerRecord]], Awaitable[list[Output]]]
IdleHandler = Callable[[], Awaitable[list[Output]]]
PrepareHook = Callable[[], Awaitable[object]]


@dataclass
class StageStats:
    """Counters of a running stage (read by progress displays and tests)."""

    batches: int = 0
    records_in: int = 0
    records_out: int = 0
    transactions: int = 0
    last_commit_monotonic: float = field(default_factory=time.monotonic)


class TransactionalStage:
    """One exactly-once processing stage: input topics -> handler -> outputs + offsets."""

    def __init__(
        self,
        settings: Settings,
        *,
        name: str,
        input_topics: Sequence[str],
        handler: BatchHandler,
        on_idle: IdleHandler | None = None,
        prepare: PrepareHook | None = None,
        max_records: int = 1000,
        poll_timeout_ms: int = 50,
        idle_interval_s: float = 1.0,
    ) -> None:
        self.settings = settings
        self.name = name
        self.input_topics = list(input_topics)
        self.handler = handler
        self.on_idle = on_idle
        self.prepare = prepare
        self.max_records = max_records
        self.poll_timeout_ms = poll_timeout_ms
        self.idle_interval_s = idle_interval_s
        self.group_id = settings.group(name)
        self.transactional_id = f"{settings.client_id}.{settings.topic_prefix}{name}"
        self.stats = StageStats()
        self.ready = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Process until ``stop`` is set; raises when a transaction cannot be completed."""
        consumer = make_consumer(
            self.settings,
            *self.input_topics,
            group=self.group_id,
            max_poll_records=self.max_records,
        )
        producer = make_producer(self.settings, transactional_id=self.transactional_id)
        await producer.start()
        try:
            # InitProducerId fences any earlier instance with this transactional id and
            # aborts its open transaction; wait for it before reading state
            await producer._txn_manager.wait_for_pid()
            if self.prepare is not None:
                await self.prepare()  # e.g. restore state, after fencing, before consuming
            await consumer.start()
            try:
                await self._loop(consumer, producer, stop)
            finally:
                await consumer.stop()
        finally:
            await producer.stop()

    async def _loop(
        self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, stop: asyncio.Event
    ) -> None:
        last_idle = time.monotonic()
        while not stop.is_set():
            batch = await consumer.getmany(
                timeout_ms=self.poll_timeout_ms, max_records=self.max_records
            )
            if consumer.assignment():
                self.ready.set()
            records = [r for tp in sorted(batch, key=_tp_order) for r in batch[tp]]
            outputs: list[Output] = []
            if records:
                outputs = await self.handler(records)
            now = time.monotonic()
            if self.on_idle is not None and now - last_idle >= self.idle_interval_s:
                last_idle = now
                outputs += await self.on_idle()
            if not records and not outputs:
                continue
            offsets = {tp: rs[-1].offset + 1 for tp, rs in batch.items() if rs}
            await self._commit(producer, outputs, offsets)
            self.stats.batches += 1
            self.stats.records_in += len(records)
            self.stats.records_out += len(outputs)

    async def _commit(
        self, producer: AIOKafkaProducer, outputs: list[Output], offsets: dict[TopicPartition, int]
    ) -> None:
        async with producer.transaction():
            futures = [
                await producer.send(
                    o.topic,
                    o.value,
                    key=o.key,
                    partition=o.partition,
                    headers=list(o.headers) or None,
                )
                for o in outputs
            ]
            if offsets:
                await producer.send_offsets_to_transaction(offsets, self.group_id)
        for future in futures:
            future.result()  # surfaces a failed send instead of losing it silently
        self.stats.transactions += 1
        self.stats.last_commit_monotonic = time.monotonic()


def _tp_order(tp: TopicPartition) -> tuple[str, int]:
    return (tp.topic, tp.partition)

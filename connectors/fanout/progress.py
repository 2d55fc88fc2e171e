"""How far the fan-out's consumer groups are behind the canonical log (demo, tests, bench)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from connectors.delivery.ledger import topic_partitions
from hub.adapters.kafka import make_consumer
from hub.settings import Settings
from hub.topics import CANONICAL_LOG


async def log_end_offsets(
    settings: Settings, topic: str | None = None, *, tail: int = 200
) -> dict[TopicPartition, int]:
    """Per partition of ``topic`` (the canonical log): the offset after its last committed record.

    That is what a consumer group that processed everything has committed. It is not the
    end offset: a transaction's commit marker occupies an offset after its records, so the
    end offset is ahead of a fully caught-up group. Reads the last ``tail`` offsets of each
    partition (the whole partition when those hold no record).
    """
    consumer = make_consumer(settings, group=None)
    await consumer.start()
    try:
        tps = await topic_partitions(settings, topic or settings.topic(CANONICAL_LOG))
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        out: dict[TopicPartition, int] = {}
        for tp in tps:
            start = max(0, ends[tp] - tail)
            while True:
                last = await _last_record_after(consumer, tp, start, ends[tp])
                if last is not None or start == 0:
                    out[tp] = 0 if last is None else last + 1
                    break
                start = 0
        return out
    finally:
        await consumer.stop()


async def _last_record_after(
    consumer: AIOKafkaConsumer, tp: TopicPartition, start: int, end: int
) -> int | None:
    """Offset of the last committed record of ``tp`` in ``[start, end)``, if any."""
    if end <= start:
        return None
    consumer.seek(tp, start)
    last: int | None = None
    while await consumer.position(tp) < end:
        batch = await consumer.getmany(tp, timeout_ms=500, max_records=5000)
        for record in batch.get(tp, []):
            last = record.offset
    return last


async def lag(
    settings: Settings, groups: Iterable[str], ends: dict[TopicPartition, int]
) -> dict[str, int]:
    """Records each consumer group still has to commit to reach ``ends``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    await admin.start()
    try:
        out: dict[str, int] = {}
        for group in groups:
            committed = await admin.list_consumer_group_offsets(group)
            have = {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
            out[group] = sum(max(0, end - have.get(tp, 0)) for tp, end in ends.items())
        return out
    finally:
        await admin.close()


async def wait_caught_up(
    settings: Settings,
    groups: Iterable[str],
    ends: dict[TopicPartition, int],
    *,
    timeout: float = 30.0,
    interval: float = 0.2,
) -> dict[str, int]:
    """Poll until every group committed up to ``ends`` or ``timeout``; the remaining lag."""
    wanted = list(groups)
    deadline = time.monotonic() + timeout
    while True:
        behind = await lag(settings, wanted, ends)
        if not any(behind.values()) or time.monotonic() >= deadline:
            return behind
        await asyncio.sleep(interval)


async def committed_records(
    settings: Settings, topic: str
) -> AsyncIterator[list[ConsumerRecord]]:
    """Batches of the committed records of ``topic`` (full name), from its start to its
    current end, one partition after the other (demo- and bench-sized topics)."""
    tps = await topic_partitions(settings, topic)
    if not tps:
        return
    consumer = make_consumer(settings, group=None)
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            while await consumer.position(tp) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=500, max_records=5000)
                yield batch.get(tp, [])
    finally:
        await consumer.stop()


async def count_records(settings: Settings, topic: str) -> int:
    """Committed records of ``topic`` (full name), read to its end (demo-sized topics)."""
    return sum([len(batch) async for batch in committed_records(settings, topic)])

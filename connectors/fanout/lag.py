"""How far the fan-out's consumer groups are behind the canonical log (demo, tests, bench)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable

from aiokafka import ConsumerRecord, TopicPartition

from connectors.delivery.ledger import topic_partitions
from hub.adapters.kafka import make_admin, make_consumer
from hub.settings import Settings
from hub.stream.reading import read_topic
from hub.topics import CANONICAL_LOG


async def log_end_offsets(
    settings: Settings, topic: str | None = None
) -> dict[TopicPartition, int]:
    """Per partition of ``topic`` (default: the canonical log): its end as committed
    readers see it (the last stable offset). Stages commit their consumer position, which
    moves past the commit marker after the last record, so a caught-up group reaches it.
    """
    tps = await topic_partitions(settings, topic or settings.topic(CANONICAL_LOG))
    consumer = make_consumer(settings, group=None)
    await consumer.start()
    try:
        consumer.assign(tps)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        return ends
    finally:
        await consumer.stop()


async def lag(
    settings: Settings, groups: Iterable[str], ends: dict[TopicPartition, int]
) -> dict[str, int]:
    """Records each consumer group still has to commit to reach ``ends``."""
    admin = make_admin(settings)
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
    current end (nothing when the topic does not exist)."""
    if not await topic_partitions(settings, topic):
        return
    async for batch in read_topic(settings, topic, bulk=False):
        yield batch


async def count_records(settings: Settings, topic: str) -> int:
    """Committed records of ``topic`` (full name), read to its end (demo-sized topics)."""
    return sum([len(batch) async for batch in committed_records(settings, topic)])

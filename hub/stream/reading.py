"""The one way the hub reads a topic to its current end (read_committed).

Restoring state (changelogs, the register state topic), audits, replays, the delivery
ledger and benchmarks all read this way: the end offsets are taken once when reading
starts, so the answer describes the topic as it was at that moment, even while the hub
writes; from the start, a timestamp or a cursor, all partitions or some.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError

from hub.adapters.kafka import make_consumer
from hub.errors import BrokerUnavailable, ConfigurationError
from hub.settings import Settings

#: fetch sizes for bulk reads (replay, verify, bench): large batches, few round trips
BULK_READ: Mapping[str, int] = {
    "max_partition_fetch_bytes": 4 * 1024 * 1024,
    "fetch_max_bytes": 16 * 1024 * 1024,
    "max_poll_records": 5_000,
}


@dataclass
class ReadProgress:
    """How far a read got: records so far and the total it will read (both approximate
    when transaction markers occupy offsets)."""

    done: int = 0
    total: int = 0


ProgressHook = Callable[[ReadProgress], None]


def to_millis(moment: datetime | None) -> int | None:
    """Epoch milliseconds of an aware datetime (``None`` stays ``None``)."""
    return None if moment is None else int(moment.timestamp() * 1000)


async def partitions_of(settings: Settings, topic: str) -> list[int]:
    """The partitions of ``topic`` (full name); :class:`ConfigurationError` if it is missing."""
    from hub.adapters.kafka import make_admin
    from hub.adapters.memory import MemoryBroker, is_memory

    if is_memory(settings.bootstrap):
        broker = MemoryBroker.named(settings.bootstrap, default_partitions=settings.partitions)
        if topic not in broker.partitions:
            raise ConfigurationError(f"topic {topic} does not exist; run `mchub topics apply`")
        return list(range(len(broker.partitions[topic])))

    admin = make_admin(settings)
    try:
        await admin.start()
        described = await admin.describe_topics([topic])
    except KafkaConnectionError as exc:
        raise BrokerUnavailable(f"cannot reach Kafka at {settings.bootstrap}: {exc}") from exc
    finally:
        await admin.close()
    found = [d for d in described if d.get("topic") == topic and not d.get("error_code")]
    if not found or not found[0].get("partitions"):
        raise ConfigurationError(f"topic {topic} does not exist; run `mchub topics apply`")
    return sorted(int(p["partition"]) for p in found[0]["partitions"])


async def read_topic(
    settings: Settings,
    topic: str,
    *,
    since_ms: int | None = None,
    start: Mapping[int, int] | None = None,
    progress: ProgressHook | None = None,
    bulk: bool = True,
    max_records: int | None = None,
    timeout: float = 600.0,
    partitions: Sequence[int] | None = None,
    last: int | None = None,
) -> AsyncIterator[list[ConsumerRecord]]:
    """Batches of ``topic``'s committed records, each partition in offset order, to the end.

    Starts at the beginning, at the first record with timestamp ``>= since_ms``, at
    explicit ``start`` offsets per partition (a resume cursor), or ``last`` offsets before
    the end (a topic's newest records). The end is the high watermark (last stable
    offset) when the read began. ``max_records`` bounds a poll; ``partitions`` limits the
    read to those partitions (default: all).
    """
    if partitions is None:
        partitions = await partitions_of(settings, topic)
    consumer = make_consumer(settings, group=None, **(dict(BULK_READ) if bulk else {}))
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        end = await consumer.end_offsets(tps)
        begin = await consumer.beginning_offsets(tps)
        first = await _start_offsets(consumer, tps, begin, end, since_ms, start)
        if last is not None:
            first = {tp: max(first[tp], end[tp] - last) for tp in tps}
        for tp in tps:
            consumer.seek(tp, first[tp])
        state = ReadProgress(0, sum(max(0, end[tp] - first[tp]) for tp in tps))
        remaining = {tp for tp in tps if first[tp] < end[tp]}
        deadline = time.monotonic() + timeout
        while remaining:
            if time.monotonic() > deadline:
                raise BrokerUnavailable(f"{topic} was not read to its end in {timeout:.0f} s")
            batch = await consumer.getmany(*remaining, timeout_ms=500, max_records=max_records)
            for tp, records in batch.items():
                kept = [r for r in records if r.offset < end[tp]]
                if kept:
                    state.done += len(kept)
                    yield kept
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
            if progress is not None:
                progress(state)
            await asyncio.sleep(0)
        state.done = state.total
        if progress is not None:
            progress(state)
    finally:
        await consumer.stop()


async def _start_offsets(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    begin: Mapping[TopicPartition, int],
    end: Mapping[TopicPartition, int],
    since_ms: int | None,
    start: Mapping[int, int] | None,
) -> dict[TopicPartition, int]:
    if start is not None:
        return {tp: max(begin[tp], start.get(tp.partition, begin[tp])) for tp in tps}
    if since_ms is None:
        return dict(begin)
    found = await consumer.offsets_for_times({tp: since_ms for tp in tps})
    return {tp: (found[tp].offset if found.get(tp) is not None else end[tp]) for tp in tps}


async def read_all(settings: Settings, topic: str, **options: object) -> list[ConsumerRecord]:
    """Every committed record of ``topic`` (small topics: checkpoints, receipts)."""
    records: list[ConsumerRecord] = []
    async for batch in read_topic(settings, topic, bulk=False, **options):  # type: ignore[arg-type]
        records += batch
    return records

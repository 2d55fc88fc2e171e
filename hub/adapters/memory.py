"""An in-memory Kafka: the kernel's log port without a broker (``MCHUB_BOOTSTRAP=memory://NAME``).

The hub reaches Kafka only through :func:`hub.adapters.kafka.make_consumer`,
:func:`~hub.adapters.kafka.make_producer` and :func:`hub.stream.reading.partitions_of`;
when the bootstrap is ``memory://NAME`` they return the classes below instead, so the
stream kernel, every handler and the read-to-end helper run unchanged on memory (fast
unit tests; the same contract suite runs against the real broker).

What it keeps of Kafka's semantics, and what it leaves out:

- topics with fixed partition counts (the hub's declared topics are created on first
  use with their counts), keyed records partitioned with Kafka's murmur2 partitioner;
- transactions: records and consumer offsets of a transaction become visible together
  at commit and never after an abort; a producer started with a transactional id fences
  the previous holder of that id (its commit raises ``ProducerFenced``);
- consumer groups: members of one group split the subscribed partitions (round robin)
  and get ``on_partitions_revoked`` / ``on_partitions_assigned`` callbacks;
- no transaction markers (offsets are dense), no compaction, no retention, no network
  failures: tests of those run against the real broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError, ProducerFenced
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import RecordMetadata

SCHEME = "memory://"
_POLL_S = 0.005


def is_memory(bootstrap: str) -> bool:
    """True when ``bootstrap`` names an in-memory broker (``memory://NAME``)."""
    return bootstrap.startswith(SCHEME)


@dataclass
class _Group:
    members: list[MemoryConsumer] = field(default_factory=list)
    committed: dict[TopicPartition, int] = field(default_factory=dict)


class MemoryBroker:
    """The in-memory cluster behind one ``memory://NAME``."""

    _brokers: dict[str, MemoryBroker] = {}  # noqa: RUF012 - the process-wide registry

    def __init__(self, default_partitions: int = 6) -> None:
        self.default_partitions = default_partitions
        self.partitions: dict[str, list[list[ConsumerRecord]]] = {}
        self.groups: dict[str, _Group] = {}
        self.epochs: dict[str, int] = {}
        self._partitioner = DefaultPartitioner()
        self._round_robin = itertools.count()

    @classmethod
    def named(cls, bootstrap: str, *, default_partitions: int = 6) -> MemoryBroker:
        """The broker of ``memory://NAME`` (created on first use)."""
        broker = cls._brokers.get(bootstrap)
        if broker is None:
            broker = cls._brokers[bootstrap] = cls(default_partitions)
        return broker

    @classmethod
    def drop(cls, bootstrap: str) -> None:
        """Forget the broker of ``memory://NAME`` (tests clean up with it)."""
        cls._brokers.pop(bootstrap, None)

    # -- topics --------------------------------------------------------------
    def create(self, topic: str, partitions: int) -> None:
        """Create ``topic`` with ``partitions`` partitions unless it exists."""
        self.partitions.setdefault(topic, [[] for _ in range(partitions)])

    def topic(self, topic: str) -> list[list[ConsumerRecord]]:
        """The partitions of ``topic``, created with the default count when missing."""
        if topic not in self.partitions:
            self.create(topic, self.default_partitions)
        return self.partitions[topic]

    def partition_for(self, topic: str, key: bytes | None, partition: int | None) -> int:
        """Where a record goes: explicit partition, murmur2 of the key, or round robin."""
        count = len(self.topic(topic))
        if partition is not None:
            if not 0 <= partition < count:
                raise ValueError(f"{topic} has no partition {partition}")
            return partition
        everything = list(range(count))
        if key is None:
            return everything[next(self._round_robin) % count]
        chosen: int = self._partitioner(key, everything, everything)
        return chosen

    def append(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: Sequence[tuple[str, bytes]] | None,
        partition: int,
    ) -> RecordMetadata:
        """Append one record now (visible at once)."""
        log = self.topic(topic)[partition]
        offset = len(log)
        stamp = int(time.time() * 1000)
        log.append(
            ConsumerRecord(
                topic, partition, offset, stamp, 0, key, value, None,
                len(key or b""), len(value or b""), list(headers or ()),
            )
        )
        return RecordMetadata(topic, partition, TopicPartition(topic, partition), offset, stamp,
                              0, -1)

    def end(self, tp: TopicPartition) -> int:
        """The offset after the last record of ``tp``."""
        return len(self.topic(tp.topic)[tp.partition])

    # -- groups --------------------------------------------------------------
    def group(self, group_id: str) -> _Group:
        """The consumer group ``group_id`` (created on first use)."""
        return self.groups.setdefault(group_id, _Group())

    def rebalance(self, group_id: str) -> None:
        """Ask every member of ``group_id`` to take its new share on its next poll."""
        for member in self.group(group_id).members:
            member._needs_rebalance = True

    def share(self, group_id: str, member: MemoryConsumer) -> set[TopicPartition]:
        """``member``'s round-robin share of the group's subscribed partitions."""
        members = self.group(group_id).members
        if member not in members:
            return set()
        topics = sorted({t for m in members for t in m.subscribed_topics()})
        tps = [TopicPartition(t, p) for t in topics for p in range(len(self.topic(t)))]
        mine = {tp for i, tp in enumerate(tps) if members[i % len(members)] is member}
        return {tp for tp in mine if tp.topic in member.subscribed_topics()}


class MemoryConsumer:
    """The part of ``AIOKafkaConsumer`` the hub uses, on a :class:`MemoryBroker`."""

    def __init__(self, *topics: str, bootstrap_servers: str, group_id: str | None = None,
                 **_: Any) -> None:
        self.broker = MemoryBroker.named(bootstrap_servers)
        self.group_id = group_id
        self._topics: set[str] = set(topics)
        self._pattern: re.Pattern[str] | None = None
        self._listener: Any = None
        self._assigned: set[TopicPartition] = set()
        self._positions: dict[TopicPartition, int] = {}
        self._needs_rebalance = False
        self._started = False

    async def start(self) -> None:
        """Join the group when topics were given."""
        self._started = True
        if self._topics:
            self._join()

    async def stop(self) -> None:
        """Leave the group (its partitions move to the other members)."""
        if self.group_id is not None and self in self.broker.group(self.group_id).members:
            if self._listener is not None and self._assigned:
                await _maybe_await(self._listener.on_partitions_revoked(set(self._assigned)))
            self.broker.group(self.group_id).members.remove(self)
            self.broker.rebalance(self.group_id)
        self._assigned = set()
        self._started = False

    def subscribe(
        self, topics: Sequence[str] = (), pattern: str | None = None, listener: Any = None
    ) -> None:
        """Subscribe to ``topics`` (or to the existing topics matching ``pattern``) in the
        group; assignment happens on the next poll."""
        self._topics = set(topics)
        self._pattern = re.compile(pattern) if pattern is not None else None
        self._listener = listener
        self._join()

    def subscribed_topics(self) -> set[str]:
        """The topics subscribed by name, and the existing ones the pattern matches."""
        if self._pattern is None:
            return set(self._topics)
        matched = {t for t in self.broker.partitions if self._pattern.match(t)}
        return self._topics | matched

    def _join(self) -> None:
        if self.group_id is None:
            raise IllegalStateError("subscribe needs a group id")
        members = self.broker.group(self.group_id).members
        if self not in members:
            members.append(self)
        self.broker.rebalance(self.group_id)

    def assign(self, partitions: Sequence[TopicPartition]) -> None:
        """Read these partitions without a group."""
        self._assigned = set(partitions)
        for tp in partitions:
            self.broker.topic(tp.topic)
            self._positions.setdefault(tp, 0)

    def assignment(self) -> set[TopicPartition]:
        """The partitions this consumer reads."""
        return set(self._assigned)

    async def _rebalance(self) -> None:
        self._needs_rebalance = False
        assert self.group_id is not None
        new = self.broker.share(self.group_id, self)
        if self._listener is not None:
            await _maybe_await(self._listener.on_partitions_revoked(set(self._assigned)))
        self._assigned = new
        committed = self.broker.group(self.group_id).committed
        self._positions = {tp: committed.get(tp, 0) for tp in new}
        if self._listener is not None:
            await _maybe_await(self._listener.on_partitions_assigned(set(new)))

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Records from each partition's position on (waits up to ``timeout_ms`` for some)."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            if self._needs_rebalance:
                await self._rebalance()
            out = self._take(partitions, max_records)
            if out or time.monotonic() >= deadline:
                return out
            await asyncio.sleep(_POLL_S)

    def _take(
        self, partitions: Sequence[TopicPartition], max_records: int | None
    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        budget = max_records or 500
        out: dict[TopicPartition, list[ConsumerRecord]] = {}
        for tp in sorted(partitions or self._assigned, key=lambda t: (t.topic, t.partition)):
            if tp not in self._assigned or budget <= 0:
                continue
            log = self.broker.topic(tp.topic)[tp.partition]
            start = self._positions.get(tp, 0)
            records = log[start : start + budget]
            if records:
                out[tp] = records
                self._positions[tp] = start + len(records)
                budget -= len(records)
        return out

    def _require(self, tp: TopicPartition) -> None:
        if tp not in self._assigned:
            raise IllegalStateError(f"{tp} is not assigned")

    async def position(self, tp: TopicPartition) -> int:
        """The offset of the next record to read from ``tp``."""
        self._require(tp)
        return self._positions.get(tp, 0)

    async def committed(self, tp: TopicPartition) -> int | None:
        """The group's committed offset of ``tp`` (``None``: none yet)."""
        if self.group_id is None:
            return None
        return self.broker.group(self.group_id).committed.get(tp)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Read ``tp`` from ``offset`` on."""
        self._require(tp)
        self._positions[tp] = offset

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        """Read the partitions from their start."""
        for tp in partitions or tuple(self._assigned):
            self.seek(tp, 0)

    async def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """The offset after the last record of each partition."""
        return {tp: self.broker.end(tp) for tp in partitions}

    async def beginning_offsets(
        self, partitions: Sequence[TopicPartition]
    ) -> dict[TopicPartition, int]:
        """0 for every partition (nothing is ever deleted)."""
        return {tp: 0 for tp in partitions}

    async def offsets_for_times(
        self, times: dict[TopicPartition, int]
    ) -> dict[TopicPartition, Any]:
        """The first record at or after each timestamp (``None`` when there is none)."""
        from aiokafka.structs import OffsetAndTimestamp

        out: dict[TopicPartition, Any] = {}
        for tp, stamp in times.items():
            log = self.broker.topic(tp.topic)[tp.partition]
            found = next((r for r in log if r.timestamp >= stamp), None)
            out[tp] = None if found is None else OffsetAndTimestamp(found.offset, found.timestamp)
        return out

    def last_stable_offset(self, tp: TopicPartition) -> int:
        """Everything visible is committed: the end offset."""
        return self.broker.end(tp)

    def highwater(self, tp: TopicPartition) -> int:
        """The end offset."""
        return self.broker.end(tp)

    async def topics(self) -> set[str]:
        """Every topic of the broker."""
        return set(self.broker.partitions)


class MemoryProducer:
    """The part of ``AIOKafkaProducer`` the hub uses, with transactions and fencing."""

    def __init__(self, *, bootstrap_servers: str, transactional_id: str | None = None,
                 **_: Any) -> None:
        self.broker = MemoryBroker.named(bootstrap_servers)
        self.transactional_id = transactional_id
        self.epoch = 0
        self._pending: list[tuple[str, bytes | None, bytes | None, Any, int]] = []
        self._pending_count: dict[tuple[str, int], int] = {}
        self._offsets: tuple[dict[TopicPartition, int], str] | None = None
        self._in_transaction = False

    async def start(self) -> None:
        """Take the transactional id: fences its previous holder."""
        if self.transactional_id is not None:
            self.epoch = self.broker.epochs.get(self.transactional_id, 0) + 1
            self.broker.epochs[self.transactional_id] = self.epoch

    async def stop(self) -> None:
        """Nothing to release."""

    async def flush(self) -> None:
        """Sends are immediate."""

    def _check_epoch(self) -> None:
        if self.transactional_id is not None and (
            self.broker.epochs.get(self.transactional_id) != self.epoch
        ):
            raise ProducerFenced()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Records and offsets sent inside become visible together at the end, or never."""
        if self.transactional_id is None:
            raise IllegalStateError("transactions need a transactional id")
        self._check_epoch()
        self._pending, self._offsets, self._in_transaction = [], None, True
        self._pending_count = {}
        try:
            yield
        except BaseException:
            self._pending, self._offsets, self._in_transaction = [], None, False
            raise
        self._in_transaction = False
        self._check_epoch()
        for topic, value, key, headers, partition in self._pending:
            self.broker.append(topic, value, key, headers, partition)
        if self._offsets is not None:
            offsets, group = self._offsets
            self.broker.group(group).committed.update(offsets)
        self._pending, self._offsets = [], None

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
        **_: Any,
    ) -> asyncio.Future[RecordMetadata]:
        """Send one record (inside a transaction: at its commit); a future of its metadata."""
        chosen = self.broker.partition_for(topic, key, partition)
        future: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
        if self._in_transaction:
            log = self.broker.topic(topic)[chosen]
            pending_here = self._pending_count.get((topic, chosen), 0)
            self._pending_count[(topic, chosen)] = pending_here + 1
            offset = len(log) + pending_here
            self._pending.append((topic, value, key, headers, chosen))
            future.set_result(
                RecordMetadata(topic, chosen, TopicPartition(topic, chosen), offset, -1, 0, -1)
            )
        else:
            future.set_result(self.broker.append(topic, value, key, headers, chosen))
        return future

    async def send_and_wait(self, topic: str, value: bytes | None = None, **options: Any) -> Any:
        """Send one record and return its metadata."""
        return (await self.send(topic, value, **options)).result()

    async def send_offsets_to_transaction(
        self, offsets: dict[TopicPartition, int], group_id: str
    ) -> None:
        """Commit ``offsets`` for ``group_id`` with the transaction."""
        if not self._in_transaction:
            raise IllegalStateError("offsets can only be sent inside a transaction")
        self._offsets = (dict(offsets), group_id)


async def _maybe_await(result: Any) -> None:
    if asyncio.iscoroutine(result):
        await result

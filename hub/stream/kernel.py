"""The one stream kernel: partitioned tasks, exactly once across instances.

Every stage of the hub (ingest, decide, the register-state projection) and every delivery
connector runs on :class:`Stage`. A stage is a consumer group over its input topics; each
input partition it owns is a **task** with its own transactional producer
(``<client id>.<topic prefix><stage>.<topic>-<partition>``). One cycle:

1. poll a batch (``read_committed``) and split it by partition;
2. the :class:`Handler` turns it into outputs per partition — stateful handlers update
   their state and return its changelog records as outputs; sinks deliver here, before
   anything is committed;
3. per task, ONE Kafka transaction writes that partition's outputs and its consumer
   position (not last offset + 1: a transaction marker may follow the last record).

**Why a producer per partition.** aiokafka commits offsets in a transaction without the
group generation (no KIP-447), so two instances must never share a transactional id.
With one id per input partition the new owner of a partition fences exactly its old
owner: on assignment the task's producer is started first (``InitProducerId`` aborts the
old owner's open transaction and fences it), then the handler restores the partition's
state, and only then is the committed offset read and the consumer positioned on it.
Records fetched before that are dropped (each task remembers the next offset it expects).
Any number of processes with the same settings therefore split the partitions; one that
dies is replaced within the group's session timeout.

**Failures.** A handler never sees a failed transaction: when a commit fails (fenced,
broker gone), the open transaction is aborted, the stage closes every task (the handler
drops their state), waits with capped exponential backoff with jitter and joins the
group again, restoring state from the changelogs; it never exits for a broker outage,
however long. Logging is per episode, not per attempt (:mod:`hub.stream.outage`): the
first failure is one WARNING, further restarts of the same episode are counted, and
one INFO says when Kafka works again. A :class:`~hub.errors.PermanentError` (a
configuration error, a destination refusing our credentials) ends the stage with its
message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import IllegalStateError

from hub.adapters.kafka import make_consumer, make_producer
from hub.adapters.memory import is_memory
from hub.errors import PermanentError
from hub.settings import Settings
from hub.stream.outage import OUTAGES, OutageLog

log = logging.getLogger(__name__)

T = TypeVar("T")

Header = tuple[str, bytes]
Batch = Mapping[TopicPartition, list[ConsumerRecord]]
Outputs = dict[TopicPartition, list["Output"]]

DLQ_TOPIC = "mchub-dlq-topic"
DLQ_PARTITION = "mchub-dlq-partition"
DLQ_OFFSET = "mchub-dlq-offset"
DLQ_ERROR = "mchub-dlq-error"


@dataclass(frozen=True)
class Output:
    """One record to write in a task's transaction."""

    topic: str  # full topic name (prefix applied)
    value: bytes | None
    key: bytes | None = None
    headers: Sequence[Header] = ()
    partition: int | None = None


def dead_letter(
    record: ConsumerRecord, topic: str, error: str, extra: Sequence[Header] = ()
) -> Output:
    """``record`` intact (key, value, headers) for dead-letter ``topic``, with its origin
    and ``error`` in ``mchub-dlq-*`` headers (plus ``extra``)."""
    headers: list[Header] = [
        *(record.headers or ()),
        (DLQ_TOPIC, record.topic.encode()),
        (DLQ_PARTITION, str(record.partition).encode()),
        (DLQ_OFFSET, str(record.offset).encode()),
        (DLQ_ERROR, error.encode("utf-8", "replace")[:4000]),
        *extra,
    ]
    return Output(topic, record.value, key=record.key, headers=headers)


class Handler(Protocol):
    """What a stage runs: the records of its tasks in, outputs per task out."""

    async def assigned(self, partitions: Sequence[TopicPartition]) -> None:
        """New tasks: load their state (their old owners are fenced already). An empty
        list: after a rebalance this instance owns no task of the stage (a standby)."""

    async def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        """Tasks gone (rebalance, or a failure): forget their state. An empty list: the
        stage is shutting down or restarting without tasks (stop standby work)."""

    async def process(self, batch: Batch) -> Outputs:
        """Outputs per input partition for a batch (partitions in topic, partition order;
        each partition's records in offset order)."""
        ...

    async def idle(self, partitions: Sequence[TopicPartition]) -> Outputs:
        """Outputs due on a timer (sweeps, checkpoints), per owned partition."""
        ...

    def committed(self, tp: TopicPartition, written: Mapping[TopicPartition, int]) -> None:
        """Task ``tp``'s transaction committed; ``written``: per output partition, the
        offset after the last record it wrote (local stores checkpoint with it)."""


class BaseHandler:
    """A stateless handler: override :meth:`handle` (one record) or :meth:`process`."""

    async def assigned(self, partitions: Sequence[TopicPartition]) -> None:
        """Nothing to restore."""

    async def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        """Nothing to forget."""

    async def process(self, batch: Batch) -> Outputs:
        """:meth:`handle` for every record, outputs kept with their partition."""
        outputs: Outputs = {}
        for tp, records in batch.items():
            out: list[Output] = []
            for record in records:
                out += self.handle(record)
            outputs[tp] = out
        return outputs

    def handle(self, record: ConsumerRecord) -> list[Output]:
        """The outputs of one record."""
        raise NotImplementedError

    async def idle(self, partitions: Sequence[TopicPartition]) -> Outputs:
        """No timers."""
        return {}

    def committed(self, tp: TopicPartition, written: Mapping[TopicPartition, int]) -> None:
        """No local store to checkpoint."""


@dataclass
class StageStats:
    """Counters of a running stage (metrics, progress displays and tests read them)."""

    batches: int = 0
    records_in: int = 0
    records_out: int = 0
    transactions: int = 0
    rebalances: int = 0
    restarts: int = 0
    dropped_stale: int = 0
    restore_seconds: float = 0.0
    last_commit_monotonic: float = field(default_factory=time.monotonic)


@dataclass
class Task:
    """One owned input partition: its producer and how far it got."""

    tp: TopicPartition
    producer: AIOKafkaProducer
    next_offset: int
    committed: int
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def transactional_id(settings: Settings, stage: str, tp: TopicPartition) -> str:
    """The transactional id of a stage's task: one per input partition."""
    return f"{settings.client_id}.{settings.topic_prefix}{stage}.{tp.topic}-{tp.partition}"


class Stage:
    """One exactly-once stage: input partitions -> handler -> outputs + positions."""

    def __init__(
        self,
        settings: Settings,
        *,
        name: str,
        input_topics: Sequence[str],
        handler: Handler,
        input_pattern: str | None = None,
        max_records: int = 1000,
        poll_timeout_ms: int = 50,
        idle_interval_s: float = 1.0,
        pipelined: bool = False,
        max_poll_interval_ms: int = 300_000,
        restart_backoff_s: tuple[float, float] = (0.5, 30.0),
        stats: StageStats | None = None,
        outages: OutageLog | None = None,
    ) -> None:
        """``input_pattern``: a regular expression of further input topics (topics created
        later join within a metadata refresh, 30 s); ``pipelined``: commit a batch while
        the next one is processed (deliveries); ``outages``: where failures are reported
        (default: the process-wide log)."""
        self.settings = settings
        self.name = name
        self.input_topics = list(input_topics)
        self.input_pattern = input_pattern
        self.handler = handler
        self.max_records = max_records
        self.poll_timeout_ms = poll_timeout_ms
        self.idle_interval_s = idle_interval_s
        self.pipelined = pipelined
        self.max_poll_interval_ms = max_poll_interval_ms
        self.restart_backoff_s = restart_backoff_s
        self.group_id = settings.group(name)
        self.stats = stats or StageStats()
        self.outages = outages or OUTAGES
        #: set once the stage has joined its group (with or without partitions)
        self.ready = asyncio.Event()
        self.tasks: dict[TopicPartition, Task] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._cycle = asyncio.Lock()
        self._committing: asyncio.Task[None] | None = None

    # -- public ----------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Process until ``stop`` is set; a failed cycle restarts the stage (one log line)."""
        backoff = self.restart_backoff_s[0]
        while not stop.is_set():
            started = time.monotonic()
            try:
                await self._run_once(stop)
                return
            except PermanentError:
                raise
            except Exception as exc:  # noqa: BLE001 - fenced, broker gone, a handler bug: recover
                self.ready.clear()  # not ready again until the group has been joined anew
                self.stats.restarts += 1
                if time.monotonic() - started > 60:
                    backoff = self.restart_backoff_s[0]
                delay = backoff * random.uniform(0.5, 1.0)  # jitter: instances spread out
                # one WARNING per episode; later restarts of it are counted (see outage.py)
                level = logging.WARNING if self.outages.trouble() else logging.DEBUG
                log.log(
                    level,
                    "%s: %s; restarting the stage in %.1f s (and again with backoff until it "
                    "works)",
                    self.name,
                    _one_line(exc),
                    delay,
                )
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                backoff = min(backoff * 2, self.restart_backoff_s[1])

    async def write(self, tp: TopicPartition, outputs: Sequence[Output]) -> bool:
        """Write ``outputs`` in a transaction of task ``tp`` outside a cycle (no offsets).

        Returns False when the stage does not own ``tp`` (nothing written).
        """
        task = self.tasks.get(tp)
        if task is None:
            return False
        await self._transaction(task, outputs, None)
        return True

    def lag(self) -> dict[TopicPartition, int]:
        """Per owned partition: committed records not yet processed (last stable offset -
        committed position), as of the consumer's last fetch."""
        consumer = self._consumer
        out: dict[TopicPartition, int] = {}
        if consumer is None:
            return out
        for tp, task in list(self.tasks.items()):
            try:
                end = consumer.last_stable_offset(tp)
                if end is None:
                    end = consumer.highwater(tp)
            except (AssertionError, IllegalStateError):  # moved away during a rebalance
                continue
            if end is not None:
                out[tp] = max(0, end - task.committed)
        return out

    # -- one life of the stage -------------------------------------------------
    async def _run_once(self, stop: asyncio.Event) -> None:
        consumer = make_consumer(
            self.settings,
            group=self.group_id,
            max_poll_records=self.max_records,
            max_poll_interval_ms=self.max_poll_interval_ms,
            **({"metadata_max_age_ms": 30_000} if self.input_pattern is not None else {}),
            **self._membership(),
        )
        await self._close_tasks(list(self.tasks))  # nothing may outlive a previous life
        self._consumer = consumer
        await consumer.start()
        try:
            if self.input_pattern is not None:
                consumer.subscribe(pattern=self.input_pattern, listener=_Listener(self, consumer))
            else:
                consumer.subscribe(self.input_topics, listener=_Listener(self, consumer))
            await self._loop(consumer, stop)
        finally:
            async with self._cycle:
                self._consumer = None  # callbacks of this consumer are ignored from now on
                try:
                    await self._settle()
                finally:
                    owned = list(self.tasks)
                    await self._close_tasks(owned)
                    if not owned:
                        await self.handler.revoked([])  # stop any standby work
            await consumer.stop()

    def _membership(self) -> dict[str, str]:
        """Static group membership when ``MCHUB_INSTANCE_ID`` is set (KIP-345): a stage
        restarted in the same instance (a new process, or the next life after an outage)
        rejoins as the same member and gets its partitions back without waiting for the
        session timeout; no LeaveGroup on stop, so others take over only after it."""
        if not self.settings.instance_id or is_memory(self.settings.bootstrap):
            return {}
        return {"group_instance_id": f"{self.settings.instance_id}.{self.name}"}

    async def _loop(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        last_idle = time.monotonic()
        while not stop.is_set():
            batch = await consumer.getmany(
                timeout_ms=self.poll_timeout_ms, max_records=self.max_records
            )
            async with self._cycle:
                if self._committing is not None and (self._committing.done() or not batch):
                    await self._settle()
                records = self._fresh(batch)
                outputs: Outputs = {}
                if records:
                    processed = await _unless_stopped(self.handler.process(records), stop)
                    if processed is None:
                        log.info("%s: stopped while processing; the batch is not committed",
                                 self.name)
                        return
                    outputs = processed
                now = time.monotonic()
                idle_due = now - last_idle >= self.idle_interval_s
                if idle_due:
                    last_idle = now
                    await self._probe(consumer)
                    for tp, extra in (await self.handler.idle(list(self.tasks))).items():
                        outputs.setdefault(tp, []).extend(extra)
                positions = await self._positions(consumer, records, moved_only=idle_due)
                work = {
                    tp: (outputs.get(tp, []), positions.get(tp))
                    for tp in set(outputs) | set(positions)
                    if tp in self.tasks and (outputs.get(tp) or positions.get(tp) is not None)
                }
                if not work:
                    continue
                await self._settle()
                commit = self._commit(work, sum(len(r) for r in records.values()), bool(records))
                if self.pipelined:
                    self._committing = asyncio.create_task(commit)
                else:
                    await commit

    def _fresh(self, batch: Batch) -> dict[TopicPartition, list[ConsumerRecord]]:
        """The records of owned tasks at or after each task's next offset (in order)."""
        fresh: dict[TopicPartition, list[ConsumerRecord]] = {}
        for tp in sorted(batch, key=_tp_order):
            task = self.tasks.get(tp)
            records = batch[tp]
            kept = [r for r in records if task is not None and r.offset >= task.next_offset]
            self.stats.dropped_stale += len(records) - len(kept)
            if kept and task is not None:
                task.next_offset = kept[-1].offset + 1
                fresh[tp] = kept
        return fresh

    async def _positions(
        self, consumer: AIOKafkaConsumer, records: Batch, *, moved_only: bool
    ) -> dict[TopicPartition, int]:
        """Offsets to commit: the consumer position of every partition that had records
        (and, on idle ticks, of every task whose position moved past transaction markers)."""
        positions: dict[TopicPartition, int] = {}
        candidates = list(self.tasks) if moved_only else list(records)
        for tp in candidates:
            task = self.tasks.get(tp)
            if task is None:
                continue
            try:
                position = await consumer.position(tp)
            except IllegalStateError:  # revoked meanwhile
                continue
            if tp in records:
                position = max(task.next_offset, position)
            if position > task.committed:
                positions[tp] = position
        return positions

    async def _commit(
        self,
        work: Mapping[TopicPartition, tuple[list[Output], int | None]],
        records: int,
        batch: bool,
    ) -> None:
        results = await asyncio.gather(
            *(
                self._transaction(self.tasks[tp], outputs, position)
                for tp, (outputs, position) in work.items()
                if tp in self.tasks
            ),
            return_exceptions=True,  # every task's outcome is collected, none left dangling
        )
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise failed[0]
        if batch:
            self.stats.batches += 1
        self.stats.records_in += records
        self.stats.records_out += sum(len(o) for o, _ in work.values())

    async def _transaction(
        self, task: Task, outputs: Sequence[Output], position: int | None
    ) -> None:
        producer = task.producer
        async with task.lock:
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
                if position is not None:
                    await producer.send_offsets_to_transaction({task.tp: position}, self.group_id)
                await _all_written(futures)
            written: dict[TopicPartition, int] = {}
            for future in futures:
                meta = future.result()  # surfaces a failed send instead of losing it silently
                out = TopicPartition(meta.topic, meta.partition)
                written[out] = max(written.get(out, 0), meta.offset + 1)
            if position is not None:
                task.committed = max(task.committed, position)
        self.handler.committed(task.tp, written)
        self.outages.healthy()
        self.stats.transactions += 1
        self.stats.last_commit_monotonic = time.monotonic()

    async def _probe(self, consumer: AIOKafkaConsumer) -> None:
        """While an outage episode is open but quiet, ask the cluster for metadata: an
        answer ends the episode (one INFO line) even when no record flows."""
        if not self.outages.quiet():
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(consumer.topics(), 5)
            self.outages.healthy()

    async def _settle(self) -> None:
        """Wait for a pipelined commit in flight (raising its error)."""
        committing, self._committing = self._committing, None
        if committing is not None:
            await committing

    # -- assignment ------------------------------------------------------------
    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._cycle:
            if self._consumer is None:
                return
            try:
                await self._settle()
            except Exception as exc:  # noqa: BLE001 - the next cycle restarts the stage
                log.warning("%s: commit before a rebalance failed: %s", self.name, exc)
                await self._close_tasks(list(self.tasks))

    async def _on_assigned(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]) -> None:
        async with self._cycle:
            if id(consumer) != id(self._consumer):
                return  # a late callback of a consumer that is being closed
            self.stats.rebalances += 1
            gone = [tp for tp in self.tasks if tp not in assigned]
            await self._close_tasks(gone)
            await self._close_tasks(await self._moved_on(consumer, list(self.tasks)))
            for tp, task in self.tasks.items():
                consumer.seek(tp, task.next_offset)  # kept: no one else committed meanwhile
            new = sorted((tp for tp in assigned if tp not in self.tasks), key=_tp_order)
            if new:
                started = time.monotonic()
                producers = await asyncio.gather(*(self._fence(tp) for tp in new))
                await self.handler.assigned(new)
                for tp, producer in zip(new, producers, strict=True):
                    offset = await consumer.committed(tp)
                    if offset is None:
                        await consumer.seek_to_beginning(tp)
                        offset = await consumer.position(tp)
                    else:
                        consumer.seek(tp, offset)
                    self.tasks[tp] = Task(tp, producer, next_offset=offset, committed=offset)
                self.stats.restore_seconds = time.monotonic() - started
                log.info(
                    "%s: %d task(s) started (%s) in %.2f s",
                    self.name,
                    len(new),
                    ", ".join(f"{tp.topic}-{tp.partition}" for tp in new),
                    self.stats.restore_seconds,
                )
            elif not self.tasks:
                await self.handler.assigned([])  # a standby: the handler may prepare
            self.ready.set()
            self.outages.healthy()

    async def _moved_on(
        self, consumer: AIOKafkaConsumer, kept: Sequence[TopicPartition]
    ) -> list[TopicPartition]:
        """Kept tasks that another member owned meanwhile (we may have lost our membership
        and rejoined): each is fenced again, then its committed offset tells whether anyone
        else committed since our last commit; those must restart from the changelog."""
        moved: list[TopicPartition] = []
        for tp in kept:
            task = self.tasks[tp]
            with contextlib.suppress(Exception):
                await task.producer.stop()
            task.producer = await self._fence(tp)
            offset = await consumer.committed(tp)
            if offset is not None and offset != task.committed:
                moved.append(tp)
        if moved:
            log.info(
                "%s: %d task(s) were processed elsewhere meanwhile; restoring them (%s)",
                self.name,
                len(moved),
                ", ".join(f"{tp.topic}-{tp.partition}" for tp in moved),
            )
        return moved

    async def _fence(self, tp: TopicPartition) -> AIOKafkaProducer:
        """The task's producer, started: its InitProducerId fences the partition's old owner."""
        producer = make_producer(
            self.settings, transactional_id=transactional_id(self.settings, self.name, tp)
        )
        await producer.start()
        return producer

    async def _close_tasks(self, tps: Sequence[TopicPartition]) -> None:
        tasks = [self.tasks.pop(tp) for tp in tps if tp in self.tasks]
        if not tasks:
            return
        try:
            await self.handler.revoked([t.tp for t in tasks])
        finally:
            for task in tasks:
                with contextlib.suppress(Exception):
                    await task.producer.stop()


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, stage: Stage, consumer: AIOKafkaConsumer) -> None:
        self.stage = stage
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.stage._on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.stage._on_assigned(self.consumer, set(assigned))


async def _all_written(futures: Sequence[asyncio.Future[object]]) -> None:
    """Wait for every send of a transaction, raising the first failure INSIDE it.

    A record the broker refuses for good (``MessageSizeTooLargeError`` from a topic whose
    ``max.message.bytes`` is below the hub's record limit) fails only its own batch:
    aiokafka would still commit the transaction — the other records and the input's
    offset — so that input would be lost without a trace. Raised here, the transaction is
    aborted and the stage retries (docs/limits.md, issue 14).
    """
    if futures:
        await asyncio.gather(*futures)


async def _unless_stopped(work: Awaitable[T], stop: asyncio.Event) -> T | None:
    """Await ``work``; cancel it and return ``None`` if ``stop`` is set first."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        return None
    return task.result()


def _one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (without repeating the type when the message
    already starts with it, as aiokafka's errors do)."""
    name = type(exc).__name__
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text if text.startswith(name) else f"{name}: {text}".rstrip(": ")


def _tp_order(tp: TopicPartition) -> tuple[str, int]:
    return (tp.topic, tp.partition)


__all__ = [
    "BaseHandler",
    "Batch",
    "Handler",
    "Header",
    "Output",
    "Outputs",
    "Stage",
    "StageStats",
    "dead_letter",
    "transactional_id",
]

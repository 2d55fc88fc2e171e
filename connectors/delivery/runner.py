"""The connector loop: consume, deliver through a sink, record, then commit offsets.

One :class:`DeliveryRunner` per destination, each with its own consumer group
(``<group prefix>.deliver-<destination>``), so a slow or failing destination never holds
back the others. Per batch:

1. read records (``read_committed``) and decode each with the connector's decoder;
   undecodable bytes go to ``dlq.out.<destination>`` intact;
2. ``sink.add`` every item, then ``sink.flush()`` (retries happen inside; each retry
   writes a ``pending`` ledger record, throttled per item);
3. ``before_commit`` hook (tests use it to simulate a crash after the 2xx);
4. in ONE Kafka transaction: a ``delivered``/``failed``/``skipped`` ledger record per item, the
   dead letters of refused items, and the consumer offsets. This commit runs while the
   next batch is read and delivered (every item of the batch was answered already);
   commits stay one at a time and in order.

If ``flush`` raises (401/403, or retries exhausted) or the process dies before step 4,
nothing is committed and the batch is delivered again after a restart with the same
``Idempotency-Key`` (at-least-once; destinations apply each change once).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from connectors.delivery.ledger import LedgerRecord
from connectors.delivery.sink import DeliveryItem, DeliveryResult, RetryNotice, Sink, SourcePosition
from hub.adapters.kafka import make_consumer, make_producer
from hub.errors import UndecodableInput
from hub.settings import Settings
from hub.stream.engine import Header, Output
from hub.topics import DELIVERY_RECEIPTS, destination_dead_letters, outbox

log = logging.getLogger(__name__)

Decoder = Callable[[bytes], DeliveryItem]
CommitHook = Callable[[list[DeliveryResult]], Awaitable[None]]

DLQ_TOPIC = "mchub-dlq-topic"
DLQ_PARTITION = "mchub-dlq-partition"
DLQ_OFFSET = "mchub-dlq-offset"
DLQ_ERROR = "mchub-dlq-error"
DLQ_STATUS = "mchub-dlq-status"
DLQ_BODY_DIGEST = "mchub-dlq-body-digest"
EVENT_ID = "mchub-event-id"


def decode_json_item(data: bytes) -> DeliveryItem:
    """Decode ``{"eventId", "key", "payload", "credentialId"?}`` JSON (tests, tooling).

    Raises :class:`~hub.errors.UndecodableInput` for anything else.
    """
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict) or not isinstance(doc.get("payload"), dict):
            raise ValueError("expected an object with a 'payload' object")
        return DeliveryItem(
            event_id=str(doc["eventId"]),
            key=str(doc["key"]),
            payload=doc["payload"],
            credential_id=doc.get("credentialId"),
        )
    except (ValueError, KeyError, UnicodeDecodeError) as exc:
        raise UndecodableInput(f"not a delivery item: {exc}") from exc


@dataclass
class RunnerStats:
    """Counters of a running connector (read by tests and progress displays)."""

    batches: int = 0
    records: int = 0
    delivered: int = 0
    failed: int = 0
    skipped: int = 0
    undecodable: int = 0
    pending_records: int = 0
    commits: int = 0
    committed: dict[TopicPartition, int] = field(default_factory=dict)


class DeliveryRunner:
    """The loop of one destination's connector: outbox → sink → ledger + offsets.

    ``decode`` turns record bytes into a :class:`DeliveryItem` (raising
    :class:`~hub.errors.UndecodableInput` for bad bytes); the sink decides how an item is
    sent (for HTTP: :class:`~connectors.delivery.http_sink.HttpSink` and its request
    builder). ``topic`` (full name) defaults to the destination's outbox; it must be keyed
    by the ordering key so one key's changes stay in one partition, in order.
    ``pending_interval`` throttles ``pending`` ledger records per item;
    ``max_poll_interval_ms`` bounds how long one flush (an outage) may take before the
    group coordinator considers the consumer gone; ``before_commit`` runs after a flush,
    before the transaction (a test hook for crashes between the 2xx and the commit).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        destination: str,
        sink: Sink,
        decode: Decoder,
        topic: str | None = None,
        max_records: int = 100,
        poll_timeout_ms: int = 100,
        pending_interval: float = 30.0,
        max_poll_interval_ms: int = 600_000,
        before_commit: CommitHook | None = None,
    ) -> None:
        self.settings = settings
        self.destination = destination
        self.sink = sink
        self.decode = decode
        self.topic = topic or settings.topic(outbox(destination))
        self.name = f"deliver-{destination}"
        self.group_id = settings.group(self.name)
        self.transactional_id = f"{settings.client_id}.{settings.topic_prefix}{self.name}"
        self.ledger_topic = settings.topic(DELIVERY_RECEIPTS)
        self.dead_letter_topic = settings.topic(destination_dead_letters(destination))
        self.max_records = max_records
        self.poll_timeout_ms = poll_timeout_ms
        self.pending_interval = pending_interval
        self.max_poll_interval_ms = max_poll_interval_ms
        self.before_commit = before_commit
        self.stats = RunnerStats()
        self.ready = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._txn_lock = asyncio.Lock()
        self._pending_written: dict[str, float] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; raises (committing nothing) when a batch fails.

        A flush still running when ``stop`` is set is cancelled; its batch is not committed.
        """
        consumer = make_consumer(
            self.settings,
            self.topic,
            group=self.group_id,
            max_poll_records=self.max_records,
            max_poll_interval_ms=self.max_poll_interval_ms,
        )
        producer = make_producer(self.settings, transactional_id=self.transactional_id)
        await producer.start()  # fences an earlier instance, aborting its open transaction
        self._producer = producer
        previous_hook = self.sink.on_retry

        async def on_retry(notice: RetryNotice) -> None:
            await self._note_pending(notice)
            if previous_hook is not None:
                await previous_hook(notice)

        self.sink.on_retry = on_retry
        try:
            await consumer.start()
            try:
                await self._loop(consumer, producer, stop)
            finally:
                await consumer.stop()
        finally:
            self.sink.on_retry = previous_hook
            self._producer = None
            await producer.stop()

    async def _loop(
        self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, stop: asyncio.Event
    ) -> None:
        # A batch's commit (ledger + offsets, one transaction) runs while the next batch is
        # read and delivered: its items were all answered already, so only the record of
        # that is in flight. The next commit waits for it (one transaction at a time, in
        # order); a crash before it loses nothing — both batches are delivered again with
        # the same idempotency keys.
        committing: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                batch = await consumer.getmany(
                    timeout_ms=self.poll_timeout_ms, max_records=self.max_records
                )
                if consumer.assignment():
                    self.ready.set()
                if committing is not None and (committing.done() or not batch):
                    await committing  # surfaces a failed commit
                    committing = None
                if not batch:
                    continue
                records = [r for tp in sorted(batch, key=_tp_order) for r in batch[tp]]
                offsets = {tp: rs[-1].offset + 1 for tp, rs in batch.items() if rs}
                outputs = self._add_to_sink(records)
                results = await _unless_stopped(self.sink.flush(), stop)
                if results is None:
                    log.info("%s: stopped during a flush; the batch is not committed", self.name)
                    return
                outputs += self._record(results, records)
                if self.before_commit is not None:
                    await self.before_commit(results)
                if committing is not None:
                    await committing
                committing = asyncio.create_task(
                    self._commit_batch(producer, outputs, offsets, results, len(records))
                )
        finally:
            # the batch before a failing one was delivered in full: commit it either way
            if committing is not None:
                if sys.exc_info()[0] is None:
                    await committing
                else:
                    try:
                        await committing
                    except Exception:
                        log.exception("%s: committing the previous batch failed", self.name)

    async def _commit_batch(
        self,
        producer: AIOKafkaProducer,
        outputs: list[Output],
        offsets: dict[TopicPartition, int],
        results: list[DeliveryResult],
        records: int,
    ) -> None:
        await self._commit(producer, outputs, offsets)
        for result in results:
            self._pending_written.pop(result.item.event_id, None)
        self.stats.batches += 1
        self.stats.records += records

    def _add_to_sink(self, records: Sequence[ConsumerRecord]) -> list[Output]:
        """Decode and add each record; dead letters (topic, key, value, headers) of bad bytes."""
        dead: list[Output] = []
        for record in records:
            if record.value is None:
                continue  # a tombstone: nothing to deliver
            try:
                item = self.decode(record.value)
            except UndecodableInput as exc:
                self.stats.undecodable += 1
                dead.append(self._dead_letter(record, str(exc)))
                continue
            headers = {k: v.decode("utf-8", "replace") for k, v in record.headers or ()}
            self.sink.add(
                replace(
                    item,
                    headers={**headers, **item.headers},
                    source=SourcePosition(record.topic, record.partition, record.offset),
                )
            )
        return dead

    def _record(
        self, results: list[DeliveryResult], records: Sequence[ConsumerRecord]
    ) -> list[Output]:
        """Ledger records of every result and dead letters of the refused items."""
        by_position = {(r.topic, r.partition, r.offset): r for r in records}
        outputs: list[Output] = []
        for result in results:
            ledger = LedgerRecord.from_result(result, self.destination)
            outputs.append(Output(self.ledger_topic, ledger.to_json(), key=ledger.key))
            if result.delivered:
                self.stats.delivered += 1
                continue
            if result.state == "skipped":
                self.stats.skipped += 1
                continue
            self.stats.failed += 1
            source = result.item.source
            record = (
                by_position.get((source.topic, source.partition, source.offset))
                if source is not None
                else None
            )
            if record is None:  # a sink may return items it was not given by this runner
                continue
            extra: list[Header] = [(EVENT_ID, result.item.event_id.encode())]
            if result.status is not None:
                extra.append((DLQ_STATUS, str(result.status).encode()))
            if result.body_digest is not None:
                extra.append((DLQ_BODY_DIGEST, result.body_digest.encode()))
            outputs.append(self._dead_letter(record, result.reason or "refused", extra))
        return outputs

    def _dead_letter(
        self, record: ConsumerRecord, error: str, extra: Sequence[Header] = ()
    ) -> Output:
        headers: list[Header] = [
            *(record.headers or ()),
            (DLQ_TOPIC, record.topic.encode()),
            (DLQ_PARTITION, str(record.partition).encode()),
            (DLQ_OFFSET, str(record.offset).encode()),
            (DLQ_ERROR, error.encode()),
            *extra,
        ]
        return Output(self.dead_letter_topic, record.value, key=record.key, headers=headers)

    async def _commit(
        self,
        producer: AIOKafkaProducer,
        outputs: list[Output],
        offsets: dict[TopicPartition, int],
    ) -> None:
        async with self._txn_lock:
            async with producer.transaction():
                futures = [
                    await producer.send(
                        o.topic, o.value, key=o.key, headers=list(o.headers) or None
                    )
                    for o in outputs
                ]
                await producer.send_offsets_to_transaction(offsets, self.group_id)
            for future in futures:
                future.result()  # surfaces a failed send instead of losing it silently
        self.stats.commits += 1
        self.stats.committed.update(offsets)

    async def _note_pending(self, notice: RetryNotice) -> None:
        """Write a ``pending`` ledger record on the first retry, then every ``pending_interval``."""
        producer = self._producer
        if producer is None:
            return
        now = time.monotonic()
        last = self._pending_written.get(notice.item.event_id)
        if last is not None and now - last < self.pending_interval:
            return
        self._pending_written[notice.item.event_id] = now
        record = LedgerRecord.pending(notice, self.destination)
        async with self._txn_lock, producer.transaction():
            await producer.send_and_wait(self.ledger_topic, record.to_json(), key=record.key)
        self.stats.pending_records += 1


async def _unless_stopped(
    work: Awaitable[list[DeliveryResult]], stop: asyncio.Event
) -> list[DeliveryResult] | None:
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


def _tp_order(tp: TopicPartition) -> tuple[str, int]:
    return (tp.topic, tp.partition)

"""The connector stage: consume, deliver through a sink, record, then commit offsets.

One :class:`DeliveryRunner` per destination, each with its own consumer group
(``<group prefix>.deliver-<destination>``), so a slow or failing destination never holds
back the others. It is a :class:`~hub.stream.kernel.Stage` (one task per input
partition, any number of instances) whose handler delivers. Per batch:

1. read records (``read_committed``) and decode each with the connector's decoder;
   undecodable bytes go to ``dlq.out.<destination>`` intact;
2. ``sink.add`` every item, then ``sink.flush()`` (retries happen inside; each retry
   writes a ``pending`` ledger record, throttled per item);
3. ``before_commit`` hook (tests use it to simulate a crash after the 2xx);
4. per input partition, in ONE Kafka transaction: a ``delivered``/``failed``/``skipped``
   ledger record per item, the dead letters of refused items, and the consumer position.
   This commit runs while the next batch is read and delivered (every item of the batch
   was answered already); commits stay one at a time and in order.

If ``flush`` raises or the process dies before step 4, nothing is committed and the
batch is delivered again with the same ``Idempotency-Key`` (at-least-once; destinations
apply each change once): a 401/403 ends the connector (permanent: fix the token), any
other failure restarts the stage after a backoff (one log line).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from aiokafka import ConsumerRecord, TopicPartition

from connectors.delivery.ledger import LedgerRecord
from connectors.delivery.sink import DeliveryItem, DeliveryResult, RetryNotice, Sink, SourcePosition
from hub.errors import UndecodableInput
from hub.settings import Settings
from hub.stream.kernel import (
    Batch,
    Header,
    Output,
    Outputs,
    Stage,
    StageStats,
    dead_letter,
)
from hub.topics import DELIVERY_RECEIPTS, destination_dead_letters, outbox

log = logging.getLogger(__name__)

Decoder = Callable[[bytes], DeliveryItem]
CommitHook = Callable[[list[DeliveryResult]], Awaitable[None]]

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
class RunnerStats(StageStats):
    """Counters of a running connector (read by tests and progress displays)."""

    delivered: int = 0
    failed: int = 0
    skipped: int = 0
    undecodable: int = 0
    pending_records: int = 0

    @property
    def commits(self) -> int:
        """Batches whose ledger records and offsets were committed."""
        return self.batches

    @property
    def records(self) -> int:
        """Records of committed batches."""
        return self.records_in


class DeliveryRunner(Stage):
    """The stage of one destination's connector: outbox → sink → ledger + offsets.

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

    stats: RunnerStats

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
        self.destination = destination
        self.sink = sink
        self.decode = decode
        self.topic = topic or settings.topic(outbox(destination))
        self.ledger_topic = settings.topic(DELIVERY_RECEIPTS)
        self.dead_letter_topic = settings.topic(destination_dead_letters(destination))
        self.pending_interval = pending_interval
        self.before_commit = before_commit
        self._pending_written: dict[str, float] = {}
        super().__init__(
            settings,
            name=f"deliver-{destination}",
            input_topics=[self.topic],
            handler=self,
            max_records=max_records,
            poll_timeout_ms=poll_timeout_ms,
            pipelined=True,
            max_poll_interval_ms=max_poll_interval_ms,
            stats=RunnerStats(),
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; raises on a permanent error (401/403).

        A flush still running when ``stop`` is set is cancelled; its batch is not committed.
        """
        previous_hook = self.sink.on_retry

        async def on_retry(notice: RetryNotice) -> None:
            await self._note_pending(notice)
            if previous_hook is not None:
                await previous_hook(notice)

        self.sink.on_retry = on_retry
        try:
            await super().run(stop)
        finally:
            self.sink.on_retry = previous_hook

    # -- the kernel's handler interface -----------------------------------------
    async def assigned(self, partitions: Sequence[TopicPartition]) -> None:
        """Nothing to restore: the destination keeps what was delivered."""

    async def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        """Nothing to forget."""

    async def idle(self, partitions: Sequence[TopicPartition]) -> Outputs:
        """No timers."""
        return {}

    def committed(self, tp: TopicPartition, written: Mapping[TopicPartition, int]) -> None:
        """Nothing kept locally."""

    async def process(self, batch: Batch) -> Outputs:
        """Deliver a batch; the ledger records and dead letters, per input partition."""
        records = [r for rs in batch.values() for r in rs]  # the kernel's partition order
        outputs: Outputs = {tp: [] for tp in batch}
        for record, dead in self._add_to_sink(records):
            outputs[TopicPartition(record.topic, record.partition)].append(dead)
        results = await self.sink.flush()
        for tp, output in self._record(results, records):
            outputs.setdefault(tp, []).append(output)
        if self.before_commit is not None:
            await self.before_commit(results)
        for result in results:
            self._pending_written.pop(result.item.event_id, None)
        return outputs

    def _add_to_sink(
        self, records: Sequence[ConsumerRecord]
    ) -> list[tuple[ConsumerRecord, Output]]:
        """Decode and add each record; dead letters of bad bytes (with their record)."""
        dead: list[tuple[ConsumerRecord, Output]] = []
        for record in records:
            if record.value is None:
                continue  # a tombstone: nothing to deliver
            try:
                item = self.decode(record.value)
            except UndecodableInput as exc:
                self.stats.undecodable += 1
                dead.append((record, dead_letter(record, self.dead_letter_topic, str(exc))))
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
    ) -> list[tuple[TopicPartition, Output]]:
        """Ledger records of every result and dead letters of the refused items."""
        by_position = {(r.topic, r.partition, r.offset): r for r in records}
        fallback = TopicPartition(records[0].topic, records[0].partition) if records else None
        outputs: list[tuple[TopicPartition, Output]] = []
        for result in results:
            source = result.item.source
            tp = TopicPartition(source.topic, source.partition) if source else fallback
            if tp is None:
                continue
            ledger = LedgerRecord.from_result(result, self.destination)
            outputs.append((tp, Output(self.ledger_topic, ledger.to_json(), key=ledger.key)))
            if result.delivered:
                self.stats.delivered += 1
                continue
            if result.state == "skipped":
                self.stats.skipped += 1
                continue
            self.stats.failed += 1
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
            error = result.reason or "refused"
            outputs.append((tp, dead_letter(record, self.dead_letter_topic, error, extra)))
        return outputs

    async def _note_pending(self, notice: RetryNotice) -> None:
        """Write a ``pending`` ledger record on the first retry, then every ``pending_interval``."""
        source = notice.item.source
        if source is None:
            return
        now = time.monotonic()
        last = self._pending_written.get(notice.item.event_id)
        if last is not None and now - last < self.pending_interval:
            return
        self._pending_written[notice.item.event_id] = now
        record = LedgerRecord.pending(notice, self.destination)
        tp = TopicPartition(source.topic, source.partition)
        if await self.write(tp, [Output(self.ledger_topic, record.to_json(), key=record.key)]):
            self.stats.pending_records += 1

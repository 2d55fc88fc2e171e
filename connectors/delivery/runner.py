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

Parking (:mod:`connectors.delivery.parking`): an item that ends ``failed`` or ``parked``
parks its key; the key's later items are recorded ``parked`` without being sent and their
offsets are committed, so other keys keep flowing. Parked keys are redriven automatically
(before a batch and on the kernel's idle ticks, when the backoff has passed and the
destination is healthy), head first, then the rest in order; a new change of a key
whose automatic redrives gave up triggers one more attempt. On assignment the parked keys
of the new partitions are rebuilt from the ledger (latest ``parked`` records and the
dead-lettered item before them) and their items re-read from the input topic.

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

from connectors.delivery.http_sink import HttpSink, parked_behind
from connectors.delivery.ledger import LedgerRecord
from connectors.delivery.parking import ParkBook, ParkedKey, decide
from connectors.delivery.policy import ParkPolicy, park_policy
from connectors.delivery.sink import DeliveryItem, DeliveryResult, RetryNotice, Sink, SourcePosition
from hub.errors import ConfigurationError, UndecodableInput
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
from hub.stream.reading import read_topic
from hub.topics import DELIVERY_RECEIPTS, destination_dead_letters

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
    parked: int = 0  # ``parked`` ledger records written (an item may be parked again)
    redrives: int = 0  # automatic redrive attempts (one per key per attempt)
    released: int = 0  # parked keys released by a redrive (every held item delivered)

    @property
    def commits(self) -> int:
        """Batches whose ledger records and offsets were committed."""
        return self.batches

    @property
    def records(self) -> int:
        """Records of committed batches."""
        return self.records_in


class DeliveryRunner(Stage):
    """The stage of one destination's connector: input topic → sink → ledger + offsets.

    ``decode`` turns record bytes into a :class:`DeliveryItem` (raising
    :class:`~hub.errors.UndecodableInput` for bad bytes); the sink decides how an item is
    sent (for HTTP: :class:`~connectors.delivery.http_sink.HttpSink` and its request
    builder). ``topic`` (full name; the fan-out reads ``canon.events.log``) must be keyed
    by the ordering key so one key's changes stay in one partition, in order.
    ``pending_interval`` throttles ``pending`` ledger records per item;
    ``max_poll_interval_ms`` bounds how long one flush (an outage) may take before the
    group coordinator considers the consumer gone; ``before_commit`` runs after a flush,
    before the transaction (a test hook for crashes between the 2xx and the commit).
    ``park`` schedules the automatic redrives of parked keys (default: from settings);
    ``rebuild_parked`` reads the ledger on assignment to restore parked keys.
    """

    stats: RunnerStats

    def __init__(
        self,
        settings: Settings,
        *,
        destination: str,
        sink: Sink,
        decode: Decoder,
        topic: str,
        max_records: int = 100,
        poll_timeout_ms: int = 100,
        pending_interval: float = 30.0,
        max_poll_interval_ms: int = 600_000,
        before_commit: CommitHook | None = None,
        park: ParkPolicy | None = None,
        rebuild_parked: bool = True,
    ) -> None:
        self.destination = destination
        self.sink = sink
        self.decode = decode
        self.topic = topic
        self.ledger_topic = settings.topic(DELIVERY_RECEIPTS)
        self.dead_letter_topic = settings.topic(destination_dead_letters(destination))
        self.pending_interval = pending_interval
        self.before_commit = before_commit
        self._pending_written: dict[str, float] = {}
        self.parking = ParkBook(park or park_policy(settings))
        self.rebuild_parked = rebuild_parked
        self._held: dict[str, ConsumerRecord] = {}  # event id -> input record of held items
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
        self._configure_sink()
        try:
            await super().run(stop)
        finally:
            self.sink.on_retry = previous_hook

    def _configure_sink(self) -> None:
        """Give an HTTP sink (or a filtering sink's inner one) this runner's park policy
        and the destination's health path (``health_path`` of a fan-out ``target``),
        unless it was given its own."""
        target = getattr(self, "target", None)
        for candidate in (self.sink, getattr(self.sink, "inner", None)):
            if isinstance(candidate, HttpSink):
                if candidate.park is None:
                    candidate.park = self.parking.policy
                if candidate.health_path is None:
                    candidate.health_path = getattr(target, "health_path", None)

    # -- the kernel's handler interface -----------------------------------------
    async def assigned(self, partitions: Sequence[TopicPartition]) -> None:
        """Restore the parked keys of ``partitions`` from the ledger (the destination keeps
        what was delivered)."""
        if self.rebuild_parked and partitions:
            await self._rebuild(partitions)

    async def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        """Forget the parked keys of ``partitions`` (all of them for an empty list)."""
        if not partitions:
            self.parking.keys.clear()
            self._held.clear()
            return
        self.parking.forget((tp.topic, tp.partition) for tp in partitions)
        self._prune_held()

    async def idle(self, partitions: Sequence[TopicPartition]) -> Outputs:
        """Redrive the parked keys that are due (their ledger records, per partition)."""
        outputs: Outputs = {}
        for tp, output in await self._redrive(self.parking.due(time.monotonic())):
            outputs.setdefault(tp, []).append(output)
        return outputs

    def committed(self, tp: TopicPartition, written: Mapping[TopicPartition, int]) -> None:
        """Nothing kept locally."""

    async def process(self, batch: Batch) -> Outputs:
        """Deliver a batch; the ledger records and dead letters, per input partition."""
        records = [r for rs in batch.values() for r in rs]  # the kernel's partition order
        outputs: Outputs = {tp: [] for tp in batch}
        for tp, output in await self._redrive(self.parking.due(time.monotonic())):
            outputs.setdefault(tp, []).append(output)
        held: list[DeliveryResult] = []
        for record, dead in await self._add_to_sink(records, held, outputs):
            outputs[TopicPartition(record.topic, record.partition)].append(dead)
        results = held + await self.sink.flush()
        for tp, output in self._record(results, records):
            outputs.setdefault(tp, []).append(output)
        if self.before_commit is not None:
            await self.before_commit(results)
        self._hold(results, records)
        for result in results:
            self._pending_written.pop(result.item.event_id, None)
        return outputs

    async def _add_to_sink(
        self, records: Sequence[ConsumerRecord], held: list[DeliveryResult], outputs: Outputs
    ) -> list[tuple[ConsumerRecord, Output]]:
        """Decode and add each record (or hold it behind its parked key, as a ``parked``
        result in ``held``); dead letters of bad bytes (with their record)."""
        dead: list[tuple[ConsumerRecord, Output]] = []
        decoded: list[tuple[ConsumerRecord, DeliveryItem]] = []
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
            item = replace(
                item,
                headers={**headers, **item.headers},
                source=SourcePosition(record.topic, record.partition, record.offset),
            )
            decoded.append((record, item))
        # a new change of a key whose automatic redrives gave up: one more try first
        again = {
            item.key: self.parking.keys[item.key]
            for _, item in decoded
            if decide(self.parking, item) == "redrive-first"
        }
        for tp, output in await self._redrive(list(again.values())):
            outputs.setdefault(tp, []).append(output)
        for record, item in decoded:
            if decide(self.parking, item) != "deliver":
                parked = self.parking.get(item.key)
                assert parked is not None
                result = parked_behind(item, _head_result(parked))
                held.append(result)
                self._held[item.event_id] = record
                self.parking.hold(result, time.monotonic())
                continue
            self.sink.add(item)
        return dead

    def _hold(self, results: Sequence[DeliveryResult], records: Sequence[ConsumerRecord]) -> None:
        """Park the keys of ``failed``/``parked`` results (keep their input records)."""
        by_position = {(r.topic, r.partition, r.offset): r for r in records}
        now = time.monotonic()
        for result in results:
            if not result.holds_key:
                continue
            source = result.item.source
            record = (
                by_position.get((source.topic, source.partition, source.offset))
                if source is not None
                else None
            )
            if record is not None:
                self._held[result.item.event_id] = record
            self.parking.hold(result, now)

    async def _redrive(self, keys: Sequence[ParkedKey]) -> list[tuple[TopicPartition, Output]]:
        """Deliver the held items of ``keys`` again, in order per key (head first), when
        the destination is healthy; their ledger records (and the dead letter of a head
        refused for the first time). Keys not tried keep their schedule."""
        if not keys or not await self._healthy():
            return []
        items = [item for parked in keys for item in parked.items]
        for item in items:
            self.sink.add(item)
        results = await self.sink.flush()
        self.stats.redrives += len(keys)
        now = time.monotonic()
        by_key: dict[str, list[DeliveryResult]] = {}
        for result in results:
            by_key.setdefault(result.item.key, []).append(result)
        first_failures: set[str] = set()
        for parked in keys:
            key_results = by_key.get(parked.key, [])
            head = parked.head
            head_was_parked = parked.head_state == "parked"
            if self.parking.redriven(parked.key, key_results, now):
                self.stats.released += 1
                log.info("%s: parked key %s redriven (%d item(s) delivered)",
                         self.destination, parked.key, len(key_results))
            elif parked.gave_up:
                log.warning(
                    "%s: key %s still parked after %d automatic redrives; a new change of "
                    "it tries once more, or run `mchub redrive --destination %s --credential`",
                    self.destination, parked.key, parked.attempts, self.destination,
                )
            for result in key_results:
                if result.item.event_id == head.event_id and result.state == "failed" and (
                    head_was_parked
                ):
                    first_failures.add(head.event_id)
        records = [self._held[r.item.event_id] for r in results if r.item.event_id in self._held]
        for result in results:
            self._pending_written.pop(result.item.event_id, None)
        outputs = self._record(
            results, records, note="automatic redrive", dead_letters=first_failures
        )
        self._prune_held()
        return outputs

    async def _healthy(self) -> bool:
        """The sink's health answer (``healthy()`` of the sink or of its ``inner`` sink;
        True when it has none)."""
        for candidate in (self.sink, getattr(self.sink, "inner", None)):
            probe = getattr(candidate, "healthy", None)
            if probe is not None:
                return bool(await probe())
        return True

    def _prune_held(self) -> None:
        """Forget the input records of items no parked key holds any more."""
        kept = {i.event_id for p in self.parking.keys.values() for i in p.items}
        for event_id in [e for e in self._held if e not in kept]:
            del self._held[event_id]

    async def _rebuild(self, partitions: Sequence[TopicPartition]) -> None:
        """Restore the parked keys of ``partitions`` from the ledger: per key, the items
        whose latest state is ``parked``, and the ``failed`` item just before them; their
        input records are read again from the input topic."""
        wanted = {tp.partition for tp in partitions if tp.topic == self.topic}
        if not wanted:
            return
        # per event of this destination and these partitions: (source offset, order key,
        # state, the full record when it holds a key); read fast: the Kafka key says the
        # destination, plain JSON says the rest, only failed/parked records are parsed fully
        suffix = f"/{self.destination}".encode()
        latest: dict[str, tuple[int, str, str, LedgerRecord | None]] = {}
        try:
            async for batch in read_topic(self.settings, self.ledger_topic, timeout=120.0):
                for record in batch:
                    if record.value is None or not bytes(record.key or b"").endswith(suffix):
                        continue
                    doc = json.loads(record.value)
                    if (
                        doc.get("sourceTopic") != self.topic
                        or doc.get("sourcePartition") not in wanted
                    ):
                        continue
                    state = doc.get("state")
                    entry = (
                        LedgerRecord.from_json(record.value)
                        if state in ("failed", "parked")
                        else None
                    )
                    latest[doc["eventId"]] = (
                        int(doc.get("sourceOffset") or 0),
                        doc.get("orderKey") or doc.get("credentialId"),
                        state,
                        entry,
                    )
        except ConfigurationError:
            return  # no ledger yet: nothing was parked
        per_key: dict[str, list[tuple[int, str, LedgerRecord | None]]] = {}
        for offset, key, state, entry in latest.values():
            per_key.setdefault(key, []).append((offset, state, entry))
        chosen: list[LedgerRecord] = []
        for entries in per_key.values():
            entries.sort(key=lambda e: e[0])
            parked_at = [i for i, e in enumerate(entries) if e[1] == "parked"]
            if not parked_at:
                continue
            start = parked_at[0]
            if start > 0 and entries[start - 1][1] == "failed":
                start -= 1  # the dead-lettered item the parked ones wait behind
            chosen += [e for _, _, e in entries[start:] if e is not None]
        if not chosen:
            return
        by_partition: dict[int, set[int]] = {}
        by_position: dict[tuple[int, int], LedgerRecord] = {}
        for entry in chosen:
            if entry.source_partition is not None and entry.source_offset is not None:
                by_partition.setdefault(entry.source_partition, set()).add(entry.source_offset)
                by_position[(entry.source_partition, entry.source_offset)] = entry
        now = time.monotonic()
        for partition, offsets in sorted(by_partition.items()):
            found: list[tuple[ConsumerRecord, DeliveryItem]] = []
            async for batch in read_topic(  # to the partition's end (a restart: rare)
                self.settings, self.topic, start={partition: min(offsets)},
                partitions=[partition], bulk=False, timeout=60.0,
            ):
                for record in batch:
                    if record.offset not in offsets or record.value is None:
                        continue
                    try:
                        item = self.decode(record.value)
                    except UndecodableInput:
                        continue
                    source = SourcePosition(record.topic, partition, record.offset)
                    found.append((record, replace(item, source=source)))
            for record, item in found:  # offset order: heads first
                entry = by_position[(partition, record.offset)]
                self._held[item.event_id] = record
                self.parking.hold(
                    DeliveryResult(
                        item, "failed" if entry.state == "failed" else "parked", 1,
                        entry.recorded_at, entry.recorded_at,
                    ),
                    now,
                )
        if self.parking.keys:
            log.info("%s: %d parked key(s) restored from the ledger",
                     self.destination, len(self.parking))

    def _record(
        self,
        results: list[DeliveryResult],
        records: Sequence[ConsumerRecord],
        *,
        note: str | None = None,
        dead_letters: set[str] | None = None,
    ) -> list[tuple[TopicPartition, Output]]:
        """Ledger records of every result and dead letters of the refused items
        (``dead_letters``: only these event ids; ``note`` prefixes the ledger reasons)."""
        by_position = {(r.topic, r.partition, r.offset): r for r in records}
        fallback = TopicPartition(records[0].topic, records[0].partition) if records else None
        outputs: list[tuple[TopicPartition, Output]] = []
        for result in results:
            source = result.item.source
            tp = TopicPartition(source.topic, source.partition) if source else fallback
            if tp is None:
                continue
            ledger = LedgerRecord.from_result(result, self.destination)
            if note is not None:
                reason = f"{note}: {ledger.reason}" if ledger.reason else note
                ledger = ledger.model_copy(update={"reason": reason})
            outputs.append((tp, Output(self.ledger_topic, ledger.to_json(), key=ledger.key)))
            if result.delivered:
                self.stats.delivered += 1
                continue
            if result.state == "skipped":
                self.stats.skipped += 1
                continue
            if result.state == "parked":
                self.stats.parked += 1
                continue
            if dead_letters is not None and result.item.event_id not in dead_letters:
                continue  # dead-lettered already, when it was first refused
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


def _head_result(parked: ParkedKey) -> DeliveryResult:
    """A stand-in result of a parked key's head (what ``parked_behind`` names)."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return DeliveryResult(parked.head, parked.head_state, 0, now, now)

"""Stage 2, ``decide``: lifecycle decisions -> the canonical log, receipts and state.

Reads ``canon.decide.requests`` (one partition, so one writer owns all lifecycle state)
and, per request, calls the pure core :func:`hub.core.decide`. In one transaction with
the input offset it writes:

- accepted records to ``canon.events.log`` (Avro single-object encoding), keyed by the
  hub-wide credential id so the order per credential holds (enrolments by learner key);
- a receipt per outcome to ``canon.receipts.<feed>`` — and the final outcome of a held
  revocation when it is released or expires;
- lifecycle rejections and conflicts to ``canon.events.rejected`` (operators' view);
- every state change to the compacted ``canon.decide.changelog``.

**Hash chain** (tamper evidence, :mod:`hub.stream.chain`, ``docs/audit.md``): each
canonical record carries in ``envelope.prevHash`` the SHA-256 of the previous record's
exact bytes in the same partition. The stage computes every record's partition itself
(the producer's murmur2 partitioner over the key and the log's partition count, read at
start) and writes it there explicitly. Every transaction that appends records also writes
a signed checkpoint of every chain head (partition, sequence, hash) to
``audit.checkpoints.log`` and, as the chain state, to the changelog under ``chain|head``
(:mod:`hub.stream.checkpoints`). A restore adopts the newest head whose signature
verifies: a head written to the changelog by anyone but the hub is refused with one
ERROR line, and the newest valid checkpoint on ``audit.checkpoints.log`` stands in.

On start the stage first fences any earlier instance (transactional producer), then
restores its tables, and only then consumes. A periodic sweep rejects held revocations
whose issuance never came (§10).

**Local state** (:mod:`hub.stream.store`, ``MCHUB_STATE_STORE``): the tables live in a
SQLite file per task (``<data dir>/state/decide/<topic>-<partition>.sqlite``) that mirrors
the changelog up to a checkpoint offset. Each transaction's state writes stay pending in
the store until the transaction commits; then they become durable with the changelog
offset after it (:meth:`DecideHandler.committed`); a failed transaction drops them. A
restart reads only the changelog's tail from the checkpoint, so it takes the same time
at any number of credentials, and the process holds only a bounded cache. Another
instance may have owned the task meanwhile: its writes are in that tail. The local file
is dropped and the whole changelog read when it cannot be trusted: no checkpoint, the
changelog starts after it or ends before it (a new topic), or it is older than the
changelog's ``delete.retention.ms`` while records followed it (tombstones may be gone).
With ``MCHUB_STATE_STORE=memory`` every start reads the whole changelog.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import struct
import time
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition

from hub import wire
from hub.adapters.kafka import make_consumer
from hub.adapters.memory import is_memory
from hub.contract.framing import SCHEMA_IDS, frame, value_headers
from hub.contract.models import NAMESPACE
from hub.core import StateTables
from hub.core.lifecycle import OutcomeReport, StateChange
from hub.core.state import credential_changelog_key, index_changelog_key
from hub.crypto.keys import Signer
from hub.errors import VerificationError
from hub.normalise.types import NormalisedEvent
from hub.settings import Settings
from hub.stream.canonical import log_key
from hub.stream.chain import CHAIN_HEAD_KEY, ChainHead, EnvelopeReader, partition_for
from hub.stream.checkpoints import (
    Checkpoint,
    VerifiedCheckpoint,
    audit_signer,
    latest_checkpoint,
    newest_valid,
    sign_checkpoint,
    trust_anchors,
)
from hub.stream.ingest import decode_request
from hub.stream.kernel import Batch, Output, Outputs, Stage, dead_letter
from hub.stream.reading import partitions_of, read_topic
from hub.stream.schema_registry import register_schemas
from hub.stream.store import MemoryStore, StateStore, StoreKind, open_store
from hub.topics import (
    AUDIT_CHECKPOINTS,
    CANONICAL_LOG,
    DECIDE_CHANGELOG,
    DECIDE_REQUESTS,
    INGEST_DEAD_LETTERS,
    REJECTIONS,
    topic_configs,
)
from hub.topics import source_receipts as receipts_topic

log = logging.getLogger(__name__)

#: the stage's name: its consumer group and its local state folder
STAGE = "decide"
#: Kafka's default ``delete.retention.ms`` (when the topic's cannot be read)
DEFAULT_DELETE_RETENTION_MS = 24 * 3600 * 1000
CHAIN_PREFIX = "chain|"
#: signed chain heads a restore considers (the newest of the changelog's tail)
HEAD_CANDIDATES = 16
#: members of a decide request's context that are not for receipts
_REQUEST_ONLY = frozenset({"canonical", "prevHashAt"})


def event_from_json(data: dict[str, Any]) -> NormalisedEvent:
    """A :class:`NormalisedEvent` back from its JSON form in a decide request."""
    return NormalisedEvent(**data)


class DecideHandler:
    """The decide task: lifecycle state in the core's :class:`StateTables`, backed by the
    changelog topic, and the hash chain heads of the canonical log."""

    def __init__(
        self,
        settings: Settings,
        *,
        now: Any = None,
        signer: Signer | None = None,
        store: StoreKind | None = None,
        standby_interval_s: float = 2.0,
    ) -> None:
        self.settings = settings
        self.ttl = timedelta(days=settings.held_revocation_ttl_days)
        #: where the tables live: ``MCHUB_STATE_STORE`` unless given
        self.store_kind: StoreKind = store or settings.state_store
        self.store: StateStore | None = None
        self.tables = StateTables()
        self.log_topic = settings.topic(CANONICAL_LOG)
        self.changelog_topic = settings.topic(DECIDE_CHANGELOG)
        self.changelog_tp = TopicPartition(self.changelog_topic, 0)
        #: changelog records the last restore read, and the offset it started at
        #: (None: the whole changelog)
        self.restored = 0
        self.restored_from: int | None = None
        self.rejections_topic = settings.topic(REJECTIONS)
        self.dead_letters_topic = settings.topic(INGEST_DEAD_LETTERS)
        self._now = now or (lambda: datetime.now(UTC))
        # -- hash chain and checkpoints (hub.audit) --
        self.audit = settings.audit
        self.checkpoints_topic = settings.topic(AUDIT_CHECKPOINTS)
        self.envelopes = EnvelopeReader()
        #: framing of the canonical records (MCHUB_WIRE_FORMAT; the chain hashes the
        #: single-object form either way)
        self.wire_format = settings.wire_format
        #: partitions of the canonical log (read from metadata in :meth:`restore`)
        self.log_partitions: int | None = None
        self._signer = signer
        #: the owned input partition (the decide task), None while on standby
        self.task: TopicPartition | None = None
        #: a standby's replica of the changelog (see :meth:`assigned`) and its pace
        self._standby: asyncio.Task[None] | None = None
        self.standby_interval_s = standby_interval_s
        self._forget()

    def _forget(self) -> None:
        self.tables = StateTables(store=self.store)
        #: partition -> chain head of the canonical log
        self.chains: dict[int, ChainHead] = {}
        self.checkpoint_n = 0
        self._dirty_chains: set[int] = set()
        #: signed heads (checkpoint JWS) read by a restore, oldest first
        self._head_candidates: deque[bytes] = deque(maxlen=HEAD_CANDIDATES)
        #: unsigned heads of an earlier version (``chain|<partition>``, ``chain|checkpoint``)
        self._legacy_heads: dict[int, ChainHead] = {}
        self._legacy_n = 0

    # -- the kernel's handler interface ---------------------------------------
    async def assigned(self, partitions: Sequence[TopicPartition]) -> None:
        """The decide task starts here: open its store and read the changelog's tail.

        Without the task (another instance owns it) a durable store is kept warm: a
        standby replica follows the changelog into the local file, so a takeover reads
        only the records of the last seconds.
        """
        if not partitions:
            if self.task is None and self.store_kind == "sqlite":
                self._start_standby()
            return
        await self._stop_standby()
        task = partitions[0]
        self._close_store()
        self.store = open_store(
            self.store_kind, self.settings.data_dir, STAGE, task.topic, task.partition
        )
        self._forget()
        try:
            await self.restore()
        except BaseException:
            self._close_store()
            self._forget()
            raise
        self.task = task

    async def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        """The task moved away (or its transaction failed): drop the writes not
        committed, close the store and forget the state; ``[]``: stop the standby."""
        if not partitions:
            await self._stop_standby()
        if self.task in partitions:
            self.task = None
            self._close_store()
            self._forget()

    # -- standby replica ---------------------------------------------------------
    def _start_standby(self) -> None:
        if self._standby is None or self._standby.done():
            self._standby = asyncio.create_task(self._replicate(), name="decide-standby")

    async def _stop_standby(self) -> None:
        standby, self._standby = self._standby, None
        if standby is not None:
            standby.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await standby

    async def _replicate(self) -> None:
        """Follow the changelog into the local store until cancelled (a standby): one
        restore (the tail, or everything when the file cannot be trusted), then one
        consumer tails the changelog and checkpoints its position after every batch."""
        inputs = TopicPartition(self.settings.topic(DECIDE_REQUESTS), 0)
        self.store = open_store(
            self.store_kind, self.settings.data_dir, STAGE, inputs.topic, inputs.partition
        )
        self._forget()
        log.info("decide: standing by; following the changelog into the local store")
        try:
            while True:
                try:
                    await self.restore(quiet=True)
                    await self._follow()
                except Exception as exc:  # noqa: BLE001 - a broker hiccup: try again later
                    log.warning("decide standby: %s; trying again", exc)
                self._forget()
                await asyncio.sleep(self.standby_interval_s)
        finally:
            self._close_store()
            self._forget()

    async def _follow(self) -> None:
        """Tail the changelog from the store's checkpoint into the store (until an error
        or cancellation)."""
        store = self.store
        if store is None or store.checkpoint is None:
            return
        consumer = make_consumer(self.settings, group=None)
        await consumer.start()
        try:
            consumer.assign([self.changelog_tp])
            consumer.seek(self.changelog_tp, store.checkpoint)
            while True:
                batch = await consumer.getmany(
                    self.changelog_tp, timeout_ms=int(self.standby_interval_s * 1000)
                )
                for record in batch.get(self.changelog_tp, []):
                    self._load(record)
                position = await consumer.position(self.changelog_tp)
                if position != store.checkpoint:
                    store.commit(position)  # past transaction markers too
                self.tables.credentials.clear_cache()
                self.tables.index.clear_cache()
        finally:
            await consumer.stop()

    def _close_store(self) -> None:
        store, self.store = self.store, None
        if store is not None:
            store.discard()
            store.close()

    async def process(self, batch: Batch) -> Outputs:
        """Decide a batch of requests in order."""
        outputs: Outputs = {}
        for tp, records in batch.items():
            requests = [self._read_request(record) for record in records]
            self._prefetch([r for r in requests if not isinstance(r, Output)])
            out: list[Output] = []
            for request in requests:
                if isinstance(request, Output):
                    out.append(request)  # a dead letter
                else:
                    out += self.decide(*request)
            if self._dirty_chains:
                out += self.checkpoint()
            outputs[tp] = out
        return outputs

    def state_bytes(self) -> int | None:
        """Bytes of the task's local store files (metrics; None without a file): read from
        the file system, so any thread may ask."""
        path = getattr(self.store, "path", None)
        if not isinstance(path, Path):
            return None
        sizes = [p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists()]
        return sum(sizes) if sizes else None

    def committed(self, tp: TopicPartition, written: Mapping[TopicPartition, int]) -> None:
        """The task's transaction committed: its state writes become durable with the
        changelog offset after them (the old checkpoint when none went there)."""
        if self.store is not None and tp == self.task:
            self.store.commit(written.get(self.changelog_tp))

    async def idle(self, partitions: Sequence[TopicPartition]) -> Outputs:
        """The timer: expiry sweep, then a checkpoint when one is due."""
        if self.task is None or self.task not in partitions:
            return {}
        outputs = await self.on_idle()
        return {self.task: outputs} if outputs else {}

    # -- restore -------------------------------------------------------------
    async def restore(self, *, quiet: bool = False) -> int:
        """Bring the store up to the changelog's end (read_committed): only the tail after
        its checkpoint, or the whole changelog when it has none it can trust."""
        if self.store is None:  # restored outside a task (tools, tests): in memory
            self.store = MemoryStore()
            self._forget()
        store = self.store
        if self.wire_format == "registry" and not self._schemas_registered():
            # the ids the framing needs: registered (idempotently) before the first record
            await register_schemas(self.settings)
        self.log_partitions = len(await partitions_of(self.settings, self.log_topic))
        if self._signer is None:
            self._signer = audit_signer(self.settings)
        start, end = await self._tail_start(store)
        if start is None:
            store.wipe()
            self._forget()
        self._load_local(store)
        restored = 0
        reached = start or 0
        async for batch in read_topic(
            self.settings,
            self.changelog_topic,
            partitions=[self.changelog_tp.partition],
            start=None if start is None else {self.changelog_tp.partition: start},
        ):
            for record in batch:
                self._load(record)
            restored += len(batch)
            reached = batch[-1].offset + 1
            store.commit(reached)  # durable in steps: memory stays flat, a crash resumes
        store.commit(max(reached, end))  # past trailing transaction markers
        self.restored, self.restored_from = restored, start
        await self._adopt_chain_heads()
        log.log(
            logging.DEBUG if quiet else logging.INFO,
            "decide: restored %d changelog records from %s into the %s store "
            "(%d credentials holding revocations, %d chains)",
            restored,
            "the start" if start is None else f"offset {start}",
            store.kind,
            len(self.tables.with_holds),
            len(self.chains),
        )
        return restored

    async def _tail_start(self, store: StateStore) -> tuple[int | None, int]:
        """(where to read the changelog from: the store's checkpoint, or None for the
        whole changelog; the changelog's end offset now)."""
        begin, end = await changelog_bounds(self.settings, self.changelog_tp)
        checkpoint = store.checkpoint
        if checkpoint is None:
            return None, end
        reason = ""
        if checkpoint < begin:
            reason = f"the changelog starts at offset {begin}, after the checkpoint"
        elif checkpoint > end:
            reason = f"the changelog ends at offset {end}, before the checkpoint (a new topic?)"
        elif end > checkpoint + 1:  # records follow: were tombstones among them removed?
            retention_ms = await delete_retention_ms(self.settings, self.changelog_topic)
            age_ms = (time.time() - (store.checkpointed_at or 0.0)) * 1000
            if retention_ms is not None and age_ms > retention_ms:
                reason = (
                    f"it is {age_ms / 3_600_000:.1f} h old, older than the changelog's "
                    f"delete.retention.ms ({retention_ms / 3_600_000:.1f} h)"
                )
        if reason:
            log.warning(
                "decide: local state at checkpoint %d dropped, %s; reading the whole changelog",
                checkpoint,
                reason,
            )
            return None, end
        return checkpoint, end

    def _load_local(self, store: StateStore) -> None:
        """The chain heads and checkpoint counter kept in the store (few keys)."""
        for key, value in store.items(CHAIN_PREFIX):
            self._load_chain(key[len(CHAIN_PREFIX) :], value)

    def _load(self, record: ConsumerRecord) -> None:
        key = bytes(record.key).decode()
        value = None if record.value is None else bytes(record.value)
        if self.tables.load(key, value):
            return
        store = self.store
        if store is not None:
            if value is None:
                store.delete(key)
            else:
                store.put(key, value)
        table, _, name = key.partition("|")
        if table == "chain" and value is not None:
            self._load_chain(name, value)

    def _load_chain(self, name: str, value: bytes) -> None:
        if name == CHAIN_HEAD_KEY.partition("|")[2]:
            self._head_candidates.append(value)
            return
        try:  # an earlier version's unsigned heads: used only when no signed head exists
            data = json.loads(value)
            if name == "checkpoint":
                self._legacy_n = int(data["n"])
            else:
                head = ChainHead.from_json(data)
                self._legacy_heads[head.partition] = head
        except (ValueError, KeyError, TypeError):
            log.error("decide: unreadable chain record %r in the changelog ignored", name)

    async def _adopt_chain_heads(self) -> None:
        """Take the chain heads from the newest signed head the restore read; a head not
        signed by the hub is refused (one ERROR line) and the newest valid checkpoint on
        the checkpoint topic stands in. Unsigned heads of an earlier version are adopted
        (one WARNING) only when no signed head exists at all."""
        candidates = list(self._head_candidates)
        self._head_candidates.clear()
        legacy, self._legacy_heads = self._legacy_heads, {}
        if not candidates and not legacy:
            return  # a new log
        anchors = trust_anchors(self.settings)
        found, refused = newest_valid(candidates, anchors)
        newest_refused = bool(candidates) and (found is None or found[0] != candidates[-1])
        if refused or newest_refused:
            fallback = await latest_checkpoint(self.settings, anchors)
            if fallback is not None and (found is None or fallback[1].n > found[1].n):
                found = fallback
            log.error(
                "decide: %d chain head record(s) in %s are not signed by the hub and were "
                "refused (written by another producer?); continuing from signed checkpoint "
                "#%s; run `mchub audit verify`",
                refused,
                self.changelog_topic,
                found[1].n if found is not None else "none",
            )
        if found is not None:
            self._adopt(found[1])
        elif candidates:
            raise VerificationError(
                "untrusted-chain-head",
                f"no chain head in {self.changelog_topic} or {self.checkpoints_topic} is "
                "signed by the hub: the log cannot be extended safely; run `mchub audit "
                "verify` and check MCHUB_AUDIT_TRUST",
            )
        else:
            log.warning(
                "decide: unsigned chain heads of an earlier version adopted; the next "
                "transaction signs them"
            )
            self.chains, self.checkpoint_n = legacy, self._legacy_n

    def _adopt(self, checkpoint: VerifiedCheckpoint) -> None:
        self.chains = {h.partition: ChainHead(h.partition, h.seq, h.head) for h in checkpoint.heads}
        self.checkpoint_n = checkpoint.n

    def _changelog(self, key: str, value: bytes) -> Output:
        """A changelog record of the handler's own keys (chains), kept in the store too."""
        if self.store is not None:
            self.store.put(key, value)
        return Output(self.changelog_topic, value, key=key.encode(), partition=0)

    # -- decide --------------------------------------------------------------
    def _read_request(
        self, record: ConsumerRecord
    ) -> tuple[NormalisedEvent, dict[str, Any], datetime] | Output:
        """(event, context, received time) of a request record, or its dead letter."""
        try:
            # both request formats: ingest's binary one and the older JSON (docs/limits.md)
            request = decode_request(record.value)
            event = event_from_json(request["event"])
            context = {k: v for k, v in request.items() if k != "event"}
            return event, context, datetime.fromisoformat(context["receivedAt"])
        except (ValueError, KeyError, TypeError, struct.error) as exc:
            log.warning(
                "decide: unreadable request %s-%d@%d dead-lettered: %s",
                record.topic, record.partition, record.offset, exc,
            )
            error = f"unreadable decide request: {type(exc).__name__}: {exc}"
            return dead_letter(record, self.dead_letters_topic, error)

    def _prefetch(self, requests: Sequence[tuple[NormalisedEvent, Any, Any]]) -> None:
        """Read the state every request of a batch looks up in one go (the store's keys
        are the changelog keys)."""
        if self.store is None or not requests:
            return
        keys = [index_changelog_key(event.idempotency_key) for event, _, _ in requests]
        keys += [
            credential_changelog_key(event.credential_key)
            for event, _, _ in requests
            if event.credential_key is not None
        ]
        self.store.prefetch(keys)

    def decide(
        self, event: NormalisedEvent, context: dict[str, Any], now: datetime
    ) -> list[Output]:
        """The core's decision on ``event`` (stored in the tables) and what it writes."""
        decision = self.tables.process(event, now=now, ttl=self.ttl, context=context)
        outputs = self._outputs(decision, {event.idempotency_key: context})
        outputs += self._report(decision.report(event, context))
        return outputs

    async def sweep(self) -> list[Output]:
        """Expire held revocations older than the TTL (called when the stage is idle)."""
        outputs: list[Output] = []
        for change in self.tables.sweep(now=self._now(), ttl=self.ttl):
            outputs += self._outputs(change, {})
        return outputs

    async def on_idle(self) -> list[Output]:
        """The idle hook: expiry sweep, and a checkpoint when it appended records."""
        outputs = await self.sweep()
        if self._dirty_chains:
            outputs += self.checkpoint()
        return outputs

    def _schemas_registered(self) -> bool:
        """Whether every current canonical schema has a registry id in this process."""
        store = self.envelopes.store
        return all(SCHEMA_IDS.id_of(store.get(name).fingerprint) is not None
                   for name in store.names())

    # -- hash chain ----------------------------------------------------------
    def _chained(self, value: bytes, key: bytes, prev_hash_at: int | None = None) -> Output:
        """The canonical record, chained to its partition's head, for that partition."""
        if self.log_partitions is None:
            raise RuntimeError("decide: restore() must run before deciding (partition count)")
        partition = partition_for(key, self.log_partitions)
        head = self.chains.get(partition)
        if head is None:
            head = self.chains[partition] = ChainHead(partition)
        chained = self.envelopes.with_prev_hash(value, head.link(), at=prev_hash_at)
        head.advance(chained)
        self._dirty_chains.add(partition)
        name = f"{NAMESPACE}.{self.envelopes.record_name(chained)}"
        return Output(self.log_topic, frame(chained, self.wire_format), key=key,
                      partition=partition,
                      headers=value_headers(chained, name, self.wire_format))

    def checkpoint(self) -> list[Output]:
        """A signed checkpoint of every chain head: on the checkpoint topic, and as the
        chain state in the changelog (the same JWS), in the transaction of the records."""
        if self._signer is None:
            self._signer = audit_signer(self.settings)
        self.checkpoint_n += 1
        checkpoint = Checkpoint(
            n=self.checkpoint_n,
            at=self._now(),
            heads=tuple(ChainHead(h.partition, h.seq, h.head) for h in self.chains.values()),
        )
        self._dirty_chains.clear()
        signed = sign_checkpoint(checkpoint, self._signer)
        return [
            Output(self.checkpoints_topic, signed, key=str(checkpoint.n).encode(), partition=0),
            self._changelog(CHAIN_HEAD_KEY, signed),
        ]

    # -- outputs -------------------------------------------------------------
    def _outputs(self, change: StateChange, contexts: dict[str, dict[str, Any]]) -> list[Output]:
        """What one state change (already stored in the tables) writes, in publication order.

        ``contexts`` maps idempotency keys to their request context (receipt id, raw
        digest, received time, trace id); released holds bring their own.
        """
        contexts = {**contexts, **{f.idempotency_key: f.context for f in change.follow_ups}}
        outputs: list[Output] = []
        for emission in change.emissions:
            context = contexts[emission.idempotency_key]
            canonical = base64.b64decode(context["canonical"])
            at = context.get("prevHashAt")
            outputs.append(
                self._chained(canonical, log_key(emission), at if isinstance(at, int) else None)
            )
        for follow_up in change.follow_ups:
            outputs += self._report(follow_up)
        if change.credential is not None:
            state = change.credential
            key = credential_changelog_key(state.credential_key).encode()
            value: bytes | None = None if state.is_empty else state.to_json()
            outputs.append(Output(self.changelog_topic, value, key=key, partition=0))
        for write in change.index_writes:
            value = None if write.entry is None else write.entry.to_json()
            outputs.append(
                Output(self.changelog_topic, value, key=write.changelog_key.encode(), partition=0)
            )
        return outputs

    def _report(self, report: OutcomeReport) -> list[Output]:
        context = {k: v for k, v in report.context.items() if k not in _REQUEST_ONLY}
        body = {
            **context,
            "scope": "event",
            "outcome": report.outcome,
            "rules": [{"rule": r, "path": "", "message": report.detail} for r in report.rules],
            "detail": report.detail,
            "idempotencyKey": report.idempotency_key,
            "credentialKey": report.credential_key,
            "row": report.event.row,
            "sor_azonosito": report.event.sor_azonosito,
            "final": report.final,
        }
        data = wire.dumps(body)
        topic = self.settings.topic(receipts_topic(report.event.feed))
        rid = str(context.get("receiptId") or report.idempotency_key).encode()
        outputs = [Output(topic, data, key=rid)]
        if report.outcome in ("reject", "conflict"):
            outputs.append(Output(self.rejections_topic, data, key=report.idempotency_key.encode()))
        return outputs


async def changelog_bounds(settings: Settings, tp: TopicPartition) -> tuple[int, int]:
    """(earliest offset, end offset) of a changelog partition (read_committed)."""
    consumer = make_consumer(settings, group=None)
    await consumer.start()
    try:
        begin = await consumer.beginning_offsets([tp])
        end = await consumer.end_offsets([tp])
        return int(begin[tp]), int(end[tp])
    finally:
        await consumer.stop()


async def delete_retention_ms(settings: Settings, topic: str) -> int | None:
    """The topic's ``delete.retention.ms`` (how long tombstones stay at least); None
    when tombstones are never removed (the in-memory log). Kafka's default (1 day)
    when the broker cannot tell."""
    if is_memory(settings.bootstrap):  # hub.adapters.memory: no compaction
        return None
    try:
        value = (await topic_configs(settings, topic)).get("delete.retention.ms")
        if value is not None:
            return int(value)
    except Exception as exc:  # noqa: BLE001 - fall back to the safe default below
        log.warning("decide: delete.retention.ms of %s not read (%s)", topic, exc)
    return DEFAULT_DELETE_RETENTION_MS


def decide_stage(settings: Settings, *, signer: Signer | None = None) -> Stage:
    """The decide stage, ready to run (checkpoints: ``settings.audit``, ``signer``).

    Its input has one partition: one instance of ``mchub run`` owns the decide task, the
    others stand by in the group and take over within the session timeout.
    """
    handler = DecideHandler(settings, signer=signer)
    return Stage(
        settings,
        name=STAGE,
        input_topics=[settings.topic(DECIDE_REQUESTS)],
        handler=handler,
    )

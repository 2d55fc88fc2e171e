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

**Hash chain** (tamper evidence, :mod:`hub.audit.chain`, ``docs/audit.md``): each
canonical record carries in ``envelope.prevHash`` the SHA-256 of the previous record's
exact bytes in the same partition. The stage computes every record's partition itself
(the producer's murmur2 partitioner over the key and the log's partition count, read at
start) and writes it there explicitly; the chain heads live in the changelog under
``chain|<partition>`` (same transaction), so they survive restarts exactly once. Every
``checkpoint_every`` records, and when idle after ``checkpoint_interval_s``, it writes a
signed checkpoint (partition, sequence, chain head) to ``audit.checkpoints.log`` in the
same transaction (:mod:`hub.audit.checkpoints`).

On start the stage first fences any earlier instance (transactional producer), then
restores its tables by reading the changelog to its end, and only then consumes.
A periodic sweep rejects held revocations whose issuance never came (§10).
"""

from __future__ import annotations

import base64
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition

from connectors.crypto.keys import Signer
from hub.adapters.kafka import make_consumer
from hub.audit.chain import (
    CHECKPOINT_COUNTER_KEY,
    ChainHead,
    EnvelopeReader,
    chain_changelog_key,
    partition_for,
)
from hub.audit.checkpoints import AuditSettings, Checkpoint, audit_signer, sign_checkpoint
from hub.audit.logread import partitions_of
from hub.core import CredentialState, DecisionState, IdempotencyState, decide, expire
from hub.core.lifecycle import OutcomeReport, StateChange
from hub.core.state import credential_changelog_key
from hub.normalise.types import NormalisedEvent
from hub.settings import Settings
from hub.stream.canonical import log_key
from hub.stream.engine import Output, TransactionalStage
from hub.topics import (
    AUDIT_CHECKPOINTS,
    CANONICAL_LOG,
    DECIDE_CHANGELOG,
    DECIDE_REQUESTS,
    REJECTIONS,
)
from hub.topics import source_receipts as receipts_topic

log = logging.getLogger(__name__)


def event_from_json(data: dict[str, Any]) -> NormalisedEvent:
    """A :class:`NormalisedEvent` back from its JSON form in a decide request."""
    return NormalisedEvent(**data)


class DecideHandler:
    """Holds the lifecycle tables in memory, backed by the changelog topic."""

    def __init__(
        self,
        settings: Settings,
        *,
        now: Any = None,
        audit: AuditSettings | None = None,
        signer: Signer | None = None,
    ) -> None:
        self.settings = settings
        self.ttl = timedelta(days=settings.held_revocation_ttl_days)
        self.credentials: dict[str, CredentialState] = {}
        self.index: dict[str, IdempotencyState] = {}
        #: credential keys with held revocations: the sweep looks only at these
        self.with_holds: set[str] = set()
        self.log_topic = settings.topic(CANONICAL_LOG)
        self.changelog_topic = settings.topic(DECIDE_CHANGELOG)
        self.rejections_topic = settings.topic(REJECTIONS)
        self._now = now or (lambda: datetime.now(UTC))
        # -- hash chain and checkpoints (hub.audit) --
        self.audit = audit or AuditSettings()
        self.checkpoints_topic = settings.topic(AUDIT_CHECKPOINTS)
        self.envelopes = EnvelopeReader()
        #: partition -> chain head of the canonical log
        self.chains: dict[int, ChainHead] = {}
        #: partitions of the canonical log (read from metadata in :meth:`restore`)
        self.log_partitions: int | None = None
        self.checkpoint_n = 0
        self._signer = signer
        self._dirty_chains: set[int] = set()
        self._since_checkpoint = 0
        self._covered = 0  # chained records the last checkpoint covered (all partitions)
        self._last_checkpoint = time.monotonic()

    # -- restore -------------------------------------------------------------
    async def restore(self) -> int:
        """Load the tables from the changelog (read_committed, to its end)."""
        consumer = make_consumer(self.settings, group=None)
        await consumer.start()
        restored = 0
        try:
            self.log_partitions = len(await partitions_of(self.settings, self.log_topic))
            if self._signer is None:
                self._signer = audit_signer(self.settings, self.audit)
            tp = TopicPartition(self.changelog_topic, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            end = (await consumer.end_offsets([tp]))[tp]
            while await consumer.position(tp) < end:
                batch = await consumer.getmany(tp, timeout_ms=500, max_records=5000)
                for record in batch.get(tp, []):
                    self._load(record)
                    restored += 1
        finally:
            await consumer.stop()
        # records chained before a crash but after the last checkpoint: cover them soon
        self._since_checkpoint = self._chained_total() - self._covered
        log.info(
            "decide: restored %d changelog records (%d credentials, %d keys, %d chains)",
            restored,
            len(self.credentials),
            len(self.index),
            len(self.chains),
        )
        return restored

    def _load(self, record: ConsumerRecord) -> None:
        key = bytes(record.key).decode()
        table, _, name = key.partition("|")
        if table == "cred":
            if record.value is None:
                self.credentials.pop(name, None)
            else:
                self.credentials[name] = CredentialState.from_json(record.value)
            self._track_holds(name)
        elif table == "idem":
            if record.value is None:
                self.index.pop(name, None)
            else:
                self.index[name] = IdempotencyState.from_json(record.value)
        elif table == "chain" and record.value is not None:
            data = json.loads(record.value)
            if name == "checkpoint":
                self.checkpoint_n = int(data["n"])
                self._covered = int(data.get("covered", 0))
            else:
                head = ChainHead.from_json(data)
                self.chains[head.partition] = head

    # -- decide --------------------------------------------------------------
    async def __call__(self, records: list[ConsumerRecord]) -> list[Output]:
        """Decide a batch of requests in order."""
        outputs: list[Output] = []
        for record in records:
            outputs += self.handle(json.loads(record.value))
        outputs += self._chain_outputs()
        if self._since_checkpoint >= self.audit.checkpoint_every:
            outputs += self.checkpoint()
        return outputs

    def handle(self, request: dict[str, Any]) -> list[Output]:
        """Decide one request and return everything to write."""
        event = event_from_json(request["event"])
        context = {k: v for k, v in request.items() if k != "event"}
        now = datetime.fromisoformat(context["receivedAt"])
        state = DecisionState(
            credential=self.credentials.get(event.credential_key) if event.credential_key else None,
            claim=self.index.get(event.idempotency_key),
        )
        decision = decide(state, event, now=now, ttl=self.ttl, context=context)
        outputs = self._apply(decision, {event.idempotency_key: context})
        outputs += self._report(decision.report(event, context))
        return outputs

    async def sweep(self) -> list[Output]:
        """Expire held revocations older than the TTL (called when the stage is idle)."""
        now = self._now()
        outputs: list[Output] = []
        for key in list(self.with_holds):
            state = self.credentials[key]
            expiry = state.next_expiry(self.ttl)
            if expiry is not None and expiry <= now:
                outputs += self._apply(expire(state, now=now, ttl=self.ttl), {})
        return outputs

    async def on_idle(self) -> list[Output]:
        """The idle hook: expiry sweep, then a checkpoint when one is due."""
        outputs = await self.sweep()
        outputs += self._chain_outputs()
        due = time.monotonic() - self._last_checkpoint >= self.audit.checkpoint_interval_s
        if self._since_checkpoint > 0 and due:
            outputs += self.checkpoint()
        return outputs

    # -- hash chain ----------------------------------------------------------
    def _chained(self, value: bytes, key: bytes) -> Output:
        """The canonical record, chained to its partition's head, for that partition."""
        if self.log_partitions is None:
            raise RuntimeError("decide: restore() must run before deciding (partition count)")
        partition = partition_for(key, self.log_partitions)
        head = self.chains.get(partition)
        if head is None:
            head = self.chains[partition] = ChainHead(partition)
        chained = self.envelopes.with_prev_hash(value, head.link())
        head.advance(chained)
        self._dirty_chains.add(partition)
        self._since_checkpoint += 1
        return Output(self.log_topic, chained, key=key, partition=partition)

    def _chained_total(self) -> int:
        return sum(h.seq for h in self.chains.values())

    def _chain_outputs(self) -> list[Output]:
        """Changelog records of the chain heads changed since the last call."""
        outputs = [
            Output(
                self.changelog_topic,
                json.dumps(self.chains[p].to_json()).encode(),
                key=chain_changelog_key(p).encode(),
            )
            for p in sorted(self._dirty_chains)
        ]
        self._dirty_chains.clear()
        return outputs

    def checkpoint(self) -> list[Output]:
        """A signed checkpoint of every chain head, and its counter in the changelog."""
        if self._signer is None:
            self._signer = audit_signer(self.settings, self.audit)
        self.checkpoint_n += 1
        checkpoint = Checkpoint(
            n=self.checkpoint_n,
            at=self._now(),
            heads=tuple(ChainHead(h.partition, h.seq, h.head) for h in self.chains.values()),
        )
        self._since_checkpoint = 0
        self._covered = self._chained_total()
        self._last_checkpoint = time.monotonic()
        return [
            Output(
                self.checkpoints_topic,
                sign_checkpoint(checkpoint, self._signer),
                key=str(checkpoint.n).encode(),
                partition=0,
            ),
            Output(
                self.changelog_topic,
                json.dumps({"n": self.checkpoint_n, "covered": self._covered}).encode(),
                key=CHECKPOINT_COUNTER_KEY.encode(),
            ),
        ]

    # -- outputs -------------------------------------------------------------
    def _apply(self, change: StateChange, contexts: dict[str, dict[str, Any]]) -> list[Output]:
        """Outputs and in-memory updates of one state change, in publication order.

        ``contexts`` maps idempotency keys to their request context (receipt id, raw
        digest, received time, trace id); released holds bring their own.
        """
        contexts = {**contexts, **{f.idempotency_key: f.context for f in change.follow_ups}}
        outputs: list[Output] = []
        for emission in change.emissions:
            context = contexts[emission.idempotency_key]
            value = base64.b64decode(context["canonical"])
            outputs.append(self._chained(value, log_key(emission)))
        for follow_up in change.follow_ups:
            outputs += self._report(follow_up)
        if change.credential is not None:
            state = change.credential
            key = credential_changelog_key(state.credential_key).encode()
            if state.is_empty:
                self.credentials.pop(state.credential_key, None)
                outputs.append(Output(self.changelog_topic, None, key=key))
            else:
                self.credentials[state.credential_key] = state
                outputs.append(Output(self.changelog_topic, state.to_json(), key=key))
            self._track_holds(state.credential_key)
        for write in change.index_writes:
            key = write.changelog_key.encode()
            if write.entry is None:
                self.index.pop(write.idempotency_key, None)
                outputs.append(Output(self.changelog_topic, None, key=key))
            else:
                self.index[write.idempotency_key] = write.entry
                outputs.append(Output(self.changelog_topic, write.entry.to_json(), key=key))
        return outputs

    def _track_holds(self, credential_key: str) -> None:
        state = self.credentials.get(credential_key)
        if state is not None and state.held:
            self.with_holds.add(credential_key)
        else:
            self.with_holds.discard(credential_key)

    def _report(self, report: OutcomeReport) -> list[Output]:
        context = {k: v for k, v in report.context.items() if k != "canonical"}
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
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        topic = self.settings.topic(receipts_topic(report.event.feed))
        rid = str(context.get("receiptId") or report.idempotency_key).encode()
        outputs = [Output(topic, data, key=rid)]
        if report.outcome in ("reject", "conflict"):
            outputs.append(Output(self.rejections_topic, data, key=report.idempotency_key.encode()))
        return outputs


def decide_stage(
    settings: Settings, *, audit: AuditSettings | None = None, signer: Signer | None = None
) -> TransactionalStage:
    """The decide stage, ready to run (``audit``/``signer``: checkpoint options)."""
    handler = DecideHandler(settings, audit=audit, signer=signer)
    return TransactionalStage(
        settings,
        name="decide",
        input_topics=[settings.topic(DECIDE_REQUESTS)],
        handler=handler,
        on_idle=handler.on_idle,
        prepare=handler.restore,
    )

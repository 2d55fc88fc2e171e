"""The register-state projection: canonical log → compacted ``register.credentials.state``.

For every credential event on ``canon.events.log`` the projection writes the credential's
new current state to ``register.credentials.state``: key = the hub credential id, value =
the register's :class:`~connectors.register.models.CredentialChange` JSON (the push body
plus ``credentialId``). A register (or anything else) that reads the compacted topic
from the beginning therefore gets exactly one record per credential, its latest state.

**Revocations carry the full record.** Compaction keeps only the last record of a key,
so a revoked state that dropped the element record would lose the credential. The
projection keeps the last issued record of every credential in memory and repeats it in
the revocation's state record. That memory is restored on start by reading the state
topic itself to its end (it holds the record of every credential), so no extra changelog
is needed. Cost: about 2 KB of memory per credential (a few GB for millions — the place
to switch to an on-disk table if the register grows that large).

**Exactly once.** It is a :class:`~hub.stream.engine.TransactionalStage`: the state
records and the canonical-log offsets commit in one Kafka transaction; a killed worker
re-reads the batch, and its unfinished transaction is aborted (fenced) before the
restore, so the restored memory matches the committed topic. The stage's transactional
id is fixed, so there is one writer; a second instance fences the first.

Enrolments are not credential states and are skipped (they reach the register over
HTTP). Undecodable canonical records and states the register contract refuses go to
``dlq.out.register`` intact, with the reason in ``mchub-dlq-error``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiokafka import ConsumerRecord
from pydantic import ValidationError

from connectors.delivery.ledger import topic_partitions
from connectors.fanout.base import CanonicalItem, decode_canonical
from connectors.fanout.register import credential_push
from connectors.register.models import CredentialChange
from hub.adapters.kafka import make_consumer
from hub.errors import ConfigurationError, UndecodableInput
from hub.settings import Settings
from hub.stream.engine import Header, Output, TransactionalStage
from hub.topics import CANONICAL_LOG, REGISTER_STATE, destination_dead_letters

log = logging.getLogger(__name__)

#: the stage's logical name (consumer group ``<prefix>.project-register-state``)
STAGE_NAME = "project-register-state"
DLQ_ERROR = "mchub-dlq-error"
DLQ_TOPIC = "mchub-dlq-topic"
DLQ_PARTITION = "mchub-dlq-partition"
DLQ_OFFSET = "mchub-dlq-offset"


def state_value(item: CanonicalItem, record: dict[str, Any] | None) -> bytes:
    """The state record value of a credential event (validated against the contract).

    Raises :class:`pydantic.ValidationError` when the register contract refuses it.
    """
    body = credential_push(item, record=record)
    change = CredentialChange.model_validate({**body, "credentialId": item.credential_id})
    return change.model_dump_json(by_alias=True).encode()


class RegisterStateProjection:
    """The projection's handler: last state per credential in memory, restored from the topic."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state_topic = settings.topic(REGISTER_STATE)
        self.dead_letter_topic = settings.topic(destination_dead_letters("register"))
        #: credential id -> (status, §1.2 element record as issued)
        self.credentials: dict[str, tuple[str, dict[str, Any] | None]] = {}
        self.skipped = 0
        self.dead_lettered = 0

    async def restore(self) -> int:
        """Load the last state of every credential from the state topic (to its end)."""
        consumer = make_consumer(self.settings, group=None)
        await consumer.start()
        restored = 0
        try:
            tps = await topic_partitions(self.settings, self.state_topic)
            if not tps:
                raise ConfigurationError(
                    f"the register state topic {self.state_topic} does not exist; "
                    "run `mchub topics apply`"
                )
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            end = await consumer.end_offsets(tps)
            remaining = {tp for tp in tps if end[tp] > 0}
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=500, max_records=5000)
                for records in batch.values():
                    for record in records:
                        self._load(record)
                        restored += 1
                for tp in list(remaining):
                    if await consumer.position(tp) >= end[tp]:
                        remaining.discard(tp)
        finally:
            await consumer.stop()
        log.info("%s: restored %d state records", STAGE_NAME, restored)
        return restored

    def _load(self, record: ConsumerRecord) -> None:
        if record.key is None:
            return
        key = bytes(record.key).decode()
        if record.value is None:
            self.credentials.pop(key, None)
            return
        data = json.loads(record.value)
        self.credentials[key] = (str(data["status"]), data.get("credential"))

    async def __call__(self, records: list[ConsumerRecord]) -> list[Output]:
        """The state records (and dead letters) of a batch of canonical log records."""
        outputs: list[Output] = []
        for record in records:
            outputs += self.handle(record)
        return outputs

    def handle(self, record: ConsumerRecord) -> list[Output]:
        """What one canonical log record writes (state record, dead letter or nothing)."""
        if record.value is None:
            return []
        try:
            item = decode_canonical(record.value)
        except UndecodableInput as exc:
            return [self._dead_letter(record, f"undecodable canonical record: {exc}")]
        if item.credential_id is None or item.event_type not in ("issued", "revoked"):
            self.skipped += 1
            return []
        known = self.credentials.get(item.credential_id)
        if item.event_type == "issued":
            if known is not None and known[0] == "revoked":
                log.warning(
                    "%s: issuance %s of revoked credential %s ignored",
                    STAGE_NAME,
                    item.event_id,
                    item.credential_id,
                )
                self.skipped += 1
                return []
            record_elements = item.elements
            status = "active"
        else:
            record_elements = known[1] if known is not None else None
            status = "revoked"
            if record_elements is None:
                log.warning(
                    "%s: revocation %s of %s without a known record",
                    STAGE_NAME,
                    item.event_id,
                    item.credential_id,
                )
        try:
            value = state_value(item, record_elements)
        except ValidationError as exc:
            return [self._dead_letter(record, f"refused by the register contract: {exc}")]
        self.credentials[item.credential_id] = (status, record_elements)
        return [Output(self.state_topic, value, key=item.credential_id.encode())]

    def _dead_letter(self, record: ConsumerRecord, error: str) -> Output:
        self.dead_lettered += 1
        log.warning(
            "%s: dead-lettering %s/%d@%d: %s",
            STAGE_NAME,
            record.topic,
            record.partition,
            record.offset,
            error.splitlines()[0],
        )
        headers: list[Header] = [
            *(record.headers or ()),
            (DLQ_TOPIC, record.topic.encode()),
            (DLQ_PARTITION, str(record.partition).encode()),
            (DLQ_OFFSET, str(record.offset).encode()),
            (DLQ_ERROR, error.encode()),
        ]
        return Output(self.dead_letter_topic, record.value, key=record.key, headers=headers)


def register_state_stage(settings: Settings) -> TransactionalStage:
    """The exactly-once stage projecting the canonical log onto the register state topic."""
    handler = RegisterStateProjection(settings)
    stage = TransactionalStage(
        settings,
        name=STAGE_NAME,
        input_topics=[settings.topic(CANONICAL_LOG)],
        handler=handler,
        prepare=handler.restore,
        max_records=1000,
    )
    return stage

"""The register-state projection: canonical log → compacted ``register.credentials.state``.

For every credential event on ``canon.events.log`` the projection writes the credential's
new current state to ``register.credentials.state``: key = the hub credential id, value =
the register's :class:`~connectors.register.models.CredentialChange` JSON (the push body
plus ``credentialId``). A register (or anything else) that reads the compacted topic
from the beginning therefore gets exactly one record per credential, its latest state.

**Revocations carry the full record.** Compaction keeps only the last record of a key,
so a revoked state that dropped the element record would lose the credential. The
projection keeps the last issued record of every credential in memory and repeats it in
the revocation's state record. That memory is restored when a task starts by reading
the task's partition of the state topic itself to its end (it holds the record of every
credential), so no extra changelog is needed. Cost: about 2 KB of memory per credential.

**Exactly once, partitioned.** It runs on :class:`~hub.stream.kernel.Stage`: one task
per canonical-log partition, each writing the states of its credentials to the SAME
partition of the state topic (both topics have the hub's partition count), in one
Kafka transaction with its input offset. A new owner of a partition fences the old one
before it restores that partition's memory, so the memory matches the committed topic;
any number of instances split the partitions.

**Typed tables for stock sinks.** In the same transaction it writes the credential's
rows to the ``register.*.table`` topics (:mod:`connectors.register.table`: a flat row
plus child rows, Kafka Connect JSON with schema), so a Kafka Connect JDBC sink loads the
register into a database without code (docs/schema-registry.md).

Enrolments are not credential states and are skipped (they reach the register over
HTTP). Undecodable canonical records and states the register contract refuses go to
``dlq.out.register`` intact, with the reason in ``mchub-dlq-error``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from pydantic import ValidationError

from connectors.fanout.base import CanonicalDecoder, CanonicalItem
from connectors.fanout.register import credential_push
from connectors.register.models import CredentialChange
from connectors.register.table import table_records
from hub.errors import ConfigurationError, UndecodableInput
from hub.settings import Settings
from hub.stream.kernel import BaseHandler, Output, Stage, dead_letter
from hub.stream.reading import partitions_of, read_topic
from hub.topics import CANONICAL_LOG, REGISTER_STATE, destination_dead_letters

log = logging.getLogger(__name__)

#: the stage's logical name (consumer group ``<prefix>.project-register-state``)
STAGE_NAME = "project-register-state"


def state_change(item: CanonicalItem, record: dict[str, Any] | None) -> CredentialChange:
    """The register's state of a credential after ``item`` (validated against the contract).

    Raises :class:`pydantic.ValidationError` when the register contract refuses it.
    """
    body = credential_push(item, record=record)
    return CredentialChange.model_validate({**body, "credentialId": item.credential_id})


def state_value(item: CanonicalItem, record: dict[str, Any] | None) -> bytes:
    """The state record value of a credential event (:func:`state_change` as JSON)."""
    return state_change(item, record).model_dump_json(by_alias=True).encode()


class RegisterStateProjection(BaseHandler):
    """The projection's handler: last state per credential of each owned partition."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.log_topic = settings.topic(CANONICAL_LOG)
        self.state_topic = settings.topic(REGISTER_STATE)
        self.dead_letter_topic = settings.topic(destination_dead_letters("register"))
        #: partition -> credential id -> (status, §1.2 element record as issued)
        self.partitions: dict[int, dict[str, tuple[str, dict[str, Any] | None]]] = {}
        self.skipped = 0
        self.dead_lettered = 0
        self.decoder = CanonicalDecoder(settings)

    @property
    def credentials(self) -> dict[str, tuple[str, dict[str, Any] | None]]:
        """Every credential of the owned partitions (a merged view, for tests and tools)."""
        merged: dict[str, tuple[str, dict[str, Any] | None]] = {}
        for table in self.partitions.values():
            merged.update(table)
        return merged

    def state_size(self) -> int:
        """Credentials held in memory for the owned partitions (metrics)."""
        return sum(len(table) for table in list(self.partitions.values()))

    async def assigned(self, partitions: Sequence[TopicPartition]) -> None:
        """Restore the new tasks' memory from their partitions of the state topic."""
        if not partitions:
            return  # no task here (a standby): nothing to restore
        numbers = [tp.partition for tp in partitions]
        await self.restore(numbers)

    async def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        """Forget the credentials of partitions that moved away."""
        for tp in partitions:
            self.partitions.pop(tp.partition, None)

    async def restore(self, partitions: Sequence[int] | None = None) -> int:
        """Load the last state of every credential of ``partitions`` (default: all)."""
        existing = await partitions_of(self.settings, self.state_topic)
        inputs = await partitions_of(self.settings, self.log_topic)
        if len(existing) != len(inputs):
            raise ConfigurationError(
                f"{self.state_topic} has {len(existing)} partitions and {self.log_topic} "
                f"{len(inputs)}; the projection needs the same count (MCHUB_PARTITIONS)"
            )
        wanted = list(existing if partitions is None else partitions)
        for number in wanted:
            self.partitions[number] = {}
        restored = 0
        async for batch in read_topic(self.settings, self.state_topic, partitions=wanted):
            for record in batch:
                self._load(record)
            restored += len(batch)
        log.info("%s: restored %d state records of partitions %s", STAGE_NAME, restored, wanted)
        return restored

    def _load(self, record: ConsumerRecord) -> None:
        if record.key is None:
            return
        table = self.partitions.setdefault(record.partition, {})
        key = bytes(record.key).decode()
        if record.value is None:
            table.pop(key, None)
            return
        data = json.loads(record.value)
        table[key] = (str(data["status"]), data.get("credential"))

    def handle(self, record: ConsumerRecord) -> list[Output]:
        """What one canonical log record writes (state record, dead letter or nothing)."""
        if record.value is None:
            return []
        try:
            item = self.decoder.item(record.value)
        except UndecodableInput as exc:
            return [self._dead_letter(record, f"undecodable canonical record: {exc}")]
        if item.credential_id is None or item.event_type not in ("issued", "revoked"):
            self.skipped += 1
            return []
        if item.learner_erased:
            # an erased learner's credentials leave the register state (the erasure wrote
            # their tombstones; a rebuild or a later revocation does not bring them back)
            self.partitions.setdefault(record.partition, {}).pop(item.credential_id, None)
            self.skipped += 1
            return []
        table = self.partitions.setdefault(record.partition, {})
        known = table.get(item.credential_id)
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
            change = state_change(item, record_elements)
            rows = table_records(change)
        except (ValidationError, ValueError) as exc:
            return [self._dead_letter(record, f"refused by the register contract: {exc}")]
        table[item.credential_id] = (status, record_elements)
        key = item.credential_id.encode()
        value = change.model_dump_json(by_alias=True).encode()
        outputs = [Output(self.state_topic, value, key=key, partition=record.partition)]
        outputs += [Output(self.settings.topic(topic), row, key=row_key)
                    for topic, row_key, row in rows]
        return outputs

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
        return dead_letter(record, self.dead_letter_topic, error)


def register_state_stage(settings: Settings) -> Stage:
    """The exactly-once stage projecting the canonical log onto the register state topic."""
    return Stage(
        settings,
        name=STAGE_NAME,
        input_topics=[settings.topic(CANONICAL_LOG)],
        handler=RegisterStateProjection(settings),
        max_records=1000,
    )

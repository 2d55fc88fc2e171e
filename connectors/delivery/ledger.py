"""The delivery ledger: one JSON record per (event, destination) state change.

Records live on ``out.deliveries.receipts`` keyed by ``<event id>/<destination>`` (so all
states of one delivery share a partition and the latest one wins). States:

- ``pending``   the destination was unavailable; the connector keeps retrying
- ``delivered`` the destination accepted it (status, response id, attempts, times)
- ``failed``    the destination refused it for good (status, reason, body digest); the
                item is in ``dlq.out.<destination>``
- ``skipped``   the destination does not take this kind of change (e.g. a wallet and
                enrolments): nothing was sent, the offset moved on

:func:`read_ledger` rebuilds the latest state per delivery for ``mchub deliveries``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from connectors.delivery.sink import DeliveryItem, DeliveryResult, RetryNotice
from hub.adapters.kafka import make_consumer
from hub.errors import BrokerUnavailable, ConfigurationError
from hub.settings import Settings
from hub.topics import DELIVERY_RECEIPTS

LedgerState = Literal["pending", "delivered", "failed", "skipped"]


def ledger_key(event_id: str, destination: str) -> bytes:
    """The Kafka key of a delivery's ledger records."""
    return f"{event_id}/{destination}".encode()


class LedgerRecord(BaseModel):
    """The state of one (event, destination) delivery at ``recorded_at`` (JSON, camelCase)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    event_id: str
    destination: str
    credential_id: str
    state: LedgerState
    attempts: int
    status: int | None = None
    response_id: str | None = None
    reason: str | None = None
    body_digest: str | None = None
    first_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    recorded_at: datetime
    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = None

    @property
    def key(self) -> bytes:
        """The Kafka key (event id and destination)."""
        return ledger_key(self.event_id, self.destination)

    def to_json(self) -> bytes:
        """The record as the ledger topic stores it."""
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> LedgerRecord:
        """Parse a record from the ledger topic."""
        return cls.model_validate_json(data)

    @classmethod
    def from_result(
        cls, result: DeliveryResult, destination: str, *, now: datetime | None = None
    ) -> LedgerRecord:
        """The ``delivered``, ``failed`` or ``skipped`` record of a sink result."""
        return cls(
            **_item_fields(result.item, destination),
            state=result.state,
            attempts=result.attempts,
            status=result.status,
            response_id=result.response_id,
            reason=result.reason,
            body_digest=result.body_digest,
            first_attempt_at=result.first_attempt_at,
            last_attempt_at=result.last_attempt_at,
            recorded_at=now or datetime.now(UTC),
        )

    @classmethod
    def pending(
        cls, notice: RetryNotice, destination: str, *, now: datetime | None = None
    ) -> LedgerRecord:
        """The ``pending`` record of a delivery the sink is retrying."""
        return cls(
            **_item_fields(notice.item, destination),
            state="pending",
            attempts=notice.attempt,
            status=notice.status,
            reason=str(notice.error),
            first_attempt_at=notice.first_attempt_at,
            last_attempt_at=notice.last_attempt_at,
            recorded_at=now or datetime.now(UTC),
        )


def _item_fields(item: DeliveryItem, destination: str) -> dict[str, object]:
    source = item.source
    return {
        "event_id": item.event_id,
        "destination": destination,
        "credential_id": item.credential,
        "source_topic": source.topic if source else None,
        "source_partition": source.partition if source else None,
        "source_offset": source.offset if source else None,
    }


@dataclass
class LedgerBook:
    """The latest ledger record per (event id, destination)."""

    latest: dict[tuple[str, str], LedgerRecord] = field(default_factory=dict)

    def add(self, record: LedgerRecord) -> None:
        """Record one ledger record read in topic order (a later one replaces an earlier)."""
        self.latest[(record.event_id, record.destination)] = record

    def records(self, *, credential_id: str | None = None) -> list[LedgerRecord]:
        """Latest records (optionally of one credential), oldest first, then by destination."""
        chosen: Iterable[LedgerRecord] = self.latest.values()
        if credential_id is not None:
            chosen = (r for r in chosen if r.credential_id == credential_id)
        return sorted(
            chosen,
            key=lambda r: (r.first_attempt_at or r.recorded_at, r.event_id, r.destination),
        )


async def read_ledger(
    settings: Settings, *, credential_id: str | None = None, timeout: float = 30.0
) -> list[LedgerRecord]:
    """Read the ledger topic to its current end (read_committed) and return latest states.

    Raises :class:`~hub.errors.ConfigurationError` when the ledger topic does not exist,
    :class:`~hub.errors.BrokerUnavailable` when Kafka cannot be reached, and
    :class:`TimeoutError` if the end is not reached within ``timeout`` seconds.
    """
    topic = settings.topic(DELIVERY_RECEIPTS)
    await _require_topic(settings, topic)
    # assigned explicitly: a group-less subscription may start with only some partitions
    # (the consumer's metadata may not list a new topic's partitions yet)
    consumer = make_consumer(settings, group=None)
    try:
        await consumer.start()
        tps = sorted(await topic_partitions(settings, topic), key=lambda tp: tp.partition)
        book = LedgerBook()
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout
        while not await _at_end(consumer, end):
            if time.monotonic() > deadline:
                raise BrokerUnavailable(f"the ledger topic {topic} was not read to its end in time")
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batch.values():
                for record in records:
                    if record.value is not None:
                        book.add(LedgerRecord.from_json(record.value))
            await asyncio.sleep(0)
        return book.records(credential_id=credential_id)
    finally:
        await consumer.stop()


async def topic_partitions(settings: Settings, topic: str) -> list[TopicPartition]:
    """Every partition of ``topic`` (full name) as the broker describes it (none: missing).

    Asks the broker directly: a consumer's cached metadata may not list a new topic yet.
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap, client_id=f"{settings.client_id}-admin"
    )
    try:
        await admin.start()
        described = await admin.describe_topics([topic])
    except KafkaConnectionError as exc:
        raise BrokerUnavailable(f"cannot reach Kafka at {settings.bootstrap}: {exc}") from exc
    finally:
        await admin.close()
    found = [d for d in described if d.get("topic") == topic and not d.get("error_code")]
    partitions = found[0].get("partitions") or [] if found else []
    return [TopicPartition(topic, int(p["partition"])) for p in partitions]


async def _require_topic(settings: Settings, topic: str) -> None:
    """Fail fast with a clear message when the broker or the ledger topic is missing."""
    probe = make_consumer(settings, group=None)
    try:
        await probe.start()
        topics = await probe.topics()
    except KafkaConnectionError as exc:
        raise BrokerUnavailable(f"cannot reach Kafka at {settings.bootstrap}: {exc}") from exc
    finally:
        await probe.stop()
    if topic not in topics:
        raise ConfigurationError(
            f"the delivery ledger topic {topic} does not exist; run `mchub topics apply`"
        )


async def _at_end(consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]) -> bool:
    for tp, offset in end.items():
        if await consumer.position(tp) < offset:
            return False
    return True

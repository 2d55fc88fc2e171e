"""The delivery ledger: one JSON record per (event, destination) state change.

Records live on ``out.deliveries.receipts`` keyed by ``<event id>/<destination>`` (so all
states of one delivery share a partition and the latest one wins). States:

- ``pending``   the destination was unavailable; the connector keeps retrying
- ``delivered`` the destination accepted it (status, response id, attempts, times)
- ``failed``    the destination refused it for good (status, reason, body digest); the
                item is in ``dlq.out.<destination>``
- ``skipped``   the destination does not take this kind of change (e.g. a wallet and
                enrolments): nothing was sent, the offset moved on
- ``parked``    held back, not dead-lettered: an earlier change of the same credential
                (key) was refused or parked (``reason`` names it), or this item kept
                failing transiently while the destination served others; the connector
                redrives the key automatically (``mchub redrive`` on demand)

``pending`` and ``parked`` are not final: a later ``delivered`` replaces them.

:func:`read_ledger` rebuilds the latest state per delivery for ``mchub deliveries``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from aiokafka import TopicPartition
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from connectors.delivery.sink import DeliveryItem, DeliveryResult, RetryNotice
from hub.errors import ConfigurationError
from hub.settings import Settings
from hub.stream.reading import partitions_of, read_topic
from hub.topics import DELIVERY_RECEIPTS

LedgerState = Literal["pending", "delivered", "failed", "skipped", "parked"]
#: states that are not final: the delivery is still owed
OPEN_STATES: frozenset[str] = frozenset({"pending", "parked"})


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
    #: the connector's ordering key when it differs from ``credential_id``
    order_key: str | None = None

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
        "order_key": item.key if item.key != item.credential else None,
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
    :class:`~hub.errors.BrokerUnavailable` when Kafka cannot be reached or the end is not
    reached within ``timeout`` seconds.
    """
    topic = settings.topic(DELIVERY_RECEIPTS)
    book = LedgerBook()
    try:
        async for batch in read_topic(settings, topic, bulk=False, timeout=timeout):
            for record in batch:
                if record.value is not None:
                    book.add(LedgerRecord.from_json(record.value))
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"the delivery ledger topic {topic} does not exist; run `mchub topics apply`"
        ) from exc
    return book.records(credential_id=credential_id)


async def topic_partitions(settings: Settings, topic: str) -> list[TopicPartition]:
    """Every partition of ``topic`` (full name) as the broker describes it (none: missing)."""
    try:
        return [TopicPartition(topic, p) for p in await partitions_of(settings, topic)]
    except ConfigurationError:
        return []

"""The fan-out interface: canonical log records as every destination sees them.

Every destination connector reads the canonical log ``canon.events.log`` itself, with
its own consumer group ``<group prefix>.deliver-<name>``, so a slow or failing
destination never holds back the others (each has its own offsets). A destination is a
:class:`Destination`: a name, a filter (:meth:`Destination.wants`) and a request builder
(:meth:`Destination.build_request`). :func:`connector` wires one into the delivery
runtime (:mod:`connectors.delivery`): decode → filter → HTTP (Idempotency-Key = event id,
order per credential) → ledger + offsets in one Kafka transaction.

Skipping: a record the destination does not want (``wants() is False``) is not sent; it
gets a ``skipped`` record in the delivery ledger (``out.deliveries.receipts``) and its
offset is committed with the rest of the batch, so ``mchub deliveries`` and the demo's
table account for every event at every destination.

Ordering key: the hub credential id (as on the canonical log), for enrolments the same
key the log uses (``learner:`` + the keyed learner pseudonym), which is also what the
ledger records as ``credentialId`` (no education ID in the ledger).

Learner data: the fan-out opens each record's sealed learner identification with the
deployment's learner key store (:mod:`hub.privacy.seal`); a record of an erased learner
decodes with :attr:`CanonicalItem.learner_erased` set and placeholders in place of the
values, and destinations do not send it (docs/privacy.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import httpx

from connectors.delivery.http_sink import (
    BatchAnswer,
    BatchContract,
    HttpRequest,
    HttpSink,
    deliver_per_key,
)
from connectors.delivery.runner import DeliveryRunner
from connectors.delivery.sink import Closing, DeliveryItem, DeliveryResult, RetryHook
from hub.contract.codec import AvroCodec
from hub.contract.elements import model_to_elements
from hub.contract.models import CredentialIssued, CredentialRevoked, EnrolmentRecorded
from hub.errors import ConfigurationError, UndecodableInput
from hub.privacy.keystore import LearnerKeyStore, open_key_store
from hub.privacy.pseudonym import learner_log_key
from hub.privacy.seal import open_event
from hub.settings import Settings
from hub.topics import CANONICAL_LOG


@dataclass(frozen=True)
class CanonicalItem:
    """One canonical log record, decoded, as every destination sees it."""

    event_id: str
    event_type: str  # issued | revoked | enrolled | withdrawn | completed
    credential_id: str | None  # hub-wide credential id (None for enrolments)
    credential_key: str | None
    learner_id: str  # education ID (the pseudonym when erased or never known)
    occurred_at: str | None
    received_at: str
    event: dict[str, Any]  # the canonical event in JSON form (camelCase, model_dump(mode="json"))
    elements: dict[str, Any] | None  # §1.2 elements dict for issuances, else None
    learner_key: str = ""  # the envelope's learner key: the keyed pseudonym
    learner_erased: bool = False  # the learner's identification was erased

    @property
    def order_key(self) -> str:
        """The delivery ordering key: credential id, else the pseudonymous learner key."""
        if self.credential_id is not None:
            return self.credential_id
        return learner_log_key(self.learner_key or self.learner_id)

    @property
    def issued_at(self) -> datetime:
        """The moment of issuance: the source event time, else the hub's receive time."""
        text = self.occurred_at or self.received_at
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    @property
    def source_system(self) -> str:
        """The sector system of origin (``FIR``, ``KRETA``, ``FAR``)."""
        return str(self.event["envelope"]["sourceSystem"])


class Destination(Protocol):
    """One fan-out destination: a name, a filter and a request builder."""

    name: str  # "register" | "wallet" | "edc"

    def wants(self, item: CanonicalItem) -> bool:
        """False: acknowledged as skipped (ledger state ``skipped``), nothing sent."""
        ...

    def build_request(self, item: CanonicalItem) -> HttpRequest:
        """The HTTP request delivering ``item`` (path relative to the base URL)."""
        ...


@runtime_checkable
class PreparingDestination(Destination, Protocol):
    """A destination that does some work once per delivery batch (the wallet and EDC claim
    the status entries of the batch's issuances in one database transaction)."""

    def prepare(self, items: list[CanonicalItem]) -> None:
        """Called with every item of a batch before any of them is filtered or built;
        raising fails the batch like a failed delivery (nothing is committed)."""
        ...


@runtime_checkable
class BatchDestination(Destination, Protocol):
    """A destination that also takes many items in one request (the register).

    Its ``wants()`` is asked for a whole batch before the batch is sent, so it must not
    depend on earlier deliveries (the register's does not).
    """

    def build_batch(self, items: list[CanonicalItem]) -> HttpRequest:
        """One request carrying ``items`` in order (each with its event id inside)."""
        ...

    def read_batch(self, response: httpx.Response, items: list[CanonicalItem]) -> BatchAnswer:
        """(status, response id) per item from the 2xx answer, or None if unreadable."""
        ...


def issuances(
    items: Sequence[CanonicalItem], holder_of: Callable[[str], object | None]
) -> dict[str, CanonicalItem]:
    """A batch's complete issuances whose learner has a holder (``holder_of(education
    id)``: the learner's wallet, or None), by credential id (the last of a redelivery)."""
    return {
        item.credential_id: item
        for item in items
        if item.event_type == "issued"
        and item.credential_id is not None
        and item.credential_key is not None
        and item.elements is not None
        and holder_of(item.learner_id) is not None
    }


def revocations(items: Sequence[CanonicalItem]) -> list[tuple[str, str | None]]:
    """(credential id, reason) of a batch's revocations, in log order: the status bits a
    destination sets in :meth:`PreparingDestination.prepare`, before any delivery."""
    found: list[tuple[str, str | None]] = []
    for item in items:
        if item.event_type == "revoked" and item.credential_id is not None:
            reason = item.event.get("reason")
            found.append((item.credential_id, str(reason) if reason else None))
    return found


def issuance_credential_ids(
    items: Sequence[CanonicalItem], holder_of: Callable[[str], object | None]
) -> list[str]:
    """Credential ids of a batch's complete issuances whose learner has a holder."""
    return list(issuances(items, holder_of))


_codec: AvroCodec | None = None


def _shared_codec() -> AvroCodec:
    global _codec
    if _codec is None:
        _codec = AvroCodec()
    return _codec


def decode_canonical(data: bytes, keys: LearnerKeyStore | None = None) -> CanonicalItem:
    """Decode one canonical log record value, its learner opened with ``keys``.

    Raises :class:`~hub.errors.UndecodableInput` for bytes that are no canonical record,
    :class:`~hub.errors.ConfigurationError` for sealed learner data without ``keys`` or
    with a key the store never held.
    """
    decoded = _shared_codec().decode(data)
    opened = open_event(decoded, _no_keys if keys is None else keys.get)
    event = opened.event
    envelope = event.envelope
    elements: dict[str, Any] | None = None
    if isinstance(event, CredentialIssued):
        elements = model_to_elements(event.credential)
    elif not isinstance(event, EnrolmentRecorded | CredentialRevoked):  # pragma: no cover
        raise UndecodableInput(f"not a canonical event: {type(event).__name__}")
    learner = opened.education_id
    return CanonicalItem(
        event_id=envelope.event_id,
        event_type=envelope.event_type,
        credential_id=envelope.credential_id,
        credential_key=envelope.credential_key,
        learner_id=learner or envelope.learner_key,
        occurred_at=envelope.occurred_at,
        received_at=envelope.received_at.isoformat(),
        event=event.model_dump(mode="json", by_alias=True),
        elements=elements,
        learner_key=envelope.learner_key,
        learner_erased=opened.erased,
    )


def _no_keys(pseudonym: str, kid: str) -> None:
    raise ConfigurationError(
        f"{pseudonym}: the record's learner data is sealed and this reader has no learner "
        "key store (decode_canonical(data, keys))"
    )


@dataclass
class CanonicalDecoder:
    """Decodes canonical records with the deployment's learner key store (opened once)."""

    settings: Settings
    keys: LearnerKeyStore | None = None

    def store(self) -> LearnerKeyStore:
        """The key store (opened on first use)."""
        if self.keys is None:
            self.keys = open_key_store(self.settings)
        return self.keys

    def item(self, data: bytes) -> CanonicalItem:
        """:func:`decode_canonical` with this decoder's key store."""
        return decode_canonical(data, self.store())

    def delivery_item(self, data: bytes) -> DeliveryItem:
        """The delivery runner's decoder (see :func:`decode_delivery_item`)."""
        return delivery_item(self.item(data))


@dataclass(frozen=True)
class CanonicalDeliveryItem(DeliveryItem):
    """A :class:`DeliveryItem` that carries its decoded :class:`CanonicalItem`."""

    canonical: CanonicalItem | None = None


def delivery_item(item: CanonicalItem) -> CanonicalDeliveryItem:
    """The delivery item of a canonical item (key and ledger id: its ``order_key``)."""
    return CanonicalDeliveryItem(
        event_id=item.event_id,
        key=item.order_key,
        payload=item.event,
        credential_id=item.order_key,
        canonical=item,
    )


def decode_delivery_item(data: bytes, keys: LearnerKeyStore | None = None) -> DeliveryItem:
    """The runner's decoder: canonical bytes → :class:`CanonicalDeliveryItem`."""
    return delivery_item(decode_canonical(data, keys))


def canonical_of(item: DeliveryItem) -> CanonicalItem:
    """The canonical item a delivery item was decoded from (re-decoded if not carried)."""
    if isinstance(item, CanonicalDeliveryItem) and item.canonical is not None:
        return item.canonical
    raise TypeError("not a canonical delivery item (decode with decode_delivery_item)")


@dataclass
class FilteringSink:
    """A sink in front of an :class:`HttpSink` that skips what the destination does not want.

    ``wants()`` is asked at delivery time, in order per key, right after the previous item
    of the same key was delivered — so a destination may base the answer on what it sent
    before (the wallet takes a revocation only when it delivered the issuance). Wanted
    items are delivered by :meth:`HttpSink.deliver` (retries, breaker, Idempotency-Key);
    unwanted ones become ``skipped`` results with no request. Keys go concurrently (the
    HTTP sink bounds the requests in flight); results come back in the order added.
    """

    destination: Destination
    inner: HttpSink
    _buffer: list[DeliveryItem] = field(default_factory=list)

    @property
    def on_retry(self) -> RetryHook | None:
        """The inner sink's retry hook (the runner records ``pending``)."""
        return self.inner.on_retry

    @on_retry.setter
    def on_retry(self, hook: RetryHook | None) -> None:
        self.inner.on_retry = hook

    def add(self, item: DeliveryItem) -> None:
        """Buffer ``item`` for the next :meth:`flush`."""
        self._buffer.append(item)

    async def flush(self) -> list[DeliveryResult]:
        """Deliver or skip every buffered item (per key in order); see the Sink port.

        A :class:`PreparingDestination` is prepared for the whole batch first. Raises like
        :meth:`HttpSink.flush` (401/403 first, then other hub errors).
        """
        items, self._buffer = self._buffer, []
        if items and isinstance(self.destination, PreparingDestination):
            self.destination.prepare([canonical_of(i) for i in items])
        if self.inner.batch is None:
            return await deliver_per_key(items, self._deliver_or_skip)
        wants = [self._wanted(i) for i in items]
        wanted = [i for i, w in zip(items, wants, strict=True) if w]
        sent = iter(await self.inner.deliver_batched(wanted))
        now = datetime.now(UTC)
        return [
            next(sent) if w else DeliveryResult(i, "skipped", 0, now, now)
            for i, w in zip(items, wants, strict=True)
        ]

    def _wanted(self, item: DeliveryItem) -> bool:
        """Whether to send ``item``: never the data of an erased learner, else as the
        destination says."""
        canonical = canonical_of(item)
        return not canonical.learner_erased and self.destination.wants(canonical)

    async def _deliver_or_skip(self, item: DeliveryItem) -> DeliveryResult:
        if self._wanted(item):
            return await self.inner.deliver(item)
        now = datetime.now(UTC)
        return DeliveryResult(item, "skipped", 0, now, now)

    async def aclose(self) -> None:
        """Close the HTTP sink."""
        await self.inner.aclose()


class FanoutConnector(DeliveryRunner, Closing):
    """A :class:`DeliveryRunner` over the canonical log that owns its HTTP sink.

    Use as ``async with connector(...) as runner: await runner.run(stop)``.
    """

    def __init__(
        self,
        settings: Settings,
        destination: Destination,
        sink: FilteringSink,
        **runner_options: Any,
    ) -> None:
        super().__init__(
            settings,
            destination=destination.name,
            sink=sink,
            decode=CanonicalDecoder(settings).delivery_item,
            topic=settings.topic(CANONICAL_LOG),
            **runner_options,
        )
        self.target = destination
        self.filtering_sink = sink

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.filtering_sink.aclose()


def connector(
    settings: Settings,
    destination: Destination,
    base_url: str,
    *,
    runner_options: Mapping[str, Any] | None = None,
    batch_size: int = 0,
    **sink_options: Any,
) -> FanoutConnector:
    """The delivery runner of ``destination``: reads ``canon.events.log`` with group
    ``settings.group(f"deliver-{destination.name}")`` and sends to ``base_url``.

    ``sink_options`` go to :class:`~connectors.delivery.http_sink.HttpSink` (``headers``,
    ``concurrency``, ``retry``, ``transport``, ``retry_4xx_with_retry_after``…);
    ``runner_options`` to :class:`~connectors.delivery.runner.DeliveryRunner`
    (``max_records``, ``before_commit``…). With ``batch_size`` > 1 a
    :class:`BatchDestination` gets up to that many items per request. Must be called
    inside a running event loop.
    """

    def build(item: DeliveryItem) -> HttpRequest:
        return destination.build_request(canonical_of(item))

    if batch_size > 1 and isinstance(destination, BatchDestination):
        batching = destination

        def build_batch(items: list[DeliveryItem]) -> HttpRequest:
            return batching.build_batch([canonical_of(i) for i in items])

        def read_batch(response: httpx.Response, items: list[DeliveryItem]) -> BatchAnswer:
            return batching.read_batch(response, [canonical_of(i) for i in items])

        sink_options["batch"] = BatchContract(build_batch, read_batch, max_items=batch_size)
    http = HttpSink(base_url, destination=destination.name, build_request=build, **sink_options)
    return FanoutConnector(
        settings, destination, FilteringSink(destination, http), **dict(runner_options or {})
    )

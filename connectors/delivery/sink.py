"""The sink port: what a destination connector implements to receive changes.

A sink buffers items with :meth:`Sink.add` and delivers them in :meth:`Sink.flush`, which
returns one :class:`DeliveryResult` per item (delivered, or failed permanently). The
runner commits consumer offsets only after ``flush`` returned; when ``flush`` raises, the
runner stops and commits nothing, so the items are read and delivered again after a
restart (at-least-once; destinations de-duplicate by the event id).

Contract for implementations:

- deliver the items of one ``key`` in the order they were added, each one after the
  previous one finished (delivered or failed permanently);
- retry transient failures themselves, reporting each retry to ``on_retry`` if set;
- return failures that retrying cannot fix (the destination refused the item) as
  ``failed`` results, so the runner dead-letters them and the rest continue;
- return an item whose transient failures outlast the sink's park budget while the
  destination is healthy as a ``parked`` result (nothing dead-lettered; the runner
  redrives it later), and every later item of a key whose item ended ``failed`` or
  ``parked`` as ``parked`` too, unsent (order per key: nothing overtakes);
- raise :class:`hub.errors.DestinationUnauthorised` when the destination refuses the
  connector's credentials, and any other error when the batch cannot be finished.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, Protocol, Self

from hub.errors import RetriableError


@dataclass(frozen=True)
class SourcePosition:
    """Where an item was read: full topic name, partition, offset."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class DeliveryItem:
    """One change to deliver to one destination.

    ``event_id`` is the idempotency key the destination de-duplicates by; ``key`` orders
    deliveries (items with the same key are delivered sequentially, e.g. the credential
    id); ``payload`` is the decoded change; ``headers`` are the source record's headers.
    ``credential_id`` (defaults to ``key``) is what ``mchub deliveries`` looks up.
    ``source`` is filled in by the runner.
    """

    event_id: str
    key: str
    payload: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)
    credential_id: str | None = None
    source: SourcePosition | None = None

    @property
    def credential(self) -> str:
        """The credential this change belongs to (``credential_id`` or ``key``)."""
        return self.credential_id if self.credential_id is not None else self.key


DeliveryState = Literal["delivered", "failed", "skipped", "parked"]


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of one item: delivered (with the destination's answer), failed for good,
    skipped (the destination does not take this kind of change; nothing was sent), or
    parked (held back: its key has an undelivered earlier item, or it outlasted its retry
    budget while the destination served others; the runner redrives it later)."""

    item: DeliveryItem
    state: DeliveryState
    attempts: int
    first_attempt_at: datetime
    last_attempt_at: datetime
    status: int | None = None
    response_id: str | None = None
    reason: str | None = None
    body_digest: str | None = None

    @property
    def delivered(self) -> bool:
        """True when the destination accepted the item."""
        return self.state == "delivered"

    @property
    def holds_key(self) -> bool:
        """True when later items of this key must wait (``failed`` or ``parked``)."""
        return self.state in ("failed", "parked")


@dataclass(frozen=True)
class RetryNotice:
    """A transient failure of one item that the sink is about to retry after ``delay`` s."""

    item: DeliveryItem
    attempt: int
    error: RetriableError
    delay: float
    first_attempt_at: datetime
    last_attempt_at: datetime
    status: int | None = None


RetryHook = Callable[[RetryNotice], Awaitable[None]]


class Sink(Protocol):
    """The port every destination connector implements (see the module docstring)."""

    #: called before each retry wait (the runner records "pending" in the ledger)
    on_retry: RetryHook | None

    def add(self, item: DeliveryItem) -> None:
        """Buffer one item for the next :meth:`flush`."""

    async def flush(self) -> list[DeliveryResult]:
        """Deliver every buffered item; one result per item, in the order they were added."""
        ...


class Closing:
    """``async with`` for a connector that holds connections: the block ends in
    :meth:`aclose`, which subclasses implement."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        raise NotImplementedError

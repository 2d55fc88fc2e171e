"""Parked keys: what a connector holds back so one key never wedges the others.

A key (credential id, or a learner's pseudonymous key for enrolments) is *parked* when
one of its items ended ``failed`` (dead-lettered: the destination refused it) or
``parked`` (its transient failures outlasted the park budget while the destination was
healthy). From then on every later item of the key is ``parked`` in the delivery ledger
without being sent — an issuance must reach a destination before its revocation — and the
connector's offsets move on, so other keys keep flowing.

Redrive: a parked key is due when its backoff has passed (see
:class:`~connectors.delivery.policy.ParkPolicy`); the runner then delivers its items in
order (the held head first, dead-lettered or not, then the rest) with the same
``Idempotency-Key`` as always. All delivered: the key is released. One not delivered:
the key stays parked with one more attempt counted; after ``redrive_max_attempts`` the
automatic redrives stop and the key waits for a new change of its own (which triggers one
more attempt) or for ``mchub redrive``.

Everything here is pure (the clock is passed in): :func:`decide` says what to do with an
arriving item, :class:`ParkBook` keeps the parked keys of one connector.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from connectors.delivery.policy import ParkPolicy
from connectors.delivery.sink import DeliveryItem, DeliveryResult

KeyAction = Literal["deliver", "park", "redrive-first"]


@dataclass
class ParkedKey:
    """One parked key: its held items in order (the head first) and its redrive state."""

    key: str
    items: list[DeliveryItem]
    head_state: Literal["failed", "parked"]
    attempts: int = 0  # failed automatic redrive attempts
    next_at: float = 0.0  # monotonic time of the next automatic redrive
    gave_up: bool = False  # automatic redrives stopped (``redrive_max_attempts``)

    @property
    def head(self) -> DeliveryItem:
        """The item that holds the key (dead-lettered or parked)."""
        return self.items[0]

    @property
    def partition(self) -> tuple[str, int] | None:
        """(topic, partition) the key's items were read from (None: unknown)."""
        source = self.head.source
        return (source.topic, source.partition) if source is not None else None


def decide(book: ParkBook, item: DeliveryItem) -> KeyAction:
    """What to do with an arriving ``item``: deliver it, park it behind its key, or — the
    key gave up its automatic redrives — redrive the key first (one more attempt, the new
    change being a reason to try again), then decide again."""
    parked = book.get(item.key)
    if parked is None:
        return "deliver"
    return "redrive-first" if parked.gave_up else "park"


@dataclass
class ParkBook:
    """The parked keys of one connector (in memory; rebuilt from the ledger on start)."""

    policy: ParkPolicy = field(default_factory=ParkPolicy)
    keys: dict[str, ParkedKey] = field(default_factory=dict)

    def get(self, key: str) -> ParkedKey | None:
        """The parked key, or None."""
        return self.keys.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self.keys

    def __len__(self) -> int:
        return len(self.keys)

    def hold(self, result: DeliveryResult, now: float) -> None:
        """Record a ``failed``/``parked`` result: park its key (its item becomes the head),
        or add the item behind a key parked already."""
        assert result.holds_key, "only failed or parked results hold a key"
        item = result.item
        parked = self.keys.get(item.key)
        if parked is None:
            head: Literal["failed", "parked"] = "failed" if result.state == "failed" else "parked"
            self.keys[item.key] = ParkedKey(
                item.key, [item], head, next_at=now + self.policy.redrive_delay(1)
            )
        elif all(i.event_id != item.event_id for i in parked.items):
            parked.items.append(item)

    def due(self, now: float) -> list[ParkedKey]:
        """Keys whose automatic redrive is due (not given up, backoff passed), oldest first."""
        return sorted(
            (p for p in self.keys.values() if not p.gave_up and p.next_at <= now),
            key=lambda p: p.next_at,
        )

    def redriven(self, key: str, results: Iterable[DeliveryResult], now: float) -> bool:
        """Apply a redrive's results (the key's items in order). Returns True when every
        item was delivered or skipped and the key is released; otherwise the delivered ones
        are dropped, the first one not delivered becomes the head, and the attempt counts."""
        parked = self.keys.get(key)
        if parked is None:
            return True
        done = {r.item.event_id for r in results if r.state in ("delivered", "skipped")}
        held = {r.item.event_id: r for r in results if r.holds_key}
        parked.items = [i for i in parked.items if i.event_id not in done]
        if not parked.items:
            del self.keys[key]
            return True
        first = held.get(parked.items[0].event_id)
        if first is not None and first.attempts > 0:  # sent (not merely parked behind)
            parked.head_state = "failed" if first.state == "failed" else "parked"
        parked.attempts += 1
        parked.gave_up = self.policy.gave_up(parked.attempts)
        parked.next_at = now + self.policy.redrive_delay(parked.attempts + 1)
        return False

    def forget(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Drop the keys read from ``partitions`` (they moved to another instance)."""
        gone = set(partitions)
        for key in [k for k, p in self.keys.items() if p.partition in gone]:
            del self.keys[key]

    def stuck(self) -> list[str]:
        """Keys whose automatic redrives gave up (they need a new change or ``mchub redrive``)."""
        return sorted(k for k, p in self.keys.items() if p.gave_up)

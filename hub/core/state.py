"""Lifecycle state of the decide stage: immutable, JSON-serialisable pydantic models.

Two tables, both kept in the compacted changelog topic ``canon.decide.changelog`` and
both rebuildable (apart from held revocations) from the canonical log:

``credentials``  :class:`CredentialEntry` keyed by **credential key**. Everything the hub
                 knows about one credential: its status, the learner and the digest of
                 the EU elements it was issued with, the idempotency keys its events
                 occupy (feed contract §9.2) and the revocations held for it (§10).
``index``        :class:`IdempotencyState` keyed by **idempotency key**: which event
                 occupies a key, with its content digest and the credential it belongs to.
                 Enrolments (no credential key) are decided on this entry alone.

Partitioning contract (see :mod:`hub.core` for the whole of it): the processor re-keys
every event by its decision key (credential key; idempotency key for enrolments), loads
``credentials[event.credential_key]`` and ``index[event.idempotency_key]``, calls
:func:`hub.core.decide` with both in a :class:`DecisionState`, and writes the resulting
credential state and every :class:`IndexWrite` back in the same transaction.

Only events that ended as ``accept`` or ``hold`` occupy a key. Events rejected by
validation (§8.2 steps 1–6) never reach the core, so they never occupy anything, and a
corrected re-send with the same key is decided normally. There is no ``rejected``
credential status for the same reason: a credential whose issuance was rejected is simply
``unknown`` here, and revocations for it stay held until they expire (§10).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from hub import wire
from hub.normalise.types import NormalisedEvent, RecordType

#: ``unknown``: no accepted issuance (never seen, or its issuance was rejected)
Status = Literal["unknown", "active", "revoked"]
#: the outcomes that occupy an idempotency key (§9.2)
Occupation = Literal["accept", "hold"]


def content_digest(content: str) -> str:
    """SHA-256 (hex) of an event's canonical ``content``: equal digests mean same content."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _canonical_number(value: Any) -> Any:
    """Integral floats become ints (``5.0`` equals ``5``), recursively; the rest unchanged.

    Exact-type checks first: this runs on every issuance, and ``isinstance`` against the
    ``Mapping`` ABC was its main cost.
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        return {str(k): _canonical_number(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_canonical_number(v) for v in value]
    if kind is float:
        return int(value) if value.is_integer() else value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical_number(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_number(v) for v in value]
    return value


def elements_digest(elements: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of normalised EU elements (§1.2), independent of key order.

    Numbers compare numerically, so ``{"ects": 5}`` and ``{"ects": 5.0}`` are equal (§9.3).
    The text hashed is ``json.dumps(..., sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`` in UTF-8, written by :func:`hub.wire.standard_json`. Elements
    hold no NaN or Infinity (JSON has none; the parsers refuse them).
    """
    text = wire.standard_json(_canonical_number(elements), sort_keys=True, finite=True)
    return hashlib.sha256(text).hexdigest()


def event_content_digest(event: NormalisedEvent) -> str:
    """:func:`content_digest` of the event's content (carried by the event when known)."""
    return event.content_sha256 or content_digest(event.content)


def event_elements_digest(event: NormalisedEvent) -> str:
    """:func:`elements_digest` of a credential event's record (carried when known)."""
    return event.elements_sha256 or elements_digest(event.record)


def with_digests(event: NormalisedEvent) -> NormalisedEvent:
    """The event carrying its digests, so a later stage need not compute them again."""
    return dataclasses.replace(
        event,
        content_sha256=event_content_digest(event),
        elements_sha256=(
            event_elements_digest(event) if event.record_type == "credential" else None
        ),
    )


def require_aware(moment: datetime, name: str = "now") -> None:
    """Raise ``ValueError`` unless ``moment`` is timezone-aware."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


class StateModel(BaseModel):
    """Base of the state models: frozen, strict about extra members, JSON round-trip."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_json(self) -> bytes:
        """UTF-8 JSON bytes, as stored in the changelog topic."""
        return self.model_dump_json().encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes | str) -> Self:
        """The model back from :meth:`to_json` output."""
        return cls.model_validate_json(data)


class HeldRevocation(StateModel):
    """A valid revocation waiting for its credential's issuance (§10).

    ``event`` is kept whole so the revocation can be published on release; ``context`` is
    opaque, JSON-compatible processor data (receipt id, trace id) returned in the hold's
    follow-up :class:`~hub.core.lifecycle.OutcomeReport`.
    """

    idempotency_key: str
    content_digest: str
    learner_id: str
    held_at: datetime
    event: NormalisedEvent
    context: dict[str, Any] = Field(default_factory=dict)

    def expires_at(self, ttl: timedelta) -> datetime:
        """The moment the hold expires: ``held_at + ttl`` (expired at that instant)."""
        return self.held_at + ttl


class CredentialEntry(StateModel):
    """Everything the decide stage keeps per credential key.

    ``keys`` maps each idempotency key occupied by this credential's events (accepted
    issuance and revocation, held revocations) to its content digest. ``held`` lists held
    revocations in arrival order; it is non-empty only while ``status`` is ``unknown``.
    """

    credential_key: str
    status: Status = "unknown"
    learner_id: str | None = None
    elements_digest: str | None = None
    issued_by: str | None = None  # idempotency key of the accepted issuance
    revoked_by: str | None = None  # idempotency key of the revocation that took effect
    revocation_reason: str | None = None  # the first reason stays (§9.3)
    keys: dict[str, str] = Field(default_factory=dict)
    held: tuple[HeldRevocation, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when nothing is known: the processor may delete (tombstone) the entry."""
        return self.status == "unknown" and not self.keys and not self.held

    @property
    def changelog_key(self) -> str:
        """The entry's key in the shared changelog topic (namespaced against the index)."""
        return credential_changelog_key(self.credential_key)

    def next_expiry(self, ttl: timedelta) -> datetime | None:
        """When the oldest held revocation expires, or ``None`` without holds."""
        return min((h.expires_at(ttl) for h in self.held), default=None)

    def published(self) -> CredentialEntry:
        """The part of the state that follows from published records: holds removed."""
        held_keys = {h.idempotency_key for h in self.held}
        keys = {k: v for k, v in self.keys.items() if k not in held_keys}
        return self.model_copy(update={"held": (), "keys": keys})


class IdempotencyState(StateModel):
    """The event that occupies one idempotency key (§9.2): accepted, or held."""

    idempotency_key: str
    content_digest: str
    record_type: RecordType
    credential_key: str | None  # None for enrolments
    outcome: Occupation

    @property
    def changelog_key(self) -> str:
        """The entry's key in the shared changelog topic (namespaced against credentials)."""
        return index_changelog_key(self.idempotency_key)


class IndexWrite(StateModel):
    """A change to the idempotency index: put ``entry``, or delete the key when ``None``."""

    idempotency_key: str
    entry: IdempotencyState | None

    @property
    def changelog_key(self) -> str:
        """The changelog key to write (a tombstone when ``entry`` is ``None``)."""
        return index_changelog_key(self.idempotency_key)


class DecisionState(StateModel):
    """What :func:`hub.core.decide` reads: the two lookups for one event.

    ``credential`` is ``credentials[event.credential_key]`` (``None`` when absent, and
    always ``None`` for enrolments); ``claim`` is ``index[event.idempotency_key]``
    (``None`` when the key is free).
    """

    credential: CredentialEntry | None = None
    claim: IdempotencyState | None = None


def credential_changelog_key(credential_key: str) -> str:
    """Changelog key of a credential entry: ``cred|<credential key>``."""
    return f"cred|{credential_key}"


def index_changelog_key(idempotency_key: str) -> str:
    """Changelog key of an index entry: ``idem|<idempotency key>``."""
    return f"idem|{idempotency_key}"

"""The shared vocabulary of normalisation results (pure data, no I/O).

A normaliser turns one source message (an ``he`` JSON event, a ``vet`` XML document or
an ``al`` CSV file) into one :class:`ItemResult` per event (per data row for ``al``):
either a :class:`NormalisedEvent` or a list of :class:`Violation`. File-level failures of
``al`` reject every row and are reported in :class:`MessageResult.file_violations`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Feed = Literal["he", "vet", "al"]
RecordType = Literal["credential", "revocation", "enrolment"]


@dataclass(frozen=True)
class Violation:
    """One broken feed rule: the §8 rule code, the source field path and a message."""

    rule: str
    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """JSON form: ``{"rule", "path", "message"}``."""
        return {"rule": self.rule, "path": self.path, "message": self.message}


@dataclass(frozen=True)
class NormalisedEvent:
    """A valid source event in canonical form (feed contract §1.2).

    ``record`` is the canonical record as JSON-compatible data: for a credential the 18
    element keys of §1.2 (exactly as in ``samples/expected/*.json`` ``elements``); for a
    revocation ``{credentialKey, reason, reasonText, revokedOn}``; for an enrolment
    ``{status, statusDate, learnerIdentification, provider, programme, withdrawalReason}``.

    ``content`` is the parsed, trimmed, NFC-normalised source content as canonical JSON
    (sorted keys, no insignificant whitespace): two events are "the same content" (§9.2)
    exactly when their ``content`` strings are equal.
    """

    feed: Feed
    record_type: RecordType
    event_type: str  # issued | revoked | enrolled | withdrawn | completed
    idempotency_key: str
    credential_key: str | None  # None for enrolments
    source_event_id: str  # he esemeny_azonosito, vet EsemenyAzonosito, al sor_azonosito
    learner_id: str  # education ID of the learner the event names
    awarding_body_id: str  # primary institution / school / provider id
    occurred_at: str | None  # source event timestamp as written (None for al)
    record: dict[str, Any]
    content: str
    mapping_version: str
    row: int | None = None  # al: 1-based data-row index
    sor_azonosito: str | None = None  # al: row id
    #: SHA-256 of ``content`` and of the credential ``record`` (the core's §9.2/§9.3
    #: digests), when the ingest stage computed them already; None: computed on demand
    content_sha256: str | None = None
    elements_sha256: str | None = None


@dataclass(frozen=True)
class ItemResult:
    """The fate of one event (one row for ``al``) after normalisation."""

    event: NormalisedEvent | None
    violations: tuple[Violation, ...] = ()
    row: int | None = None
    sor_azonosito: str | None = None
    idempotency_key: str | None = None  # when it could be derived, even for rejections

    @property
    def accepted(self) -> bool:
        """True when the item normalised without violations."""
        return self.event is not None and not self.violations


@dataclass(frozen=True)
class MessageResult:
    """The fate of one source message: file-level violations or per-item results."""

    feed: Feed
    items: tuple[ItemResult, ...] = ()
    file_violations: tuple[Violation, ...] = field(default_factory=tuple)

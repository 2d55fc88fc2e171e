"""The register's storage port and the rules every adapter applies.

:class:`RegisterStore` is the port; :mod:`mchub_reference.register.sqlite_store` (embedded
default) and :mod:`mchub_reference.register.postgres_store` (production) implement it, and one
contract test suite runs against both. The rules live here, once, in :func:`decide`:

* an event id already applied → ``duplicate`` (acknowledged, applied once);
* an issuance of a new credential → ``applied`` (``created``);
* an issuance of a known credential with the same element record → ``duplicate``; with a
  different record → ``rejected`` ``CONTENT_CONFLICT`` (the first version stays; a
  revoked credential is never brought back by an issuance);
* a revocation of an unknown credential → ``rejected`` ``UNKNOWN_CREDENTIAL``, retriable
  (the sender retries later, in order) — except a state-topic snapshot that carries the
  record, which creates the credential as revoked; of a revoked one → ``duplicate`` (the first
  reason stays); naming another learner → ``rejected`` ``LEARNER_MISMATCH``;
* enrolment status changes are always applied (once per event id).

Only applied events occupy their event id, so a rejected change can be re-sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, Protocol, runtime_checkable

from connectors.register.models import (
    ALREADY_ISSUED,
    ALREADY_REVOKED,
    CONTENT_CONFLICT,
    EVENT_ALREADY_APPLIED,
    LEARNER_MISMATCH,
    UNKNOWN_CREDENTIAL,
    ApplyResult,
    Change,
    CredentialChange,
    CredentialState,
    EnrolmentRecord,
    LearnerErasure,
    Verification,
)


@runtime_checkable
class RegisterStore(Protocol):
    """Where the register keeps applied event ids, credential states and enrolments."""

    #: adapter name shown by ``/healthz``: ``sqlite`` or ``postgresql``
    kind: str

    def apply_change(self, change: Change, *, snapshot: bool = False) -> ApplyResult:
        """Apply one credential or enrolment change atomically, at most once per event id.

        ``snapshot`` marks a record of the compacted state topic (see :func:`decide`).
        """
        ...

    def get_credential(self, credential_id: str) -> CredentialState | None:
        """The current state and history of a credential, or None when unknown."""
        ...

    def credentials_of_learner(self, education_id: str) -> list[CredentialState]:
        """Every credential of a learner, oldest issuance first."""
        ...

    def enrolments_of_learner(self, education_id: str) -> list[EnrolmentRecord]:
        """Every applied enrolment change of a learner, by status date then application."""
        ...

    def verify(self, credential_id: str) -> Verification:
        """Whether a credential is known and active."""
        ...

    def erase_learner(self, education_id: str) -> LearnerErasure:
        """Remove the learner's personal data: credentials and enrolments (the
        idempotency record keeps event ids only); a second call erases nothing."""
        ...

    def ping(self) -> None:
        """Raise when the store cannot be reached."""
        ...

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...


# ---------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Current:
    """What :func:`decide` needs to know about a stored credential."""

    status: Literal["active", "revoked"]
    education_id: str
    credential: dict[str, Any]


@dataclass(frozen=True)
class RegisterDecision:
    """What an adapter must do: ``write`` is ``insert``, ``revoke`` or None (no change)."""

    result: ApplyResult
    write: Literal["insert", "revoke"] | None = None


def duplicate_event(event_id: str) -> ApplyResult:
    """The verdict for an event id that was applied before."""
    return ApplyResult(status="duplicate", reason=EVENT_ALREADY_APPLIED, event_id=event_id,
                       detail="this event id was applied before; nothing changed")


def _insert(event_id: str) -> RegisterDecision:
    return RegisterDecision(ApplyResult(status="applied", event_id=event_id, created=True),
                            "insert")


def decide(current: Current | None, change: CredentialChange, *,
           snapshot: bool = False) -> RegisterDecision:
    """The verdict on a credential change whose event id has not been applied yet.

    ``snapshot`` (the compacted state topic, where an issuance may have been compacted
    away): a revocation of an unknown credential that carries the full record creates the
    credential as revoked instead of being refused.
    """
    eid = change.event_id
    if change.event_type == "issued":
        assert change.credential is not None  # guaranteed by CredentialPush validation
        if current is None:
            return _insert(eid)
        if change.credential.wire() == current.credential:
            detail = ("the credential was issued before"
                      + ("; it is revoked and stays revoked" if current.status == "revoked"
                         else ""))
            reason = ALREADY_REVOKED if current.status == "revoked" else ALREADY_ISSUED
            return RegisterDecision(ApplyResult(status="duplicate", reason=reason, event_id=eid,
                                                detail=detail))
        return RegisterDecision(ApplyResult(
            status="rejected", reason=CONTENT_CONFLICT, event_id=eid,
            detail="the credential id was issued before with a different record; "
                   "the first version stays (credential ids are never reused)"))
    if current is None and snapshot and change.credential is not None:
        return _insert(eid)
    if current is None:
        return RegisterDecision(ApplyResult(
            status="rejected", reason=UNKNOWN_CREDENTIAL, event_id=eid, retriable=True,
            detail="revocation of a credential the register has not seen; "
                   "send its issuance first, then retry"))
    if current.education_id != change.learner.education_id:
        return RegisterDecision(ApplyResult(
            status="rejected", reason=LEARNER_MISMATCH, event_id=eid,
            detail="the revocation names a different learner from the credential's"))
    if current.status == "revoked":
        return RegisterDecision(ApplyResult(
            status="duplicate", reason=ALREADY_REVOKED, event_id=eid,
            detail="the credential is already revoked; the first revocation stays"))
    return RegisterDecision(ApplyResult(status="applied", event_id=eid), "revoke")


def verification_of(credential_id: str, state: CredentialState | None) -> Verification:
    """The verification answer for a credential state (None = unknown)."""
    now = datetime.now(UTC)
    if state is None:
        return Verification(credential_id=credential_id, valid=False, status="unknown",
                            reason=UNKNOWN_CREDENTIAL, checked_at=now)
    if state.status == "revoked":
        rev = state.revocation
        return Verification(credential_id=credential_id, valid=False, status="revoked",
                            reason=rev.reason if rev else None,
                            revoked_on=rev.revoked_on if rev else None, checked_at=now)
    return Verification(credential_id=credential_id, valid=True, status="active",
                        checked_at=now)


def comparable_json(value: Any) -> str:
    """A stable JSON text of a JSON value (sorted keys, no spaces): for comparisons."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def as_datetime(value: Any) -> datetime:
    """A datetime from a stored value (ISO text or a driver's datetime)."""
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def as_date(value: Any) -> date:
    """A date from a stored value (ISO text or a driver's date)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def as_json(value: Any) -> Any:
    """A JSON value from a stored value (text, or already decoded by the driver)."""
    if isinstance(value, str | bytes):
        return json.loads(value)
    return value

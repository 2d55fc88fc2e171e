"""The pure lifecycle decision: ``decide(state, event, now=...) -> Decision``.

Implements steps 7 and 8 of the feed contract's order of checks (§8.2): idempotency
(§9.2), then state — credential lookup, hold, learner match, already revoked (§9.3, §10).
No I/O, no clock: the caller passes ``now`` (an aware datetime) and the hold TTL.

Outcomes (§1.1): ``accept`` publishes canonical records (:class:`Emission`); ``hold``
publishes nothing yet; ``reject``, ``duplicate-ignored`` and ``conflict`` publish nothing.
A held revocation gets exactly one more, final outcome later: on release by its
issuance (``accept``, ``duplicate-ignored`` or ``reject`` REVOCATION_LEARNER_MISMATCH) or
on expiry (``reject`` REVOCATION_UNKNOWN_CREDENTIAL). Those arrive as
:class:`OutcomeReport` items in ``follow_ups``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from hub.core.state import (
    CredentialEntry,
    DecisionState,
    HeldRevocation,
    IdempotencyState,
    IndexWrite,
    StateModel,
    event_content_digest,
    event_elements_digest,
    require_aware,
)
from hub.normalise.types import NormalisedEvent, RecordType

Outcome = Literal["accept", "reject", "hold", "duplicate-ignored", "conflict"]

#: §10: a held revocation waits this long for its issuance (``held_revocation_ttl_days``)
DEFAULT_HOLD_TTL = timedelta(days=7)

REVOCATION_LEARNER_MISMATCH = "REVOCATION_LEARNER_MISMATCH"
REVOCATION_UNKNOWN_CREDENTIAL = "REVOCATION_UNKNOWN_CREDENTIAL"


def hold_ttl(days: int) -> timedelta:
    """The hold TTL from ``Settings.held_revocation_ttl_days``."""
    return timedelta(days=days)


class Emission(StateModel):
    """One canonical record to publish, produced by an accepted event.

    ``idempotency_key`` names the originating event; ``outcome`` is always ``accept``.
    """

    kind: RecordType
    outcome: Literal["accept"] = "accept"
    idempotency_key: str
    credential_key: str | None
    learner_id: str
    content_digest: str
    decided_at: datetime
    event: NormalisedEvent

    def canonical_record(self) -> dict[str, Any]:
        """The canonical record with its metadata (§1.2 "Record metadata")."""
        body: dict[str, Any] = dict(self.event.record)
        body.update(
            feed=self.event.feed,
            idempotencyKey=self.idempotency_key,
            credentialKey=self.credential_key,
            sourceEventId=self.event.source_event_id,
        )
        if self.event.feed == "al":
            body.update(row=self.event.row, sor_azonosito=self.event.sor_azonosito)
        return body


class OutcomeReport(StateModel):
    """The outcome of one event, for receipts: ``final`` is false only for ``hold``."""

    idempotency_key: str
    credential_key: str | None
    outcome: Outcome
    rules: tuple[str, ...] = ()
    detail: str
    final: bool
    event: NormalisedEvent
    context: dict[str, Any] = Field(default_factory=dict)


class StateChange(StateModel):
    """State to store and records to publish after a decision or an expiry sweep.

    ``credential`` is the new state for its credential key (``None`` for enrolments);
    when it :attr:`~CredentialEntry.is_empty` the processor may tombstone it.
    ``index_writes`` are puts/deletes on the idempotency index; ``follow_ups`` are final
    outcomes of earlier held revocations; ``emissions`` are in publication order.
    """

    credential: CredentialEntry | None
    index_writes: tuple[IndexWrite, ...] = ()
    follow_ups: tuple[OutcomeReport, ...] = ()
    emissions: tuple[Emission, ...] = ()


class Decision(StateChange):
    """The outcome of one event plus everything it changes.

    ``detail`` says why, for operators (e.g. ``idempotency-key-occupied``,
    ``credential-exists-same-elements``, ``already-revoked``); ``rules`` holds §8.1 codes
    for ``reject`` only. ``follow_ups`` lists first the holds this key's sweep expired,
    then the held revocations an accepted issuance released, in arrival order.
    """

    idempotency_key: str
    outcome: Outcome
    rules: tuple[str, ...] = ()
    detail: str

    @property
    def final(self) -> bool:
        """False only for ``hold``: another outcome will follow."""
        return self.outcome != "hold"

    def report(
        self, event: NormalisedEvent, context: dict[str, Any] | None = None
    ) -> OutcomeReport:
        """This decision as an :class:`OutcomeReport` for ``event`` (the decided event)."""
        return OutcomeReport(
            idempotency_key=self.idempotency_key,
            credential_key=event.credential_key,
            outcome=self.outcome,
            rules=self.rules,
            detail=self.detail,
            final=self.final,
            event=event,
            context=dict(context or {}),
        )


@dataclass
class _Work:
    """Mutable scratch space while deciding one event."""

    credential: CredentialEntry
    index_writes: list[IndexWrite] = field(default_factory=list)
    follow_ups: list[OutcomeReport] = field(default_factory=list)
    emissions: list[Emission] = field(default_factory=list)

    def decision(
        self, event: NormalisedEvent, outcome: Outcome, detail: str, rules: tuple[str, ...] = ()
    ) -> Decision:
        return Decision(
            credential=self.credential,
            index_writes=tuple(self.index_writes),
            follow_ups=tuple(self.follow_ups),
            emissions=tuple(self.emissions),
            idempotency_key=event.idempotency_key,
            outcome=outcome,
            rules=rules,
            detail=detail,
        )

    def occupy(
        self, event: NormalisedEvent, digest: str, outcome: Literal["accept", "hold"]
    ) -> None:
        """Record that ``event`` occupies its key, in the credential and in the index."""
        self.credential = self.credential.model_copy(
            update={"keys": {**self.credential.keys, event.idempotency_key: digest}}
        )
        self.index_writes.append(
            IndexWrite(
                idempotency_key=event.idempotency_key,
                entry=IdempotencyState(
                    idempotency_key=event.idempotency_key,
                    content_digest=digest,
                    record_type=event.record_type,
                    credential_key=event.credential_key,
                    outcome=outcome,
                ),
            )
        )

    def free(self, idempotency_key: str) -> None:
        """Release a key a held revocation occupied (it ended as reject or duplicate)."""
        keys = {k: v for k, v in self.credential.keys.items() if k != idempotency_key}
        self.credential = self.credential.model_copy(update={"keys": keys})
        self.index_writes.append(IndexWrite(idempotency_key=idempotency_key, entry=None))

    def follow_up(self, held: HeldRevocation, outcome: Outcome, detail: str, *rules: str) -> None:
        self.follow_ups.append(
            OutcomeReport(
                idempotency_key=held.idempotency_key,
                credential_key=held.event.credential_key,
                outcome=outcome,
                rules=rules,
                detail=detail,
                final=True,
                event=held.event,
                context=held.context,
            )
        )

    def emit(self, event: NormalisedEvent, digest: str, now: datetime) -> None:
        self.emissions.append(
            Emission(
                kind=event.record_type,
                idempotency_key=event.idempotency_key,
                credential_key=event.credential_key,
                learner_id=event.learner_id,
                content_digest=digest,
                decided_at=now,
                event=event,
            )
        )

    def revoke(self, event: NormalisedEvent, now: datetime) -> None:
        """Apply an accepted revocation (its key is already occupied) and publish it."""
        self.credential = self.credential.model_copy(
            update={
                "status": "revoked",
                "revoked_by": event.idempotency_key,
                "revocation_reason": _reason(event),
            }
        )
        self.emit(event, event_content_digest(event), now)


def _reason(event: NormalisedEvent) -> str | None:
    reason = event.record.get("reason")
    return reason if isinstance(reason, str) else None


def expire(
    state: CredentialEntry, *, now: datetime, ttl: timedelta = DEFAULT_HOLD_TTL
) -> StateChange:
    """Reject every held revocation of ``state`` whose hold reached ``ttl`` (§10).

    A hold expires when ``now - held_at >= ttl`` (exactly at the boundary it is expired).
    Each expired hold gets a final ``reject`` REVOCATION_UNKNOWN_CREDENTIAL follow-up and
    frees its idempotency key (it no longer ended as ``hold``, §9.2). The periodic timer
    calls this for every credential with holds (see :meth:`CredentialEntry.next_expiry`);
    :func:`decide` calls it for the event's credential before deciding.
    """
    require_aware(now)
    work = _Work(state)
    kept: list[HeldRevocation] = []
    for held in state.held:
        if now - held.held_at >= ttl:
            work.free(held.idempotency_key)
            work.follow_up(held, "reject", "hold-expired", REVOCATION_UNKNOWN_CREDENTIAL)
        else:
            kept.append(held)
    work.credential = work.credential.model_copy(update={"held": tuple(kept)})
    return StateChange(
        credential=work.credential,
        index_writes=tuple(work.index_writes),
        follow_ups=tuple(work.follow_ups),
    )


def decide(
    state: DecisionState,
    event: NormalisedEvent,
    *,
    now: datetime,
    ttl: timedelta = DEFAULT_HOLD_TTL,
    context: dict[str, Any] | None = None,
) -> Decision:
    """Decide one validated event against its state (§8.2 steps 7–8).

    ``state.credential`` must be the stored state of ``event.credential_key`` (or
    ``None``); ``state.claim`` the index entry of ``event.idempotency_key`` (or ``None``).
    Stale holds of the credential are expired first. ``context`` is stored with a hold
    and returned in its follow-up report. Raises ``ValueError`` when the state does not
    belong to the event or ``now`` is naive.
    """
    require_aware(now)
    digest = event_content_digest(event)
    claim = state.claim
    if claim is not None and claim.idempotency_key != event.idempotency_key:
        raise ValueError("state.claim is not the index entry of the event's idempotency key")
    if event.record_type == "enrolment":
        return _decide_enrolment(state, event, digest, now)
    if event.credential_key is None:
        raise ValueError(f"a {event.record_type} event needs a credential key")
    credential = state.credential or CredentialEntry(credential_key=event.credential_key)
    if credential.credential_key != event.credential_key:
        raise ValueError("state.credential is not the state of the event's credential key")

    swept = expire(credential, now=now, ttl=ttl)
    assert swept.credential is not None
    work = _Work(swept.credential, list(swept.index_writes), list(swept.follow_ups))

    # §9.2 — the credential's own keys are authoritative for this credential; the index
    # entry matters when the key is occupied by another credential or an enrolment.
    occupied = work.credential.keys.get(event.idempotency_key)
    if occupied is None and claim is not None and claim.credential_key != event.credential_key:
        occupied = claim.content_digest
    if occupied is not None:
        if occupied == digest:
            return work.decision(event, "duplicate-ignored", "idempotency-key-same-content")
        return work.decision(event, "conflict", "idempotency-key-different-content")

    if event.record_type == "credential":
        return _decide_issuance(work, event, digest, now)
    return _decide_revocation(work, event, digest, now, context)


def _decide_enrolment(
    state: DecisionState, event: NormalisedEvent, digest: str, now: datetime
) -> Decision:
    """Enrolments are never held and not checked against earlier status (§8.1, §10)."""
    if state.credential is not None or event.credential_key is not None:
        raise ValueError("an enrolment has no credential key and no credential state")
    claim = state.claim
    if claim is not None:
        outcome: Outcome = "duplicate-ignored" if claim.content_digest == digest else "conflict"
        detail = (
            "idempotency-key-same-content"
            if outcome == "duplicate-ignored"
            else "idempotency-key-different-content"
        )
        return Decision(
            credential=None, idempotency_key=event.idempotency_key, outcome=outcome, detail=detail
        )
    entry = IdempotencyState(
        idempotency_key=event.idempotency_key,
        content_digest=digest,
        record_type="enrolment",
        credential_key=None,
        outcome="accept",
    )
    emission = Emission(
        kind="enrolment",
        idempotency_key=event.idempotency_key,
        credential_key=None,
        learner_id=event.learner_id,
        content_digest=digest,
        decided_at=now,
        event=event,
    )
    return Decision(
        credential=None,
        index_writes=(IndexWrite(idempotency_key=event.idempotency_key, entry=entry),),
        emissions=(emission,),
        idempotency_key=event.idempotency_key,
        outcome="accept",
        detail="enrolment-status-change",
    )


def _decide_issuance(work: _Work, event: NormalisedEvent, digest: str, now: datetime) -> Decision:
    """§9.3 for a known credential key; otherwise accept and release held revocations."""
    credential = work.credential
    elements = event_elements_digest(event)
    if credential.status != "unknown":
        if credential.elements_digest == elements:
            return work.decision(event, "duplicate-ignored", "credential-exists-same-elements")
        return work.decision(event, "conflict", "credential-exists-different-elements")

    held = credential.held
    work.credential = credential.model_copy(
        update={
            "status": "active",
            "learner_id": event.learner_id,
            "elements_digest": elements,
            "issued_by": event.idempotency_key,
            "held": (),
        }
    )
    work.occupy(event, digest, "accept")
    work.emit(event, digest, now)
    # §10: evaluate the held revocations in arrival order, as if they had just arrived.
    for revocation in held:
        if revocation.learner_id != work.credential.learner_id:
            work.free(revocation.idempotency_key)
            work.follow_up(
                revocation, "reject", "released-learner-mismatch", REVOCATION_LEARNER_MISMATCH
            )
        elif work.credential.status == "revoked":
            work.free(revocation.idempotency_key)
            work.follow_up(revocation, "duplicate-ignored", "released-already-revoked")
        else:
            work.occupy(revocation.event, revocation.content_digest, "accept")
            work.revoke(revocation.event, now)
            work.follow_up(revocation, "accept", "released-revoked")
    return work.decision(event, "accept", "issued")


def _decide_revocation(
    work: _Work,
    event: NormalisedEvent,
    digest: str,
    now: datetime,
    context: dict[str, Any] | None,
) -> Decision:
    """§8.2 step 8 order: credential lookup, hold, learner match, already revoked."""
    credential = work.credential
    if credential.status == "unknown":
        held = HeldRevocation(
            idempotency_key=event.idempotency_key,
            content_digest=digest,
            learner_id=event.learner_id,
            held_at=now,
            event=event,
            context=dict(context or {}),
        )
        work.credential = credential.model_copy(update={"held": (*credential.held, held)})
        work.occupy(event, digest, "hold")
        return work.decision(event, "hold", "credential-unknown")
    if event.learner_id != credential.learner_id:
        return work.decision(event, "reject", "learner-mismatch", (REVOCATION_LEARNER_MISMATCH,))
    if credential.status == "revoked":
        return work.decision(event, "duplicate-ignored", "already-revoked")
    work.occupy(event, digest, "accept")
    work.revoke(event, now)
    return work.decision(event, "accept", "revoked")

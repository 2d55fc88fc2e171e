"""State tables in memory, and the fold that rebuilds them from the canonical log.

The canonical log is the source of truth: :func:`rebuild` folds published
:class:`~hub.core.lifecycle.Emission` records back into state with :func:`apply` (per
credential) and :func:`index_entry` (per idempotency key). The result equals
:meth:`StateTables.published` of the live tables: everything except held revocations,
which are never published and live only in the changelog (and, within their TTL, in the
decide-requests topic, which a full rebuild may re-decide).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr

from hub.core.lifecycle import (
    DEFAULT_HOLD_TTL,
    Decision,
    Emission,
    StateChange,
    decide,
    expire,
)
from hub.core.state import CredentialState, DecisionState, IdempotencyState, elements_digest
from hub.normalise.types import NormalisedEvent


def apply(state: CredentialState | None, emission: Emission) -> CredentialState:
    """The credential state after one published credential or revocation record (pure).

    Raises ``ValueError`` for enrolment emissions (they have no credential state) or a
    state of another credential key.
    """
    key = emission.credential_key
    if emission.kind == "enrolment" or key is None:
        raise ValueError("enrolment emissions change only the idempotency index")
    state = state or CredentialState(credential_key=key)
    if state.credential_key != key:
        raise ValueError("state belongs to another credential key")
    keys = {**state.keys, emission.idempotency_key: emission.content_digest}
    if emission.kind == "credential":
        return state.model_copy(
            update={
                "status": "revoked" if state.status == "revoked" else "active",
                "learner_id": emission.learner_id,
                "elements_digest": elements_digest(emission.event.record),
                "issued_by": emission.idempotency_key,
                "keys": keys,
            }
        )
    reason = emission.event.record.get("reason")
    return state.model_copy(
        update={
            "status": "revoked",
            "revoked_by": emission.idempotency_key,
            "revocation_reason": reason if isinstance(reason, str) else None,
            "keys": keys,
        }
    )


def index_entry(emission: Emission) -> IdempotencyState:
    """The index entry a published record implies: its key, occupied by an ``accept``."""
    return IdempotencyState(
        idempotency_key=emission.idempotency_key,
        content_digest=emission.content_digest,
        record_type=emission.kind,
        credential_key=emission.credential_key,
        outcome="accept",
    )


class StateTables(BaseModel):
    """Both state tables in memory (a processor's local store, or a test's).

    Mutable on purpose: :meth:`store` applies a :class:`StateChange` in place. Each entry
    is JSON-serialisable on its own (``to_json``), as the changelog stores it.
    """

    credentials: dict[str, CredentialState] = Field(default_factory=dict)
    index: dict[str, IdempotencyState] = Field(default_factory=dict)
    #: credential keys with held revocations: the sweep looks only at these
    _holds: set[str] = PrivateAttr(default_factory=set)

    def model_post_init(self, context: Any, /) -> None:
        """Index the credentials that hold revocations."""
        self._holds = {k for k, state in self.credentials.items() if state.held}

    @property
    def with_holds(self) -> frozenset[str]:
        """Credential keys that hold revocations (what :meth:`sweep` looks at)."""
        return frozenset(self._holds)

    def put_credential(self, state: CredentialState) -> None:
        """Store one credential state (an empty one removes the entry)."""
        key = state.credential_key
        if state.is_empty:
            self.credentials.pop(key, None)
        else:
            self.credentials[key] = state
        if state.held and not state.is_empty:
            self._holds.add(key)
        else:
            self._holds.discard(key)

    def put_index(self, idempotency_key: str, entry: IdempotencyState | None) -> None:
        """Store one index entry (``None`` removes it)."""
        if entry is None:
            self.index.pop(idempotency_key, None)
        else:
            self.index[idempotency_key] = entry

    def lookup(self, event: NormalisedEvent) -> DecisionState:
        """The two lookups :func:`decide` needs for ``event``."""
        credential = (
            self.credentials.get(event.credential_key)
            if event.credential_key is not None and event.record_type != "enrolment"
            else None
        )
        return DecisionState(credential=credential, claim=self.index.get(event.idempotency_key))

    def store(self, change: StateChange) -> None:
        """Write a decision's or sweep's new states (empty credential states are dropped)."""
        if change.credential is not None:
            self.put_credential(change.credential)
        for write in change.index_writes:
            self.put_index(write.idempotency_key, write.entry)

    def process(
        self,
        event: NormalisedEvent,
        *,
        now: datetime,
        ttl: timedelta = DEFAULT_HOLD_TTL,
        context: dict[str, Any] | None = None,
    ) -> Decision:
        """Look up, decide and store one event; returns the decision."""
        decision = decide(self.lookup(event), event, now=now, ttl=ttl, context=context)
        self.store(decision)
        return decision

    def sweep(self, *, now: datetime, ttl: timedelta = DEFAULT_HOLD_TTL) -> list[StateChange]:
        """The periodic timer: expire stale holds of every credential; returns the changes."""
        changes: list[StateChange] = []
        for key in sorted(self._holds):
            credential = self.credentials[key]
            due = credential.next_expiry(ttl)
            if due is not None and due <= now:
                change = expire(credential, now=now, ttl=ttl)
                self.store(change)
                changes.append(change)
        return changes

    def published(self) -> StateTables:
        """The part that follows from published records: no holds, only ``accept`` keys."""
        credentials = {}
        for key, state in self.credentials.items():
            part = state.published()
            if not part.is_empty:
                credentials[key] = part
        index = {k: v for k, v in self.index.items() if v.outcome == "accept"}
        return StateTables(credentials=credentials, index=index)


def rebuild(emissions: Iterable[Emission]) -> StateTables:
    """State tables from the canonical log, in log order (holds are not in the log)."""
    tables = StateTables()
    for emission in emissions:
        if emission.kind != "enrolment" and emission.credential_key is not None:
            key = emission.credential_key
            tables.credentials[key] = apply(tables.credentials.get(key), emission)
        tables.index[emission.idempotency_key] = index_entry(emission)
    return tables

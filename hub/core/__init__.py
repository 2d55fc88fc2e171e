"""The pure lifecycle core: ``decide(state, event, now=...) -> Decision``.

Feed contract §8.2 steps 7–8, §9 and §10, as pure functions over immutable,
JSON-serialisable pydantic models. No I/O and no clock: time is passed in.

Partitioning contract for the stream processor
-----------------------------------------------
1. Only valid events reach the core. Events rejected by validation (§8.2 steps 1–6) are
   rejected upstream and occupy no key: a corrected re-send is decided normally.
2. The processor re-keys every :class:`~hub.normalise.types.NormalisedEvent` by its
   decision key — the credential key, or the idempotency key for enrolments — so all
   events of one credential are decided in arrival order by one writer.
3. For each event it loads two entries and passes them in a :class:`DecisionState`:
   ``credentials[event.credential_key]`` (credential events only) and
   ``index[event.idempotency_key]`` (always). It calls :func:`decide`, then, in the same
   transaction as the outputs and the input offset, writes ``decision.credential`` under
   :attr:`CredentialEntry.changelog_key` (a tombstone when it ``is_empty``) and every
   :class:`IndexWrite` under its ``changelog_key`` (a tombstone when ``entry`` is None).
4. The credential table alone holds everything needed for one credential (status,
   learner, elements digest, held revocations, the keys its events occupy), so duplicates
   and conflicts within a credential need nothing else. The idempotency index is what
   detects a key reused by a *different* credential or by an enrolment (a ``conflict``);
   it must be read and written by the same writer as the credential table. Today
   ``canon.decide.requests`` has one partition, so one writer holds both tables. Scaling
   the decide stage out by credential key would need the index in a global store (or a
   preceding stage keyed by idempotency key) to keep detecting cross-credential reuse.
5. A periodic timer calls :func:`expire` for every credential whose
   :meth:`CredentialEntry.next_expiry` has passed and stores the result; :func:`decide`
   also expires the event's own credential first, so the outcome never depends on when
   the timer last ran for that key.
6. Publish ``decision.emissions`` to the canonical log in order (an issuance before the
   revocations it releases), a receipt for the event (``decision.report(event)``) and one
   for every ``follow_ups`` item (final outcomes of earlier holds).

The canonical log is the source of truth: :func:`rebuild` folds published emissions back
into state tables equal to the live tables' :meth:`StateTables.published` part.
"""

from hub.core.lifecycle import (
    DEFAULT_HOLD_TTL,
    REVOCATION_LEARNER_MISMATCH,
    REVOCATION_UNKNOWN_CREDENTIAL,
    Decision,
    Emission,
    Outcome,
    OutcomeReport,
    StateChange,
    decide,
    expire,
    hold_ttl,
)
from hub.core.state import (
    CredentialEntry,
    DecisionState,
    HeldRevocation,
    IdempotencyState,
    IndexWrite,
    Status,
    content_digest,
    elements_digest,
)
from hub.core.tables import StateTables, apply, index_entry, rebuild

__all__ = [
    "DEFAULT_HOLD_TTL",
    "REVOCATION_LEARNER_MISMATCH",
    "REVOCATION_UNKNOWN_CREDENTIAL",
    "CredentialEntry",
    "Decision",
    "DecisionState",
    "Emission",
    "HeldRevocation",
    "IdempotencyState",
    "IndexWrite",
    "Outcome",
    "OutcomeReport",
    "StateChange",
    "StateTables",
    "Status",
    "apply",
    "content_digest",
    "decide",
    "elements_digest",
    "expire",
    "hold_ttl",
    "index_entry",
    "rebuild",
]

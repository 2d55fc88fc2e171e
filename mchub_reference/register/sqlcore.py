"""The SQL both store adapters share: queries, row mapping and the apply procedure.

An adapter supplies the schema, a transaction that serialises changes of one subject
(``_transaction``), a read snapshot (``_snapshot``) and how Python values become driver
parameters (``_param``). Statements are written with ``?`` placeholders; the PostgreSQL
adapter rewrites them to ``%s``. Tables:

``applied_events``   append-only: one row per applied event id (the idempotency record)
``credentials``      current state per credential id (a revoked row never turns active)
``enrolments``       one row per applied enrolment status change
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Protocol

from connectors.register.models import (
    ApplyResult,
    Change,
    CredentialChange,
    CredentialState,
    EnrolmentChange,
    EnrolmentRecord,
    HistoryEntry,
    LearnerErasure,
    LearnerRef,
    Revocation,
    Verification,
)
from mchub_reference.register.store import (
    Current,
    as_date,
    as_datetime,
    as_json,
    decide,
    duplicate_event,
    verification_of,
)


class Sql(Protocol):
    """Runs one statement inside the adapter's current transaction."""

    def __call__(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Execute ``statement`` with ``?`` placeholders; the rows it returns (maybe none)."""
        ...


_CREDENTIAL_COLUMNS = ("credential_id, credential_key, status, learner, credential, revocation,"
                       " source_system, issued_at, revoked_at, updated_at")


class SqlRegisterStore(ABC):
    """A :class:`~mchub_reference.register.store.RegisterStore` over a SQL database."""

    kind: str = "sql"
    #: driver exceptions that signal a unique-key violation
    integrity_errors: tuple[type[Exception], ...] = ()
    #: driver exceptions that mean "the database is unavailable now" (HTTP 503, retry)
    unavailable_errors: tuple[type[Exception], ...] = ()

    # ------------------------------------------------------------------ adapter hooks

    @abstractmethod
    def _transaction(self, lock_key: str) -> AbstractContextManager[Sql]:
        """A read-write transaction, serialised with every other one on ``lock_key``."""

    @abstractmethod
    def _snapshot(self) -> AbstractContextManager[Sql]:
        """A read-only transaction (one consistent view for several statements)."""

    @abstractmethod
    def _param(self, value: Any) -> Any:
        """A Python value (dict, list, date, datetime, str…) as a driver parameter."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def ping(self) -> None:
        """Raise when the database does not answer."""
        with self._snapshot() as sql:
            sql("SELECT 1")

    # ------------------------------------------------------------------ write side

    def apply_change(self, change: Change, *, snapshot: bool = False) -> ApplyResult:
        """Apply one change atomically, at most once per event id."""
        if isinstance(change, CredentialChange):
            return self._guarded(f"credential:{change.credential_id}", change.event_id,
                                 lambda sql: self._apply_credential(sql, change, snapshot))
        return self._guarded(f"enrolment:{change.event_id}", change.event_id,
                             lambda sql: self._apply_enrolment(sql, change))

    def _guarded(self, lock_key: str, event_id: str,
                 body: Callable[[Sql], ApplyResult]) -> ApplyResult:
        """Run ``body`` in a transaction; a lost race on the event id is a duplicate."""
        try:
            with self._transaction(lock_key) as sql:
                if self._seen(sql, event_id):
                    return duplicate_event(event_id)
                return body(sql)
        except self.integrity_errors:
            with self._snapshot() as sql:
                if self._seen(sql, event_id):
                    return duplicate_event(event_id)
            raise

    def _seen(self, sql: Sql, event_id: str) -> bool:
        return bool(sql("SELECT 1 FROM applied_events WHERE event_id = ?", (event_id,)))

    def _record(self, sql: Sql, event_id: str, kind: str, subject: str, event_type: str,
                occurred_at: datetime | None, now: datetime) -> None:
        sql("INSERT INTO applied_events (event_id, kind, subject_id, event_type, occurred_at,"
            " applied_at) VALUES (?, ?, ?, ?, ?, ?)",
            (event_id, kind, subject, event_type,
             occurred_at.isoformat() if occurred_at else None, self._param(now)))

    def _apply_credential(self, sql: Sql, change: CredentialChange,
                          snapshot: bool) -> ApplyResult:
        rows = sql("SELECT status, learner, credential FROM credentials WHERE credential_id = ?",
                   (change.credential_id,))
        current = None
        if rows:
            status, learner, credential = rows[0]
            current = Current(status=status, education_id=as_json(learner)["educationId"],
                              credential=as_json(credential))
        decision = decide(current, change, snapshot=snapshot)
        now = datetime.now(UTC)
        if decision.write == "insert":
            assert change.credential is not None
            revocation = change.revocation
            occurred = change.occurred_at.isoformat()
            sql("INSERT INTO credentials (credential_id, credential_key, education_id, status,"
                " learner, credential, revocation, source_system, issued_at, revoked_at,"
                " date_of_issuing, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (change.credential_id, change.credential_key, change.learner.education_id,
                 change.status, self._param(change.learner.wire()),
                 self._param(change.credential.wire()),
                 self._param(revocation.wire()) if revocation else None, change.source_system,
                 occurred, occurred if revocation else None,
                 self._param(change.credential.date_of_issuing), self._param(now)))
        elif decision.write == "revoke":
            assert change.revocation is not None
            sql("UPDATE credentials SET status = 'revoked', revocation = ?, revoked_at = ?,"
                " updated_at = ? WHERE credential_id = ? AND status = 'active'",
                (self._param(change.revocation.wire()), change.occurred_at.isoformat(),
                 self._param(now), change.credential_id))
        if decision.result.status == "applied":
            self._record(sql, change.event_id, "credential", change.credential_id,
                         change.event_type, change.occurred_at, now)
        return decision.result

    def _apply_enrolment(self, sql: Sql, change: EnrolmentChange) -> ApplyResult:
        now = datetime.now(UTC)
        self._record(sql, change.event_id, "enrolment", change.education_id, change.status,
                     change.occurred_at, now)
        sql("INSERT INTO enrolments (event_id, education_id, status, status_date, provider,"
            " programme_id, programme, withdrawal_reason, occurred_at, source_system,"
            " enrolment_key, applied_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (change.event_id, change.education_id, change.status,
             self._param(change.status_date), self._param(change.provider.wire()),
             change.programme.id, self._param(change.programme.wire()),
             change.withdrawal_reason,
             change.occurred_at.isoformat() if change.occurred_at else None,
             change.source_system, change.enrolment_key, self._param(now)))
        return ApplyResult(status="applied", event_id=change.event_id, created=True)

    def erase_learner(self, education_id: str) -> LearnerErasure:
        """Delete the learner's credentials and enrolments; the idempotency records of
        their events stay (event ids, so a redelivery is still a duplicate), with the
        education ID of an enrolment's subject replaced."""
        with self._transaction(f"learner:{education_id}") as sql:
            credentials = sql("SELECT credential_id FROM credentials WHERE education_id = ?",
                              (education_id,))
            enrolments = sql("SELECT event_id FROM enrolments WHERE education_id = ?",
                             (education_id,))
            sql("DELETE FROM credentials WHERE education_id = ?", (education_id,))
            sql("DELETE FROM enrolments WHERE education_id = ?", (education_id,))
            sql("UPDATE applied_events SET subject_id = 'erased' WHERE kind = 'enrolment'"
                " AND subject_id = ?", (education_id,))
        return LearnerErasure(education_id=education_id, credentials_erased=len(credentials),
                              enrolments_erased=len(enrolments))

    # ------------------------------------------------------------------ read side

    def get_credential(self, credential_id: str) -> CredentialState | None:
        """The current state and history of a credential, or None when unknown."""
        with self._snapshot() as sql:
            rows = sql(f"SELECT {_CREDENTIAL_COLUMNS} FROM credentials WHERE credential_id = ?",
                       (credential_id,))
            if not rows:
                return None
            history = _history(sql(
                "SELECT subject_id, event_id, event_type, occurred_at, applied_at"
                " FROM applied_events WHERE kind = 'credential' AND subject_id = ?"
                " ORDER BY seq", (credential_id,)))
        return _state(rows[0], history.get(credential_id, []))

    def credentials_of_learner(self, education_id: str) -> list[CredentialState]:
        """Every credential of a learner, oldest issuance first."""
        with self._snapshot() as sql:
            rows = sql(f"SELECT {_CREDENTIAL_COLUMNS} FROM credentials WHERE education_id = ?"
                       " ORDER BY date_of_issuing, issued_at, credential_id", (education_id,))
            history = _history(sql(
                "SELECT a.subject_id, a.event_id, a.event_type, a.occurred_at, a.applied_at"
                " FROM applied_events a JOIN credentials c ON c.credential_id = a.subject_id"
                " WHERE a.kind = 'credential' AND c.education_id = ? ORDER BY a.seq",
                (education_id,)))
        return [_state(row, history.get(row[0], [])) for row in rows]

    def enrolments_of_learner(self, education_id: str) -> list[EnrolmentRecord]:
        """Every applied enrolment change of a learner, by status date then application."""
        with self._snapshot() as sql:
            rows = sql(
                "SELECT e.event_id, e.education_id, e.status, e.status_date, e.provider,"
                " e.programme, e.withdrawal_reason, e.occurred_at, e.source_system,"
                " e.enrolment_key, e.applied_at FROM enrolments e"
                " JOIN applied_events a ON a.event_id = e.event_id"
                " WHERE e.education_id = ? ORDER BY e.status_date, a.seq", (education_id,))
        return [EnrolmentRecord(
            event_id=r[0], education_id=r[1], status=r[2], status_date=as_date(r[3]),
            provider=as_json(r[4]), programme=as_json(r[5]), withdrawal_reason=r[6],
            occurred_at=as_datetime(r[7]) if r[7] is not None else None, source_system=r[8],
            enrolment_key=r[9], applied_at=_utc(r[10])) for r in rows]

    def verify(self, credential_id: str) -> Verification:
        """Whether a credential is known and active."""
        return verification_of(credential_id, self.get_credential(credential_id))


def _history(rows: list[tuple[Any, ...]]) -> dict[str, list[HistoryEntry]]:
    out: dict[str, list[HistoryEntry]] = {}
    for subject, event_id, event_type, occurred_at, applied_at in rows:
        out.setdefault(subject, []).append(HistoryEntry(
            event_id=event_id, event_type=event_type,
            occurred_at=as_datetime(occurred_at), applied_at=_utc(applied_at)))
    return out


def _utc(value: Any) -> datetime:
    return as_datetime(value).astimezone(UTC)


def _state(row: tuple[Any, ...], history: list[HistoryEntry]) -> CredentialState:
    (credential_id, credential_key, status, learner, credential, revocation, source_system,
     issued_at, revoked_at, updated_at) = row
    rev = as_json(revocation)
    return CredentialState(
        credential_id=credential_id, credential_key=credential_key, status=status,
        learner=LearnerRef.model_validate(as_json(learner)), credential=as_json(credential),
        revocation=Revocation.model_validate(rev) if rev is not None else None,
        source_system=source_system, issued_at=as_datetime(issued_at),
        revoked_at=as_datetime(revoked_at) if revoked_at is not None else None,
        updated_at=_utc(updated_at), history=history)

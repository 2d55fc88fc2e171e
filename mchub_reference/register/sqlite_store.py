"""The embedded default store: one SQLite file (stdlib ``sqlite3``, WAL journal).

One connection, used by one thread at a time behind a lock; every change runs in a
``BEGIN IMMEDIATE`` transaction, so changes are serialised even across processes sharing
the file (``busy_timeout`` waits for the other writer). JSON is stored as text, times as
ISO 8601 text. Triggers make ``applied_events`` append-only (but for an erased learner's enrolment
subject) and revocation final; only a learner's erasure deletes credentials.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from hub.adapters.sqlite import open_database
from mchub_reference.register.sqlcore import Sql, SqlRegisterStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS applied_events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL CHECK (kind IN ('credential', 'enrolment')),
    subject_id   TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    occurred_at  TEXT,
    applied_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS applied_events_subject ON applied_events (subject_id);
DROP TRIGGER IF EXISTS applied_events_no_update;
CREATE TRIGGER applied_events_no_update BEFORE UPDATE ON applied_events
WHEN NOT (NEW.subject_id = 'erased' AND OLD.kind = 'enrolment' AND NEW.seq = OLD.seq
          AND NEW.event_id = OLD.event_id AND NEW.kind = OLD.kind
          AND NEW.event_type = OLD.event_type AND NEW.occurred_at IS OLD.occurred_at
          AND NEW.applied_at = OLD.applied_at)
BEGIN SELECT RAISE(ABORT, 'applied_events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS applied_events_no_delete BEFORE DELETE ON applied_events
BEGIN SELECT RAISE(ABORT, 'applied_events is append-only'); END;

CREATE TABLE IF NOT EXISTS credentials (
    credential_id    TEXT PRIMARY KEY,
    credential_key   TEXT NOT NULL,
    education_id     TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    learner          TEXT NOT NULL,
    credential       TEXT NOT NULL,
    revocation       TEXT,
    source_system    TEXT NOT NULL,
    issued_at        TEXT NOT NULL,
    revoked_at       TEXT,
    date_of_issuing  TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS credentials_learner ON credentials (education_id);
CREATE TRIGGER IF NOT EXISTS credentials_revocation_final BEFORE UPDATE ON credentials
WHEN OLD.status = 'revoked'
BEGIN SELECT RAISE(ABORT, 'revocation is final'); END;
-- a learner's erasure (DELETE /learners/{id}) is the only deletion
DROP TRIGGER IF EXISTS credentials_no_delete;

CREATE TABLE IF NOT EXISTS enrolments (
    event_id           TEXT PRIMARY KEY REFERENCES applied_events (event_id),
    education_id       TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('enrolled', 'withdrawn', 'completed')),
    status_date        TEXT NOT NULL,
    provider           TEXT NOT NULL,
    programme_id       TEXT NOT NULL,
    programme          TEXT NOT NULL,
    withdrawal_reason  TEXT,
    occurred_at        TEXT,
    source_system      TEXT NOT NULL,
    enrolment_key      TEXT,
    applied_at         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS enrolments_learner ON enrolments (education_id);
"""


class SqliteRegisterStore(SqlRegisterStore):
    """The register in one SQLite file (``:memory:`` for a private, throw-away one)."""

    kind = "sqlite"
    integrity_errors = (sqlite3.IntegrityError,)
    unavailable_errors = (sqlite3.OperationalError,)

    def __init__(self, path: str | Path) -> None:
        """Open (creating when missing) the database file and its schema."""
        self.path = str(path)
        self._lock = threading.Lock()
        self._conn = open_database(self.path, synchronous="NORMAL")
        self._conn.execute("PRAGMA foreign_keys = ON")
        with self._lock:
            self._conn.executescript(SCHEMA)

    def _param(self, value: Any) -> Any:
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        if isinstance(value, date | datetime):
            return value.isoformat()
        return value

    @contextmanager
    def _run(self, begin: str) -> Iterator[Sql]:
        def sql(statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
            return list(self._conn.execute(statement, tuple(params)).fetchall())

        with self._lock:
            self._conn.execute(begin)
            try:
                yield sql
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _transaction(self, lock_key: str) -> AbstractContextManager[Sql]:
        return self._run("BEGIN IMMEDIATE")

    def _snapshot(self) -> AbstractContextManager[Sql]:
        return self._run("BEGIN")

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

"""The production store: PostgreSQL through psycopg 3 and a small connection pool.

Changes of one subject (a credential id, or an enrolment event id) are serialised with a
transaction-scoped advisory lock, so concurrent deliveries of the same credential apply
in turn; the unique event id settles any other race. JSON is ``jsonb``, times
``timestamptz``/``date``; ``occurred_at`` keeps the sender's offset as text. Triggers
make ``applied_events`` append-only (but for an erased learner's enrolment subject)
and revocation final; only a learner's erasure deletes credentials. Needs PostgreSQL 14 or newer.

The tables are created in the first schema of the connection's ``search_path`` (tests
give each test its own schema with ``options=-csearch_path=…``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
import psycopg_pool
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from hub.errors import ConfigurationError
from mchub_reference.register.sqlcore import Sql, SqlRegisterStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS applied_events (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL CHECK (kind IN ('credential', 'enrolment')),
    subject_id   TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    occurred_at  TEXT,
    applied_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS applied_events_subject ON applied_events (subject_id);

CREATE TABLE IF NOT EXISTS credentials (
    credential_id    TEXT PRIMARY KEY,
    credential_key   TEXT NOT NULL,
    education_id     TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    learner          JSONB NOT NULL,
    credential       JSONB NOT NULL,
    revocation       JSONB,
    source_system    TEXT NOT NULL,
    issued_at        TEXT NOT NULL,
    revoked_at       TEXT,
    date_of_issuing  DATE NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS credentials_learner ON credentials (education_id);

CREATE TABLE IF NOT EXISTS enrolments (
    event_id           TEXT PRIMARY KEY REFERENCES applied_events (event_id),
    education_id       TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('enrolled', 'withdrawn', 'completed')),
    status_date        DATE NOT NULL,
    provider           JSONB NOT NULL,
    programme_id       TEXT NOT NULL,
    programme          JSONB NOT NULL,
    withdrawal_reason  TEXT,
    occurred_at        TEXT,
    source_system      TEXT NOT NULL,
    enrolment_key      TEXT,
    applied_at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS enrolments_learner ON enrolments (education_id);

CREATE OR REPLACE FUNCTION mchub_register_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE OR REPLACE TRIGGER applied_events_append_only BEFORE DELETE ON applied_events
    FOR EACH ROW EXECUTE FUNCTION mchub_register_refuse('applied_events is append-only');
CREATE OR REPLACE TRIGGER applied_events_no_update BEFORE UPDATE ON applied_events
    FOR EACH ROW WHEN (NOT (NEW.subject_id = 'erased' AND OLD.kind = 'enrolment'
        AND (NEW.seq, NEW.event_id, NEW.kind, NEW.event_type, NEW.applied_at)
            IS NOT DISTINCT FROM (OLD.seq, OLD.event_id, OLD.kind, OLD.event_type, OLD.applied_at)
        AND NEW.occurred_at IS NOT DISTINCT FROM OLD.occurred_at))
    EXECUTE FUNCTION mchub_register_refuse('applied_events is append-only');
CREATE OR REPLACE TRIGGER credentials_revocation_final BEFORE UPDATE ON credentials
    FOR EACH ROW WHEN (OLD.status = 'revoked')
    EXECUTE FUNCTION mchub_register_refuse('revocation is final');
-- a learner's erasure (DELETE /learners/{id}) is the only deletion
DROP TRIGGER IF EXISTS credentials_no_delete ON credentials;
"""

#: advisory lock key that serialises schema creation between processes
_SCHEMA_LOCK = 0x6D636875625F7267  # "mchub_rg"


class PostgresRegisterStore(SqlRegisterStore):
    """The register in a PostgreSQL database named by a libpq URL or conninfo string."""

    kind = "postgresql"
    integrity_errors = (psycopg.errors.UniqueViolation,)
    unavailable_errors = (psycopg.OperationalError, psycopg_pool.PoolTimeout)

    def __init__(self, conninfo: str, *, max_connections: int = 8) -> None:
        """Connect (pool of up to ``max_connections``) and create the schema if missing."""
        try:  # one direct attempt first: a clear error now instead of pool retries
            psycopg.connect(conninfo, connect_timeout=10).close()
        except psycopg.OperationalError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise ConfigurationError(f"cannot connect to the register database: {reason}") from exc
        self._pool = ConnectionPool(conninfo, min_size=1, max_size=max_connections,
                                    open=False, name="mchub-register")
        try:
            self._pool.open(wait=True, timeout=15.0)
        except BaseException:
            self._pool.close()
            raise
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            conn.execute(SCHEMA)

    def _param(self, value: Any) -> Any:
        if isinstance(value, dict | list):
            return Jsonb(value)
        return value

    @contextmanager
    def _run(self, lock_key: str | None, *, read_only: bool) -> Iterator[Sql]:
        with self._pool.connection() as conn:
            conn.read_only = read_only
            conn.isolation_level = (psycopg.IsolationLevel.REPEATABLE_READ if read_only
                                    else psycopg.IsolationLevel.READ_COMMITTED)
            with conn.transaction(), conn.cursor() as cur:

                def sql(statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
                    cur.execute(statement.replace("?", "%s"), tuple(params))
                    return cur.fetchall() if cur.description is not None else []

                if lock_key is not None:
                    cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                                (lock_key,))
                yield sql

    def _transaction(self, lock_key: str) -> AbstractContextManager[Sql]:
        return self._run(lock_key, read_only=False)

    def _snapshot(self) -> AbstractContextManager[Sql]:
        return self._run(None, read_only=True)

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.close()

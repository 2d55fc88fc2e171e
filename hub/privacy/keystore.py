"""The learner key store: one AES-256 data key per learner, destroyed on erasure.

Port :class:`LearnerKeyStore` with three adapters run against one contract test suite
(``tests/unit/privacy/test_keystore_contract.py``): :class:`MemoryLearnerKeys` (tests,
benchmarks), :class:`SqliteLearnerKeys` (the embedded default,
``<data dir>/keys/learners.db``; the processes of one machine) and
:class:`PostgresLearnerKeys` (``MCHUB_LEARNER_KEY_STORE=postgresql://…``: instances on
several machines), the last two sharing their SQL (:class:`SqlLearnerKeys`). Learners
are named by their keyed pseudonym (:mod:`hub.privacy.pseudonym`), never by their
education ID.

- :meth:`~LearnerKeyStore.current` gives the learner's active key, making one when there
  is none (the first event of a learner, or the first after an erasure: new data is
  sealed with a new key, the erased data stays unreadable);
- :meth:`~LearnerKeyStore.get` finds a key by id: a :class:`LearnerKey`, ``ERASED`` when
  an erasure destroyed it, ``None`` when this store never held it (a misconfigured
  stage, not an erasure);
- :meth:`~LearnerKeyStore.erase` destroys every key of the learner and records the
  erasure (pseudonym, time, reason, how many keys): that record is kept for the audit.

At rest every data key is wrapped (AES-256-GCM, the key id and pseudonym as associated
data) with the deployment's key-encryption key (``MCHUB_LEARNER_KEK``, else
``<data dir>/keys/learner-kek.secret``), so a copy of the database alone opens nothing.
SQLite deletes with ``secure_delete`` on and truncates its write-ahead log after an
erasure, so the destroyed key is not left in free pages.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.adapters.sqlite import open_database
from hub.crypto.secret import load_secret
from hub.errors import ConfigurationError
from hub.settings import Settings

KEK_SETTING: Final = "MCHUB_LEARNER_KEK"
KEK_FILE: Final = "learner-kek.secret"
DEFAULT_FILE: Final = "learners.db"

Erased = Literal["erased"]
#: what :meth:`LearnerKeyStore.get` answers for a key an erasure destroyed
ERASED: Final[Erased] = "erased"


@dataclass(frozen=True)
class LearnerKey:
    """One data key of a learner (32 bytes, AES-256-GCM)."""

    pseudonym: str
    kid: str
    key: bytes
    created_at: datetime


@dataclass(frozen=True)
class Erasure:
    """One erasure of a learner's keys, as the store records it."""

    pseudonym: str
    erased_at: datetime
    reason: str
    keys_destroyed: int


@dataclass(frozen=True)
class LearnerKeys:
    """What the store holds about one learner (for a subject access export)."""

    pseudonym: str
    active: tuple[tuple[str, datetime], ...]  # (key id, created at) of every live key
    erasures: tuple[Erasure, ...]


class LearnerKeyStore(Protocol):
    """Port: per-learner data keys with erasure."""

    def current(self, pseudonym: str) -> LearnerKey:
        """The learner's active key, made (and stored) when there is none."""
        ...

    def get(self, pseudonym: str, kid: str) -> LearnerKey | Erased | None:
        """The key ``kid`` of the learner; ``ERASED`` if destroyed; ``None`` if unknown."""
        ...

    def erase(self, pseudonym: str, *, reason: str, at: datetime) -> Erasure:
        """Destroy every key of the learner and record the erasure (also when none)."""
        ...

    def describe(self, pseudonym: str) -> LearnerKeys:
        """The learner's live key ids and erasures."""
        ...

    def close(self) -> None:
        """Release the store's resources."""
        ...


def new_kid() -> str:
    """A fresh key id (64 random bits, hex)."""
    return secrets.token_hex(8)


# -------------------------------------------------------------------------- memory adapter


class MemoryLearnerKeys:
    """The key store in memory (tests and benchmarks; nothing survives the process)."""

    def __init__(self) -> None:
        self._keys: dict[str, dict[str, LearnerKey]] = {}
        self._active: dict[str, str] = {}
        self._erased: dict[str, set[str]] = {}
        self._erasures: dict[str, list[Erasure]] = {}
        self._lock = threading.Lock()

    def current(self, pseudonym: str) -> LearnerKey:
        """See :meth:`LearnerKeyStore.current`."""
        with self._lock:
            kid = self._active.get(pseudonym)
            if kid is not None:
                return self._keys[pseudonym][kid]
            key = LearnerKey(pseudonym, new_kid(), AESGCM.generate_key(256), datetime.now(UTC))
            self._keys.setdefault(pseudonym, {})[key.kid] = key
            self._active[pseudonym] = key.kid
            return key

    def get(self, pseudonym: str, kid: str) -> LearnerKey | Erased | None:
        """See :meth:`LearnerKeyStore.get`."""
        with self._lock:
            if kid in self._erased.get(pseudonym, ()):
                return ERASED
            return self._keys.get(pseudonym, {}).get(kid)

    def erase(self, pseudonym: str, *, reason: str, at: datetime) -> Erasure:
        """See :meth:`LearnerKeyStore.erase`."""
        with self._lock:
            keys = self._keys.pop(pseudonym, {})
            self._active.pop(pseudonym, None)
            self._erased.setdefault(pseudonym, set()).update(keys)
            erasure = Erasure(pseudonym, at, reason, len(keys))
            self._erasures.setdefault(pseudonym, []).append(erasure)
            return erasure

    def describe(self, pseudonym: str) -> LearnerKeys:
        """See :meth:`LearnerKeyStore.describe`."""
        with self._lock:
            keys = sorted(self._keys.get(pseudonym, {}).values(), key=lambda k: k.created_at)
            return LearnerKeys(
                pseudonym,
                tuple((k.kid, k.created_at) for k in keys),
                tuple(self._erasures.get(pseudonym, ())),
            )

    def close(self) -> None:
        """Nothing to release."""


# ---------------------------------------------------------------------------- SQL adapters

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS learner_keys (
    pseudonym   TEXT NOT NULL,
    kid         TEXT NOT NULL,
    wrapped     BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (pseudonym, kid)
)""",
    """CREATE TABLE IF NOT EXISTS destroyed_keys (
    pseudonym   TEXT NOT NULL,
    kid         TEXT NOT NULL,
    erased_at   TEXT NOT NULL,
    PRIMARY KEY (pseudonym, kid)
)""",
    """CREATE TABLE IF NOT EXISTS erasures (
    pseudonym       TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    erased_at       TEXT NOT NULL,
    reason          TEXT NOT NULL,
    keys_destroyed  INTEGER NOT NULL,
    PRIMARY KEY (pseudonym, seq)
)""",
)

#: one statement with ``?`` parameters -> its rows
Sql = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


class SqlLearnerKeys:
    """The store's logic over SQL (one copy for every database): subclasses give
    :meth:`_transaction` (serialised per learner) and :meth:`_read`."""

    path: object

    def __init__(self, kek: bytes) -> None:
        """``kek`` wraps the data keys (its SHA-256 is the AES-256 wrapping key)."""
        self._wrap = AESGCM(hashlib.sha256(b"mchub-learner-kek\n" + kek).digest())

    def _transaction(self, pseudonym: str) -> AbstractContextManager[Sql]:
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Sql]:
        raise NotImplementedError

    def _after_erase(self) -> None:
        """Database-specific clean-up after an erasure (default: none)."""

    def close(self) -> None:
        """Release the database connection."""
        raise NotImplementedError

    def _aad(self, pseudonym: str, kid: str) -> bytes:
        return f"{pseudonym}\n{kid}".encode()

    def _unwrap(self, pseudonym: str, kid: str, wrapped: bytes, created: str) -> LearnerKey:
        try:
            key = self._wrap.decrypt(wrapped[:12], wrapped[12:], self._aad(pseudonym, kid))
        except InvalidTag as exc:
            raise ConfigurationError(
                f"learner key store {self.path}: key {kid} does not open with this "
                f"key-encryption key; give every stage the same {KEK_SETTING}"
            ) from exc
        return LearnerKey(pseudonym, kid, key, datetime.fromisoformat(created))

    @staticmethod
    def _live(sql: Sql, pseudonym: str) -> tuple[str, bytes, str] | None:
        rows = sql(
            "SELECT kid, wrapped, created_at FROM learner_keys WHERE pseudonym = ? "
            "ORDER BY created_at, kid LIMIT 1",
            (pseudonym,),
        )
        return None if not rows else (rows[0][0], bytes(rows[0][1]), rows[0][2])

    def current(self, pseudonym: str) -> LearnerKey:
        """See :meth:`LearnerKeyStore.current`."""
        with self._read() as sql:
            row = self._live(sql, pseudonym)
        if row is None:
            with self._transaction(pseudonym) as sql:
                row = self._live(sql, pseudonym)  # another process may have made one
                if row is None:
                    kid, key, now = new_kid(), AESGCM.generate_key(256), datetime.now(UTC)
                    nonce = secrets.token_bytes(12)
                    wrapped = nonce + self._wrap.encrypt(nonce, key, self._aad(pseudonym, kid))
                    sql(
                        "INSERT INTO learner_keys VALUES (?, ?, ?, ?)",
                        (pseudonym, kid, wrapped, now.isoformat()),
                    )
                    row = (kid, wrapped, now.isoformat())
        return self._unwrap(pseudonym, *row)

    def get(self, pseudonym: str, kid: str) -> LearnerKey | Erased | None:
        """See :meth:`LearnerKeyStore.get`."""
        with self._read() as sql:
            rows = sql(
                "SELECT wrapped, created_at FROM learner_keys WHERE pseudonym = ? AND kid = ?",
                (pseudonym, kid),
            )
            if rows:
                return self._unwrap(pseudonym, kid, bytes(rows[0][0]), rows[0][1])
            gone = sql(
                "SELECT 1 FROM destroyed_keys WHERE pseudonym = ? AND kid = ?", (pseudonym, kid)
            )
        return ERASED if gone else None

    def erase(self, pseudonym: str, *, reason: str, at: datetime) -> Erasure:
        """See :meth:`LearnerKeyStore.erase`."""
        with self._transaction(pseudonym) as sql:
            kids = [r[0] for r in sql(
                "SELECT kid FROM learner_keys WHERE pseudonym = ?", (pseudonym,))]
            for kid in kids:
                sql("INSERT INTO destroyed_keys VALUES (?, ?, ?)", (pseudonym, kid, at.isoformat()))
            sql("DELETE FROM learner_keys WHERE pseudonym = ?", (pseudonym,))
            seq = sql("SELECT COUNT(*) FROM erasures WHERE pseudonym = ?", (pseudonym,))[0][0]
            sql(
                "INSERT INTO erasures VALUES (?, ?, ?, ?, ?)",
                (pseudonym, int(seq) + 1, at.isoformat(), reason, len(kids)),
            )
        self._after_erase()
        return Erasure(pseudonym, at, reason, len(kids))

    def describe(self, pseudonym: str) -> LearnerKeys:
        """See :meth:`LearnerKeyStore.describe`."""
        with self._read() as sql:
            active = tuple(
                (r[0], datetime.fromisoformat(r[1]))
                for r in sql(
                    "SELECT kid, created_at FROM learner_keys WHERE pseudonym = ? "
                    "ORDER BY created_at, kid",
                    (pseudonym,),
                )
            )
            erasures = tuple(
                Erasure(pseudonym, datetime.fromisoformat(r[0]), r[1], int(r[2]))
                for r in sql(
                    "SELECT erased_at, reason, keys_destroyed FROM erasures "
                    "WHERE pseudonym = ? ORDER BY seq",
                    (pseudonym,),
                )
            )
        return LearnerKeys(pseudonym, active, erasures)


class SqliteLearnerKeys(SqlLearnerKeys):
    """The key store in a SQLite file (WAL; the processes of one machine may share it)."""

    def __init__(self, path: Path | str, kek: bytes) -> None:
        """Open (creating, mode 0600) the store at ``path``."""
        super().__init__(kek)
        self.path = path
        self._conn = open_database(path, synchronous="FULL")
        if str(path) != ":memory:":
            os.chmod(path, 0o600)
        self._conn.execute("PRAGMA secure_delete = ON")
        for statement in _SCHEMA:
            self._conn.execute(statement)
        self._lock = threading.Lock()

    @contextmanager
    def _transaction(self, pseudonym: str) -> Iterator[Sql]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._sql
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _read(self) -> Iterator[Sql]:
        with self._lock:
            yield self._sql

    def _sql(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self._conn.execute(statement, tuple(params)).fetchall())

    def _after_erase(self) -> None:
        # the wrapped keys' pages are zeroed (secure_delete); the WAL copy goes too
        with self._lock:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()


class PostgresLearnerKeys(SqlLearnerKeys):
    """The key store in PostgreSQL (psycopg 3, the ``postgres`` extra): one store for the
    instances of several machines. A transaction takes an advisory lock on the learner."""

    def __init__(self, conninfo: str, kek: bytes) -> None:
        """Connect to ``conninfo`` (a libpq URL) and create the tables if missing."""
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise ConfigurationError(
                "a PostgreSQL learner key store needs psycopg: pip install 'mchub[postgres]'"
            ) from exc
        super().__init__(kek)
        self.conninfo = conninfo
        self.path = conninfo.split("@")[-1]  # no password in messages
        try:
            self._conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise ConfigurationError(f"cannot connect to the learner key store: {reason}") from exc
        self._lock = threading.Lock()
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (0x6D636875625F6C6B,))
            for statement in _SCHEMA:
                self._conn.execute(statement.replace("BLOB", "BYTEA"))

    def _cursor_sql(self, cur: Any) -> Sql:
        def sql(statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
            cur.execute(statement.replace("?", "%s"), tuple(params))
            return list(cur.fetchall()) if cur.description is not None else []

        return sql

    @contextmanager
    def _transaction(self, pseudonym: str) -> Iterator[Sql]:
        with self._lock, self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (pseudonym,))
            yield self._cursor_sql(cur)

    @contextmanager
    def _read(self) -> Iterator[Sql]:
        with self._lock, self._conn.cursor() as cur:
            yield self._cursor_sql(cur)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()


def key_store_location(settings: Settings) -> str:
    """Where the deployment's learner keys are: a SQLite file or a PostgreSQL URL."""
    given = settings.privacy.key_store
    return given or str(settings.data_dir / "keys" / DEFAULT_FILE)


def learner_kek(settings: Settings) -> bytes:
    """The key-encryption key: ``MCHUB_LEARNER_KEK``, else the keys directory's file."""
    given = settings.privacy.kek
    value = None if given is None else given.get_secret_value()
    return load_secret(settings.data_dir / "keys", KEK_FILE, value, setting=KEK_SETTING)


def open_key_store(settings: Settings) -> SqlLearnerKeys:
    """The deployment's learner key store: PostgreSQL for a ``postgresql://`` location,
    else SQLite (see :func:`key_store_location`)."""
    location = key_store_location(settings)
    if location.startswith(("postgresql://", "postgres://")):
        return PostgresLearnerKeys(location, learner_kek(settings))
    return SqliteLearnerKeys(Path(location), learner_kek(settings))

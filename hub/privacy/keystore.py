"""The learner key store: one AES-256 data key per learner, destroyed on erasure.

Port :class:`LearnerKeyStore` with two adapters run against one contract test suite
(``tests/unit/privacy/test_keystore_contract.py``): :class:`MemoryLearnerKeys` (tests,
benchmarks) and :class:`SqliteLearnerKeys` (the embedded default,
``<data dir>/keys/learners.db``). Learners are named by their keyed pseudonym
(:mod:`hub.privacy.pseudonym`), never by their education ID.

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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal, Protocol

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


# -------------------------------------------------------------------------- SQLite adapter

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS learner_keys (
    pseudonym   TEXT NOT NULL,
    kid         TEXT NOT NULL,
    wrapped     BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (pseudonym, kid)
);
CREATE TABLE IF NOT EXISTS destroyed_keys (
    pseudonym   TEXT NOT NULL,
    kid         TEXT NOT NULL,
    erased_at   TEXT NOT NULL,
    PRIMARY KEY (pseudonym, kid)
);
CREATE TABLE IF NOT EXISTS erasures (
    pseudonym       TEXT NOT NULL,
    erased_at       TEXT NOT NULL,
    reason          TEXT NOT NULL,
    keys_destroyed  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS erasures_by_learner ON erasures (pseudonym);
"""


class SqliteLearnerKeys:
    """The key store in a SQLite file (WAL; several processes of one machine may share it)."""

    def __init__(self, path: Path | str, kek: bytes) -> None:
        """Open (creating) the store at ``path``; ``kek`` wraps the data keys (any length
        ≥ 16 bytes: its SHA-256 is the AES-256 wrapping key)."""
        self.path = path
        self._wrap = AESGCM(hashlib.sha256(b"mchub-learner-kek\n" + kek).digest())
        self._conn = open_database(path, synchronous="FULL")
        if str(path) != ":memory:":
            os.chmod(path, 0o600)
        self._conn.execute("PRAGMA secure_delete = ON")
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()

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

    def current(self, pseudonym: str) -> LearnerKey:
        """See :meth:`LearnerKeyStore.current`."""
        with self._lock:
            row = self._live(pseudonym)
            if row is None:
                kid, key, now = new_kid(), AESGCM.generate_key(256), datetime.now(UTC)
                nonce = secrets.token_bytes(12)
                wrapped = nonce + self._wrap.encrypt(nonce, key, self._aad(pseudonym, kid))
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    # another process may have made one meanwhile: the oldest live key wins
                    if self._live(pseudonym) is None:
                        self._conn.execute(
                            "INSERT INTO learner_keys VALUES (?, ?, ?, ?)",
                            (pseudonym, kid, wrapped, now.isoformat()),
                        )
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                row = self._live(pseudonym)
                assert row is not None
            return self._unwrap(pseudonym, *row)

    def _live(self, pseudonym: str) -> tuple[str, bytes, str] | None:
        row = self._conn.execute(
            "SELECT kid, wrapped, created_at FROM learner_keys WHERE pseudonym = ? "
            "ORDER BY created_at, kid LIMIT 1",
            (pseudonym,),
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def get(self, pseudonym: str, kid: str) -> LearnerKey | Erased | None:
        """See :meth:`LearnerKeyStore.get`."""
        with self._lock:
            row = self._conn.execute(
                "SELECT wrapped, created_at FROM learner_keys WHERE pseudonym = ? AND kid = ?",
                (pseudonym, kid),
            ).fetchone()
            if row is not None:
                return self._unwrap(pseudonym, kid, row[0], row[1])
            gone = self._conn.execute(
                "SELECT 1 FROM destroyed_keys WHERE pseudonym = ? AND kid = ?", (pseudonym, kid)
            ).fetchone()
            return ERASED if gone is not None else None

    def erase(self, pseudonym: str, *, reason: str, at: datetime) -> Erasure:
        """See :meth:`LearnerKeyStore.erase`."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                kids = [r[0] for r in self._conn.execute(
                    "SELECT kid FROM learner_keys WHERE pseudonym = ?", (pseudonym,))]
                self._conn.executemany(
                    "INSERT OR IGNORE INTO destroyed_keys VALUES (?, ?, ?)",
                    [(pseudonym, kid, at.isoformat()) for kid in kids],
                )
                self._conn.execute("DELETE FROM learner_keys WHERE pseudonym = ?", (pseudonym,))
                self._conn.execute(
                    "INSERT INTO erasures VALUES (?, ?, ?, ?)",
                    (pseudonym, at.isoformat(), reason, len(kids)),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            # the wrapped keys' pages are zeroed (secure_delete); the WAL copy goes too
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return Erasure(pseudonym, at, reason, len(kids))

    def describe(self, pseudonym: str) -> LearnerKeys:
        """See :meth:`LearnerKeyStore.describe`."""
        with self._lock:
            active = tuple(
                (r[0], datetime.fromisoformat(r[1]))
                for r in self._conn.execute(
                    "SELECT kid, created_at FROM learner_keys WHERE pseudonym = ? "
                    "ORDER BY created_at, kid",
                    (pseudonym,),
                )
            )
            erasures = tuple(
                Erasure(pseudonym, datetime.fromisoformat(r[0]), r[1], r[2])
                for r in self._conn.execute(
                    "SELECT erased_at, reason, keys_destroyed FROM erasures WHERE pseudonym = ? "
                    "ORDER BY rowid",
                    (pseudonym,),
                )
            )
            return LearnerKeys(pseudonym, active, erasures)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()


def key_store_path(settings: Settings) -> Path:
    """The SQLite file of the deployment's learner keys."""
    return settings.privacy.key_store or settings.data_dir / "keys" / DEFAULT_FILE


def learner_kek(settings: Settings) -> bytes:
    """The key-encryption key: ``MCHUB_LEARNER_KEK``, else the keys directory's file."""
    given = settings.privacy.kek
    value = None if given is None else given.get_secret_value()
    return load_secret(settings.data_dir / "keys", KEK_FILE, value, setting=KEK_SETTING)


def open_key_store(settings: Settings) -> SqliteLearnerKeys:
    """The deployment's learner key store (SQLite, see :func:`key_store_path`)."""
    return SqliteLearnerKeys(key_store_path(settings), learner_kek(settings))

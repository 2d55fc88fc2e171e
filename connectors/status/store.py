"""Persistent status lists: SQLite behind :class:`~hub.crypto.statuslist.StatusListStore`.

One database file holds, for every Bitstring Status List the hub publishes:

``status_lists``    the list: its issuer, purpose, size, bits (``encodedList`` form), a
                    version bumped on every change, and the latest *signed* list credential
                    (VC-JWT) with the version it was signed at, which is what
                    ``GET /v1/status/{id}`` serves;
``status_entries``  the handed-out indexes: ``(list_id, idx)`` is the primary key (two
                    credentials never share an index) and ``(credential_id, purpose,
                    issuer)`` is unique (one credential, one entry per purpose in the lists
                    of each issuer: a redelivered issuance gets its earlier index back),
                    with the revocation time and reason code.

Lists are kept per issuer because a verifier of the W3C Bitstring Status List checks that
the list credential's ``issuer`` is the issuer of the credential it checks: an Open Badge
of an awarding body has its entry in that body's list, the same credential's ELM form an
entry in the hub's (the ELM issuer's) list. A database from before that change gets the
``issuer`` columns with ``''`` (a *legacy* list: still served, revocable, signed as before).

Several processes may share the file (``mchub run`` writes, the status server reads):
writers take SQLite's write lock with ``BEGIN IMMEDIATE`` and the database runs in WAL
mode, so readers never wait for a writer. Within a process one connection is shared
under a lock.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from hub.adapters.sqlite import open_database
from hub.crypto.statuslist import (
    MIN_BITS,
    StatusListState,
    decode_list,
    encode_list,
    new_bitstring,
)
from hub.render import StatusPurpose

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS status_lists (
    list_id        TEXT PRIMARY KEY,
    seq            INTEGER NOT NULL,
    purpose        TEXT NOT NULL,
    size           INTEGER NOT NULL,
    encoded_list   TEXT NOT NULL,
    version        INTEGER NOT NULL,
    signed         TEXT,
    signed_version INTEGER,
    signed_at      TEXT,
    created_at     TEXT NOT NULL,
    issuer         TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS status_entries (
    list_id       TEXT NOT NULL,
    idx           INTEGER NOT NULL,
    purpose       TEXT NOT NULL,
    credential_id TEXT,
    allocated_at  TEXT NOT NULL,
    revoked_at    TEXT,
    reason        TEXT,
    issuer        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (list_id, idx)
);
"""

#: indexes, created after :data:`MIGRATIONS` (they name the ``issuer`` columns)
INDEXES: Final = """
DROP INDEX IF EXISTS status_lists_by_purpose;
DROP INDEX IF EXISTS status_entries_by_credential;
CREATE INDEX IF NOT EXISTS status_lists_by_issuer ON status_lists (issuer, purpose, seq);
CREATE UNIQUE INDEX IF NOT EXISTS status_entries_by_credential_issuer
    ON status_entries (credential_id, purpose, issuer) WHERE credential_id IS NOT NULL;
"""

#: columns added since the first schema: (table, column, definition). A database made
#: before lists were kept per issuer gets ``issuer = ''`` on its lists and entries: a
#: *legacy* list, still served and revocable, signed as before (see
#: :attr:`connectors.status.publisher.StatusPublisher.legacy_issuer`)
MIGRATIONS: Final = (
    ("status_lists", "issuer", "TEXT NOT NULL DEFAULT ''"),
    ("status_entries", "issuer", "TEXT NOT NULL DEFAULT ''"),
)

#: the issuer of lists made before lists were kept per issuer
LEGACY_ISSUER: Final = ""


@dataclass(frozen=True)
class EntryRow:
    """One handed-out status entry."""

    list_id: str
    index: int
    purpose: StatusPurpose
    credential_id: str | None
    revoked_at: str | None
    reason: str | None
    issuer: str = LEGACY_ISSUER


@dataclass(frozen=True)
class SignedList:
    """A published list credential: the VC-JWT and the list version it was signed at."""

    list_id: str
    token: str
    version: int
    signed_at: str


_ENTRY_COLUMNS: Final = "list_id, idx, purpose, credential_id, revoked_at, reason, issuer"

#: credential ids per ``IN (...)`` query (SQLite allows 999 variables in old versions)
_IN_CHUNK: Final = 500


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SqliteStatusStore:
    """A :class:`~hub.crypto.statuslist.StatusListStore` in one SQLite file.

    Beyond ``get``/``put`` it keeps the credential → entry map and the signed list
    credentials; see the module docstring. Use :meth:`transaction` to make several calls
    one atomic step (calls nest; only the outermost commits).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path) if str(path) != ":memory:" else None
        # FULL: an allocation must survive a power loss, or its index could be handed
        # out twice (WAL keeps readers unblocked either way)
        self._conn = open_database(path, synchronous="FULL")
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._depth = 0
        with self._lock:
            self._conn.executescript(SCHEMA)
            self._migrate()

    def _migrate(self) -> None:
        """Add the columns a database from an earlier version lacks, then the indexes."""
        for table, column, definition in MIGRATIONS:
            columns = {str(r[1]) for r in self._conn.execute(f"PRAGMA table_info({table})")}
            if column not in columns:
                try:
                    self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
                except sqlite3.OperationalError as exc:  # another process migrated first
                    if "duplicate column" not in str(exc):
                        raise
        self._conn.executescript(INDEXES)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SqliteStatusStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``); nested calls join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._conn.execute(sql, args).fetchall())

    # --- StatusListStore ------------------------------------------------------------

    def get(self, list_id: str) -> StatusListState | None:
        """The list with its allocated indexes, or None."""
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT purpose, encoded_list, version, issuer FROM status_lists WHERE list_id = ?",
                (list_id,),
            ).fetchone()
            if row is None:
                return None
            allocated = {
                int(r[0])
                for r in conn.execute(
                    "SELECT idx FROM status_entries WHERE list_id = ?", (list_id,)
                )
            }
        return StatusListState(
            list_id=list_id,
            purpose=row["purpose"],
            bits=bytearray(decode_list(row["encoded_list"])),
            allocated=allocated,
            version=int(row["version"]),
            issuer=str(row["issuer"]),
        )

    def put(self, state: StatusListState) -> None:
        """Store the list's bits and version; record indexes allocated outside this store."""
        with self.transaction() as conn:
            exists = conn.execute(
                "SELECT 1 FROM status_lists WHERE list_id = ?", (state.list_id,)
            ).fetchone()
            if exists is None:
                self._insert_list(conn, state.list_id, state.purpose, state.size, state.issuer)
            conn.execute(
                "UPDATE status_lists SET encoded_list = ?, version = ? WHERE list_id = ?",
                (encode_list(state.bits), state.version, state.list_id),
            )
            known = {
                int(r[0])
                for r in conn.execute(
                    "SELECT idx FROM status_entries WHERE list_id = ?", (state.list_id,)
                )
            }
            now = _now()
            conn.executemany(
                "INSERT INTO status_entries (list_id, idx, purpose, allocated_at, issuer)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (state.list_id, i, state.purpose, now, state.issuer)
                    for i in state.allocated - known
                ],
            )

    # --- lists ----------------------------------------------------------------------

    def _insert_list(
        self,
        conn: sqlite3.Connection,
        list_id: str,
        purpose: StatusPurpose,
        size: int,
        issuer: str = LEGACY_ISSUER,
    ) -> None:
        seq_row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM status_lists").fetchone()
        conn.execute(
            "INSERT INTO status_lists (list_id, seq, purpose, size, encoded_list, version,"
            " created_at, issuer) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
            (
                list_id,
                int(seq_row[0]) + 1,
                purpose,
                size,
                encode_list(new_bitstring(size)),
                _now(),
                issuer,
            ),
        )

    def open_list(
        self, purpose: StatusPurpose, size: int = MIN_BITS, *, issuer: str = LEGACY_ISSUER
    ) -> tuple[str, int, int]:
        """The list new entries of ``issuer`` and ``purpose`` go to: ``(list id, size,
        entries used)``.

        The newest list of that issuer and purpose while it has room; otherwise a new list
        whose id is the next number (``1``, ``2``, ...; numbers are shared by all issuers).
        Call inside :meth:`transaction`.
        """
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT list_id, size FROM status_lists WHERE issuer = ? AND purpose = ?"
                " ORDER BY seq DESC LIMIT 1",
                (issuer, purpose),
            ).fetchone()
            if row is not None:
                used = conn.execute(
                    "SELECT COUNT(*) FROM status_entries WHERE list_id = ?", (row["list_id"],)
                ).fetchone()[0]
                if int(used) < int(row["size"]):
                    return str(row["list_id"]), int(row["size"]), int(used)
            list_id = self._next_list_id(conn)
            self._insert_list(conn, list_id, purpose, size, issuer)
            return list_id, size, 0

    @staticmethod
    def _next_list_id(conn: sqlite3.Connection) -> str:
        ids = {str(r[0]) for r in conn.execute("SELECT list_id FROM status_lists")}
        number = len(ids) + 1
        while str(number) in ids:
            number += 1
        return str(number)

    def list_ids(self) -> list[str]:
        """Every list, oldest first."""
        return [str(r[0]) for r in self._query("SELECT list_id FROM status_lists ORDER BY seq")]

    def issuer(self, list_id: str) -> str | None:
        """The issuer of a list (``''`` for a legacy list), or None when there is no such list."""
        rows = self._query("SELECT issuer FROM status_lists WHERE list_id = ?", (list_id,))
        return str(rows[0][0]) if rows else None

    def version(self, list_id: str) -> int | None:
        """The list's current version, or None when there is no such list."""
        rows = self._query("SELECT version FROM status_lists WHERE list_id = ?", (list_id,))
        return int(rows[0][0]) if rows else None

    # --- entries --------------------------------------------------------------------

    def entry_of(
        self,
        credential_id: str,
        purpose: StatusPurpose = "revocation",
        *,
        issuer: str = LEGACY_ISSUER,
    ) -> EntryRow | None:
        """The entry handed to a credential in a list of ``issuer``, or None."""
        rows = self._query(
            f"SELECT {_ENTRY_COLUMNS} FROM status_entries"
            " WHERE credential_id = ? AND purpose = ? AND issuer = ?",
            (credential_id, purpose, issuer),
        )
        return _entry(rows[0]) if rows else None

    def credential_entries(
        self, credential_id: str, purpose: StatusPurpose = "revocation"
    ) -> list[EntryRow]:
        """Every entry of a credential, in the lists of every issuer (oldest list first):
        a credential sent as OB3 and as ELM has one in each issuer's list."""
        return [
            _entry(r)
            for r in self._query(
                f"SELECT {_ENTRY_COLUMNS} FROM status_entries"
                " WHERE credential_id = ? AND purpose = ? ORDER BY (SELECT seq FROM"
                " status_lists l WHERE l.list_id = status_entries.list_id), list_id",
                (credential_id, purpose),
            )
        ]

    def entries_of(
        self,
        credential_ids: Sequence[str],
        purpose: StatusPurpose = "revocation",
        *,
        issuer: str = LEGACY_ISSUER,
    ) -> dict[str, EntryRow]:
        """The entries handed to any of these credentials in lists of ``issuer``."""
        found: dict[str, EntryRow] = {}
        for start in range(0, len(credential_ids), _IN_CHUNK):
            chunk = credential_ids[start : start + _IN_CHUNK]
            rows = self._query(
                f"SELECT {_ENTRY_COLUMNS} FROM status_entries"
                " WHERE purpose = ? AND issuer = ? AND credential_id IN"
                f" ({','.join('?' * len(chunk))})",
                (purpose, issuer, *chunk),
            )
            found.update((str(row["credential_id"]), _entry(row)) for row in rows)
        return found

    def revoked_among(
        self, credential_ids: Sequence[str], purpose: StatusPurpose = "revocation"
    ) -> dict[str, str | None]:
        """Those of ``credential_ids`` revoked already (in any issuer's list): id -> reason."""
        found: dict[str, str | None] = {}
        for start in range(0, len(credential_ids), _IN_CHUNK):
            chunk = credential_ids[start : start + _IN_CHUNK]
            rows = self._query(
                "SELECT credential_id, reason FROM status_entries"
                " WHERE purpose = ? AND revoked_at IS NOT NULL AND credential_id IN"
                f" ({','.join('?' * len(chunk))})",
                (purpose, *chunk),
            )
            found.update((str(row[0]), row[1]) for row in rows)
        return found

    def try_claim(
        self,
        list_id: str,
        index: int,
        purpose: StatusPurpose,
        credential_id: str,
        issuer: str = LEGACY_ISSUER,
    ) -> bool:
        """Claim ``index`` for the credential; False when the index is taken already."""
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO status_entries (list_id, idx, purpose, credential_id,"
                " allocated_at, issuer) VALUES (?, ?, ?, ?, ?, ?)",
                (list_id, index, purpose, credential_id, _now(), issuer),
            )
            return cur.rowcount == 1

    def used_indexes(self, list_id: str) -> set[int]:
        """The indexes handed out in a list."""
        return {
            int(r[0])
            for r in self._query("SELECT idx FROM status_entries WHERE list_id = ?", (list_id,))
        }

    def mark_revoked(self, credential_id: str, purpose: StatusPurpose, reason: str | None) -> None:
        """Record when and why (reason code) a credential's entries were set (first time
        only; every issuer's entry)."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE status_entries SET revoked_at = ?, reason = ?"
                " WHERE credential_id = ? AND purpose = ? AND revoked_at IS NULL",
                (_now(), reason, credential_id, purpose),
            )

    def entries(self, list_id: str) -> list[EntryRow]:
        """Every entry of a list (operator tooling, tests)."""
        return [
            _entry(r)
            for r in self._query(
                f"SELECT {_ENTRY_COLUMNS} FROM status_entries WHERE list_id = ? ORDER BY idx",
                (list_id,),
            )
        ]

    # --- signed list credentials ------------------------------------------------------

    def save_signed(self, list_id: str, token: str, version: int) -> None:
        """Store the signed list credential of ``version`` (never replaces a newer one)."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE status_lists SET signed = ?, signed_version = ?, signed_at = ?"
                " WHERE list_id = ? AND (signed_version IS NULL OR signed_version <= ?)",
                (token, version, _now(), list_id, version),
            )

    def signed(self, list_id: str) -> SignedList | None:
        """The published (signed) list credential, or None when none was signed yet."""
        rows = self._query(
            "SELECT signed, signed_version, signed_at FROM status_lists"
            " WHERE list_id = ? AND signed IS NOT NULL",
            (list_id,),
        )
        if not rows:
            return None
        row = rows[0]
        return SignedList(list_id, str(row[0]), int(row[1]), str(row[2]))

    def stale_lists(self) -> list[str]:
        """Lists whose signed credential is missing or older than their bits."""
        return [
            str(r[0])
            for r in self._query(
                "SELECT list_id FROM status_lists"
                " WHERE signed IS NULL OR signed_version < version ORDER BY seq"
            )
        ]


def _entry(row: sqlite3.Row) -> EntryRow:
    return EntryRow(
        list_id=str(row["list_id"]),
        index=int(row["idx"]),
        purpose=row["purpose"],
        credential_id=row["credential_id"],
        revoked_at=row["revoked_at"],
        reason=row["reason"],
        issuer=str(row["issuer"]),
    )

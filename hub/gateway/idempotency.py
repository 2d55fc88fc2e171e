"""Submissions and ``Idempotency-Key`` memory of the gateway (SQLite under the data dir).

Every accepted request becomes a *submission*: receipt id, source, feed, SHA-256 of the
body and, when the client sent one, its ``Idempotency-Key``. The store answers three
questions: who owns a receipt id (``GET /v1/receipts/{id}`` shows receipts only to the
source that submitted them), has this key been used by this source before, and with the
same body? A key is *reserved* before the Kafka write and *released* if the write fails,
so two concurrent requests with one key cannot both be appended.

One gateway instance owns one store; running several instances needs a shared store
(docs/gateway.md, left for later).
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from hub.adapters.sqlite import open_database

State = Literal["writing", "written"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    receipt_id      TEXT PRIMARY KEY,
    source          TEXT NOT NULL,
    feed            TEXT NOT NULL,
    idempotency_key TEXT,
    body_sha256     TEXT NOT NULL,
    state           TEXT NOT NULL,
    submitted_at    TEXT NOT NULL,
    topic           TEXT,
    partition       INTEGER,
    "offset"        INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS submissions_by_key
    ON submissions (source, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS submissions_by_time ON submissions (submitted_at);
"""


@dataclass(frozen=True)
class Submission:
    """One request the gateway appended (or is appending) to a source topic."""

    receipt_id: str
    source: str
    feed: str
    idempotency_key: str | None
    body_sha256: str
    state: State
    submitted_at: str
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


class SubmissionStore:
    """SQLite-backed submissions (thread-safe; each call is one short transaction)."""

    def __init__(self, path: Path | str) -> None:
        self._db = open_database(path, synchronous="NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def reserve(self, submission: Submission) -> Submission | None:
        """Insert a submission; when its (source, key) exists, return that one instead."""
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO submissions VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (submission.receipt_id, submission.source, submission.feed,
                     submission.idempotency_key, submission.body_sha256, submission.state,
                     submission.submitted_at, submission.topic, submission.partition,
                     submission.offset),
                )
                return None
            except sqlite3.IntegrityError:
                if submission.idempotency_key is None:
                    raise
                row = self._db.execute(
                    "SELECT * FROM submissions WHERE source=? AND idempotency_key=?",
                    (submission.source, submission.idempotency_key),
                ).fetchone()
        if row is None:  # pragma: no cover - the row was pruned in between
            return self.reserve(submission)
        return Submission(*row)

    def written(self, receipt_id: str, topic: str, partition: int, offset: int) -> None:
        """Mark a reserved submission as appended (Kafka acknowledged it)."""
        with self._lock:
            self._db.execute(
                'UPDATE submissions SET state=\'written\', topic=?, partition=?, "offset"=? '
                "WHERE receipt_id=?",
                (topic, partition, offset, receipt_id),
            )

    def release(self, receipt_id: str) -> None:
        """Forget a reservation whose Kafka write failed (the key may be used again)."""
        with self._lock:
            self._db.execute("DELETE FROM submissions WHERE receipt_id=? AND state='writing'",
                             (receipt_id,))

    def get(self, receipt_id: str) -> Submission | None:
        """The submission with this receipt id."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM submissions WHERE receipt_id=?", (receipt_id,)
            ).fetchone()
        return Submission(*row) if row else None

    def prune(self, older_than_hours: float) -> int:
        """Forget idempotency keys older than the window (receipt ownership is kept)."""
        cutoff = (datetime.now(UTC) - timedelta(hours=older_than_hours)).isoformat()
        with self._lock:
            cursor = self._db.execute(
                "UPDATE submissions SET idempotency_key=NULL "
                "WHERE idempotency_key IS NOT NULL AND submitted_at < ?",
                (cutoff,),
            )
            return cursor.rowcount


def now_iso() -> str:
    """The current UTC time, ISO 8601 with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")

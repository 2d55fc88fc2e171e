"""SQLite: one way to open a database file that several processes may open at once.

Every SQLite store of the hub (status lists, register, sent wallet credentials, gateway
submissions) opens its file through :func:`open_database`. Switching a file to WAL needs
a moment of exclusive access, and SQLite answers "database is locked" at once, without
waiting for the busy timeout, when another connection opens the same new file at that
instant. So the switch is skipped when the file is already in WAL mode and otherwise
retried until the busy timeout has passed.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Literal

Synchronous = Literal["OFF", "NORMAL", "FULL"]


def open_database(
    path: Path | str,
    *,
    synchronous: Synchronous = "NORMAL",
    busy_timeout_s: float = 30.0,
    autocommit: bool = True,
) -> sqlite3.Connection:
    """Open (creating when missing) a SQLite database shared across threads.

    Files get WAL mode and the given ``synchronous`` level; ``:memory:`` gets neither.
    With ``autocommit`` the connection runs in autocommit mode (``isolation_level=None``)
    so callers issue ``BEGIN`` themselves; otherwise Python's default transaction
    handling applies.
    """
    in_memory = str(path) == ":memory:"
    if not in_memory:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=busy_timeout_s, check_same_thread=False)
    if autocommit:
        conn.isolation_level = None
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
    if not in_memory:
        _enable_wal(conn, busy_timeout_s)
        conn.execute(f"PRAGMA synchronous = {synchronous}")
    return conn


def _enable_wal(conn: sqlite3.Connection, busy_timeout_s: float) -> None:
    deadline = time.monotonic() + busy_timeout_s
    delay = 0.005
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() == "wal":
                return
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

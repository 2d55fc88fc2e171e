"""open_database: WAL files that many threads (or processes) open at the same moment."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from hub.adapters.sqlite import open_database


def _open_together(path: Path, opener: object, count: int = 12) -> list[BaseException]:
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def work() -> None:
        barrier.wait()
        try:
            conn = opener(path)  # type: ignore[operator]
            conn.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
            conn.close()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_openers_of_a_new_file_all_succeed_in_wal(tmp_path: Path) -> None:
    for round_ in range(20):
        db = tmp_path / f"r{round_}.db"
        assert _open_together(db, open_database) == []
        conn = open_database(db)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()


def test_synchronous_level_and_autocommit_are_applied(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "a.db", synchronous="FULL")
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert conn.isolation_level is None
    conn.close()
    conn = open_database(tmp_path / "b.db", autocommit=False)
    assert conn.isolation_level == ""
    conn.close()


def test_memory_databases_stay_in_memory_mode() -> None:
    conn = open_database(":memory:")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "memory"


def test_errors_other_than_locking_are_raised(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-db"
    bad.write_bytes(b"this is not a sqlite file" * 100)
    try:
        open_database(bad)
    except sqlite3.DatabaseError as exc:
        assert "not a database" in str(exc)
    else:
        raise AssertionError("a corrupt file must not open silently")

"""The StateStore contract, run against both adapters (memory, SQLite).

``reopen`` simulates a process restart: the SQLite file is opened again; the memory
store is rebuilt over the same dict (what a process that kept its memory would see).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hub.stream.store import (
    MemoryData,
    MemoryStore,
    SqliteStore,
    StateStore,
    open_store,
    store_path,
)

pytestmark = pytest.mark.unit

Opener = Callable[[], StateStore]


@pytest.fixture(params=["memory", "sqlite"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the same store again on every call (closing nothing: tests close)."""
    opened: list[StateStore] = []
    if request.param == "memory":
        durable = MemoryData()

        def open_memory() -> StateStore:
            store = MemoryStore(durable)
            opened.append(store)
            return store

        yield open_memory
    else:
        path = tmp_path / "state" / "task.sqlite"

        def open_sqlite() -> StateStore:
            store = SqliteStore(path)
            opened.append(store)
            return store

        yield open_sqlite
    for store in opened:
        store.close()


@pytest.fixture
def store(opener: Opener) -> StateStore:
    return opener()


def test_reads_see_pending_writes_at_once(store: StateStore) -> None:
    assert store.get("a") is None and len(store) == 0 and "a" not in store
    store.put("a", b"1")
    store.put("b", b"2")
    assert store.get("a") == b"1" and "a" in store and len(store) == 2
    store.delete("a")
    store.delete("never-there")
    assert store.get("a") is None and len(store) == 1
    assert store.pending == 3


def test_items_merge_durable_and_pending_in_key_order(store: StateStore) -> None:
    for key in ("cred|b", "cred|d", "idem|x", "chain|0"):
        store.put(key, key.encode())
    store.commit(5)
    store.put("cred|a", b"new")  # before every durable key
    store.put("cred|d", b"changed")  # overrides a durable key
    store.delete("cred|b")  # hides a durable key
    store.put("cred|e", b"last")  # after every durable key
    assert list(store.items("cred|")) == [
        ("cred|a", b"new"),
        ("cred|d", b"changed"),
        ("cred|e", b"last"),
    ]
    assert list(store.keys()) == ["chain|0", "cred|a", "cred|d", "cred|e", "idem|x"]
    assert store.count("cred|") == 3 and store.count("idem|") == 1 and len(store) == 5


def test_items_page_through_many_durable_keys(store: StateStore) -> None:
    for i in range(2500):
        store.put(f"k|{i:05d}", b"v")
    store.commit(1)
    store.put("k|01000x", b"w")
    keys = list(store.keys("k|"))
    assert len(keys) == 2501 and keys == sorted(keys)


def test_commit_makes_writes_durable_with_the_checkpoint(opener: Opener) -> None:
    store = opener()
    assert store.checkpoint is None and store.checkpointed_at is None
    store.put("a", b"1")
    store.put("b", b"2")
    store.commit(42)
    assert store.pending == 0 and store.checkpoint == 42
    assert store.checkpointed_at is not None
    store.delete("b")
    store.commit()  # None keeps the checkpoint
    assert store.checkpoint == 42
    store.close()
    again = opener()
    assert again.checkpoint == 42 and again.get("a") == b"1" and again.get("b") is None
    assert dict(again.items()) == {"a": b"1"}


def test_discard_drops_pending_writes_only(store: StateStore) -> None:
    store.put("a", b"1")
    store.commit(7)
    store.put("a", b"changed")
    store.put("b", b"2")
    store.discard()
    assert store.get("a") == b"1" and store.get("b") is None and store.pending == 0
    assert store.checkpoint == 7


def test_writes_not_checkpointed_are_gone_after_a_crash(opener: Opener) -> None:
    store = opener()
    store.put("a", b"1")
    store.commit(10)
    store.put("a", b"uncommitted")
    store.put("b", b"uncommitted")
    store.delete("a")
    # the process dies here: no commit, no discard, no close
    again = opener()
    assert again.checkpoint == 10
    assert dict(again.items()) == {"a": b"1"}


def test_commit_without_writes_moves_only_the_checkpoint(store: StateStore) -> None:
    store.commit(3)
    assert store.checkpoint == 3 and len(store) == 0
    store.commit(3)
    assert store.checkpoint == 3


def test_wipe_removes_everything_durably(opener: Opener) -> None:
    store = opener()
    store.put("a", b"1")
    store.commit(9)
    store.put("b", b"2")
    store.wipe()
    assert store.checkpoint is None and len(store) == 0 and store.pending == 0
    store.close()
    again = opener()
    assert again.checkpoint is None and len(again) == 0


def test_binary_values_and_unicode_keys_round_trip(opener: Opener) -> None:
    store = opener()
    store.put("cred|he:FI1:Kovács Éva\uffff", bytes(range(256)))
    store.commit(1)
    store.close()
    again = opener()
    assert again.get("cred|he:FI1:Kovács Éva\uffff") == bytes(range(256))
    assert again.count("cred|") == 1


def test_open_store_puts_the_sqlite_file_per_task(tmp_path: Path) -> None:
    path = store_path(tmp_path, "decide", "canon.decide.requests", 0)
    assert path == tmp_path / "state" / "decide" / "canon.decide.requests-0.sqlite"
    store = open_store("sqlite", tmp_path, "decide", "canon.decide.requests", 0)
    try:
        assert isinstance(store, SqliteStore) and path.exists()
    finally:
        store.close()
    assert isinstance(open_store("memory", tmp_path, "decide", "t", 0), MemoryStore)


def test_prefetched_reads_equal_plain_reads_until_the_durable_part_changes(
    opener: Opener,
) -> None:
    store = opener()
    for n in range(1200):  # more keys than one SQLite IN (...) query takes
        store.put(f"k{n:04d}", f"v{n}".encode())
    store.commit(10)
    store.put("k0001", b"pending")
    store.delete("k0002")
    keys = [f"k{n:04d}" for n in range(0, 1300, 1)]
    plain = {key: store.get(key) for key in keys}
    store.prefetch([*keys, *keys[:50]])  # duplicates are fine
    assert {key: store.get(key) for key in keys} == plain
    assert store.get("k0001") == b"pending" and store.get("k0002") is None
    assert store.get("k1250") is None  # absent keys are remembered as absent
    store.put("k1250", b"new")  # a later write wins over the prefetched absence
    assert store.get("k1250") == b"new"
    store.commit(11)
    other = opener()  # a second handle changes the durable part behind the first
    other.put("k0003", b"changed elsewhere")
    other.commit(12)
    other.close()
    assert store.get("k0003") == b"changed elsewhere"  # commit dropped the read-ahead

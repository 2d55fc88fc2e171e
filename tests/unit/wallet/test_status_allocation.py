"""The persistent status lists: idempotent, non-colliding allocation; revocation; re-signing."""

from __future__ import annotations

import itertools
import random
import threading
from pathlib import Path

import pytest

from connectors.status import SqliteStatusStore, StatusPublisher
from hub.crypto.statuslist import MIN_BITS, StatusListState, status_in_list
from hub.crypto.vcjwt import verify_vc
from tests.unit.wallet.issuing_support import STATUS_BASE, DevSeal, dev_seal, publisher


@pytest.fixture(scope="module")
def seal(tmp_path_factory: pytest.TempPathFactory) -> DevSeal:
    return dev_seal(tmp_path_factory.mktemp("keys"))


def test_same_credential_gets_the_same_entry_back(seal: DevSeal, tmp_path: Path) -> None:
    db = tmp_path / "status.db"
    first = publisher(seal, db)
    ref = first.allocate("cred-1")
    assert ref.list_url == f"{STATUS_BASE}/1" and 0 <= ref.index < MIN_BITS
    assert first.allocate("cred-1") == ref
    # a second process (another store on the same file) sees the same allocation
    assert publisher(seal, db).allocate("cred-1") == ref
    assert publisher(seal, db).allocate("cred-2") != ref


def test_indexes_never_collide_even_when_the_draws_do(seal: DevSeal) -> None:
    draws = itertools.chain([7, 7, 7], itertools.repeat(7))  # every draw hits index 7
    pub = StatusPublisher(
        SqliteStatusStore(":memory:"), seal.signer, STATUS_BASE, randbelow=lambda n: next(draws)
    )
    first, second = pub.allocate("a"), pub.allocate("b")
    assert first.index == 7
    assert second.index != 7  # fell back to choosing among the free indexes
    assert {e.credential_id for e in pub.store.entries("1")} == {"a", "b"}


def test_random_allocation_is_spread_and_unique(seal: DevSeal) -> None:
    pub = publisher(seal)
    indexes = [pub.allocate(f"cred-{i}").index for i in range(500)]
    assert len(set(indexes)) == 500
    assert indexes != sorted(indexes)  # random order, reveals nothing about issuance order


def test_concurrent_writers_on_one_file_never_share_an_index(
    seal: DevSeal, tmp_path: Path
) -> None:
    db = tmp_path / "status.db"
    results: dict[str, int] = {}
    lock = threading.Lock()

    def work(name: str) -> None:
        pub = publisher(seal, db)
        for i in range(150):
            ref = pub.allocate(f"{name}-{i}")
            with lock:
                results[f"{name}-{i}"] = ref.index
        pub.store.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in ("p", "q", "r")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 450 and len(set(results.values())) == 450
    assert len(SqliteStatusStore(db).entries("1")) == 450


def test_a_full_list_rolls_over_to_the_next(seal: DevSeal) -> None:
    pub = publisher(seal)
    pub.allocate("first")
    state = pub.store.get("1")
    assert state is not None
    state.allocated = set(range(state.size))
    pub.store.put(state)
    ref = pub.allocate("overflow")
    assert ref.list_url == f"{STATUS_BASE}/2"
    assert pub.store.list_ids() == ["1", "2"]
    assert pub.signed("2")  # the new list is published at once


def test_revocation_sets_the_bit_once_and_re_signs(seal: DevSeal) -> None:
    pub = publisher(seal)
    ref = pub.allocate("cred-1")
    other = pub.allocate("cred-2")
    before = pub.store.signed("1")
    assert before is not None
    revoked_ref, changed = pub.revoke("cred-1", "DATA_ERROR")
    assert revoked_ref == ref and changed
    after = pub.store.signed("1")
    assert after is not None and after.version > before.version
    listed = verify_vc(after.token, seal.keys, anchors=seal.anchors).credential
    assert listed["id"] == f"{STATUS_BASE}/1"
    assert status_in_list(listed, ref.index, "revocation")
    assert not status_in_list(listed, other.index, "revocation")
    # idempotent: a redelivered revocation changes nothing and signs nothing
    assert pub.revoke("cred-1", "DATA_ERROR") == (ref, False)
    assert pub.store.signed("1") == after
    [entry] = [e for e in pub.store.entries("1") if e.credential_id == "cred-1"]
    assert entry.reason == "DATA_ERROR" and entry.revoked_at
    assert pub.is_revoked("cred-1") and not pub.is_revoked("cred-2")


def test_revoking_an_unknown_credential_allocates_a_set_entry(seal: DevSeal) -> None:
    pub = publisher(seal)
    ref, changed = pub.revoke("never-sent", "FRAUD")
    assert changed and pub.is_revoked("never-sent")
    assert pub.allocate("never-sent") == ref  # a later rendering shows it revoked


def test_store_is_a_status_list_store(seal: DevSeal) -> None:
    store = SqliteStatusStore(":memory:")
    state = StatusListState("9", allocated={1, 2, 3})
    state.bits[0] = 0x40
    store.put(state)
    back = store.get("9")
    assert back is not None
    assert (back.allocated, back.bits[0], back.purpose) == ({1, 2, 3}, 0x40, "revocation")
    assert store.stale_lists() == ["9"]  # never signed


# --- allocate_many: a delivery batch's entries in one transaction ----------------------


def _commits(store: SqliteStatusStore) -> list[str]:
    """The COMMIT statements the store's connection runs from now on."""
    seen: list[str] = []
    store._conn.set_trace_callback(
        lambda sql: seen.append(sql) if sql.strip().upper() == "COMMIT" else None
    )
    return seen


def _seeded(seal: DevSeal) -> StatusPublisher:
    """A publisher whose draws repeat (the same seed each time)."""
    draws = random.Random(13)
    return StatusPublisher(
        SqliteStatusStore(":memory:"), seal.signer, STATUS_BASE, randbelow=draws.randrange
    )


def test_allocate_many_gives_what_allocate_gives_one_by_one(seal: DevSeal) -> None:
    ids = [f"cred-{i}" for i in range(300)]
    one_by_one = _seeded(seal)
    expected = {c: one_by_one.allocate(c) for c in ids}
    many = _seeded(seal)
    assert many.allocate_many(ids) == expected
    assert [(e.index, e.credential_id) for e in many.store.entries("1")] == [
        (e.index, e.credential_id) for e in one_by_one.store.entries("1")
    ]


def test_allocate_many_rolls_over_a_full_list_as_allocate_does(seal: DevSeal) -> None:
    ids = [f"cred-{i}" for i in range(20)]
    free = [MIN_BITS - 1 - i for i in range(5)]  # list 1 keeps five entries free

    def scripted() -> StatusPublisher:
        draws = itertools.chain([0], free, itertools.count(100))  # 0: "first"
        return StatusPublisher(
            SqliteStatusStore(":memory:"), seal.signer, STATUS_BASE,
            randbelow=lambda n: next(draws),
        )

    one_by_one, many = scripted(), scripted()
    for pub in (one_by_one, many):
        pub.allocate("first")
        state = pub.store.get("1")
        assert state is not None
        state.allocated = set(range(state.size)) - set(free)
        pub.store.put(state)
    expected = {c: one_by_one.allocate(c) for c in ids}
    got = many.allocate_many(ids)
    assert got == expected
    assert [r.index for r in got.values() if r.list_url == f"{STATUS_BASE}/1"] == free
    assert sum(r.list_url == f"{STATUS_BASE}/2" for r in got.values()) == 15
    assert many.signed("2")  # the new list is published at once


def test_allocate_many_is_idempotent_and_one_commit(seal: DevSeal, tmp_path: Path) -> None:
    db = tmp_path / "status.db"
    pub = publisher(seal, db)
    before = pub.allocate("old")
    commits = _commits(pub.store)
    refs = pub.allocate_many(["a", "b", "old", "a", "c"])
    assert list(refs) == ["a", "b", "old", "c"]  # in order, each once
    assert refs["old"] == before
    assert len({r.index for r in refs.values()}) == 4
    assert len(commits) == 1  # the three new entries, one transaction
    assert pub.allocate_many(["c", "b", "a"]) == {k: refs[k] for k in ("c", "b", "a")}
    for credential_id, ref in refs.items():
        assert pub.allocate(credential_id) == ref  # found in memory now
    assert len(commits) == 1
    # another process (another store on the file) finds the same entries
    other = publisher(seal, db)
    other_commits = _commits(other.store)
    assert other.allocate_many(["a", "b", "c", "old"]) == refs
    assert other_commits == []


def test_allocate_many_of_nothing_writes_nothing(seal: DevSeal) -> None:
    pub = publisher(seal)
    commits = _commits(pub.store)
    assert pub.allocate_many([]) == {}
    assert commits == [] and pub.store.list_ids() == []


def test_entries_are_kept_in_memory_once_known(seal: DevSeal, tmp_path: Path) -> None:
    pub = publisher(seal, tmp_path / "status.db")
    ref = pub.allocate("cred-1")
    pub.store.close()  # the database is not asked again
    assert pub.allocate("cred-1") == ref
    assert pub.allocate_many(["cred-1"]) == {"cred-1": ref}

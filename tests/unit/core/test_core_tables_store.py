"""StateTables over a durable store: same decisions, holds found without a scan, a
bounded cache, and a restore from changelog bytes."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from hub.core import CredentialEntry, StateTables
from hub.core.tables import HOLD_PREFIX
from hub.stream.store import SqliteStore
from tests.unit.core.core_support import T0, enrolment, issuance, revocation

pytestmark = pytest.mark.unit

TTL = timedelta(days=7)


def test_decisions_over_sqlite_equal_decisions_in_memory(tmp_path: Path) -> None:
    steps = [
        revocation(key="he:R1"),
        issuance(cred="he:FI1:C2", key="he:E2"),
        enrolment(),
        issuance(),
        issuance(),
        revocation(cred="he:FI1:C3", key="he:R3"),
    ]
    store = SqliteStore(tmp_path / "t.sqlite")
    on_disk, in_memory = StateTables(store=store, cache_size=1), StateTables()
    for event in steps:
        assert on_disk.process(event, now=T0) == in_memory.process(event, now=T0)
    assert on_disk == in_memory
    assert on_disk.with_holds == in_memory.with_holds == {"he:FI1:C3"}
    store.close()


def test_holds_survive_a_reopen_and_the_sweep_finds_them(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    store = SqliteStore(path)
    tables = StateTables(store=store)
    tables.process(revocation(cred="he:FI1:C9", key="he:R9"), now=T0)
    for i in range(50):
        tables.process(issuance(cred=f"he:FI1:X{i}", key=f"he:X{i}"), now=T0)
    store.commit(60)
    store.close()

    store = SqliteStore(path)
    reopened = StateTables(store=store)
    assert reopened.with_holds == {"he:FI1:C9"}
    assert len(reopened.credentials) == 51
    changes = reopened.sweep(now=T0 + TTL, ttl=TTL)
    assert [f.outcome for c in changes for f in c.follow_ups] == ["reject"]
    assert reopened.with_holds == frozenset() and "he:FI1:C9" not in reopened.credentials
    assert store.get(HOLD_PREFIX + "he:FI1:C9") is None
    store.close()


def test_load_applies_changelog_bytes_and_spots_holds(tmp_path: Path) -> None:
    source = StateTables()
    source.process(revocation(key="he:R1"), now=T0)
    source.process(issuance(cred="he:FI1:C2", key="he:E2"), now=T0)
    store = SqliteStore(tmp_path / "t.sqlite")
    restored = StateTables(store=store)
    for key, value in source.kv.items():
        if not key.startswith(HOLD_PREFIX):
            assert restored.load(key, value)
    assert not restored.load("chain|0", b"{}")
    assert restored == source and restored.with_holds == {"he:FI1:C1"}
    # the issuance releases the hold: a new changelog value without holds
    source.process(issuance(), now=T0)
    restored.load("cred|he:FI1:C1", source.kv.get("cred|he:FI1:C1"))
    assert restored.with_holds == frozenset()
    restored.load("cred|he:FI1:C2", None)  # a tombstone
    assert "he:FI1:C2" not in restored.credentials
    store.close()


def test_no_holds_marker_matches_the_json_of_states_without_holds() -> None:
    # held is the last field of CredentialEntry: its JSON ends with "held":[]} exactly
    # when there are none, even if a held event's record had a "held" member itself
    tables = StateTables()
    tables.process(issuance(), now=T0)
    issued = tables.kv.get("cred|he:FI1:C1")
    assert issued is not None and issued.endswith(b'"held":[]}')
    assert list(CredentialEntry.model_fields)[-1] == "held"
    event = revocation(cred="he:FI1:C5", key="he:R5")
    event = dataclasses.replace(event, record={**event.record, "held": []})
    tables.process(event, now=T0)
    data = tables.kv.get("cred|he:FI1:C5")
    assert data is not None and b'"held":[]' in data and not data.endswith(b'"held":[]}')
    fresh = StateTables()
    fresh.load("cred|he:FI1:C5", data)
    assert fresh.with_holds == {"he:FI1:C5"}


def test_the_cache_of_decoded_entries_is_bounded() -> None:
    tables = StateTables(cache_size=8)
    for i in range(100):
        tables.process(issuance(cred=f"he:FI1:C{i}", key=f"he:E{i}"), now=T0)
    assert len(tables.credentials._cache) == 8 and len(tables.index._cache) == 8
    assert len(tables.credentials) == 100 and tables.credentials["he:FI1:C0"].status == "active"


def test_discarded_writes_leave_no_trace_in_fresh_tables(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "t.sqlite")
    tables = StateTables(store=store)
    tables.process(issuance(), now=T0)
    store.commit(3)
    tables.process(revocation(cred="he:FI1:C7", key="he:R7"), now=T0)
    store.discard()
    again = StateTables(store=store)
    assert list(again.credentials) == ["he:FI1:C1"] and again.with_holds == frozenset()
    store.close()

"""One contract test suite for every learner key store adapter: memory, SQLite and
PostgreSQL (Debian's server, started by the register tests' cluster helper; that
parameter is in the integration tier)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.errors import ConfigurationError
from hub.privacy.keystore import (
    ERASED,
    LearnerKeyStore,
    MemoryLearnerKeys,
    PostgresLearnerKeys,
    SqliteLearnerKeys,
    key_store_location,
    open_key_store,
)
from hub.settings import Settings

KEK = b"k" * 32
AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
A, B = "lk1-" + "a" * 26, "lk1-" + "b" * 26


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    from tests.integration.register.postgres_cluster import shared_cluster

    with shared_cluster() as dsn:
        yield dsn


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LearnerKeyStore]:
    if request.param == "postgresql":
        from tests.integration.register.postgres_cluster import fresh_schema

        with fresh_schema(request.getfixturevalue("postgres_dsn")) as dsn:
            made: LearnerKeyStore = PostgresLearnerKeys(dsn, KEK)
            yield made
            made.close()
        return
    made = MemoryLearnerKeys() if request.param == "memory" else SqliteLearnerKeys(
        tmp_path / "learners.db", KEK)
    yield made
    made.close()


def test_current_is_made_once_and_found_by_id(store: LearnerKeyStore) -> None:
    first = store.current(A)
    assert len(first.key) == 32 and first.pseudonym == A
    assert store.current(A) == first
    assert store.get(A, first.kid) == first
    assert store.current(B).key != first.key
    assert store.get(A, "0" * 16) is None  # never held: not an erasure
    assert store.get(B, first.kid) is None  # a key id belongs to its learner only


def test_erase_destroys_every_key_and_is_recorded(store: LearnerKeyStore) -> None:
    old = store.current(A)
    other = store.current(B)
    reason = "Art. 17 request 2026-17"
    erasure = store.erase(A, reason=reason, at=AT)
    assert (erasure.keys_destroyed, erasure.reason, erasure.erased_at) == (1, reason, AT)
    assert store.get(A, old.kid) == ERASED
    assert store.get(B, other.kid) == other  # nobody else's data goes
    new = store.current(A)  # data after the erasure gets a new key
    assert new.kid != old.kid and new.key != old.key
    assert store.get(A, old.kid) == ERASED
    described = store.describe(A)
    assert [kid for kid, _ in described.active] == [new.kid]
    assert [e.reason for e in described.erasures] == ["Art. 17 request 2026-17"]
    assert store.erase("lk1-" + "c" * 26, reason="none held", at=AT).keys_destroyed == 0


def test_sqlite_store_survives_a_restart_and_keeps_keys_wrapped(tmp_path: Path) -> None:
    path = tmp_path / "learners.db"
    store = SqliteLearnerKeys(path, KEK)
    key = store.current(A)
    store.erase(B, reason="r", at=AT)
    store.close()
    again = SqliteLearnerKeys(path, KEK)
    assert again.get(A, key.kid) == key
    assert [e.reason for e in again.describe(B).erasures] == ["r"]
    again.close()
    raw = path.read_bytes() + (tmp_path / "learners.db-wal").read_bytes() if (
        tmp_path / "learners.db-wal").exists() else path.read_bytes()
    assert key.key not in raw  # at rest only wrapped
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(ConfigurationError, match="MCHUB_LEARNER_KEK"):
        SqliteLearnerKeys(path, b"another kek, 32 bytes long......").get(A, key.kid)


def test_sqlite_erasure_leaves_no_wrapped_key_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "learners.db"
    store = SqliteLearnerKeys(path, KEK)
    kid = store.current(A).kid
    wrapped = sqlite3.connect(path).execute(
        "SELECT wrapped FROM learner_keys WHERE kid = ?", (kid,)).fetchone()[0]
    store.erase(A, reason="r", at=AT)
    store.close()
    files = [p for p in tmp_path.iterdir() if p.name.startswith("learners.db")]
    assert all(wrapped not in p.read_bytes() for p in files)


def test_deployment_store_is_under_the_keys_directory(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert key_store_location(settings) == str(tmp_path / "keys" / "learners.db")
    store = open_key_store(settings)
    key = store.current(A)
    store.close()
    assert open_key_store(settings).get(A, key.kid) == key  # the KEK file is kept


def test_two_connections_to_one_store_agree_on_the_learner_key(
    store: LearnerKeyStore, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two processes asking for a new learner's key at once get the same one."""
    if isinstance(store, MemoryLearnerKeys):
        pytest.skip("one process only")
    from concurrent.futures import ThreadPoolExecutor

    if isinstance(store, SqliteLearnerKeys):
        other: LearnerKeyStore = SqliteLearnerKeys(store.path, KEK)  # type: ignore[arg-type]
    else:
        assert isinstance(store, PostgresLearnerKeys)
        other = PostgresLearnerKeys(store.conninfo, KEK)
    try:
        with ThreadPoolExecutor(2) as pool:
            keys = list(pool.map(lambda s: s.current(A), [store, other]))
        assert keys[0] == keys[1]
    finally:
        other.close()

"""Fixtures of the register's store tests: every adapter behind one ``register_store``.

The SQLite case is a file in the test's tmp dir (unit tier). The PostgreSQL case is
marked ``integration``: a throw-away cluster shared by the session (or
``MCHUB_TEST_POSTGRES_DSN``), with a fresh schema per test; see
``tests/integration/register/postgres_cluster.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mchub_reference.register.store import RegisterStore
from tests.integration.register.postgres_cluster import fresh_schema, shared_cluster


@pytest.fixture(scope="session")
def register_postgres_dsn() -> Iterator[str]:
    """DSN of the session's test PostgreSQL (started on first use, stopped at the end)."""
    with shared_cluster() as dsn:
        yield dsn


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def register_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RegisterStore]:
    """An empty register store of each adapter."""
    store: RegisterStore
    if request.param == "sqlite":
        from mchub_reference.register.sqlite_store import SqliteRegisterStore

        store = SqliteRegisterStore(tmp_path / "register.db")
        try:
            yield store
        finally:
            store.close()
        return
    from mchub_reference.register.postgres_store import PostgresRegisterStore

    dsn: str = request.getfixturevalue("register_postgres_dsn")
    with fresh_schema(dsn) as schema_dsn:
        store = PostgresRegisterStore(schema_dsn)
        try:
            yield store
        finally:
            store.close()

"""Fixtures of the register's HTTP tests: the real service on a free loopback port.

``register_url`` runs it over a SQLite file in the test's tmp dir with a bearer token
(:data:`TOKEN`); ``register_url_any`` also over PostgreSQL (a throw-away cluster shared
by the session, fresh schema per test; see ``postgres_cluster.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mchub_reference.register.service import running_register
from tests.integration.register.postgres_cluster import fresh_schema, shared_cluster

#: the bearer token the test registers are configured with
TOKEN = "test-register-token"


@pytest.fixture(scope="session")
def register_postgres_dsn() -> Iterator[str]:
    """DSN of the session's test PostgreSQL (started on first use, stopped at the end)."""
    with shared_cluster() as dsn:
        yield dsn


@pytest.fixture
def register_url(tmp_path: Path) -> Iterator[str]:
    """Base URL of a register over SQLite that requires :data:`TOKEN`."""
    with running_register(f"sqlite:///{tmp_path}/register.db", token=TOKEN) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def register_url_any(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Base URL of a register over each store adapter, requiring :data:`TOKEN`."""
    if request.param == "sqlite":
        with running_register(f"sqlite:///{tmp_path}/register.db", token=TOKEN) as url:
            yield url
        return
    dsn: str = request.getfixturevalue("register_postgres_dsn")
    with fresh_schema(dsn) as schema_dsn, running_register(schema_dsn, token=TOKEN) as url:
        yield url


@pytest.fixture
def client(register_url: str) -> Iterator[httpx.Client]:
    """An HTTP client of ``register_url`` that sends the bearer token."""
    with httpx.Client(base_url=register_url, timeout=10,
                      headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        yield http

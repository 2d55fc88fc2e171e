"""Open the register store a database URL names (SQLite built in, PostgreSQL optional).

The PostgreSQL adapter is imported only for a PostgreSQL URL, so a core install (no
``[reference]`` extra, hence no psycopg) still runs the reference register on SQLite.
"""

from __future__ import annotations

from hub.errors import ConfigurationError
from mchub_reference.register.sqlite_store import SqliteRegisterStore
from mchub_reference.register.store import RegisterStore


def open_store(db_url: str) -> RegisterStore:
    """Open the store a URL names: ``sqlite:///path`` or ``postgresql://…``.

    ``sqlite:///var/register.db`` is relative to the working directory,
    ``sqlite:////abs/register.db`` absolute; ``sqlite:///:memory:`` is private to the
    process. Any libpq URL (``postgresql://`` or ``postgres://``) selects PostgreSQL.
    """
    if db_url.startswith("sqlite:///"):
        return SqliteRegisterStore(db_url.removeprefix("sqlite:///"))
    if db_url.startswith(("postgresql://", "postgres://")):
        # psycopg comes with the [reference] extra
        from mchub_reference.register.postgres_store import PostgresRegisterStore

        return PostgresRegisterStore(db_url)
    raise ConfigurationError(
        f"unsupported register database URL {db_url!r}: use sqlite:///PATH or postgresql://…")

"""Stock parts load the register without code: Kafka Connect (standalone, from Maven
Central, the broker's version) with Debezium's JDBC sink reads the hub's typed register
tables (``register.*.table``, JSON with schema) into PostgreSQL (Debian's), and the
tables equal the reference register's state for the same events — revocations
included, and a learner's erasure deletes the rows.

The hub side is the real one: ingest, decide and the register-state projection on the
session broker over the sample feeds; the reference register applies the same events
from ``register.credentials.state`` (its own consumer code path).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from connectors.fanout.state import register_state_stage
from connectors.register.models import CredentialState
from hub.audit.learners import _tombstone_register_state
from hub.publish import publish, sample_messages
from hub.settings import Settings
from hub.stream.reading import read_all
from hub.topics import (
    REGISTER_AWARDING_BODIES,
    REGISTER_CREDENTIALS_TABLE,
    REGISTER_LEARNING_OUTCOMES,
    REGISTER_STATE,
    REGISTER_TABLES,
    REGISTER_TITLES,
)
from mchub_reference.register.backends import open_store
from mchub_reference.register.consumer import apply_state_record
from tests.integration.register.postgres_cluster import fresh_schema, shared_cluster
from tests.support import shared_dir
from tests.support_connect import (
    JDBC_SINK_CLASS,
    postgres_jdbc,
    running_connect,
    security_properties,
    wait_until,
)
from tests.support_kafka import core_stream

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SAMPLES = shared_dir() / "feeds" / "samples"
#: credentials of the sample feeds (their 25 events hold 10 credentials, the rest are
#: revocations and enrolments)
SAMPLE_CREDENTIALS = 10


@pytest.fixture
def schema_dsn() -> Iterator[str]:
    with shared_cluster() as dsn, fresh_schema(dsn) as scoped:
        yield scoped


@pytest.fixture
async def projected(applied_settings: Settings, tmp_path: Path) -> AsyncIterator[Settings]:
    """The sample feeds through the real core stream and register projection."""
    settings = applied_settings.model_copy(update={"data_dir": tmp_path / "data"})
    async with core_stream(settings, register_state_stage(settings)):
        await publish(settings, sample_messages(SAMPLES))
        for _ in range(600):
            state = await read_all(settings, settings.topic(REGISTER_STATE))
            rows = await read_all(settings, settings.topic(REGISTER_CREDENTIALS_TABLE))
            if len(state) >= SAMPLE_CREDENTIALS and len(rows) == len(state):
                break
            await asyncio.sleep(0.1)
        yield settings

def table_name(settings: Settings, logical: str) -> str:
    """The table the sink makes of a topic (``${topic}``, dots as underscores)."""
    return settings.topic(logical).replace(".", "_")


def fetch(dsn: str, table: str, columns: str, order: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,):
            return []
        return conn.execute(f"SELECT {columns} FROM {table} ORDER BY {order}").fetchall()


def expected_rows(states: list[CredentialState]) -> list[tuple[Any, ...]]:
    """The flat rows a register operator expects, written from the reference register's
    state (the JSON it serves), not from the hub's table code."""
    rows = []
    for s in sorted(states, key=lambda s: s.credential_id):
        c = s.credential
        workload = c["notionalWorkload"]
        rows.append((
            s.credential_id, s.credential_key, s.status, s.learner.education_id,
            c["title"]["hu"], dt.date.fromisoformat(c["dateOfIssuing"]),
            Decimal(str(workload["ects"])).quantize(Decimal("0.01")),
            Decimal(str(workload["hours"])).quantize(Decimal("0.01")),
            c["awardingBodies"][0]["name"],
            None if s.revocation is None else s.revocation.reason,
            None if s.revocation is None else s.revocation.revoked_on,
        ))
    return rows


ROW_COLUMNS = ("credential_id, credential_key, status, education_id, title_hu, "
               "date_of_issuing, ects, hours, primary_awarding_body_name, "
               "revocation_reason, revoked_on")


def expected_children(states: list[CredentialState]) -> dict[str, list[tuple[Any, ...]]]:
    titles, bodies, outcomes = [], [], []
    for s in states:
        c = s.credential
        titles += [(s.credential_id, lang, text) for lang, text in c["title"].items()]
        bodies += [(s.credential_id, n, b["name"], b["scheme"])
                   for n, b in enumerate(c["awardingBodies"])]
        outcomes += [(s.credential_id, n, o["text"])
                     for n, o in enumerate(c["learningOutcomes"])]
    return {REGISTER_TITLES: sorted(titles), REGISTER_AWARDING_BODIES: sorted(bodies),
            REGISTER_LEARNING_OUTCOMES: sorted(outcomes)}


CHILD_COLUMNS = {
    REGISTER_TITLES: ("credential_id, language, title", "1, 2"),
    REGISTER_AWARDING_BODIES: ("credential_id, position, name, scheme", "1, 2"),
    REGISTER_LEARNING_OUTCOMES: ("credential_id, position, text", "1, 2"),
}


async def test_connect_and_a_stock_jdbc_sink_load_the_register_state_into_postgres(
    projected: Settings, schema_dsn: str, tmp_path: Path
) -> None:
    settings = projected
    # the reference register, fed from the state topic by its own consumer code
    store = open_store(f"sqlite:///{tmp_path}/register.db")
    records = await read_all(settings, settings.topic(REGISTER_STATE))
    for record in records:
        apply_state_record(store, record.key, record.value)
    ids = sorted({bytes(r.key).decode() for r in records if r.key is not None})
    states = [s for s in (store.get_credential(cid) for cid in ids) if s is not None]
    assert len(states) == len(ids) == SAMPLE_CREDENTIALS
    assert any(s.status == "revoked" for s in states)

    sink = {
        "name": "register-jdbc-sink",
        "connector.class": JDBC_SINK_CLASS,
        "tasks.max": "1",
        "topics": ",".join(settings.topic(t) for t in REGISTER_TABLES),
        **postgres_jdbc(schema_dsn),
        "insert.mode": "upsert",
        "primary.key.mode": "record_key",
        "delete.enabled": "true",
        "schema.evolution": "basic",
        "table.name.format": "${topic}",
    }
    rows_table = table_name(settings, REGISTER_CREDENTIALS_TABLE)
    with running_connect(settings.bootstrap, [sink], tmp_path / "connect",
                         client_security=security_properties(settings) or None) as worker:
        want_rows = expected_rows(states)
        want_children = expected_children(states)
        seen: dict[str, Any] = {}

        def loaded(rows: list[tuple[Any, ...]], children: dict[str, Any]) -> bool:
            seen["rows"] = fetch(schema_dsn, rows_table, ROW_COLUMNS, "1")
            for topic, (columns, order) in CHILD_COLUMNS.items():
                seen[topic] = fetch(schema_dsn, table_name(settings, topic), columns, order)
            return seen["rows"] == rows and all(seen[t] == children[t] for t in children)

        wait_until(lambda: loaded(want_rows, want_children), 120,
                   message=lambda: str(worker.fail(f"not loaded as expected: {seen}")))
        with psycopg.connect(schema_dsn) as conn:
            (scale,) = conn.execute(
                "SELECT numeric_scale FROM information_schema.columns WHERE table_name = %s"
                " AND column_name = 'ects'", (rows_table,)).fetchone() or (None,)
        assert scale == 2  # decimals keep their scale

        # a learner's erasure: the hub tombstones the rows, the register erases the learner
        learner = states[0].learner.education_id
        gone = [s.credential_id for s in states if s.learner.education_id == learner]
        await _tombstone_register_state(settings, gone)
        store.erase_learner(learner)
        remaining = [s for s in (store.get_credential(cid) for cid in ids) if s is not None]
        assert len(remaining) == len(states) - len(gone)
        wait_until(lambda: loaded(expected_rows(remaining), expected_children(remaining)), 120,
                   message=lambda: str(worker.fail(f"erasure not loaded: {seen}")))
    store.close()

"""Smoke test of the Kafka Connect harness (tests/support_connect.py): a stock standalone
worker with Debezium's JDBC sink loads two topics of JSON-with-schema records into a real
PostgreSQL (upserts by a struct key, a tombstone deletes, tables made by the connector)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hub.adapters.kafka import make_producer
from hub.settings import Settings
from hub.topics import TopicSpec, apply_topics
from tests.integration.register.postgres_cluster import fresh_schema, shared_cluster
from tests.support_connect import (
    JDBC_SINK_CLASS,
    postgres_jdbc,
    running_connect,
    security_properties,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EPOCH = dt.date(1970, 1, 1)


# -- Kafka Connect's JSON-with-schema envelope -------------------------------------------


def field(name: str, type_: str, *, optional: bool = False,
          logical: dict[str, Any] | None = None) -> dict[str, Any]:
    """One struct field's schema (``logical``: the logical type's name, version, parameters)."""
    return {"field": name, "type": type_, "optional": optional, **(logical or {})}


def decimal_field(name: str, scale: int, *, optional: bool = False) -> dict[str, Any]:
    return field(name, "bytes", optional=optional,
                 logical={"name": "org.apache.kafka.connect.data.Decimal", "version": 1,
                          "parameters": {"scale": str(scale)}})


def date_field(name: str) -> dict[str, Any]:
    return field(name, "int32",
                 logical={"name": "org.apache.kafka.connect.data.Date", "version": 1})


def timestamp_field(name: str) -> dict[str, Any]:
    return field(name, "int64",
                 logical={"name": "org.apache.kafka.connect.data.Timestamp", "version": 1})


def struct(name: str, *fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": "struct", "name": name, "optional": False, "fields": list(fields)}


def envelope(schema: dict[str, Any], payload: dict[str, Any] | None) -> bytes:
    return json.dumps({"schema": schema, "payload": payload}).encode()


def decimal_payload(value: Decimal, scale: int) -> str:
    """Base64 of the big-endian two's-complement unscaled value (7.50, scale 2 -> 750)."""
    unscaled = int(value.scaleb(scale))
    size = max(1, (unscaled.bit_length() + 8) // 8)  # room for the sign bit
    return base64.b64encode(unscaled.to_bytes(size, "big", signed=True)).decode()


def days(date: dt.date) -> int:
    return (date - EPOCH).days


def millis(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


ROW_KEY = struct("rows.Key", field("credentialId", "string"))
ROW_VALUE = struct(
    "rows.Value",
    field("holder", "string"),
    field("note", "string", optional=True),
    field("copies", "int32"),
    field("active", "boolean"),
    decimal_field("fee", 2),
    date_field("issued"),
    timestamp_field("updatedAt"),
)
CHILD_KEY = struct("children.Key", field("credentialId", "string"), field("position", "int32"))
CHILD_VALUE = struct("children.Value", field("label", "string"),
                     field("comment", "string", optional=True))

ISSUED = dt.date(2026, 3, 14)
UPDATED = dt.datetime(2026, 3, 14, 9, 30, 15, 123000, tzinfo=dt.UTC)
#: what PostgreSQL holds of it: ``timestamp without time zone``, the UTC wall clock
UPDATED_UTC = UPDATED.replace(tzinfo=None)


def row(credential: str, holder: str, copies: int, fee: Decimal | float,
        *, note: str | None = None, fee_as_number: bool = False) -> tuple[bytes, bytes]:
    value = {"holder": holder, "note": note, "copies": copies, "active": copies > 1,
             "fee": fee if fee_as_number else decimal_payload(Decimal(fee), 2),
             "issued": days(ISSUED), "updatedAt": millis(UPDATED)}
    return envelope(ROW_KEY, {"credentialId": credential}), envelope(ROW_VALUE, value)


def child(credential: str, position: int, label: str,
          comment: str | None) -> tuple[bytes, bytes]:
    return (envelope(CHILD_KEY, {"credentialId": credential, "position": position}),
            envelope(CHILD_VALUE, {"label": label, "comment": comment}))


# -- the test ------------------------------------------------------------------------------


@pytest.fixture
def schema_dsn() -> Iterator[str]:
    """A DSN of a fresh, empty schema of the test PostgreSQL."""
    with shared_cluster() as dsn, fresh_schema(dsn) as scoped:
        yield scoped


async def produce(settings: Settings, records: list[tuple[str, bytes, bytes | None]]) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        for topic, key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def table(dsn: str, name: str, order: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()
        if exists is None or exists[0] is None:
            return []
        return conn.execute(f'SELECT * FROM "{name}" ORDER BY {order}').fetchall()


def column_types(dsn: str, name: str) -> dict[str, str]:
    """Column name -> SQL type (``format_type``) of table ``name``."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            (name,)).fetchall()
    return dict(rows)


async def test_jdbc_sink_upserts_and_deletes_by_struct_key(
    settings: Settings, schema_dsn: str, tmp_path: Path
) -> None:
    rows_topic, children_topic = settings.topic("connect.rows"), settings.topic("connect.children")
    await apply_topics(settings, [TopicSpec("connect.rows", "harness test"),
                                  TopicSpec("connect.children", "harness test")])
    # table.name.format: ${topic} with its dots replaced by underscores
    rows_table, children_table = (t.replace(".", "_") for t in (rows_topic, children_topic))
    sink = {
        "name": "jdbc-sink",
        "connector.class": JDBC_SINK_CLASS,
        "tasks.max": "1",
        "topics": f"{rows_topic},{children_topic}",
        **postgres_jdbc(schema_dsn),
        "insert.mode": "upsert",
        "primary.key.mode": "record_key",
        "delete.enabled": "true",
        "schema.evolution": "basic",
        "table.name.format": "${topic}",
    }
    await produce(settings, [
        (rows_topic, *row("c1", "Ana", 1, Decimal("7.50"))),
        (rows_topic, *row("c2", "Bo", 2, Decimal("-3.05"), note="second")),
        # a Decimal given as a JSON number (not base64) is read too; NUMERIC(38,2) scales it
        (rows_topic, *row("c3", "Cy", 3, 12.5, fee_as_number=True)),
        (rows_topic, *row("c1", "Ana Maria", 4, Decimal("7.50"))),   # upsert of c1
        (rows_topic, *row("c4", "Di", 1, Decimal("0.01"))),
        (rows_topic, envelope(ROW_KEY, {"credentialId": "c2"}), None),  # tombstone: delete c2
        # an envelope whose payload is null (schema optional) deletes too
        (rows_topic, envelope(ROW_KEY, {"credentialId": "c4"}),
         envelope({**ROW_VALUE, "optional": True}, None)),
        (children_topic, *child("c1", 0, "first", None)),
        (children_topic, *child("c1", 1, "second", "with a comment")),
    ])
    with running_connect(settings.bootstrap, [sink], tmp_path / "connect",
                         client_security=security_properties(settings) or None) as worker:
        expected_rows = [
            ("c1", "Ana Maria", None, 4, True, Decimal("7.50"), ISSUED, UPDATED_UTC),
            ("c3", "Cy", None, 3, True, Decimal("12.50"), ISSUED, UPDATED_UTC),
        ]
        expected_children = [("c1", 0, "first", None), ("c1", 1, "second", "with a comment")]
        seen: dict[str, object] = {}

        def loaded() -> bool:
            seen["rows"] = table(schema_dsn, rows_table, "1")
            seen["children"] = table(schema_dsn, children_table, "1, 2")
            seen["status"] = worker.status("jdbc-sink")
            return seen["rows"] == expected_rows and seen["children"] == expected_children

        wait_until(loaded, 60, message=lambda: str(worker.fail(f"not loaded: {seen}")))
    # Decimal("7.5") == Decimal("7.50"): the scale is checked on the text
    assert [str(fee) for *_, fee, _issued, _updated in table(schema_dsn, rows_table, "1")] == [
        "7.50", "12.50"]
    # tables made by the connector (schema.evolution=basic): unquoted, so lower-cased names
    assert column_types(schema_dsn, rows_table) == {
        "credentialid": "text", "holder": "text", "note": "text", "copies": "integer",
        "active": "boolean", "fee": "numeric(38,2)", "issued": "date",
        "updatedat": "timestamp(6) without time zone"}
    assert column_types(schema_dsn, children_table) == {
        "credentialid": "text", "position": "integer", "label": "text", "comment": "text"}

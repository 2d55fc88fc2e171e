"""The register's typed tables: Kafka Connect JSON-with-schema rows of a credential state.

Each payload must fit its schema the way Connect's JsonConverter reads it (every
field present, required ones non-null, types as declared, decimals base64 at scale 2).
Stock Connect + a JDBC sink loading them into PostgreSQL is proven in
tests/integration/connect/.
"""

from __future__ import annotations

import base64
import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.register.table import (
    ELEMENT_COLUMNS,
    TABLE_TOPICS,
    connect_decimal,
    table_records,
    table_tombstones,
)
from hub.topics import (
    REGISTER_AWARDING_BODIES,
    REGISTER_CREDENTIALS_TABLE,
    REGISTER_LEARNING_OUTCOMES,
    REGISTER_TITLES,
    declared_topics,
)
from tests.unit.register.register_support import elements, issued, revoked, sample_names

pytestmark = pytest.mark.unit

CONNECT_TYPES = {"string": str, "int32": int, "int64": int, "bytes": str, "boolean": bool}


def fits(schema: dict[str, Any], payload: dict[str, Any]) -> None:
    """Assert ``payload`` is what JsonConverter accepts for struct ``schema``."""
    assert schema["type"] == "struct"
    names = [f["field"] for f in schema["fields"]]
    assert sorted(payload) == sorted(names), set(payload) ^ set(names)
    for field in schema["fields"]:
        value = payload[field["field"]]
        if value is None:
            assert field["optional"], f"{field['field']} is required"
            continue
        assert isinstance(value, CONNECT_TYPES[field["type"]]), field


def unscaled(text: str) -> Decimal:
    return Decimal(int.from_bytes(base64.b64decode(text), "big", signed=True)).scaleb(-2)


def decode(records: list[tuple[str, bytes, bytes | None]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for topic, key, value in records:
        key_doc = json.loads(key)
        fits(key_doc["schema"], key_doc["payload"])
        assert value is not None
        doc = json.loads(value)
        fits(doc["schema"], doc["payload"])
        for column, part in key_doc["payload"].items():
            assert doc["payload"][column] == part  # the key columns are in the row too
        out.setdefault(topic, []).append(doc["payload"])
    return out


@pytest.mark.parametrize("name", sample_names())
def test_every_worked_example_becomes_typed_rows(name: str) -> None:
    change = issued(name=name)
    rows = decode(table_records(change))
    record = elements(name)
    (row,) = rows[REGISTER_CREDENTIALS_TABLE]
    assert row["credential_id"] == "cred-1"
    assert row["status"] == "active"
    assert row["title_hu"] == record["title"]["hu"]
    assert unscaled(row["ects"]) == Decimal(str(record["notionalWorkload"]["ects"]))
    assert unscaled(row["hours"]) == Decimal(str(record["notionalWorkload"]["hours"]))
    issued_on = date.fromisoformat(record["dateOfIssuing"])
    assert date(1970, 1, 1) + timedelta(days=row["date_of_issuing"]) == issued_on
    assert row["revocation_reason"] is None
    assert [b["name"] for b in rows[REGISTER_AWARDING_BODIES]] == [
        b["name"] for b in record["awardingBodies"]]
    assert [b["position"] for b in rows[REGISTER_AWARDING_BODIES]] == list(
        range(len(record["awardingBodies"])))
    assert [o["text"] for o in rows[REGISTER_LEARNING_OUTCOMES]] == [
        o["text"] for o in record["learningOutcomes"]]
    assert {t["language"]: t["title"] for t in rows[REGISTER_TITLES]} == record["title"]


def test_a_revocation_row_keeps_the_issued_elements_and_adds_why() -> None:
    issuance = issued()
    change = revoked().model_copy(update={"credential": issuance.credential})
    rows = decode(table_records(change))
    (row,) = rows[REGISTER_CREDENTIALS_TABLE]
    assert row["status"] == "revoked"
    assert row["revocation_reason"] == "DATA_ERROR"
    assert date(1970, 1, 1) + timedelta(days=row["revoked_on"]) == date(2025, 7, 1)
    assert row["title_hu"] == issuance.credential.title["hu"]  # type: ignore[union-attr]


def test_a_revocation_without_a_known_record_has_null_elements_and_no_children() -> None:
    rows = decode(table_records(revoked()))
    assert list(rows) == [REGISTER_CREDENTIALS_TABLE]
    (row,) = rows[REGISTER_CREDENTIALS_TABLE]
    assert all(row[column] is None for column in ELEMENT_COLUMNS)


def test_tombstones_cover_every_row_key_of_the_state() -> None:
    change = issued()
    written = table_records(change)
    gone = table_tombstones(change)
    assert [(t, k) for t, k, _ in gone] == [(t, k) for t, k, _ in written]
    assert all(v is None for _, _, v in gone)


def test_every_table_topic_is_declared_compacted() -> None:
    specs = {spec.name: spec for spec in declared_topics()}
    for topic in TABLE_TOPICS:
        assert specs[topic].cleanup_policy == "compact"


@given(st.decimals(min_value=Decimal("-99999.99"), max_value=Decimal("99999.99"), places=2))
def test_decimals_keep_their_value_at_scale_two(value: Decimal) -> None:
    text = connect_decimal(value)
    assert text is not None
    assert unscaled(text) == value


def test_a_decimal_finer_than_the_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="decimal places"):
        connect_decimal(Decimal("1.005"))

"""The push contract's models and the committed OpenAPI document."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from connectors.register.models import CredentialElements, CredentialPush
from hub.errors import ConfigurationError
from mchub_reference.register.backends import open_store
from mchub_reference.register.service import current_enrolments, openapi_document, render_openapi
from mchub_reference.register.sqlite_store import SqliteRegisterStore
from tests.unit.register.register_support import (
    HE_01,
    REPO_ROOT,
    elements,
    enrolment,
    issued,
    push_body,
    revoked,
    sample_names,
)

OPENAPI = REPO_ROOT / "docs" / "openapi" / "register.json"


@pytest.mark.parametrize("name", sample_names())
def test_every_worked_example_is_a_valid_record_and_round_trips(name: str) -> None:
    record = elements(name)
    assert CredentialElements.model_validate(record).wire() == record


def test_extra_elements_are_kept() -> None:
    record = {**elements(HE_01), "futureElement": {"x": 1}}
    assert CredentialElements.model_validate(record).wire()["futureElement"] == {"x": 1}


def _body(**changes: Any) -> dict[str, Any]:
    return {**push_body(issued()), **changes}


@pytest.mark.parametrize(("changes", "message"), [
    ({"status": "revoked"}, "must carry status 'active'"),
    ({"credential": None}, "must carry the credential record"),
    ({"revocation": {"reason": "OTHER", "revokedOn": "2025-07-01"}}, "must not carry"),
    ({"eventType": "revoked", "revocation": None, "status": "revoked"}, "must carry the revoc"),
    ({"eventType": "revoked"}, "must carry status 'revoked'"),
    ({"learner": {"educationId": "79498822908"}}, "differs from learner"),
    ({"occurredAt": "2025-06-30T14:05:00"}, "timezone"),
    ({"eventId": "no spaces allowed"}, "pattern"),
    ({"learner": {"educationId": "12345"}}, "pattern"),
])
def test_inconsistent_pushes_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CredentialPush.model_validate(_body(**changes))


def test_record_needs_the_mandatory_elements() -> None:
    record = elements(HE_01)
    del record["qualityAssurance"]
    with pytest.raises(ValidationError, match="qualityAssurance"):
        CredentialElements.model_validate(record)
    with pytest.raises(ValidationError, match="'hu'"):
        CredentialElements.model_validate({**elements(HE_01), "title": {"en": "x"}})


def test_a_revocation_may_repeat_the_record_and_unknown_members_are_ignored() -> None:
    body = {**push_body(revoked()), "credential": elements(HE_01), "futureMember": 1}
    push = CredentialPush.model_validate(body)
    assert push.credential is not None and push.revocation is not None


def test_current_enrolment_is_the_latest_per_programme() -> None:
    from connectors.register.models import EnrolmentRecord

    changes = [enrolment("a", "enrolled", "2025-02-01"), enrolment("b", "enrolled", "2025-02-02",
               programme="P2"), enrolment("c", "completed", "2025-06-01")]
    records = [EnrolmentRecord.model_validate({**c.wire(), "appliedAt": "2025-07-01T00:00:00Z"})
               for c in changes]
    assert [r.event_id for r in current_enrolments(records)] == ["b", "c"]


def test_committed_openapi_document_is_current() -> None:
    assert OPENAPI.read_text(encoding="utf-8") == render_openapi(), (
        "docs/openapi/register.json is stale: run `mchub register openapi`")


def test_openapi_document_publishes_the_contract() -> None:
    doc = openapi_document()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {
        "/credentials/{credentialId}", "/learners/{educationId}/enrolments/{eventId}",
        "/learners/{educationId}/credentials", "/learners/{educationId}/enrolments",
        "/verify/{credentialId}", "/healthz", "/changes", "/learners/{educationId}"}
    assert set(doc["paths"]["/learners/{educationId}"]) == {"delete"}
    batch = doc["paths"]["/changes"]["post"]
    assert {"200", "401", "422"} <= set(batch["responses"])
    assert {"ChangeBatch", "BatchResult", "BatchItemResult"} <= set(doc["components"]["schemas"])
    put = doc["paths"]["/credentials/{credentialId}"]["put"]
    assert {"200", "201", "400", "401", "409", "422"} <= set(put["responses"])
    assert "application/problem+json" in put["responses"]["409"]["content"]
    header = next(p for p in put["parameters"] if p["in"] == "header")
    assert (header["name"], header["required"]) == ("Idempotency-Key", True)
    schemas = doc["components"]["schemas"]
    assert {"CredentialPush", "CredentialElements", "EnrolmentPush", "Problem"} <= set(schemas)
    assert set(schemas["CredentialPush"]["required"]) >= {
        "eventId", "eventType", "occurredAt", "credentialKey", "learner", "status",
        "sourceSystem"}
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "security" not in doc["paths"]["/verify/{credentialId}"]["get"]
    json.dumps(doc)  # serialisable as is


def test_open_store_by_url(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/nested/register.db")
    try:
        assert isinstance(store, SqliteRegisterStore)
        assert (tmp_path / "nested" / "register.db").exists()
    finally:
        store.close()
    with pytest.raises(ConfigurationError, match="unsupported"):
        open_store("mysql://x")
    with pytest.raises(ConfigurationError, match="cannot connect to the register database"):
        open_store("postgresql://mchub@127.0.0.1:1/register")  # nothing listens on port 1


def test_sqlite_state_survives_a_restart_and_the_database_guards_it(tmp_path: Path) -> None:
    path = tmp_path / "register.db"
    store = SqliteRegisterStore(path)
    store.apply_change(issued("cred-1", "ev-1"))
    store.apply_change(revoked("cred-1", "ev-2"))
    store.close()
    reopened = SqliteRegisterStore(path)
    try:
        assert reopened.verify("cred-1").status == "revoked"
        assert reopened.apply_change(issued("cred-1", "ev-1")).status == "duplicate"
    finally:
        reopened.close()
    conn = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="revocation is final"):
            conn.execute("UPDATE credentials SET status = 'active'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM applied_events")
    finally:
        conn.close()

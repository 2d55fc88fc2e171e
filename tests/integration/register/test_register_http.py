"""The register's HTTP push contract and queries, against the real service."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx

from connectors.register.models import CredentialChange, CredentialState, EnrolmentChange
from mchub_reference.register.service import running_register
from mchub_reference.register.sqlite_store import SqliteRegisterStore
from tests.integration.register.conftest import TOKEN
from tests.unit.register.register_support import (
    HE_01,
    VET_01,
    education_id,
    elements,
    enrolment,
    enrolment_body,
    issued,
    push_body,
    revoked,
)

PROBLEM = "application/problem+json"


def _push(http: httpx.Client, change: CredentialChange, **headers: str) -> httpx.Response:
    return http.put(f"/credentials/{change.credential_id}", json=push_body(change),
                    headers={"Idempotency-Key": change.event_id, **headers})


def test_push_lifecycle_over_each_store(register_url_any: str) -> None:
    with httpx.Client(base_url=register_url_any, timeout=10,
                      headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        created = _push(http, issued("cred-1", "ev-1"))
        assert created.status_code == 201
        assert created.json() == {"status": "applied", "reason": None, "detail": None,
                                  "eventId": "ev-1", "created": True, "retriable": False}
        again = _push(http, issued("cred-1", "ev-1"))
        assert (again.status_code, again.json()["status"]) == (200, "duplicate")
        assert http.get("/verify/cred-1").json()["valid"] is True

        revocation = _push(http, revoked("cred-1", "ev-2"))
        assert (revocation.status_code, revocation.json()["status"]) == (200, "applied")
        stale = _push(http, issued("cred-1", "ev-0"))
        assert (stale.status_code, stale.json()["reason"]) == (200, "ALREADY_REVOKED")

        state = http.get("/credentials/cred-1").json()
        assert state["status"] == "revoked"
        assert state["credential"] == elements(HE_01)
        assert state["revocation"] == {"reason": "DATA_ERROR", "reasonText": "hibás adat",
                                       "revokedOn": "2025-07-01"}
        assert [h["eventId"] for h in state["history"]] == ["ev-1", "ev-2"]
        verdict = http.get("/verify/cred-1").json()
        assert {k: verdict[k] for k in ("valid", "status", "reason", "revokedOn")} == {
            "valid": False, "status": "revoked", "reason": "DATA_ERROR",
            "revokedOn": "2025-07-01"}

        learner = education_id(HE_01)
        listing = http.get(f"/learners/{learner}/credentials").json()
        assert [c["credentialId"] for c in listing["credentials"]] == ["cred-1"]

        pushed = http.put(f"/learners/{learner}/enrolments/en-1",
                          json=enrolment_body(enrolment("en-1", "enrolled", "2025-02-03")),
                          headers={"Idempotency-Key": "en-1"})
        assert pushed.status_code == 201
        assert http.get(f"/learners/{learner}/enrolments").json()["current"][0]["status"] == (
            "enrolled")
        kind = http.get("/healthz").json()["store"]
        assert kind in {"sqlite", "postgresql"}


def test_revocation_before_issuance_is_409_retriable(client: httpx.Client) -> None:
    early = _push(client, revoked("cred-9", "ev-r"))
    assert early.status_code == 409
    assert early.headers["content-type"] == PROBLEM
    body = early.json()
    assert body["type"] == "urn:mchub:problem:unknown-credential"
    assert (body["status"], body["reason"], body["retriable"], body["eventId"]) == (
        409, "UNKNOWN_CREDENTIAL", True, "ev-r")
    assert body["instance"] == "/credentials/cred-9"
    assert int(early.headers["retry-after"]) > 0
    assert _push(client, issued("cred-9", "ev-i")).status_code == 201
    assert _push(client, revoked("cred-9", "ev-r")).status_code == 200  # the retry succeeds


def test_conflicts_are_409_not_retriable(client: httpx.Client) -> None:
    _push(client, issued("cred-1", "ev-1"))
    other = issued("cred-1", "ev-2", name=VET_01)
    conflict = _push(client, other)
    assert conflict.status_code == 409
    assert (conflict.json()["reason"], conflict.json()["retriable"]) == (
        "CONTENT_CONFLICT", False)
    mismatch = _push(client, revoked("cred-1", "ev-3", learner=education_id(VET_01)))
    assert (mismatch.status_code, mismatch.json()["type"]) == (
        409, "urn:mchub:problem:learner-mismatch")


def test_bad_requests_are_problem_documents(client: httpx.Client) -> None:
    change = issued("cred-1", "ev-1")
    malformed = client.put("/credentials/cred-1", content=b"{not json",
                           headers={"Idempotency-Key": "ev-1",
                                    "Content-Type": "application/json"})
    assert (malformed.status_code, malformed.headers["content-type"]) == (400, PROBLEM)
    no_key = client.put("/credentials/cred-1", json=push_body(change))
    assert (no_key.status_code, no_key.json()["title"]) == (400, "Missing Idempotency-Key")
    wrong_key = _push(client, change, **{"Idempotency-Key": "ev-other"})
    assert (wrong_key.status_code, wrong_key.json()["title"]) == (400, "Idempotency-Key mismatch")
    invalid = client.put("/credentials/cred-1", json={**push_body(change), "status": "revoked"},
                         headers={"Idempotency-Key": "ev-1"})
    assert (invalid.status_code, invalid.headers["content-type"]) == (422, PROBLEM)
    assert invalid.json()["errors"][0]["loc"] == ["body"]
    bad_id = client.put("/credentials/bad%20id", json=push_body(change),
                        headers={"Idempotency-Key": "ev-1"})
    assert bad_id.status_code == 422
    bad_learner = client.get("/learners/12345/credentials")
    assert bad_learner.status_code == 422
    missing = client.get("/credentials/cred-unknown")
    assert (missing.status_code, missing.headers["content-type"]) == (404, PROBLEM)
    assert client.get("/nowhere").status_code == 404
    # nothing of the above was applied
    assert client.get("/verify/cred-1").json()["status"] == "unknown"


def test_bearer_token_guards_pushes_and_personal_data(register_url: str) -> None:
    change = issued("cred-1", "ev-1")
    with httpx.Client(base_url=register_url, timeout=10) as anonymous:
        for response in (
            _push(anonymous, change),
            _push(anonymous, change, Authorization="Bearer wrong"),
            _push(anonymous, change, Authorization=f"Basic {TOKEN}"),
            anonymous.get("/credentials/cred-1"),
            anonymous.get(f"/learners/{education_id(HE_01)}/credentials"),
            anonymous.get(f"/learners/{education_id(HE_01)}/enrolments"),
            anonymous.put(f"/learners/{education_id(HE_01)}/enrolments/en-1",
                          json=enrolment_body(enrolment("en-1", "enrolled", "2025-02-03"))),
        ):
            assert response.status_code == 401, response.request.url
            assert response.headers["content-type"] == PROBLEM
            assert response.headers["www-authenticate"].startswith("Bearer")
        # public: verification and health
        assert anonymous.get("/verify/cred-1").status_code == 200
        assert anonymous.get("/healthz").json()["status"] == "ok"
        assert _push(anonymous, change, Authorization=f"Bearer {TOKEN}").status_code == 201


def test_enrolment_pushes(client: httpx.Client) -> None:
    learner = education_id(HE_01)
    url = f"/learners/{learner}/enrolments"
    first = enrolment("en-1", "enrolled", "2025-02-03")
    assert client.put(f"{url}/en-1", json=enrolment_body(first)).status_code == 201
    repeated = client.put(f"{url}/en-1", json=enrolment_body(first))
    assert (repeated.status_code, repeated.json()["status"]) == (200, "duplicate")
    withdrawn = enrolment("en-2", "withdrawn", "2025-03-10", withdrawal_reason="költözés")
    assert client.put(f"{url}/en-2", json=enrolment_body(withdrawn),
                      headers={"Idempotency-Key": "en-x"}).status_code == 400
    assert client.put(f"{url}/en-2", json=enrolment_body(withdrawn),
                      headers={"Idempotency-Key": "en-2"}).status_code == 201
    body = client.get(url).json()
    assert [(e["eventId"], e["status"]) for e in body["enrolments"]] == [
        ("en-1", "enrolled"), ("en-2", "withdrawn")]
    assert [e["eventId"] for e in body["current"]] == ["en-2"]
    assert body["current"][0]["withdrawalReason"] == "költözés"
    invalid = client.put(f"{url}/en-3", json={**enrolment_body(first), "status": "paused"})
    assert invalid.status_code == 422


def test_openapi_is_served(register_url: str) -> None:
    doc = httpx.get(f"{register_url}/openapi.json", timeout=10).json()
    assert doc["info"]["title"] == "mchub national register"
    assert "Problem" in doc["components"]["schemas"]


class _FailingStore(SqliteRegisterStore):
    """A store whose reads fail: locked for one id, broken for another."""

    def get_credential(self, credential_id: str) -> CredentialState | None:
        if credential_id == "locked":
            raise sqlite3.OperationalError("database is locked")
        raise RuntimeError("bug")


def test_store_failures_are_503_or_500_problems(tmp_path: Path) -> None:
    store = _FailingStore(tmp_path / "register.db")
    try:
        with running_register(store) as url:
            locked = httpx.get(f"{url}/verify/locked", timeout=10)
            assert (locked.status_code, locked.headers["content-type"]) == (503, PROBLEM)
            assert int(locked.headers["retry-after"]) > 0
            broken = httpx.get(f"{url}/verify/other", timeout=10)
            assert (broken.status_code, broken.headers["content-type"]) == (500, PROBLEM)
            assert "bug" not in broken.text
    finally:
        store.close()


def _change(change: CredentialChange | EnrolmentChange) -> dict[str, Any]:
    return change.model_dump(mode="json", by_alias=True)


def test_batch_applies_in_order_and_answers_item_by_item(register_url_any: str) -> None:
    learner = education_id(HE_01)
    changes = [
        _change(issued("cred-b1", "eb-1")),
        _change(revoked("cred-b2", "eb-2")),  # before its issuance: 409, retriable
        _change(issued("cred-b2", "eb-3")),   # same credential after a failure: 424
        _change(enrolment("eb-4", "enrolled", "2025-02-03", learner=learner)),
        {"credentialId": "cred-b3", "eventId": "eb-5", "eventType": "issued"},  # invalid
        _change(issued("cred-b1", "eb-1")),   # same event again: duplicate
        _change(revoked("cred-b1", "eb-6")),
    ]
    with httpx.Client(base_url=register_url_any, timeout=10,
                      headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        answer = http.post("/changes", json={"changes": changes})
        assert answer.status_code == 200
        results = answer.json()["results"]
        assert [(r["eventId"], r["status"]) for r in results] == [
            ("eb-1", 201), ("eb-2", 409), ("eb-3", 424), ("eb-4", 201), ("eb-5", 422),
            ("eb-1", 200), ("eb-6", 200)]
        assert results[1]["result"]["retriable"] is True
        assert results[5]["result"]["status"] == "duplicate"
        assert "not applied" in results[2]["problem"]["detail"]
        assert http.get("/credentials/cred-b1").json()["status"] == "revoked"
        assert http.get("/credentials/cred-b2").status_code == 404  # 424: not attempted
        assert http.get(f"/learners/{learner}/enrolments").json()["current"][0]["status"] == (
            "enrolled")
        # resent (as a sender retrying the whole batch would): nothing applies twice
        again = http.post("/changes", json={"changes": changes[:1] + changes[3:4]})
        assert [r["result"]["status"] for r in again.json()["results"]] == [
            "duplicate", "duplicate"]


def test_batch_needs_the_token_and_a_readable_body(register_url: str) -> None:
    with httpx.Client(base_url=register_url, timeout=10) as http:
        assert http.post("/changes", json={"changes": []}).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        unreadable = http.post("/changes", json={"items": []}, headers=auth)
        assert unreadable.status_code == 422
        assert unreadable.headers["content-type"] == PROBLEM
        empty = http.post("/changes", json={"changes": []}, headers=auth)
        assert empty.json() == {"results": []}

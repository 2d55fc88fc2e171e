"""The RegisterStore contract, run against every adapter (SQLite unit, PostgreSQL integration)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import date

from connectors.register.models import ApplyResult, Change
from mchub_reference.register.store import RegisterStore
from tests.unit.register.register_support import (
    AL_ROW2,
    HE_01,
    VET_01,
    earlier,
    education_id,
    elements,
    enrolment,
    issued,
    revoked,
)


def test_port_is_implemented(register_store: RegisterStore) -> None:
    assert isinstance(register_store, RegisterStore)
    register_store.ping()
    assert register_store.kind in {"sqlite", "postgresql"}


def test_issuance_creates_the_credential_with_its_record(register_store: RegisterStore) -> None:
    result = register_store.apply_change(issued("cred-1", "ev-1"))
    assert (result.status, result.created, result.event_id) == ("applied", True, "ev-1")
    state = register_store.get_credential("cred-1")
    assert state is not None
    assert state.status == "active"
    assert state.credential == elements(HE_01)
    assert state.learner.education_id == education_id(HE_01)
    assert state.credential_key == "he:FI31457:TME-MK-2025-0117"
    assert state.source_system == "FIR"
    assert state.revocation is None and state.revoked_at is None
    assert state.issued_at.isoformat() == "2025-06-30T14:05:00+02:00"
    assert [(h.event_id, h.event_type) for h in state.history] == [("ev-1", "issued")]
    assert register_store.get_credential("cred-unknown") is None


def test_redelivered_event_id_is_acknowledged_but_applied_once(
        register_store: RegisterStore) -> None:
    register_store.apply_change(issued("cred-1", "ev-1"))
    again = register_store.apply_change(issued("cred-1", "ev-1"))
    assert (again.status, again.reason, again.created) == (
        "duplicate", "EVENT_ALREADY_APPLIED", False)
    register_store.apply_change(revoked("cred-1", "ev-2"))
    assert register_store.apply_change(revoked("cred-1", "ev-2")).status == "duplicate"
    state = register_store.get_credential("cred-1")
    assert state is not None
    assert [h.event_id for h in state.history] == ["ev-1", "ev-2"]


def test_same_issuance_under_a_new_event_id_is_a_no_op(register_store: RegisterStore) -> None:
    register_store.apply_change(issued("cred-1", "ev-1"))
    result = register_store.apply_change(issued("cred-1", "ev-1b"))
    assert (result.status, result.reason) == ("duplicate", "ALREADY_ISSUED")
    state = register_store.get_credential("cred-1")
    assert state is not None and [h.event_id for h in state.history] == ["ev-1"]


def test_different_record_under_a_known_id_is_a_conflict_and_the_first_stays(
        register_store: RegisterStore) -> None:
    register_store.apply_change(issued("cred-1", "ev-1"))
    other = earlier(elements(HE_01), date(2025, 6, 1), "Más cím")
    result = register_store.apply_change(issued("cred-1", "ev-2", record=other))
    assert (result.status, result.reason, result.retriable) == (
        "rejected", "CONTENT_CONFLICT", False)
    state = register_store.get_credential("cred-1")
    assert state is not None and state.credential == elements(HE_01)


def test_revocation_before_issuance_is_rejected_and_may_be_resent(
        register_store: RegisterStore) -> None:
    early = register_store.apply_change(revoked("cred-1", "ev-rev"))
    assert (early.status, early.reason, early.retriable) == (
        "rejected", "UNKNOWN_CREDENTIAL", True)
    assert register_store.get_credential("cred-1") is None
    register_store.apply_change(issued("cred-1", "ev-1"))
    retried = register_store.apply_change(revoked("cred-1", "ev-rev"))
    assert retried.status == "applied"  # the rejection did not occupy the event id
    assert register_store.verify("cred-1").status == "revoked"


def test_revocation_is_final(register_store: RegisterStore) -> None:
    register_store.apply_change(issued("cred-1", "ev-1"))
    first = register_store.apply_change(revoked("cred-1", "ev-2", reason="FRAUD"))
    assert (first.status, first.created) == ("applied", False)
    # an older issuance redelivered under another event id does not bring it back
    stale = register_store.apply_change(issued("cred-1", "ev-0"))
    assert (stale.status, stale.reason) == ("duplicate", "ALREADY_REVOKED")
    other = earlier(elements(HE_01), date(2025, 6, 1), "Más cím")
    assert register_store.apply_change(issued("cred-1", "ev-0b", record=other)).status == (
        "rejected")
    # a second revocation is a no-op: the first reason stays
    second = register_store.apply_change(
        revoked("cred-1", "ev-3", reason="OTHER", revoked_on="2025-08-01"))
    assert (second.status, second.reason) == ("duplicate", "ALREADY_REVOKED")
    state = register_store.get_credential("cred-1")
    assert state is not None
    assert state.status == "revoked"
    assert state.revocation is not None
    assert (state.revocation.reason, state.revocation.revoked_on) == ("FRAUD", date(2025, 7, 1))
    assert state.revocation.reason_text == "hibás adat"
    assert state.credential == elements(HE_01)
    assert [h.event_id for h in state.history] == ["ev-1", "ev-2"]


def test_revocation_naming_another_learner_is_rejected(register_store: RegisterStore) -> None:
    register_store.apply_change(issued("cred-1", "ev-1"))
    result = register_store.apply_change(revoked("cred-1", "ev-2", learner=education_id(VET_01)))
    assert (result.status, result.reason) == ("rejected", "LEARNER_MISMATCH")
    assert register_store.verify("cred-1").valid


def test_learner_queries(register_store: RegisterStore) -> None:
    he_learner = education_id(HE_01)
    older = earlier(elements(HE_01), date(2024, 12, 20), "Korábbi tanúsítvány")
    register_store.apply_change(issued("cred-he", "ev-1"))
    register_store.apply_change(issued("cred-he-old", "ev-2", record=older))
    register_store.apply_change(issued("cred-vet", "ev-3", name=VET_01))
    register_store.apply_change(issued("cred-al", "ev-4", name=AL_ROW2))
    register_store.apply_change(revoked("cred-he", "ev-5"))

    mine = register_store.credentials_of_learner(he_learner)
    assert [c.credential_id for c in mine] == ["cred-he-old", "cred-he"]  # oldest issuance first
    assert [c.status for c in mine] == ["active", "revoked"]
    assert [h.event_id for h in mine[1].history] == ["ev-1", "ev-5"]
    assert [c.credential_id for c in register_store.credentials_of_learner(
        education_id(VET_01))] == ["cred-vet"]
    assert [c.credential == elements(AL_ROW2) for c in register_store.credentials_of_learner(
        education_id(AL_ROW2))] == [True]
    assert register_store.credentials_of_learner("77777777777") == []


def test_enrolments_are_recorded_once_in_status_date_order(
        register_store: RegisterStore) -> None:
    learner = education_id(HE_01)
    assert register_store.apply_change(
        enrolment("en-2", "completed", "2025-06-20")).status == "applied"
    assert register_store.apply_change(
        enrolment("en-1", "enrolled", "2025-02-03")).status == "applied"
    assert register_store.apply_change(
        enrolment("en-1", "enrolled", "2025-02-03")).status == "duplicate"
    register_store.apply_change(enrolment("en-3", "withdrawn", "2025-03-01", programme="OTHER",
                                          withdrawal_reason="munkahelyi elfoglaltság"))
    register_store.apply_change(enrolment("en-x", "enrolled", "2025-02-01",
                                          learner=education_id(VET_01)))
    history = register_store.enrolments_of_learner(learner)
    assert [(e.event_id, e.status) for e in history] == [
        ("en-1", "enrolled"), ("en-3", "withdrawn"), ("en-2", "completed")]
    assert history[1].withdrawal_reason == "munkahelyi elfoglaltság"
    assert history[0].provider.id == "FI31457"
    assert history[0].programme.id == "TME-PTI-MK-01"
    assert history[0].status_date == date(2025, 2, 3)
    assert history[0].enrolment_key == "he:FI31457:TME-PTI-MK-01"
    assert register_store.enrolments_of_learner("77777777777") == []


def test_a_learners_erasure_removes_their_data_and_only_theirs(
        register_store: RegisterStore) -> None:
    learner = education_id(HE_01)
    register_store.apply_change(issued("cred-he", "ev-1"))
    register_store.apply_change(revoked("cred-he", "ev-2"))  # a revoked one goes too
    register_store.apply_change(issued("cred-vet", "ev-3", name=VET_01))
    register_store.apply_change(enrolment("en-1", "enrolled", "2025-02-03"))
    erased = register_store.erase_learner(learner)
    assert (erased.credentials_erased, erased.enrolments_erased) == (1, 1)
    assert register_store.credentials_of_learner(learner) == []
    assert register_store.enrolments_of_learner(learner) == []
    assert register_store.get_credential("cred-he") is None
    assert register_store.verify("cred-he").status == "unknown"
    # a redelivery of an erased learner's events is still a duplicate, not a new record
    assert register_store.apply_change(issued("cred-he", "ev-1")).status == "duplicate"
    assert register_store.apply_change(
        enrolment("en-1", "enrolled", "2025-02-03")).status == "duplicate"
    assert register_store.get_credential("cred-he") is None
    assert register_store.get_credential("cred-vet") is not None  # others intact
    again = register_store.erase_learner(learner)
    assert (again.credentials_erased, again.enrolments_erased) == (0, 0)


def test_event_ids_are_one_namespace_across_credentials_and_enrolments(
        register_store: RegisterStore) -> None:
    register_store.apply_change(issued("cred-1", "ev-shared"))
    result = register_store.apply_change(enrolment("ev-shared", "enrolled", "2025-02-03"))
    assert (result.status, result.reason) == ("duplicate", "EVENT_ALREADY_APPLIED")
    assert register_store.enrolments_of_learner(education_id(HE_01)) == []


def test_verify(register_store: RegisterStore) -> None:
    unknown = register_store.verify("cred-1")
    assert (unknown.valid, unknown.status, unknown.reason) == (
        False, "unknown", "UNKNOWN_CREDENTIAL")
    register_store.apply_change(issued("cred-1", "ev-1"))
    active = register_store.verify("cred-1")
    assert (active.valid, active.status, active.reason) == (True, "active", None)
    register_store.apply_change(revoked("cred-1", "ev-2", reason="ASSESSMENT_ANNULLED"))
    gone = register_store.verify("cred-1")
    assert (gone.valid, gone.status, gone.reason, gone.revoked_on) == (
        False, "revoked", "ASSESSMENT_ANNULLED", date(2025, 7, 1))


def _race(store: RegisterStore, changes: list[Change]) -> list[ApplyResult]:
    results: list[ApplyResult] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(changes))

    def worker(change: Change) -> None:
        barrier.wait()
        result = store.apply_change(change)
        with lock:
            results.append(result)

    threads = [threading.Thread(target=worker, args=(c,)) for c in changes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_concurrent_deliveries_apply_once(register_store: RegisterStore) -> None:
    outcomes = Counter(r.status for r in _race(register_store, [issued("cred-1", "ev-1")] * 6))
    assert outcomes == Counter({"applied": 1, "duplicate": 5})
    revocations = [revoked("cred-1", f"ev-rev-{i}") for i in range(6)]
    outcomes = Counter(r.status for r in _race(register_store, list(revocations)))
    assert outcomes == Counter({"applied": 1, "duplicate": 5})
    state = register_store.get_credential("cred-1")
    assert state is not None and len(state.history) == 2


def test_state_snapshot_may_create_a_revoked_credential(register_store: RegisterStore) -> None:
    change = revoked("cred-1", "ev-2").model_copy(update={"credential": issued().credential})
    assert register_store.apply_change(change).status == "rejected"  # push: order required
    result = register_store.apply_change(change, snapshot=True)
    assert (result.status, result.created) == ("applied", True)
    state = register_store.get_credential("cred-1")
    assert state is not None
    assert (state.status, state.credential) == ("revoked", elements(HE_01))
    assert state.revocation is not None and state.revocation.reason == "DATA_ERROR"
    assert register_store.apply_change(issued("cred-1", "ev-1"), snapshot=True).status == (
        "duplicate")
    bare = revoked("cred-2", "ev-3")
    assert register_store.apply_change(bare, snapshot=True).reason == "UNKNOWN_CREDENTIAL"

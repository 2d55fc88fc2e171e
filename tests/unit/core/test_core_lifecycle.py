"""One test per outcome path and per sentence of feed contract §9 and §10."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from hub.core import (
    DEFAULT_HOLD_TTL,
    REVOCATION_LEARNER_MISMATCH,
    REVOCATION_UNKNOWN_CREDENTIAL,
    CredentialEntry,
    Decision,
    DecisionState,
    Emission,
    IdempotencyState,
    StateTables,
    decide,
    elements_digest,
    expire,
    hold_ttl,
    rebuild,
)
from hub.normalise.types import NormalisedEvent
from tests.unit.core.core_support import (
    LEARNER_A,
    LEARNER_B,
    T0,
    canonical,
    enrolment,
    issuance,
    revocation,
)

pytestmark = pytest.mark.unit

HOUR = timedelta(hours=1)


def run(
    tables: StateTables,
    event: NormalisedEvent,
    at: datetime = T0,
    *,
    ttl: timedelta = DEFAULT_HOLD_TTL,
    context: dict[str, Any] | None = None,
) -> Decision:
    return tables.process(event, now=at, ttl=ttl, context=context)


def published_kinds(decision: Decision) -> list[tuple[str, str]]:
    return [(e.kind, e.idempotency_key) for e in decision.emissions]


# --- accept -----------------------------------------------------------------------------


def test_issuance_of_unknown_credential_is_accepted_and_published() -> None:
    tables = StateTables()
    d = run(tables, issuance())
    assert (d.outcome, d.rules, d.final) == ("accept", (), True)
    assert published_kinds(d) == [("credential", "he:E1")]
    assert d.emissions[0].canonical_record()["idempotencyKey"] == "he:E1"
    assert d.emissions[0].canonical_record()["credentialKey"] == "he:FI1:C1"
    state = tables.credentials["he:FI1:C1"]
    assert (state.status, state.learner_id, state.issued_by) == ("active", LEARNER_A, "he:E1")
    assert tables.index["he:E1"].outcome == "accept"


def test_revocation_of_active_credential_is_accepted_and_published() -> None:
    tables = StateTables()
    run(tables, issuance())
    d = run(tables, revocation(), T0 + HOUR)
    assert d.outcome == "accept"
    assert published_kinds(d) == [("revocation", "he:R1")]
    state = tables.credentials["he:FI1:C1"]
    assert (state.status, state.revoked_by, state.revocation_reason) == (
        "revoked",
        "he:R1",
        "DATA_ERROR",
    )


# --- §9.2 same idempotency key ------------------------------------------------------------


def test_same_key_same_content_is_duplicate_and_publishes_nothing() -> None:
    tables = StateTables()
    run(tables, issuance())
    before = tables.model_copy(deep=True)
    d = run(tables, issuance(), T0 + HOUR)
    assert (d.outcome, d.emissions, d.detail) == (
        "duplicate-ignored",
        (),
        "idempotency-key-same-content",
    )
    assert tables == before


def test_same_key_different_content_is_conflict_and_first_version_stays() -> None:
    tables = StateTables()
    run(tables, issuance())
    d = run(tables, issuance(variant="b"), T0 + HOUR)
    assert (d.outcome, d.emissions) == ("conflict", ())
    first = tables.credentials["he:FI1:C1"]
    assert first.elements_digest == elements_digest(issuance().record)
    assert first.elements_digest != elements_digest(issuance(variant="b").record)


def test_reserialised_resend_with_equal_content_is_duplicate() -> None:
    """Member order, whitespace and escapes are gone once content is canonical."""
    tables = StateTables()
    original = issuance()
    run(tables, original)
    reparsed = json.loads(json.dumps(json.loads(original.content), indent=4, ensure_ascii=True))
    resend = dataclasses.replace(
        original,
        content=canonical(dict(reversed(list(reparsed.items())))),
        record=dict(reversed(list(original.record.items()))),
        occurred_at="2025-07-01T06:00:00Z",  # transport/timestamp noise is not content here
    )
    assert resend.content == original.content
    assert run(tables, resend, T0 + HOUR).outcome == "duplicate-ignored"


def test_key_of_event_rejected_by_validation_is_free() -> None:
    """Validation rejects never reach the core: the corrected re-send is decided normally."""
    tables = StateTables()
    d = run(tables, issuance(key="he:E9"))
    assert d.outcome == "accept"


def test_state_rejected_revocation_does_not_occupy_its_key() -> None:
    tables = StateTables()
    run(tables, issuance())
    wrong = revocation(learner=LEARNER_B)
    assert run(tables, wrong).rules == (REVOCATION_LEARNER_MISMATCH,)
    assert "he:R1" not in tables.index
    # the same event again is decided again (not a duplicate) ...
    assert run(tables, wrong, T0 + HOUR).outcome == "reject"
    # ... and the corrected re-send with the same key is accepted (not a conflict)
    assert run(tables, revocation(learner=LEARNER_A), T0 + 2 * HOUR).outcome == "accept"


def test_same_key_for_another_credential_is_conflict() -> None:
    tables = StateTables()
    run(tables, issuance(cred="he:FI1:C1", key="he:E1"))
    d = run(tables, issuance(cred="he:FI1:C2", key="he:E1"), T0 + HOUR)
    assert (d.outcome, d.emissions) == ("conflict", ())
    assert "he:FI1:C2" not in tables.credentials
    assert tables.index["he:E1"].credential_key == "he:FI1:C1"


def test_enrolment_key_reused_by_a_credential_event_is_conflict_both_ways() -> None:
    tables = StateTables()
    run(tables, enrolment(key="he:X1"))
    assert run(tables, issuance(key="he:X1")).outcome == "conflict"
    assert run(tables, revocation(key="he:X1")).outcome == "conflict"
    run(tables, issuance(cred="he:FI1:C2", key="he:X2"))
    assert run(tables, enrolment(key="he:X2")).outcome == "conflict"


def test_repeat_of_held_revocation_is_duplicate_and_changed_one_is_conflict() -> None:
    tables = StateTables()
    assert run(tables, revocation()).outcome == "hold"
    assert run(tables, revocation(), T0 + HOUR).outcome == "duplicate-ignored"
    assert run(tables, revocation(reason="FRAUD"), T0 + HOUR).outcome == "conflict"
    assert len(tables.credentials["he:FI1:C1"].held) == 1


# --- §9.3 same credential key, new event --------------------------------------------------


def test_issuance_with_existing_credential_key_and_equal_elements_is_duplicate() -> None:
    tables = StateTables()
    run(tables, issuance(key="he:E1", ects=4))
    resend = issuance(key="he:E2", ects=4.0, extra="new event id, other envelope")
    d = run(tables, resend, T0 + HOUR)
    assert (d.outcome, d.detail, d.emissions) == (
        "duplicate-ignored",
        "credential-exists-same-elements",
        (),
    )
    assert "he:E2" not in tables.index  # duplicate-ignored does not occupy a key


def test_issuance_with_existing_credential_key_and_other_elements_is_conflict() -> None:
    tables = StateTables()
    run(tables, issuance(key="he:E1"))
    d = run(tables, issuance(key="he:E2", variant="b"), T0 + HOUR)
    assert (d.outcome, d.detail) == ("conflict", "credential-exists-different-elements")
    assert tables.credentials["he:FI1:C1"].issued_by == "he:E1"


def test_issuance_of_revoked_credential_duplicate_or_conflict() -> None:
    tables = StateTables()
    run(tables, issuance(key="he:E1"))
    run(tables, revocation())
    assert run(tables, issuance(key="he:E2")).outcome == "duplicate-ignored"
    assert run(tables, issuance(key="he:E3", variant="b")).outcome == "conflict"
    assert tables.credentials["he:FI1:C1"].status == "revoked"  # revocation is final


def test_revocation_of_revoked_credential_is_duplicate_and_first_reason_stays() -> None:
    tables = StateTables()
    run(tables, issuance())
    run(tables, revocation(key="he:R1", reason="DATA_ERROR"))
    d = run(tables, revocation(key="he:R2", reason="FRAUD"), T0 + HOUR)
    assert (d.outcome, d.detail, d.emissions) == ("duplicate-ignored", "already-revoked", ())
    state = tables.credentials["he:FI1:C1"]
    assert (state.revoked_by, state.revocation_reason) == ("he:R1", "DATA_ERROR")


# --- §10 learner check --------------------------------------------------------------------


def test_revocation_naming_another_learner_is_rejected_and_credential_stays_active() -> None:
    tables = StateTables()
    run(tables, issuance())
    d = run(tables, revocation(learner=LEARNER_B))
    assert (d.outcome, d.rules, d.emissions) == ("reject", (REVOCATION_LEARNER_MISMATCH,), ())
    assert tables.credentials["he:FI1:C1"].status == "active"


def test_learner_check_comes_before_already_revoked() -> None:
    """§8.2 step 8 order: ... learner match, already revoked."""
    tables = StateTables()
    run(tables, issuance())
    run(tables, revocation(key="he:R1"))
    d = run(tables, revocation(key="he:R2", learner=LEARNER_B))
    assert (d.outcome, d.rules) == ("reject", (REVOCATION_LEARNER_MISMATCH,))


# --- §10 held revocations -----------------------------------------------------------------


def test_revocation_of_unknown_credential_is_held_then_released_after_issuance() -> None:
    tables = StateTables()
    held = run(tables, revocation(), context={"receiptId": "r-1"})
    assert (held.outcome, held.final, held.emissions) == ("hold", False, ())
    assert held.report(revocation()).final is False
    assert tables.index["he:R1"].outcome == "hold"

    d = run(tables, issuance(), T0 + 3 * HOUR)
    assert d.outcome == "accept"
    assert published_kinds(d) == [("credential", "he:E1"), ("revocation", "he:R1")]
    [follow] = d.follow_ups
    assert (follow.idempotency_key, follow.outcome, follow.final) == ("he:R1", "accept", True)
    assert follow.context == {"receiptId": "r-1"}
    state = tables.credentials["he:FI1:C1"]
    assert (state.status, state.revoked_by, state.held) == ("revoked", "he:R1", ())
    released = tables.index["he:R1"]
    assert released.outcome == "accept"


def test_several_holds_released_in_arrival_order_with_learner_mismatch_between() -> None:
    tables = StateTables()
    run(tables, revocation(key="he:R1", learner=LEARNER_B), T0)
    run(tables, revocation(key="he:R2", reason="FRAUD"), T0 + HOUR)
    run(tables, revocation(key="he:R3", learner=LEARNER_B), T0 + 2 * HOUR)
    run(tables, revocation(key="he:R4", reason="OTHER"), T0 + 3 * HOUR)

    d = run(tables, issuance(), T0 + 4 * HOUR)
    assert published_kinds(d) == [("credential", "he:E1"), ("revocation", "he:R2")]
    assert [(f.idempotency_key, f.outcome, f.rules) for f in d.follow_ups] == [
        ("he:R1", "reject", (REVOCATION_LEARNER_MISMATCH,)),
        ("he:R2", "accept", ()),
        ("he:R3", "reject", (REVOCATION_LEARNER_MISMATCH,)),
        ("he:R4", "duplicate-ignored", ()),
    ]
    state = tables.credentials["he:FI1:C1"]
    assert (state.revoked_by, state.revocation_reason) == ("he:R2", "FRAUD")
    # only the holds that ended as accept keep their keys (§9.2)
    assert sorted(state.keys) == ["he:E1", "he:R2"]
    assert sorted(tables.index) == ["he:E1", "he:R2"]


def test_held_revocations_all_mismatching_leave_credential_active() -> None:
    tables = StateTables()
    run(tables, revocation(key="he:R1", learner=LEARNER_B))
    d = run(tables, issuance())
    assert [f.outcome for f in d.follow_ups] == ["reject"]
    assert published_kinds(d) == [("credential", "he:E1")]
    assert tables.credentials["he:FI1:C1"].status == "active"


@pytest.mark.parametrize("ttl", [DEFAULT_HOLD_TTL, hold_ttl(1)])
def test_hold_expires_exactly_at_the_ttl_boundary(ttl: timedelta) -> None:
    tables = StateTables()
    run(tables, revocation(), T0, ttl=ttl)
    state = tables.credentials["he:FI1:C1"]
    assert state.next_expiry(ttl) == T0 + ttl

    just_before = expire(state, now=T0 + ttl - timedelta(microseconds=1), ttl=ttl)
    assert just_before.follow_ups == () and just_before.credential == state
    assert tables.sweep(now=T0 + ttl - timedelta(microseconds=1), ttl=ttl) == []

    [change] = tables.sweep(now=T0 + ttl, ttl=ttl)
    [follow] = change.follow_ups
    assert (follow.outcome, follow.rules, follow.final) == (
        "reject",
        (REVOCATION_UNKNOWN_CREDENTIAL,),
        True,
    )
    assert change.emissions == ()
    assert "he:FI1:C1" not in tables.credentials and "he:R1" not in tables.index


def test_issuance_just_before_ttl_releases_and_at_ttl_does_not() -> None:
    early, late = StateTables(), StateTables()
    for tables in (early, late):
        run(tables, revocation(), T0)
    d = run(early, issuance(), T0 + DEFAULT_HOLD_TTL - timedelta(microseconds=1))
    assert published_kinds(d)[-1] == ("revocation", "he:R1")

    d = run(late, issuance(), T0 + DEFAULT_HOLD_TTL)  # decide expires stale holds first
    assert published_kinds(d) == [("credential", "he:E1")]
    assert [(f.outcome, f.rules) for f in d.follow_ups] == [
        ("reject", (REVOCATION_UNKNOWN_CREDENTIAL,))
    ]
    assert late.credentials["he:FI1:C1"].status == "active"


def test_revocation_for_rejected_credential_stays_held_until_expiry() -> None:
    """A rejected issuance never reaches the core, so nothing releases the hold."""
    tables = StateTables()
    run(tables, revocation(), T0)
    run(tables, issuance(cred="he:FI1:OTHER", key="he:E7"), T0 + HOUR)  # unrelated
    assert tables.sweep(now=T0 + 6 * timedelta(days=1)) == []
    assert tables.credentials["he:FI1:C1"].held
    [change] = tables.sweep(now=T0 + 7 * timedelta(days=1))
    assert change.follow_ups[0].rules == (REVOCATION_UNKNOWN_CREDENTIAL,)


def test_resend_after_hold_expired_is_held_again() -> None:
    tables = StateTables()
    run(tables, revocation(), T0)
    d = run(tables, revocation(), T0 + DEFAULT_HOLD_TTL)
    assert [f.outcome for f in d.follow_ups] == ["reject"]  # the old hold ended first
    assert d.outcome == "hold"
    assert tables.credentials["he:FI1:C1"].held[0].held_at == T0 + DEFAULT_HOLD_TTL


# --- enrolments ---------------------------------------------------------------------------


def test_withdrawal_without_prior_enrolment_is_accepted() -> None:
    tables = StateTables()
    d = run(tables, enrolment(key="he:N7", status="withdrawn"))
    assert (d.outcome, d.credential) == ("accept", None)
    assert published_kinds(d) == [("enrolment", "he:N7")]


def test_enrolment_repeat_is_duplicate_and_changed_is_conflict() -> None:
    tables = StateTables()
    run(tables, enrolment())
    assert run(tables, enrolment()).outcome == "duplicate-ignored"
    d = run(tables, enrolment(status="completed"))
    assert (d.outcome, d.emissions) == ("conflict", ())


# --- state, serialisation, rebuild --------------------------------------------------------


def test_states_and_decisions_round_trip_through_json() -> None:
    tables = StateTables()
    run(tables, revocation(), context={"receiptId": "r-9"})
    run(tables, issuance(cred="he:FI1:C2", key="he:E2"))
    state = tables.credentials["he:FI1:C1"]
    assert CredentialEntry.from_json(state.to_json()) == state
    entry = tables.index["he:R1"]
    assert IdempotencyState.from_json(entry.to_json()) == entry
    decision = run(tables, issuance(), T0 + HOUR)
    assert Decision.from_json(decision.to_json()) == decision
    assert StateTables.model_validate_json(tables.model_dump_json()) == tables
    assert state.changelog_key == "cred|he:FI1:C1" and entry.changelog_key == "idem|he:R1"


def test_rebuild_from_emissions_equals_published_part() -> None:
    tables = StateTables()
    log: list[Emission] = []
    steps = [
        revocation(key="he:R1"),
        revocation(cred="he:FI1:C3", key="he:R3"),  # stays held: not in the log
        enrolment(),
        issuance(),
        issuance(cred="he:FI1:C2", key="he:E2"),
        revocation(cred="he:FI1:C2", key="he:R2", learner=LEARNER_B),
    ]
    for event in steps:
        log += run(tables, event).emissions
    rebuilt = rebuild(log)
    assert rebuilt == tables.published()
    assert "he:FI1:C3" not in rebuilt.credentials and "he:FI1:C3" in tables.credentials


def test_invalid_calls_raise() -> None:
    event = issuance()
    with pytest.raises(ValueError, match="aware"):
        decide(DecisionState(), event, now=T0.replace(tzinfo=None))
    with pytest.raises(ValueError, match="credential key"):
        decide(DecisionState(credential=CredentialEntry(credential_key="x")), event, now=T0)
    claim = IdempotencyState(
        idempotency_key="other",
        content_digest="d",
        record_type="enrolment",
        credential_key=None,
        outcome="accept",
    )
    with pytest.raises(ValueError, match="claim"):
        decide(DecisionState(claim=claim), event, now=T0)

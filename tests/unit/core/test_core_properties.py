"""Property tests: random event sequences keep the lifecycle invariants of §1.1, §9, §10."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.core import DEFAULT_HOLD_TTL, Decision, Emission, StateChange, StateTables, rebuild
from hub.core.state import with_digests
from hub.normalise.types import NormalisedEvent
from tests.unit.core.core_support import T0, enrolment, issuance, revocation

pytestmark = pytest.mark.unit

KEYS = [f"he:K{i}" for i in range(10)]  # shared by every event type: cross-type conflicts
CREDS = ["he:FI1:C0", "he:FI1:C1"]
LEARNERS = ["70000000001", "70000000001", "70000000002"]  # mostly matching

issuances = st.builds(
    issuance,
    cred=st.sampled_from(CREDS),
    key=st.sampled_from(KEYS),
    learner=st.sampled_from(LEARNERS),
    variant=st.sampled_from(["a", "a", "b"]),
    extra=st.sampled_from(["", "", "resent"]),
)
revocations = st.builds(
    revocation,
    cred=st.sampled_from(CREDS),
    key=st.sampled_from(KEYS),
    learner=st.sampled_from(LEARNERS),
    reason=st.sampled_from(["DATA_ERROR", "FRAUD"]),
)
enrolments = st.builds(
    enrolment,
    key=st.sampled_from(KEYS),
    learner=st.sampled_from(LEARNERS),
    status=st.sampled_from(["enrolled", "withdrawn"]),
)
# (event | None for a timer sweep | int to resend the n-th earlier event; hours later)
Step = tuple[NormalisedEvent | int | None, int]
step_lists = st.lists(
    st.tuples(
        st.one_of(
            revocations,
            revocations,
            issuances,
            issuances,
            enrolments,
            st.none(),
            st.integers(0, 40),
        ),
        st.sampled_from([0, 1, 6, 24, 24, 100]),  # hours; the hold TTL is 168
    ),
    max_size=40,
)

Resolved = tuple[NormalisedEvent | None, int]


def resolve(sequence: list[Step]) -> list[Resolved]:
    """Turn "resend the n-th earlier event" steps into that event (a sweep if none yet)."""
    sent: list[NormalisedEvent] = []
    resolved: list[Resolved] = []
    for item, hours in sequence:
        event = (sent[item % len(sent)] if sent else None) if isinstance(item, int) else item
        if event is not None:
            sent.append(event)
        resolved.append((event, hours))
    return resolved


@dataclass
class Run:
    """Drives :class:`StateTables` like the processor and records everything it does."""

    tables: StateTables = field(default_factory=StateTables)
    now: datetime = T0
    decisions: list[tuple[NormalisedEvent, Decision]] = field(default_factory=list)
    sweeps: list[StateChange] = field(default_factory=list)
    log: list[Emission] = field(default_factory=list)
    pending_holds: set[str] = field(default_factory=set)
    revoked_ever: set[str] = field(default_factory=set)

    def feed(self, sequence: list[Resolved]) -> None:
        for item, hours in sequence:
            self.now += timedelta(hours=hours)
            event = item
            if event is None:
                for change in self.tables.sweep(now=self.now):
                    self.sweeps.append(change)
                    self.check_change(change)
            else:
                decision = self.tables.process(event, now=self.now)
                self.decisions.append((event, decision))
                self.check_decision(event, decision)
            self.check_tables()

    def check_follow_ups(self, change: StateChange) -> None:
        for follow in change.follow_ups:
            # a follow-up is the one final outcome of a hold that is still pending
            assert follow.final and follow.outcome in {"accept", "duplicate-ignored", "reject"}
            assert follow.idempotency_key in self.pending_holds
            self.pending_holds.discard(follow.idempotency_key)

    def check_change(self, change: StateChange) -> None:
        assert change.emissions == ()  # expiry publishes nothing
        assert all(f.outcome == "reject" for f in change.follow_ups)
        self.check_follow_ups(change)

    def check_decision(self, event: NormalisedEvent, decision: Decision) -> None:
        assert decision.idempotency_key == event.idempotency_key
        self.check_follow_ups(decision)
        if decision.outcome == "hold":
            assert event.record_type == "revocation"
            assert event.idempotency_key not in self.pending_holds
            self.pending_holds.add(event.idempotency_key)
        assert bool(decision.rules) == (decision.outcome == "reject")
        if decision.outcome != "accept":
            assert decision.emissions == ()  # nothing published for the other outcomes
        else:
            assert decision.emissions[0].idempotency_key == event.idempotency_key
            assert decision.emissions[0].kind == event.record_type
            # the rest are released holds that ended as accept, in the same order
            released = [f.idempotency_key for f in decision.follow_ups if f.outcome == "accept"]
            assert [e.idempotency_key for e in decision.emissions[1:]] == released
        self.log += decision.emissions

    def check_tables(self) -> None:
        tables = self.tables
        for key, state in tables.credentials.items():
            assert state.credential_key == key and not state.is_empty
            assert not state.held or state.status == "unknown"
            if key in self.revoked_ever:
                assert state.status == "revoked"  # revocation is final
            if state.status == "revoked":
                self.revoked_ever.add(key)
            for idem, digest in state.keys.items():
                entry = tables.index[idem]
                assert (entry.credential_key, entry.content_digest) == (key, digest)
            held = [h.idempotency_key for h in state.held]
            assert all(tables.index[h].outcome == "hold" for h in held)
        for idem, entry in tables.index.items():
            if entry.credential_key is not None:
                assert idem in tables.credentials[entry.credential_key].keys
        # the fold over the canonical log agrees with the live state's published part
        assert rebuild(self.log) == tables.published()

    def check_log(self) -> None:
        # an idempotency key, a credential and a revocation are each published at most once
        assert len({e.idempotency_key for e in self.log}) == len(self.log)
        per_cred = Counter((e.kind, e.credential_key) for e in self.log if e.credential_key)
        assert all(n == 1 for n in per_cred.values())
        issued: dict[str, str] = {}
        for e in self.log:
            if e.kind == "credential":
                assert e.credential_key is not None
                issued[e.credential_key] = e.learner_id
            elif e.kind == "revocation":
                # never before its credential, and only for the credential's learner
                assert e.credential_key in issued
                assert issued[e.credential_key] == e.learner_id


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(step_lists)
def test_random_sequences_keep_the_invariants(steps: list[Step]) -> None:
    sequence = resolve(steps)
    run = Run()
    run.feed(sequence)
    run.check_log()
    # in the end every hold gets its final outcome (released earlier, or expired now)
    run.feed([(None, int(DEFAULT_HOLD_TTL.total_seconds() // 3600))])
    assert run.pending_holds == set()
    assert all(not s.held for s in run.tables.credentials.values())
    assert StateTables.model_validate_json(run.tables.model_dump_json()) == run.tables


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(step_lists, st.data())
def test_redelivering_a_processed_prefix_publishes_nothing_twice(
    steps: list[Step], data: st.DataObject
) -> None:
    sequence = resolve(steps)
    cut = data.draw(st.integers(min_value=0, max_value=len(sequence)), label="cut")
    run = Run()
    run.feed(sequence[:cut])
    first_log = list(run.log)
    accepted = {d.idempotency_key for _, d in run.decisions if d.outcome == "accept"}
    before = len(run.decisions)
    run.feed(sequence[:cut])  # redelivery after a crash: the same prefix again
    for _event, decision in run.decisions[before:]:
        assert decision.idempotency_key not in accepted or decision.emissions == ()
    assert run.log[: len(first_log)] == first_log
    run.feed(sequence[cut:])
    run.check_log()


@settings(max_examples=50, deadline=None)
@given(step_lists)
def test_decide_is_deterministic(steps: list[Step]) -> None:
    sequence = resolve(steps)
    one, two = Run(), Run()
    one.feed(sequence)
    two.feed(sequence)
    assert one.decisions == two.decisions and one.tables == two.tables


def _carrying_digests(sequence: list[Resolved]) -> list[Resolved]:
    return [(with_digests(event) if event else None, hours) for event, hours in sequence]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(step_lists)
def test_digests_carried_by_ingest_decide_as_computed_ones(steps: list[Step]) -> None:
    """The decide stage gets events whose digests the ingest stage computed: every outcome,
    publication and stored digest is the same as when the core computes them itself."""
    sequence = resolve(steps)
    computed, carried = Run(), Run()
    computed.feed(sequence)
    carried.feed(_carrying_digests(sequence))

    def outcomes(run: Run) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
        return [
            (event.idempotency_key, decision.outcome,
             tuple((e.idempotency_key, e.content_digest) for e in decision.emissions))
            for event, decision in run.decisions
        ]

    assert outcomes(carried) == outcomes(computed)
    for key, state in computed.tables.credentials.items():
        other = carried.tables.credentials.get(key)
        assert other is not None
        assert (other.status, other.elements_digest, other.keys) == (
            state.status, state.elements_digest, state.keys)

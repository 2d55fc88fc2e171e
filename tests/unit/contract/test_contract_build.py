"""Building canonical events from normalised events: deterministic identity, envelopes."""

from __future__ import annotations

import copy
import dataclasses
import uuid

import pytest

from hub.contract.build import (
    CREDENTIAL_NAMESPACE,
    EVENT_NAMESPACE,
    build_canonical_event,
    credential_id,
    event_id,
)
from hub.contract.elements import elements_to_model, model_to_elements, parse_elements
from hub.contract.findings import ContractViolation
from hub.contract.models import (
    SCHEMA_VERSION,
    CredentialIssued,
    CredentialRevoked,
    EnrolmentRecorded,
)
from hub.errors import InputRejected
from hub.vocab import MKKR_LEVEL_URIS
from tests.unit.contract.contract_testdata import (
    RECEIVED,
    SHA,
    TRACE,
    build,
    enrolment_normalised,
    normalised_credential,
    revocation_normalised,
    sample,
)

pytestmark = pytest.mark.unit


def test_ids_are_uuid5_over_the_feed_contract_keys() -> None:
    he = sample("he")
    event = build(normalised_credential(he))
    assert event.envelope.event_id == str(uuid.uuid5(EVENT_NAMESPACE, he["idempotencyKey"]))
    assert event.envelope.credential_id == str(uuid.uuid5(CREDENTIAL_NAMESPACE,
                                                          he["credentialKey"]))
    assert build(normalised_credential(he)) == event  # re-processing is deterministic


def test_revocation_shares_the_credential_id_of_the_issuance() -> None:
    issued = build(normalised_credential(sample("he")))
    revoked = build(revocation_normalised())
    assert isinstance(revoked, CredentialRevoked)
    assert revoked.envelope.credential_id == issued.envelope.credential_id
    assert revoked.envelope.event_id != issued.envelope.event_id
    assert revoked.reason == "DATA_ERROR" and revoked.revoked_on.isoformat() == "2025-07-01"


def test_envelope_carries_provenance_and_record_metadata() -> None:
    al = sample("al")
    event = build(normalised_credential(al))
    env = event.envelope
    assert (env.feed, env.source_system, env.event_type) == ("al", "FAR", "issued")
    assert (env.row, env.sor_azonosito) == (2, "R-20250701-002")
    assert env.idempotency_key == al["idempotencyKey"]
    assert env.credential_key == al["credentialKey"]
    assert env.learner_key == "75971935462" and env.occurred_at is None
    assert (env.raw_sha256, env.trace_id, env.received_at) == (SHA, TRACE, RECEIVED)
    assert env.schema_version == SCHEMA_VERSION and env.hub_version == "0.1.0"
    assert env.prev_hash is None and env.warnings == []
    assert env.model_dump()["sor_azonosito"] == "R-20250701-002"


def test_enrolment_has_no_credential_identity() -> None:
    event = build(enrolment_normalised("completed"))
    assert isinstance(event, EnrolmentRecorded)
    assert event.envelope.credential_id is None and event.envelope.credential_key is None
    assert event.status == "completed" and event.withdrawal_reason is None


def test_supersedes_marks_a_corrected_credential() -> None:
    old = credential_id("he:FI31457:TME-MK-2025-0117")
    event = build_canonical_event(normalised_credential(sample("he")), raw_sha256=SHA,
                                  received_at=RECEIVED, trace_id=TRACE, hub_version="x",
                                  supersedes=old)
    assert isinstance(event, CredentialIssued) and event.supersedes == old


def test_structurally_broken_record_raises_contract_violation() -> None:
    he = copy.deepcopy(sample("he"))
    del he["elements"]["title"]
    he["elements"]["dateOfIssuing"] = "2025.06.27."
    with pytest.raises(ContractViolation) as caught:
        build(normalised_credential(he))
    assert isinstance(caught.value, InputRejected)
    assert {(f.rule, f.path) for f in caught.value.findings} == {
        ("MISSING_REQUIRED", "credential.title"),
        ("INVALID_FORMAT", "credential.dateOfIssuing")}


def test_bad_eqf_uri_is_invalid_format() -> None:
    elements = copy.deepcopy(sample("vet")["elements"])
    elements["eqfLevel"] = "EQF4"
    credential, findings = parse_elements(elements)
    assert credential is None
    assert [(f.rule, f.path) for f in findings] == [("INVALID_FORMAT", "credential.level.eqf")]


def test_national_level_is_derived_from_eqf_and_dropped_in_elements() -> None:
    elements = sample("vet")["elements"]
    credential = elements_to_model(elements)
    assert credential.level.eqf == 4
    assert credential.level.national_level == MKKR_LEVEL_URIS[4]
    assert model_to_elements(credential) == elements


def test_event_id_helper_matches_envelope() -> None:
    event = build(enrolment_normalised())
    assert event.envelope.event_id == event_id(enrolment_normalised().idempotency_key)


def test_builder_does_not_mutate_the_normalised_record() -> None:
    normalised = normalised_credential(sample("he"))
    before = copy.deepcopy(dataclasses.asdict(normalised))
    build(normalised)
    assert dataclasses.asdict(normalised) == before

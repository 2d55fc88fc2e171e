"""Validation rules: every rule has a failing case and a passing case."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from hub import vocab
from hub.contract.build import attach_warnings
from hub.contract.findings import Finding
from hub.contract.models import CredentialIssued
from hub.contract.rules import (
    RULES,
    ValidationContext,
    is_valid,
    validate_data,
    validate_event,
)
from hub.settings import Settings
from tests.unit.contract.contract_testdata import (
    CTX,
    as_json,
    build,
    enrolment_normalised,
    issued,
    revocation_normalised,
)

pytestmark = pytest.mark.unit

Mutation = Callable[[dict[str, Any]], None]


def _cred(d: dict[str, Any]) -> dict[str, Any]:
    return d["credential"]  # type: ignore[no-any-return]


def _set(path: str, value: Any) -> Mutation:
    """A mutation that sets a dotted path (``a.b[1].c``) in the JSON form."""
    def mutate(d: dict[str, Any]) -> None:
        target: Any = d
        parts = path.replace("]", "").replace("[", ".").split(".")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        last = parts[-1]
        if value is _DELETE:
            del target[last]
        elif last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value
    return mutate


_DELETE = object()


def _all(*mutations: Mutation) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        for m in mutations:
            m(d)
    return mutate


def _no_optionals(d: dict[str, Any]) -> None:
    for key in ("prerequisites", "supervisionAndIdentityVerification", "gradeAchieved",
                "integrationStackability", "furtherInformation"):
        _cred(d)[key] = None


def _no_esco(d: dict[str, Any]) -> None:
    for outcome in _cred(d)["learningOutcomes"]:
        outcome["esco"] = None


BASES: dict[str, Callable[[], dict[str, Any]]] = {
    "issued": lambda: as_json(issued("he")),
    "revoked": lambda: as_json(build(revocation_normalised())),
    "enrolment": lambda: as_json(build(enrolment_normalised())),
}
OTHER_LEARNER = "75971935462"

#: (rule, base, mutation) that must produce the rule
FAILING: list[tuple[str, str, Mutation]] = [
    ("MISSING_REQUIRED", "issued", _set("credential.title.hu", "   ")),
    ("MISSING_REQUIRED", "issued", _set("credential.learningOutcomes", [])),
    ("MISSING_REQUIRED", "issued", _set("credential.assessmentTypes", _DELETE)),
    ("MISSING_REQUIRED", "issued", _set("credential.notionalWorkload", None)),
    ("MISSING_REQUIRED", "enrolment", _set("programme.title", "")),
    ("INVALID_FORMAT", "issued", _set("envelope.rawSha256", "abc")),
    ("INVALID_FORMAT", "issued", _set("credential.notionalWorkload.ects", 1.234)),
    ("INVALID_FORMAT", "issued", _set("credential.unexpected", 1)),
    ("INVALID_FORMAT", "issued", _set("credential.learnerIdentification.educationId",
                                      77721222107)),
    ("INVALID_FORMAT", "issued", _set("envelope.occurredAt", "2025-06-30T14:05:00")),
    ("INVALID_DATE", "issued", _set("credential.dateOfIssuing", "2025-02-30")),
    ("UNKNOWN_CODE", "issued", _set("credential.gradeAchieved.scale", "ABC")),
    ("UNKNOWN_CODE", "revoked", _set("reason", "HIBAS_ADAT")),
    ("UNKNOWN_EVENT_TYPE", "issued", _set("envelope.eventType", "deleted")),
    ("TEXT_TOO_LONG", "issued", _set("credential.title.hu", "x" * 501)),
    ("LEARNER_ID_INVALID", "issued", _set("credential.learnerIdentification.educationId",
                                          "87721222107")),
    ("LEARNER_ID_CHECK_DIGIT", "issued", _set("credential.learnerIdentification.educationId",
                                              "77721222104")),
    ("LEARNER_ID_CHECK_DIGIT", "enrolment", _set("learnerIdentification.educationId",
                                                 "77721222104")),
    ("LEVEL_OUT_OF_RANGE", "issued", _all(_set("credential.level.eqf", 9),
                                          _set("credential.level.qfEheaCycle", None),
                                          _set("credential.level.nationalLevel", None))),
    ("CYCLE_LEVEL_MISMATCH", "issued", _set("credential.level.qfEheaCycle", "second cycle")),
    ("NATIONAL_LEVEL_URI_INVALID", "issued", _set("credential.level.nationalLevel",
                                                  vocab.MKKR_LEVEL_URIS[5])),
    ("ISCED_INVALID", "issued", _set("credential.fieldOfEducation",
                                     vocab.ISCED_F_PREFIX + "1234")),
    ("INVALID_ESCO_URI", "issued", _set("credential.learningOutcomes[1].esco",
                                        "https://data.europa.eu/esco/skill/x")),
    ("COUNTRY_URI_INVALID", "issued", _set("credential.awardingBodies[0].country", "HUN")),
    ("COUNTRY_URI_INVALID", "enrolment", _set("provider.country", "HU")),
    ("NUTS_URI_INVALID", "issued", _set("credential.awardingBodies[0].nutsRegion", "HU110")),
    ("ISSUER_COUNTRY_MISMATCH", "issued", _set("credential.issuerCountry",
                                               [vocab.HUN_COUNTRY, vocab.country_uri("SVK")])),
    ("ASSESSMENT_URI_INVALID", "issued", _set("credential.assessmentTypes[0]", "PROJEKTMUNKA")),
    ("MODE_URI_INVALID", "issued", _set("credential.formOfParticipation.mode", "VEGYES")),
    ("LEARNING_SETTING_URI_INVALID", "issued",
     _set("credential.formOfParticipation.learningSetting", "formal")),
    ("QA_URI_INVALID", "issued", _set("credential.qualityAssurance[0]", "MAB_INTEZMENYI")),
    ("CREDIT_SYSTEM_UNKNOWN", "issued", _set("credential.notionalWorkload.creditSystem",
                                             "http://example.org/credits")),
    ("WORKLOAD_NOT_POSITIVE", "issued", _set("credential.notionalWorkload.ects", 0)),
    ("WORKLOAD_NOT_POSITIVE", "issued", _set("credential.notionalWorkload.hours", -1)),
    ("GRADE_INVALID", "issued", _set("credential.gradeAchieved.value", 6)),
    ("GRADE_INVALID", "issued", _set("credential.gradeAchieved.value", 4.5)),
    ("GRADE_INVALID", "issued", _set("credential.gradeAchieved", {"scale": "PERCENT",
                                                                  "value": 100.5})),
    ("ISSUED_IN_FUTURE", "issued", _set("credential.dateOfIssuing", "2025-07-03")),
    ("BIRTH_AFTER_ISSUE", "issued", _set("credential.learnerIdentification.dateOfBirth",
                                         "2025-06-28")),
    ("BIRTH_AFTER_STATUS_DATE", "enrolment", _set("learnerIdentification.dateOfBirth",
                                                  "2025-07-02")),
    ("EVENT_TYPE_MISMATCH", "enrolment", _set("envelope.eventType", "completed")),
    ("EVENT_ID_MISMATCH", "issued", _set("envelope.eventId", str(uuid.uuid4()))),
    ("CREDENTIAL_ID_MISMATCH", "issued", _set("envelope.credentialId", str(uuid.uuid4()))),
    ("CREDENTIAL_ID_MISMATCH", "enrolment", _set("envelope.credentialId", str(uuid.uuid4()))),
    ("CREDENTIAL_KEY_MISMATCH", "revoked", _set("credentialKey", "he:FI31457:OTHER-1")),
    ("LEARNER_KEY_MISMATCH", "issued", _set("envelope.learnerKey", OTHER_LEARNER)),
    ("WORKLOAD_UNUSUALLY_HIGH", "issued", _set("credential.notionalWorkload.ects", 30.5)),
    ("NO_OPTIONAL_ELEMENTS", "issued", _no_optionals),
    ("NO_ENGLISH_TITLE", "issued", _set("credential.title.en", _DELETE)),
    ("NO_ESCO_ALIGNMENT", "issued", _no_esco),
]

#: (rule, base, mutation) at or inside the boundary: the rule must stay silent
PASSING: list[tuple[str, str, Mutation]] = [
    ("TEXT_TOO_LONG", "issued", _set("credential.title.hu", "x" * 500)),
    ("LEVEL_OUT_OF_RANGE", "issued", _all(_set("credential.level.eqf", 8),
                                          _set("credential.level.qfEheaCycle", "third cycle"),
                                          _set("credential.level.nationalLevel", None))),
    ("LEVEL_OUT_OF_RANGE", "issued", _all(_set("credential.level.eqf", None),
                                          _set("credential.level.qfEheaCycle", None),
                                          _set("credential.level.nationalLevel", None))),
    ("NUTS_URI_INVALID", "issued", _set("credential.awardingBodies[0].nutsRegion",
                                        vocab.NUTS_PREFIX + "HU110")),
    ("LEARNING_SETTING_URI_INVALID", "issued",
     _set("credential.formOfParticipation.learningSetting",
          vocab.LEARNING_SETTING_PREFIX + "6fd4685715")),
    ("WORKLOAD_UNUSUALLY_HIGH", "issued", _set("credential.notionalWorkload.ects", 30)),
    ("GRADE_INVALID", "issued", _set("credential.gradeAchieved", {"scale": "PERCENT",
                                                                  "value": 100})),
    ("GRADE_INVALID", "issued", _set("credential.gradeAchieved.value", 1)),
    ("ISSUED_IN_FUTURE", "issued", _set("credential.dateOfIssuing", "2025-07-02")),
    ("BIRTH_AFTER_ISSUE", "issued", _set("credential.learnerIdentification.dateOfBirth",
                                         "2025-06-27")),
    ("NO_OPTIONAL_ELEMENTS", "issued", _all(_no_optionals,
                                            _set("credential.furtherInformation", "x"))),
    ("INVALID_FORMAT", "issued", _set("envelope.prevHash", "ab" * 32)),
    ("INVALID_FORMAT", "issued", _set("credential.notionalWorkload.ects", "2.50")),
    ("CREDIT_SYSTEM_UNKNOWN", "issued", _set("credential.notionalWorkload.creditSystem",
                                             vocab.ECVET_CREDIT_SYSTEM)),
]


def _rules(base: str, mutation: Mutation | None = None) -> list[Finding]:
    data = BASES[base]()
    if mutation is not None:
        mutation(data)
    return validate_data(data, CTX)


@pytest.mark.parametrize("base", list(BASES))
def test_base_events_have_no_findings(base: str) -> None:
    assert _rules(base) == []


@pytest.mark.parametrize(("rule", "base", "mutation"), FAILING,
                         ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(FAILING)])
def test_rule_fires(rule: str, base: str, mutation: Mutation) -> None:
    findings = _rules(base, mutation)
    matching = [f for f in findings if f.rule == rule]
    assert matching, f"{rule} not in {findings}"
    assert all(f.severity == RULES[rule].severity for f in matching)
    assert is_valid(findings) == (RULES[rule].severity == "warning" and not [
        f for f in findings if f.severity == "error"])


@pytest.mark.parametrize(("rule", "base", "mutation"), PASSING,
                         ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(PASSING)])
def test_rule_stays_silent_at_the_boundary(rule: str, base: str, mutation: Mutation) -> None:
    findings = _rules(base, mutation)
    assert rule not in {f.rule for f in findings}, findings


def test_every_catalogued_rule_has_a_failing_case() -> None:
    assert {rule for rule, _, _ in FAILING} == set(RULES)


def test_finding_paths_point_at_the_value() -> None:
    findings = _rules("issued", _set("credential.learningOutcomes[1].esco", "bad"))
    assert [(f.rule, f.path) for f in findings] == [
        ("INVALID_ESCO_URI", "credential.learningOutcomes[1].esco")]
    findings = _rules("issued", _set("credential.dateOfIssuing", "2025-02-30"))
    assert findings[0].path == "credential.dateOfIssuing"


def test_issue_clock_skew_is_configurable() -> None:
    data = as_json(issued("he"))
    data["credential"]["dateOfIssuing"] = "2025-07-03"  # starts 2025-07-02T22:00Z (CEST)
    just_before = datetime(2025, 7, 2, 21, 58, tzinfo=UTC)
    lenient = ValidationContext(now=just_before, clock_skew_seconds=300)
    strict = ValidationContext(now=just_before, clock_skew_seconds=0)
    assert "ISSUED_IN_FUTURE" not in {f.rule for f in validate_data(data, lenient)}
    assert "ISSUED_IN_FUTURE" in {f.rule for f in validate_data(data, strict)}
    from_settings = ValidationContext.from_settings(
        Settings(issue_clock_skew_seconds=7200), now=just_before)
    assert from_settings.clock_skew_seconds == 7200


def test_event_type_must_fit_the_record_class() -> None:
    event = issued("he")
    data = event.model_dump()
    data["envelope"]["eventType"] = "revoked"
    wrong = CredentialIssued.model_validate(data)
    assert "EVENT_TYPE_MISMATCH" in {f.rule for f in validate_event(wrong, CTX)}


def test_warnings_travel_with_the_record() -> None:
    data = as_json(issued("he"))
    del data["credential"]["title"]["en"]
    event = CredentialIssued.model_validate(data)
    findings = validate_event(event, CTX)
    assert is_valid(findings)
    with_warnings = attach_warnings(event, findings)
    assert [w.rule for w in with_warnings.envelope.warnings] == ["NO_ENGLISH_TITLE"]
    assert validate_event(with_warnings, CTX) == findings


def test_non_object_input_is_invalid_format() -> None:
    assert [f.rule for f in validate_data([1, 2], CTX)] == ["INVALID_FORMAT"]

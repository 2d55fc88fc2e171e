"""Validation rules over the canonical models: pure functions with stable rule ids.

Structural problems (absent keys, wrong types, unknown codes, impossible dates) are found
when a record is parsed into the models (:func:`parse_event`); the semantic rules below run
on parsed models (:func:`validate_event`). Every finding is a
:class:`~hub.contract.findings.Finding` ``(rule, path, message, severity)``: ``error``
rejects the record, ``warning`` travels with it (``envelope.warnings``).

Rule ids reuse the feed contract's §8 codes where they mean the same thing. The complete
table is :data:`RULES` (rendered to ``docs/validation-rules.md`` by ``mchub schemas doc``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any, Final

from pydantic import ValidationError

from hub import vocab
from hub.contract.build import credential_id, event_id
from hub.contract.findings import Finding, Severity, findings_from_validation_error
from hub.contract.models import (
    EVENT_CLASSES,
    EVENT_TYPE_RECORDS,
    CanonicalEvent,
    Credential,
    CredentialIssued,
    CredentialRevoked,
    EnrolmentRecorded,
    Envelope,
    Learner,
    Organisation,
)
from hub.settings import Settings


@dataclass(frozen=True)
class RuleInfo:
    """Catalogue entry of one rule: id, severity, what it checks."""

    id: str
    severity: Severity
    description: str


def _r(rule_id: str, description: str, severity: Severity = "error") -> tuple[str, RuleInfo]:
    return rule_id, RuleInfo(rule_id, severity, description)


#: every rule, by id (feed contract §8 codes where they match; the rest are hub rules)
RULES: Final[dict[str, RuleInfo]] = dict([
    _r("MISSING_REQUIRED", "A mandatory element or value is absent, null, empty after "
       "trimming, or an empty required list (e.g. no learning outcomes, no `title.hu`)."),
    _r("INVALID_FORMAT", "A value has the wrong type or pattern: unknown member, malformed "
       "id, hash, trace id or timestamp, EQF not a `.../eqf/{n}` URI, more decimal places "
       "than the Avro scale."),
    _r("INVALID_DATE", "Matches `YYYY-MM-DD` but is not a real calendar date."),
    _r("UNKNOWN_CODE", "A value outside its code list (QF-EHEA cycle, supervision code, "
       "grade scale, revocation reason, enrolment status, feed, awarding-body scheme)."),
    _r("UNKNOWN_EVENT_TYPE", "`envelope.eventType` is missing or unknown, so no canonical "
       "schema applies."),
    _r("TEXT_TOO_LONG", "A text exceeds its feed-contract §3.3 limit (titles 500, learner "
       "names 100, body names 300, outcome 1000, long texts 4000 code points)."),
    _r("LEARNER_ID_INVALID", "The education ID is not 11 digits starting with 7."),
    _r("LEARNER_ID_CHECK_DIGIT", "The education ID's check digit is wrong (or remainder 10)."),
    _r("LEVEL_OUT_OF_RANGE", "EQF level outside 1-8."),
    _r("CYCLE_LEVEL_MISMATCH", "A QF-EHEA cycle is given but the EQF level is not the one "
       "it requires (short 5, first 6, second 7, third 8)."),
    _r("NATIONAL_LEVEL_URI_INVALID", "The national (MKKR) level is not the MKKR URI of the "
       "EQF level (MKKR n = EQF n)."),
    _r("ISCED_INVALID", "Field of education is not an ISCED-F 2013 URI "
       "(`http://data.europa.eu/snb/isced-f/` + 2-4 digits, 00-10)."),
    _r("INVALID_ESCO_URI", "An ESCO URI is not `http://data.europa.eu/esco/skill/{lowercase "
       "uuid}`."),
    _r("COUNTRY_URI_INVALID", "A country is not an EU country authority URI "
       "(`http://publications.europa.eu/resource/authority/country/` + 3 capitals)."),
    _r("NUTS_URI_INVALID", "A region is not a NUTS URI (`http://data.europa.eu/nuts/code/` + "
       "code)."),
    _r("ISSUER_COUNTRY_MISMATCH", "`issuerCountry` is not the distinct awarding-body "
       "countries in order of first appearance."),
    _r("ASSESSMENT_URI_INVALID", "An assessment type is not an "
       "`http://data.europa.eu/snb/assessment/` URI."),
    _r("MODE_URI_INVALID", "The form of participation is not an "
       "`http://data.europa.eu/snb/learning-assessment/` URI."),
    _r("LEARNING_SETTING_URI_INVALID", "The learning setting is not an "
       "`http://data.europa.eu/snb/learning-setting/` URI."),
    _r("QA_URI_INVALID", "A quality-assurance type is not an "
       "`http://data.europa.eu/snb/accreditation/` URI."),
    _r("CREDIT_SYSTEM_UNKNOWN", "The credit system is neither ECTS nor ECVET "
       "(`http://data.europa.eu/snb/education-credit/...`)."),
    _r("WORKLOAD_NOT_POSITIVE", "ECTS credits or hours are zero or negative."),
    _r("GRADE_INVALID", "Grade outside its scale (HU_1_5: integer 1-5; PERCENT: 0-100)."),
    _r("ISSUED_IN_FUTURE", "The date of issuing starts (00:00 Europe/Budapest) later than now "
       "plus `Settings.issue_clock_skew_seconds`."),
    _r("BIRTH_AFTER_ISSUE", "The learner's date of birth is after the date of issuing."),
    _r("BIRTH_AFTER_STATUS_DATE", "The learner's date of birth is after the enrolment's "
       "status date."),
    _r("EVENT_TYPE_MISMATCH", "`envelope.eventType` does not fit the record (issued -> "
       "CredentialIssued, revoked -> CredentialRevoked, enrolment type = `status`)."),
    _r("EVENT_ID_MISMATCH", "`envelope.eventId` is not UUIDv5 over the idempotency key."),
    _r("CREDENTIAL_ID_MISMATCH", "`envelope.credentialId` is not UUIDv5 over the credential "
       "key (or is set without a key)."),
    _r("CREDENTIAL_KEY_MISMATCH", "A revocation's `credentialKey` differs from "
       "`envelope.credentialKey`."),
    _r("LEARNER_KEY_MISMATCH", "`envelope.learnerKey` differs from the learner's education "
       "ID."),
    _r("WORKLOAD_UNUSUALLY_HIGH", "More than 30 ECTS: unusual for a micro-credential.",
       "warning"),
    _r("NO_OPTIONAL_ELEMENTS", "None of the five optional EU elements (prerequisites, "
       "supervision, grade, stackability, further information) is given.", "warning"),
    _r("NO_ENGLISH_TITLE", "The title has no English version (`title.en`).", "warning"),
    _r("NO_ESCO_ALIGNMENT", "No learning outcome is linked to an ESCO skill.", "warning"),
])

#: text limits of feed contract §3.3 (code points)
TITLE_MAX: Final = 500
NAME_MAX: Final = 100
BODY_NAME_MAX: Final = 300
OUTCOME_MAX: Final = 1000
LONG_TEXT_MAX: Final = 4000
#: above this many ECTS credits a credential gets WORKLOAD_UNUSUALLY_HIGH
ECTS_WARNING_THRESHOLD: Final = Decimal(30)

_UUID_RE: Final = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_SHA256_RE: Final = re.compile(r"^[0-9a-f]{64}$")
_TRACE_ID_RE: Final = re.compile(r"^[0-9a-f]{32}$")
_HASH_RE: Final = re.compile(r"^(?:[0-9a-f]{2}){16,64}$")
_TIMESTAMP_RE: Final = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$")
_EDU_CREDIT_SYSTEMS: Final = (vocab.ECTS_CREDIT_SYSTEM, vocab.ECVET_CREDIT_SYSTEM)


def _budapest() -> tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("Europe/Budapest")
    except Exception:  # noqa: BLE001 - no tz database: fall back to CET
        return timezone(timedelta(hours=1))


#: the time zone in which dates of issuing are calendar dates
ISSUE_TIMEZONE: Final = _budapest()


@dataclass(frozen=True)
class ValidationContext:
    """What time-dependent rules need: the current time and the allowed clock skew."""

    now: datetime
    clock_skew_seconds: int = 300

    @classmethod
    def from_settings(cls, settings: Settings | None = None,
                      now: datetime | None = None) -> ValidationContext:
        """Context from settings (``issue_clock_skew_seconds``) and ``now`` (default: UTC now)."""
        skew = (settings or Settings()).issue_clock_skew_seconds
        return cls(now=now or datetime.now(UTC), clock_skew_seconds=skew)


def _f(rule: str, path: str, message: str) -> Finding:
    return Finding(rule, path, message, RULES[rule].severity)


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def _text(value: str | None, path: str, limit: int, *, required: bool) -> Iterator[Finding]:
    if _blank(value):
        if required:
            yield _f("MISSING_REQUIRED", path, "required text is empty")
        return
    assert value is not None
    if len(value) > limit:
        yield _f("TEXT_TOO_LONG", path, f"{len(value)} characters, limit {limit}")


def _uri(value: str | None, path: str, rule: str, *, prefix: str | None = None,
         pattern: re.Pattern[str] | None = None) -> Iterator[Finding]:
    if value is None:
        return
    if _blank(value):
        yield _f("MISSING_REQUIRED", path, "required URI is empty")
        return
    ok = (pattern.fullmatch(value) is not None if pattern is not None
          else prefix is not None and value.startswith(prefix) and len(value) > len(prefix))
    if not ok:
        expected = pattern.pattern if pattern is not None else f"{prefix}..."
        yield _f(rule, path, f"{value!r} does not match {expected}")


def _non_empty_list(values: list[Any], path: str) -> Iterator[Finding]:
    if not values:
        yield _f("MISSING_REQUIRED", path, "required list is empty")


# ------------------------------------------------------------------------------ parts


def check_learner(learner: Learner, path: str) -> Iterator[Finding]:
    """Education ID format and check digit; names present and within limits."""
    education_id = learner.education_id
    if _blank(education_id):
        yield _f("MISSING_REQUIRED", f"{path}.educationId", "education ID is empty")
    elif not vocab.education_id_format_ok(education_id):
        yield _f("LEARNER_ID_INVALID", f"{path}.educationId",
                 "must be 11 digits starting with 7")
    elif not vocab.education_id_check_digit_ok(education_id):
        yield _f("LEARNER_ID_CHECK_DIGIT", f"{path}.educationId", "check digit is wrong")
    yield from _text(learner.family_name, f"{path}.familyName", NAME_MAX, required=True)
    yield from _text(learner.given_name, f"{path}.givenName", NAME_MAX, required=True)
    for i, other in enumerate(learner.other_identifiers):
        yield from _text(other.scheme, f"{path}.otherIdentifiers[{i}].scheme", 100,
                         required=True)
        yield from _text(other.value, f"{path}.otherIdentifiers[{i}].value", 100,
                         required=True)


def check_organisation(body: Organisation, path: str) -> Iterator[Finding]:
    """Legal name present; identifier present for Hungarian schemes; country and NUTS URIs."""
    yield from _text(body.name, f"{path}.name", BODY_NAME_MAX, required=True)
    if body.scheme != "OTHER" and _blank(body.id):
        yield _f("MISSING_REQUIRED", f"{path}.id", f"{body.scheme} body needs an identifier")
    yield from _uri(body.country, f"{path}.country", "COUNTRY_URI_INVALID",
                    pattern=vocab.COUNTRY_URI_RE)
    yield from _uri(body.nuts_region, f"{path}.nutsRegion", "NUTS_URI_INVALID",
                    pattern=vocab.NUTS_URI_RE)
    for i, ident in enumerate(body.legal_identifiers):
        yield from _text(ident.scheme, f"{path}.legalIdentifiers[{i}].scheme", 100,
                         required=True)
        yield from _text(ident.value, f"{path}.legalIdentifiers[{i}].value", 100,
                         required=True)


def check_credential(credential: Credential, ctx: ValidationContext,
                     path: str = "credential") -> Iterator[Finding]:
    """Every rule on the credential content (EU standard elements)."""
    c = credential
    yield from check_learner(c.learner_identification, f"{path}.learnerIdentification")
    # title
    yield from _text(c.title.get("hu"), f"{path}.title.hu", TITLE_MAX, required=True)
    for lang, text in c.title.items():
        if lang != "hu":
            yield from _text(text, f"{path}.title.{lang}", TITLE_MAX, required=True)
    if _blank(c.title.get("en")):
        yield _f("NO_ENGLISH_TITLE", f"{path}.title.en", "no English title")
    # issuer country and awarding bodies
    yield from _non_empty_list(c.issuer_country, f"{path}.issuerCountry")
    for i, country in enumerate(c.issuer_country):
        yield from _uri(country, f"{path}.issuerCountry[{i}]", "COUNTRY_URI_INVALID",
                        pattern=vocab.COUNTRY_URI_RE)
    yield from _non_empty_list(c.awarding_bodies, f"{path}.awardingBodies")
    for i, body in enumerate(c.awarding_bodies):
        yield from check_organisation(body, f"{path}.awardingBodies[{i}]")
    expected_countries = list(dict.fromkeys(b.country for b in c.awarding_bodies))
    if c.awarding_bodies and c.issuer_country and c.issuer_country != expected_countries:
        yield _f("ISSUER_COUNTRY_MISMATCH", f"{path}.issuerCountry",
                 f"expected {expected_countries} from the awarding bodies")
    # dates
    skew = timedelta(seconds=ctx.clock_skew_seconds)
    issue_start = datetime.combine(c.date_of_issuing, time(0), ISSUE_TIMEZONE)
    if issue_start > ctx.now + skew:
        yield _f("ISSUED_IN_FUTURE", f"{path}.dateOfIssuing",
                 f"{c.date_of_issuing.isoformat()} is in the future")
    if c.learner_identification.date_of_birth > c.date_of_issuing:
        yield _f("BIRTH_AFTER_ISSUE", f"{path}.learnerIdentification.dateOfBirth",
                 "date of birth is after the date of issuing")
    # learning outcomes
    yield from _non_empty_list(c.learning_outcomes, f"{path}.learningOutcomes")
    for i, outcome in enumerate(c.learning_outcomes):
        opath = f"{path}.learningOutcomes[{i}]"
        yield from _text(outcome.text, f"{opath}.text", OUTCOME_MAX, required=True)
        yield from _uri(outcome.esco, f"{opath}.esco", "INVALID_ESCO_URI",
                        pattern=vocab.ESCO_SKILL_RE)
        for j, uri in enumerate(outcome.additional_esco):
            yield from _uri(uri, f"{opath}.additionalEsco[{j}]", "INVALID_ESCO_URI",
                            pattern=vocab.ESCO_SKILL_RE)
    if c.learning_outcomes and not any(o.esco or o.additional_esco
                                       for o in c.learning_outcomes):
        yield _f("NO_ESCO_ALIGNMENT", f"{path}.learningOutcomes",
                 "no outcome is linked to an ESCO skill")
    # workload
    w = c.notional_workload
    wpath = f"{path}.notionalWorkload"
    if w.ects <= 0:
        yield _f("WORKLOAD_NOT_POSITIVE", f"{wpath}.ects", f"{w.ects} is not positive")
    elif w.ects > ECTS_WARNING_THRESHOLD:
        yield _f("WORKLOAD_UNUSUALLY_HIGH", f"{wpath}.ects",
                 f"{w.ects} ECTS is more than {ECTS_WARNING_THRESHOLD}")
    if w.hours <= 0:
        yield _f("WORKLOAD_NOT_POSITIVE", f"{wpath}.hours", f"{w.hours} is not positive")
    if _blank(w.credit_system):
        yield _f("MISSING_REQUIRED", f"{wpath}.creditSystem", "credit system is empty")
    elif w.credit_system not in _EDU_CREDIT_SYSTEMS:
        yield _f("CREDIT_SYSTEM_UNKNOWN", f"{wpath}.creditSystem",
                 f"{w.credit_system!r} is neither ECTS nor ECVET")
    # level
    level = c.level
    lpath = f"{path}.level"
    if level.eqf is not None and not 1 <= level.eqf <= 8:
        yield _f("LEVEL_OUT_OF_RANGE", f"{lpath}.eqf", f"EQF level {level.eqf} is not 1-8")
    if level.qf_ehea_cycle is not None:
        required = vocab.QF_EHEA_CYCLE_LEVELS[level.qf_ehea_cycle]
        if level.eqf != required:
            yield _f("CYCLE_LEVEL_MISMATCH", f"{lpath}.qfEheaCycle",
                     f"{level.qf_ehea_cycle} requires EQF {required}, got {level.eqf}")
    if level.national_level is not None and (
            level.eqf is None or vocab.MKKR_LEVEL_URIS.get(level.eqf) != level.national_level):
        yield _f("NATIONAL_LEVEL_URI_INVALID", f"{lpath}.nationalLevel",
                 f"{level.national_level!r} is not the MKKR URI of EQF {level.eqf}")
    # field of education
    yield from _uri(c.field_of_education, f"{path}.fieldOfEducation", "ISCED_INVALID",
                    pattern=vocab.ISCED_F_URI_RE)
    # assessment, participation, quality assurance
    yield from _non_empty_list(c.assessment_types, f"{path}.assessmentTypes")
    for i, uri in enumerate(c.assessment_types):
        yield from _uri(uri, f"{path}.assessmentTypes[{i}]", "ASSESSMENT_URI_INVALID",
                        prefix=vocab.ASSESSMENT_PREFIX)
    p = c.form_of_participation
    if _blank(p.mode):
        yield _f("MISSING_REQUIRED", f"{path}.formOfParticipation.mode", "mode is empty")
    else:
        yield from _uri(p.mode, f"{path}.formOfParticipation.mode", "MODE_URI_INVALID",
                        prefix=vocab.MODE_PREFIX)
    yield from _uri(p.learning_setting, f"{path}.formOfParticipation.learningSetting",
                    "LEARNING_SETTING_URI_INVALID", prefix=vocab.LEARNING_SETTING_PREFIX)
    yield from _non_empty_list(c.quality_assurance, f"{path}.qualityAssurance")
    for i, uri in enumerate(c.quality_assurance):
        yield from _uri(uri, f"{path}.qualityAssurance[{i}]", "QA_URI_INVALID",
                        prefix=vocab.ACCREDITATION_PREFIX)
    # optional elements
    yield from _text(c.prerequisites, f"{path}.prerequisites", LONG_TEXT_MAX, required=False)
    yield from _text(c.further_information, f"{path}.furtherInformation", LONG_TEXT_MAX,
                     required=False)
    grade = c.grade_achieved
    if grade is not None:
        gpath = f"{path}.gradeAchieved.value"
        if grade.scale == "HU_1_5":
            if grade.value != grade.value.to_integral_value() or not 1 <= grade.value <= 5:
                yield _f("GRADE_INVALID", gpath, f"{grade.value} is not an integer 1-5")
        elif not 0 <= grade.value <= 100:
            yield _f("GRADE_INVALID", gpath, f"{grade.value} is not within 0-100")
    stack = c.integration_stackability
    if stack is not None:
        yield from _text(stack.text, f"{path}.integrationStackability.text", LONG_TEXT_MAX,
                         required=False)
    if (c.prerequisites is None and c.supervision_and_identity_verification is None
            and grade is None and stack is None and c.further_information is None):
        yield _f("NO_OPTIONAL_ELEMENTS", path, "none of the five optional EU elements is given")


def check_envelope(envelope: Envelope, path: str = "envelope") -> Iterator[Finding]:
    """Identity derivation, hashes, trace id, timestamps and al row metadata."""
    e = envelope
    for name, value in (("sourceEventId", e.source_event_id),
                        ("idempotencyKey", e.idempotency_key),
                        ("mappingVersion", e.mapping_version), ("hubVersion", e.hub_version),
                        ("learnerKey", e.learner_key)):
        if _blank(value):
            yield _f("MISSING_REQUIRED", f"{path}.{name}", "required value is empty")
    if not _UUID_RE.fullmatch(e.event_id):
        yield _f("INVALID_FORMAT", f"{path}.eventId", "not a lowercase UUID")
    elif e.idempotency_key and e.event_id != event_id(e.idempotency_key):
        yield _f("EVENT_ID_MISMATCH", f"{path}.eventId",
                 "not UUIDv5 over the idempotency key")
    if e.credential_id is not None and not _UUID_RE.fullmatch(e.credential_id):
        yield _f("INVALID_FORMAT", f"{path}.credentialId", "not a lowercase UUID")
    elif e.credential_key is not None and e.credential_id != credential_id(e.credential_key):
        yield _f("CREDENTIAL_ID_MISMATCH", f"{path}.credentialId",
                 "not UUIDv5 over the credential key")
    elif e.credential_key is None and e.credential_id is not None:
        yield _f("CREDENTIAL_ID_MISMATCH", f"{path}.credentialId",
                 "set although there is no credential key")
    if not _SHA256_RE.fullmatch(e.raw_sha256):
        yield _f("INVALID_FORMAT", f"{path}.rawSha256", "not 64 lowercase hex digits")
    if not _TRACE_ID_RE.fullmatch(e.trace_id) or set(e.trace_id) == {"0"}:
        yield _f("INVALID_FORMAT", f"{path}.traceId",
                 "not a W3C trace id (32 lowercase hex, not all zero)")
    if e.prev_hash is not None and not _HASH_RE.fullmatch(e.prev_hash):
        yield _f("INVALID_FORMAT", f"{path}.prevHash", "not a lowercase hex hash")
    if e.schema_version < 1:
        yield _f("INVALID_FORMAT", f"{path}.schemaVersion", "schema versions start at 1")
    if e.occurred_at is None:
        if e.feed != "al":
            yield _f("MISSING_REQUIRED", f"{path}.occurredAt", f"{e.feed} events have a time")
    elif not _timestamp_ok(e.occurred_at):
        yield _f("INVALID_FORMAT", f"{path}.occurredAt",
                 "not an RFC 3339 timestamp with offset")
    if e.feed == "al":
        if e.row is None or e.row < 1:
            yield _f("MISSING_REQUIRED", f"{path}.row", "al events carry their data-row index")
        if _blank(e.sor_azonosito):
            yield _f("MISSING_REQUIRED", f"{path}.sor_azonosito", "al events carry the row id")


def _timestamp_ok(value: str) -> bool:
    if not _TIMESTAMP_RE.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _learner_key(envelope: Envelope, learner: Learner, path: str) -> Iterator[Finding]:
    if envelope.learner_key and envelope.learner_key != learner.education_id:
        yield _f("LEARNER_KEY_MISMATCH", path, "differs from the learner's education ID")


def check_event(event: CanonicalEvent, ctx: ValidationContext) -> Iterator[Finding]:
    """Every rule for one canonical event (envelope, then payload)."""
    env = event.envelope
    yield from check_envelope(env)
    expected_record = EVENT_TYPE_RECORDS[env.event_type]
    if expected_record != event.avro_name or (
            isinstance(event, EnrolmentRecorded) and env.event_type != event.status):
        yield _f("EVENT_TYPE_MISMATCH", "envelope.eventType",
                 f"{env.event_type!r} does not fit a {event.avro_name}")
    if isinstance(event, CredentialIssued):
        yield from check_credential(event.credential, ctx)
        yield from _learner_key(env, event.credential.learner_identification,
                                "envelope.learnerKey")
        if event.supersedes is not None and not _UUID_RE.fullmatch(event.supersedes):
            yield _f("INVALID_FORMAT", "supersedes", "not a hub credential id (UUID)")
        if env.credential_key is None:
            yield _f("MISSING_REQUIRED", "envelope.credentialKey", "an issuance has a key")
    elif isinstance(event, CredentialRevoked):
        if _blank(event.credential_key):
            yield _f("MISSING_REQUIRED", "credentialKey", "credential key is empty")
        elif event.credential_key != env.credential_key:
            yield _f("CREDENTIAL_KEY_MISMATCH", "credentialKey",
                     "differs from envelope.credentialKey")
        yield from _text(event.reason_text, "reasonText", LONG_TEXT_MAX, required=False)
    else:
        yield from check_learner(event.learner_identification, "learnerIdentification")
        yield from _learner_key(env, event.learner_identification, "envelope.learnerKey")
        yield from check_organisation(event.provider, "provider")
        yield from _text(event.programme.id, "programme.id", 64, required=True)
        yield from _text(event.programme.title, "programme.title", TITLE_MAX, required=True)
        yield from _text(event.withdrawal_reason, "withdrawalReason", LONG_TEXT_MAX,
                         required=False)
        if event.learner_identification.date_of_birth > event.status_date:
            yield _f("BIRTH_AFTER_STATUS_DATE", "learnerIdentification.dateOfBirth",
                     "date of birth is after the status date")


def validate_credential(credential: Credential, ctx: ValidationContext | None = None,
                        path: str = "credential") -> list[Finding]:
    """All findings on a credential's content (errors and warnings)."""
    return list(check_credential(credential, ctx or ValidationContext.from_settings(), path))


def validate_event(event: CanonicalEvent, ctx: ValidationContext | None = None) -> list[Finding]:
    """All findings on one canonical event (errors and warnings)."""
    return list(check_event(event, ctx or ValidationContext.from_settings()))


def parse_event(data: Any) -> tuple[CanonicalEvent | None, list[Finding]]:
    """The JSON (or Avro dict) form of an event -> its model, or None and structural findings.

    The record type follows ``envelope.eventType``.
    """
    if not isinstance(data, dict):
        return None, [_f("INVALID_FORMAT", "$", "an event must be a JSON object")]
    envelope = data.get("envelope")
    event_type = envelope.get("eventType") if isinstance(envelope, dict) else None
    record = EVENT_TYPE_RECORDS.get(event_type) if isinstance(event_type, str) else None
    if record is None:
        return None, [_f("UNKNOWN_EVENT_TYPE", "envelope.eventType",
                         f"unknown event type {event_type!r}")]
    try:
        return EVENT_CLASSES[record].model_validate(data), []
    except ValidationError as exc:
        return None, findings_from_validation_error(exc)


def validate_data(data: Any, ctx: ValidationContext | None = None) -> list[Finding]:
    """Structural and semantic findings for the JSON form of one event."""
    event, findings = parse_event(data)
    if event is None:
        return findings
    return validate_event(event, ctx)


def is_valid(findings: list[Finding]) -> bool:
    """True when no finding rejects."""
    return all(f.severity != "error" for f in findings)


__all__ = [
    "RULES",
    "RuleInfo",
    "ValidationContext",
    "check_credential",
    "check_envelope",
    "check_event",
    "is_valid",
    "parse_event",
    "validate_credential",
    "validate_data",
    "validate_event",
]

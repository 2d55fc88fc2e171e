"""The canonical contract as pydantic models (the source of the Avro schemas).

Every canonical event is one of three Avro records in the namespace
``eu.mchub.canonical`` (see :data:`NAMESPACE`): :class:`CredentialIssued`,
:class:`CredentialRevoked` and :class:`EnrolmentRecorded`. Each starts with the same
:class:`Envelope`. The released Avro schemas (package data,
``hub/contract/schemas/eu.mchub.canonical/vN/``) are generated from these models by
:mod:`hub.contract.avrogen`; a unit test proves that the
current models generate exactly the newest released schemas, so models and schemas agree
field by field.

Three representations of one event:

* the **model** (these classes);
* the **Avro dict form**: ``model.model_dump()`` — camelCase keys, ``datetime.date``,
  ``decimal.Decimal`` and aware ``datetime`` values, exactly what fastavro writes and reads;
* the **JSON form**: ``model.model_dump(mode="json")`` — dates as ``YYYY-MM-DD``, decimals
  as JSON numbers, timestamps as RFC 3339. ``mchub validate`` reads this form.

Decimals: ECTS credits (``decimal(6,2)``), notional hours (``decimal(8,2)``) and grade
values (``decimal(5,2)``) use the Avro ``decimal`` logical type on ``bytes``, so they are
exact; more decimal places than the scale is a structural error (``INVALID_FORMAT``).

Field names are camelCase on the wire (Avro, JSON) and snake_case in Python; the wire
names of the credential content are the feed contract's §1.2 element keys, so a credential
converts losslessly from and to the §1.2 canonical form (:mod:`hub.contract.elements`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

#: the one Avro namespace of the canonical contract (versions live in directories, not names)
NAMESPACE: Final = "eu.mchub.canonical"
#: the newest released schema version; the builder writes it into every envelope
SCHEMA_VERSION: Final = 2

#: The EU standard elements (Council Recommendation 2022, Annex I): key -> display name.
#: Fields name the element they carry with ``eu=<key>``; the schema reference shows it.
EU_ELEMENTS: Final[dict[str, str]] = {
    "learner": "M1 Identification of the learner",
    "title": "M2 Title",
    "country": "M3 Country(ies)/region(s) of the issuer",
    "awardingBody": "M4 Awarding body(ies)",
    "dateOfIssuing": "M5 Date of issuing",
    "learningOutcomes": "M6 Learning outcomes",
    "workload": "M7 Notional workload",
    "level": "M8 Level (EQF / QF-EHEA)",
    "assessment": "M9 Type of assessment",
    "participation": "M10 Form of participation",
    "qualityAssurance": "M11 Type of quality assurance",
    "prerequisites": "O1 Prerequisites",
    "supervision": "O2 Supervision and identity verification",
    "grade": "O3 Grade achieved",
    "stackability": "O4 Integration/stackability options",
    "furtherInformation": "O5 Further information",
}

_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _parse_date(value: Any) -> Any:
    """Accept a ``datetime.date`` or a strict ``YYYY-MM-DD`` string (no times, no numbers)."""
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str):
        if not _DATE_RE.fullmatch(value):
            raise PydanticCustomError("INVALID_FORMAT", "not a YYYY-MM-DD date: {value}",
                                      {"value": value})
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError("INVALID_DATE", "not a real calendar date: {value}",
                                      {"value": value}) from None
    if value is None:
        return value
    raise PydanticCustomError("INVALID_FORMAT", "a date must be a YYYY-MM-DD string")


def _decimal_json(value: Decimal) -> int | float:
    """JSON form of an exact decimal: an integer when whole, else a float (shortest repr)."""
    return int(value) if value == value.to_integral_value() else float(value)


@dataclass(frozen=True)
class AvroDecimal:
    """Annotation marker: this Decimal is an Avro ``bytes``/``decimal`` with this precision."""

    precision: int
    scale: int


#: a calendar date (Avro ``int``/``date``); JSON form ``YYYY-MM-DD``
CalendarDate = Annotated[date, BeforeValidator(_parse_date)]


_DECIMAL_JSON = PlainSerializer(_decimal_json, return_type=Any, when_used="json")

#: ECTS credits: exact, Avro ``bytes``/``decimal(6,2)``
Ects = Annotated[Decimal, AvroDecimal(6, 2), Field(max_digits=6, decimal_places=2), _DECIMAL_JSON]
#: notional hours: exact, Avro ``bytes``/``decimal(8,2)``
Hours = Annotated[Decimal, AvroDecimal(8, 2), Field(max_digits=8, decimal_places=2), _DECIMAL_JSON]
#: a grade value: exact, Avro ``bytes``/``decimal(5,2)``
GradeValue = Annotated[
    Decimal, AvroDecimal(5, 2), Field(max_digits=5, decimal_places=2), _DECIMAL_JSON
]

#: a language map: ISO 639-1 code -> text, e.g. ``{"hu": "...", "en": "..."}`` (Avro map)
LanguageMap = dict[str, str]

QfEheaCycle = Literal["short cycle", "first cycle", "second cycle", "third cycle"]
Supervision = Literal[
    "none", "supervised-no-id-check", "supervised-id-verified", "remote-supervised-id-verified"
]
GradeScale = Literal["HU_1_5", "PERCENT"]
RevocationReason = Literal["DATA_ERROR", "FRAUD", "ASSESSMENT_ANNULLED", "ISSUER_DECISION",
                           "OTHER"]
EnrolmentStatus = Literal["enrolled", "withdrawn", "completed"]
EventType = Literal["issued", "revoked", "enrolled", "withdrawn", "completed"]
Feed = Literal["he", "vet", "al"]
SourceSystem = Literal["FIR", "KRETA", "FAR"]
AwardingScheme = Literal["HU-FI", "HU-OM", "HU-AKT", "HU-FAR", "OTHER"]


def fld(doc: str, *, eu: str | None = None, elm: str | None = None, default: Any = ...,
        factory: Any = None, alias: str | None = None) -> Any:
    """A documented field: ``doc`` becomes the Avro ``doc``; ``eu``/``elm`` the EU mapping.

    ``eu`` is a key of :data:`EU_ELEMENTS`; ``elm`` the ELM 3 property path. Both are
    emitted as extra Avro field attributes (``euElement``, ``elm``), which do not change
    the schema's Parsing Canonical Form or fingerprint.
    """
    if eu is not None and eu not in EU_ELEMENTS:
        raise ValueError(f"unknown EU element key {eu!r}")
    extra: dict[str, Any] = {}
    if eu is not None:
        extra["euElement"] = EU_ELEMENTS[eu]
    if elm is not None:
        extra["elm"] = elm
    kwargs: dict[str, Any] = {"description": doc, "json_schema_extra": extra or None}
    if alias is not None:
        kwargs["alias"] = alias
    if factory is not None:
        return Field(default_factory=factory, **kwargs)
    return Field(default, **kwargs)


def camel_case(*, extra: Literal["forbid", "ignore"]) -> ConfigDict:
    """Model configuration of the hub's wire models: camelCase names on the wire (snake_case
    accepted too), immutable; ``extra`` says what becomes of unknown keys."""
    return ConfigDict(alias_generator=to_camel, validate_by_name=True, validate_by_alias=True,
                      serialize_by_alias=True, frozen=True, extra=extra)


class ContractModel(BaseModel):
    """Base of every canonical record: camelCase wire names, immutable, no unknown keys."""

    model_config = camel_case(extra="forbid")


# --------------------------------------------------------------------------- reusable types


class Identifier(ContractModel):
    """An identifier within a named scheme (legal registration, national or other ID)."""

    scheme: str = fld("Identifier scheme, e.g. HU-FI, HU-OM, HU-AKT, HU-FAR, EU-VAT, eIDAS.")
    value: str = fld("The identifier exactly as issued in that scheme.")


class Concept(ContractModel):
    """A controlled-vocabulary concept: its URI and an optional multilingual label."""

    uri: str = fld("Concept URI (an EU vocabulary URI where one exists).")
    label: LanguageMap = fld("Preferred label by language code; empty when unknown.",
                             factory=dict)


class SealedPersonalData(ContractModel):
    """Personal data encrypted with the learner's own key (crypto-shredding, docs/privacy.md)."""

    alg: Literal["A256GCM"] = fld("Encryption: AES-256-GCM (RFC 5116), 96-bit nonce.")
    kid: str = fld("Id of the learner's data key in the hub's learner key store.")
    nonce: str = fld("The nonce, base64url without padding.")
    ciphertext: str = fld(
        "The encrypted JSON of the clear fields, then the 128-bit tag, base64url without "
        "padding; the associated data is the learner pseudonym and the key id.")


class Learner(ContractModel):
    """Identification of the learner (Hungarian education ID, names, birth date).

    When ``sealed`` is set the clear fields hold placeholders — ``educationId`` the keyed
    learner pseudonym, empty names, ``dateOfBirth`` 1900-01-01, no other identifiers — and
    the values are in ``sealed``, readable only while the learner's key exists."""

    education_id: str = fld(
        "Hungarian education ID (oktatási azonosító): 11 digits, first digit 7, check digit.",
        eu="learner", elm="credentialSubject.nationalID")
    family_name: str = fld("Family name, trimmed, NFC.", eu="learner",
                           elm="credentialSubject.familyName")
    given_name: str = fld("Given name(s), trimmed, NFC.", eu="learner",
                          elm="credentialSubject.givenName")
    date_of_birth: CalendarDate = fld("Date of birth.", eu="learner",
                                      elm="credentialSubject.dateOfBirth")
    other_identifiers: list[Identifier] = fld(
        "Further identifiers of the learner (e.g. a foreign national ID); may be empty.",
        eu="learner", elm="credentialSubject.identifier[]", factory=list)
    sealed: SealedPersonalData | None = fld(
        "The learner's identification encrypted with the learner's key, or null when the "
        "clear fields hold it (records of schema version 1).", default=None)


class Organisation(ContractModel):
    """An organisation (awarding body or provider) with its legal identification."""

    id: str | None = fld(
        "Primary legal identifier in `scheme` (null for a foreign body without one).",
        eu="awardingBody", elm="awardingBody.registration", default=None)
    scheme: AwardingScheme = fld(
        "Scheme of `id` (feed contract §1.2).", eu="awardingBody",
        elm="awardingBody.registration.schemeName")
    name: str = fld("Legal name of the organisation.", eu="awardingBody",
                    elm="awardingBody.legalName")
    country: str = fld("Country URI (EU country authority, ISO 3166-1 alpha-3).",
                       eu="country", elm="awardingBody.location.address.countryCode")
    legal_identifiers: list[Identifier] = fld(
        "Further legal identifiers (VAT, eIDAS, ...); may be empty.", eu="awardingBody",
        elm="awardingBody.eIDASIdentifier / registration", factory=list)
    nuts_region: str | None = fld(
        "NUTS region URI (http://data.europa.eu/nuts/code/...), optional.", eu="country",
        elm="awardingBody.location.spatialCode", default=None)


class LearningOutcome(ContractModel):
    """One learning outcome statement and its ESCO skill alignment."""

    text: str = fld("Outcome statement (title), in Hungarian, trimmed, NFC.",
                    eu="learningOutcomes", elm="specifiedBy.learningOutcome[].title")
    esco: str | None = fld("Related ESCO skill URI, or null.", eu="learningOutcomes",
                           elm="specifiedBy.learningOutcome[].relatedESCOSkill", default=None)
    additional_esco: list[str] = fld(
        "Further related ESCO skill URIs beyond `esco`; may be empty.", eu="learningOutcomes",
        elm="specifiedBy.learningOutcome[].relatedESCOSkill", factory=list)


class Workload(ContractModel):
    """Notional workload: ECTS credits (exact decimal), credit system and hours."""

    ects: Ects = fld("Credits, exact decimal(6,2) (Avro bytes/decimal).", eu="workload",
                     elm="specifiedBy.creditPoint.point")
    hours: Hours = fld("Notional hours of learning, exact decimal(8,2).", eu="workload",
                       elm="specifiedBy.volumeOfLearning (ISO 8601 PTnH)")
    credit_system: str = fld("Credit system URI (ECTS: .../education-credit/6fcec5c5af).",
                             eu="workload", elm="specifiedBy.creditPoint.framework")


class Level(ContractModel):
    """Level of the learning: EQF, national (MKKR) level and QF-EHEA cycle, each optional."""

    eqf: StrictInt | None = fld("EQF level 1-8 (URI http://data.europa.eu/snb/eqf/{n}), or null.",
                                eu="level", elm="specifiedBy.eqfLevel", default=None)
    national_level: str | None = fld(
        "Hungarian MKKR level URI (http://data.europa.eu/snb/qdr/...), or null.", eu="level",
        elm="specifiedBy.nqfLevel", default=None)
    qf_ehea_cycle: QfEheaCycle | None = fld(
        "QF-EHEA cycle (higher education only), or null.", eu="level",
        elm="specifiedBy.nqfLevel (QF-EHEA)", default=None)


class Participation(ContractModel):
    """Form of participation: mode of learning and, optionally, the learning setting."""

    mode: str = fld("Mode URI (http://data.europa.eu/snb/learning-assessment/...).",
                    eu="participation", elm="specifiedBy.mode")
    learning_setting: str | None = fld(
        "Learning setting URI (http://data.europa.eu/snb/learning-setting/...), or null.",
        eu="participation", elm="specifiedBy.learningSetting", default=None)


class Grade(ContractModel):
    """The grade achieved on a scale."""

    scale: GradeScale = fld("Grading scale: HU_1_5 (integers 1-5) or PERCENT (0-100).",
                            eu="grade", elm="provenBy.grade")
    value: GradeValue = fld("Grade value, exact decimal(5,2).", eu="grade",
                            elm="provenBy.grade")


class Stackability(ContractModel):
    """Integration / stackability options."""

    part_of_programme: str | None = fld(
        "Code of the larger programme this credential counts towards, or null.",
        eu="stackability", elm="isPartOf / entitlesTo", default=None)
    text: str | None = fld("How the credential can be credited or stacked, or null.",
                           eu="stackability", elm="isPartialQualification / hasPart",
                           default=None)


class Programme(ContractModel):
    """A programme or course a learner enrols in."""

    id: str = fld("Programme / course code, unique within the provider.")
    title: str = fld("Programme title (Hungarian).")


class Credential(ContractModel):
    """The micro-credential: the EU standard elements (feed contract §1.2 keys) plus extras."""

    learner_identification: Learner = fld("The learner.", eu="learner",
                                          elm="credentialSubject")
    title: LanguageMap = fld("Title by language code; `hu` required, `en` if given.",
                             eu="title", elm="hasClaim.title, hasClaim.specifiedBy.title")
    issuer_country: list[str] = fld(
        "Country URIs of the awarding bodies, distinct, in order of first appearance.",
        eu="country", elm="awardedBy.awardingBody.location.address.countryCode")
    awarding_bodies: list[Organisation] = fld("Awarding bodies, primary first.",
                                              eu="awardingBody",
                                              elm="hasClaim.awardedBy.awardingBody[]")
    date_of_issuing: CalendarDate = fld("Date of issuing.", eu="dateOfIssuing",
                                        elm="issued, validFrom, awardedBy.awardingDate")
    learning_outcomes: list[LearningOutcome] = fld("Learning outcomes, source order.",
                                                   eu="learningOutcomes",
                                                   elm="specifiedBy.learningOutcome[]")
    notional_workload: Workload = fld("Notional workload.", eu="workload",
                                      elm="specifiedBy.creditPoint, volumeOfLearning")
    level: Level = fld("Level (§1.2 keys eqfLevel and qfEheaCycle).", eu="level",
                       elm="specifiedBy.eqfLevel, nqfLevel")
    field_of_education: str | None = fld("ISCED-F 2013 field URI, or null.",
                                         elm="specifiedBy.ISCEDFCode", default=None)
    assessment_types: list[str] = fld("Assessment type URIs, distinct, first-appearance order.",
                                      eu="assessment",
                                      elm="hasClaim.provenBy.specifiedBy.dcType")
    form_of_participation: Participation = fld("Form of participation.", eu="participation",
                                               elm="specifiedBy.mode, learningSetting")
    quality_assurance: list[str] = fld("Quality-assurance (accreditation) type URIs.",
                                       eu="qualityAssurance", elm="specifiedBy.accreditation")
    prerequisites: str | None = fld("Prerequisites needed to enrol, or null.",
                                    eu="prerequisites", elm="specifiedBy.entryRequirement",
                                    default=None)
    supervision_and_identity_verification: Supervision | None = fld(
        "Supervision and identity verification at the assessment (hub code), or null.",
        eu="supervision", elm="provenBy.idVerification", default=None)
    grade_achieved: Grade | None = fld("Grade achieved, or null.", eu="grade",
                                       elm="provenBy.grade", default=None)
    integration_stackability: Stackability | None = fld(
        "Integration/stackability options, or null.", eu="stackability",
        elm="hasPart / isPartOf / entitlesTo", default=None)
    further_information: str | None = fld("Further information, or null.",
                                          eu="furtherInformation",
                                          elm="hasClaim.additionalNote", default=None)
    labels: list[Concept] = fld("Labels of concept URIs used above; may be empty.",
                                elm="prefLabel of the concepts", factory=list)


class ValidationWarning(ContractModel):
    """A warning found when the record was accepted; it travels with the record."""

    rule: str = fld("Stable rule id, e.g. WORKLOAD_UNUSUALLY_HIGH.")
    path: str = fld("JSON path of the value, e.g. credential.notionalWorkload.ects.")
    message: str = fld("Human-readable explanation.")


class Envelope(ContractModel):
    """Metadata carried by every canonical event (identity, provenance, tracing)."""

    event_id: str = fld("Hub event id: UUIDv5 over the idempotency key (deterministic).")
    event_type: EventType = fld("Kind of event.")
    source_system: SourceSystem = fld(
        "Sector information system that sent the event (he: FIR, vet: KRETA, al: FAR).")
    feed: Feed = fld("Feed contract id.")
    source_event_id: str = fld("Source event id (he/vet event id, al sor_azonosito).")
    idempotency_key: str = fld("Feed contract idempotency key, e.g. he:{event id}.")
    credential_key: str | None = fld(
        "Feed contract credential key, e.g. he:FI31457:TME-MK-2025-0117; null for enrolments.",
        default=None)
    credential_id: str | None = fld(
        "Hub-wide credential id: UUIDv5 over the credential key; null for enrolments.",
        default=None)
    learner_key: str = fld(
        "Learner key: the keyed learner pseudonym (lk1-…; schema version 1: the education ID).")
    occurred_at: str | None = fld(
        "Source event time as written (RFC 3339 with offset); null for al.", default=None)
    received_at: AwareDatetime = fld("When the hub received the source bytes (UTC, micros).")
    schema_version: StrictInt = fld("Version of the canonical schema the writer used.")
    mapping_version: str = fld("Version of the sector mapping (normaliser) that produced it.")
    hub_version: str = fld("Version of the hub software that built the event.")
    raw_sha256: str = fld("SHA-256 of the raw source bytes, 64 lowercase hex digits.")
    trace_id: str = fld("W3C trace id (32 lowercase hex digits).")
    row: StrictInt | None = fld("al: 1-based data-row index; null otherwise.", default=None)
    sor_azonosito: str | None = fld("al: row id (sor_azonosito); null otherwise.",
                                    alias="sor_azonosito", default=None)
    prev_hash: str | None = fld(
        "Hash of the previous event in this partition (hex), for tamper evidence; null "
        "until chaining is enabled.", default=None)
    warnings: list[ValidationWarning] = fld("Validation warnings accepted with the record.",
                                            factory=list)


class _Event(ContractModel):
    """Common base of the three top-level events."""

    avro_name: ClassVar[str]
    envelope: Envelope = fld("Event metadata.")


class CredentialIssued(_Event):
    """A micro-credential was awarded (a correction is a new credential with `supersedes`)."""

    avro_name: ClassVar[str] = "CredentialIssued"
    credential: Credential = fld("The credential content (EU standard elements).")
    supersedes: str | None = fld(
        "Hub credential id of the credential this one corrects, or null.", default=None)


class CredentialRevoked(_Event):
    """An issued credential was revoked; a revocation is final."""

    avro_name: ClassVar[str] = "CredentialRevoked"
    credential_key: str = fld("Credential key of the revoked credential.")
    reason: RevocationReason = fld("Revocation reason code (feed contract §7.3).")
    reason_text: str | None = fld("Free-text justification, or null.", default=None)
    revoked_on: CalendarDate = fld("Date of the revocation (source date as written).")
    sealed_learner_id: SealedPersonalData | None = fld(
        "The education ID the revocation names, encrypted with the learner's key "
        "(``{\"educationId\": …}``); null in schema version 1, whose learnerKey is the ID.",
        default=None)


class EnrolmentRecorded(_Event):
    """A learner's status in a programme changed (enrolled, withdrawn, completed)."""

    avro_name: ClassVar[str] = "EnrolmentRecorded"
    status: EnrolmentStatus = fld("New enrolment status.")
    status_date: CalendarDate = fld("Date the status took effect.")
    learner_identification: Learner = fld("The learner.", eu="learner",
                                          elm="credentialSubject")
    provider: Organisation = fld("The provider (institution, school, adult-learning provider).")
    programme: Programme = fld("The programme or course.")
    withdrawal_reason: str | None = fld("Reason for withdrawal, or null.", default=None)


#: any canonical event
CanonicalEvent = CredentialIssued | CredentialRevoked | EnrolmentRecorded

#: the top-level event classes, by Avro record name (without namespace)
EVENT_CLASSES: Final[dict[str, type[CredentialIssued | CredentialRevoked | EnrolmentRecorded]]] = {
    cls.avro_name: cls for cls in (CredentialIssued, CredentialRevoked, EnrolmentRecorded)
}

#: which top-level record carries an envelope event type
EVENT_TYPE_RECORDS: Final[dict[str, str]] = {
    "issued": "CredentialIssued",
    "revoked": "CredentialRevoked",
    "enrolled": "EnrolmentRecorded",
    "withdrawn": "EnrolmentRecorded",
    "completed": "EnrolmentRecorded",
}

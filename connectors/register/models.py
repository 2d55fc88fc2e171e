"""The national register's push contract and read models (pydantic, camelCase on the wire).

Write side (what a sender pushes, over HTTP or through the compacted Kafka topic):

* :class:`CredentialPush` — body of ``PUT /credentials/{credentialId}``: one issuance or
  revocation with the credential's resulting status and its §1.2 element record
  (:class:`CredentialElements`). :class:`CredentialChange` is the same plus the id.
* :class:`EnrolmentPush` — body of ``PUT /learners/{educationId}/enrolments/{eventId}``;
  :class:`EnrolmentChange` is the same plus the learner and event id.

Read side: :class:`ApplyResult` (the verdict of one change), :class:`CredentialState`,
:class:`EnrolmentRecord`, :class:`Verification`, :class:`Problem` (RFC 9457).

Unknown members are ignored on input (forward compatibility); the element record keeps
them, so a newer sender's extra elements are stored and returned unchanged.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from hub.contract.models import camel_case

#: a URL-safe identifier of a credential or an event (the hub uses UUIDv5 strings)
IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:~-]{0,199}$"
#: Hungarian education ID: 11 digits, the first 7 (the check digit is the feeds' business)
EDUCATION_ID_PATTERN = r"^7[0-9]{10}$"

Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
EducationId = Annotated[str, StringConstraints(pattern=EDUCATION_ID_PATTERN)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
Number = int | float

CredentialStatus = Literal["active", "revoked"]
CredentialEventType = Literal["issued", "revoked"]
EnrolmentStatus = Literal["enrolled", "withdrawn", "completed"]
RevocationReason = Literal["DATA_ERROR", "FRAUD", "ASSESSMENT_ANNULLED", "ISSUER_DECISION",
                           "OTHER"]
ApplyStatus = Literal["applied", "duplicate", "rejected"]
VerificationStatus = Literal["active", "revoked", "unknown"]

#: reason codes of :class:`ApplyResult` (machine-readable; ``detail`` explains)
EVENT_ALREADY_APPLIED = "EVENT_ALREADY_APPLIED"
ALREADY_ISSUED = "ALREADY_ISSUED"
ALREADY_REVOKED = "ALREADY_REVOKED"
UNKNOWN_CREDENTIAL = "UNKNOWN_CREDENTIAL"
CONTENT_CONFLICT = "CONTENT_CONFLICT"
LEARNER_MISMATCH = "LEARNER_MISMATCH"


class WireModel(BaseModel):
    """Base of the contract models: camelCase wire names, immutable, unknown keys ignored."""

    model_config = camel_case(extra="ignore")

    def wire(self) -> dict[str, Any]:
        """The JSON form: camelCase keys, dates and times as ISO 8601 strings."""
        return self.model_dump(mode="json", by_alias=True)


# ----------------------------------------------------------------- §1.2 element record


class LearnerIdentification(WireModel):
    """Element 1: the learner (education ID, names, birth date)."""

    education_id: EducationId = Field(description="Hungarian education ID (oktatási azonosító).")
    family_name: str = Field(description="Family name.")
    given_name: str = Field(description="Given name(s).")
    date_of_birth: date = Field(description="Date of birth, YYYY-MM-DD.")


class AwardingBody(WireModel):
    """Element 4: one awarding body (also the form of an enrolment's provider)."""

    id: str | None = Field(description="Identifier in `scheme` (FI…, OM, AKT-…, E/…), or null.")
    scheme: str = Field(description="Identifier scheme: HU-FI, HU-OM, HU-AKT, HU-FAR, OTHER.")
    name: str = Field(description="Legal name.")
    country: str = Field(description="Country URI (EU country authority).")


class LearningOutcome(WireModel):
    """Element 6: one learning outcome, optionally aligned to an ESCO skill."""

    text: str = Field(description="Outcome statement.")
    esco: str | None = Field(None, description="ESCO skill URI, or null.")


class NotionalWorkload(WireModel):
    """Element 7: notional workload in ECTS and hours."""

    ects: Number = Field(gt=0, description="ECTS credits.")
    hours: Number = Field(gt=0, description="Notional hours of learning.")
    credit_system: str = Field(description="Credit system URI (ECTS).")


class GradeAchieved(WireModel):
    """Optional element: the grade achieved."""

    scale: Literal["HU_1_5", "PERCENT"] = Field(description="Grading scale.")
    value: Number = Field(description="Grade value on that scale.")


class IntegrationStackability(WireModel):
    """Optional element: integration / stackability options."""

    part_of_programme: str | None = Field(None, description="Programme it counts towards.")
    text: str | None = Field(None, description="How it can be credited or stacked.")


class CredentialElements(WireModel):
    """The canonical credential record: the EU standard elements (feed contract §1.2).

    Keys and value forms are exactly those of the feed contract's worked examples
    (``samples/expected/*.json`` ``elements``). Extra keys are kept as sent.
    """

    model_config = ConfigDict(extra="allow")

    learner_identification: LearnerIdentification = Field(description="M1 learner.")
    title: dict[str, str] = Field(description="M2 title by language code; `hu` required.")
    issuer_country: list[str] = Field(min_length=1, description="M3 issuer country URIs.")
    awarding_bodies: list[AwardingBody] = Field(min_length=1, description="M4, primary first.")
    date_of_issuing: date = Field(description="M5 date of issuing, YYYY-MM-DD.")
    learning_outcomes: list[LearningOutcome] = Field(min_length=1, description="M6 outcomes.")
    notional_workload: NotionalWorkload = Field(description="M7 notional workload.")
    eqf_level: str | None = Field(None, description="M8 EQF level URI, or null.")
    qf_ehea_cycle: Literal["short cycle", "first cycle", "second cycle", "third cycle"] | None = (
        Field(None, description="M8 QF-EHEA cycle, or null."))
    field_of_education: str | None = Field(None, description="ISCED-F 2013 field URI, or null.")
    assessment_types: list[str] = Field(min_length=1, description="M9 assessment type URIs.")
    form_of_participation: str = Field(description="M10 mode of participation URI.")
    quality_assurance: list[str] = Field(min_length=1, description="M11 accreditation URIs.")
    prerequisites: str | None = Field(None, description="O1 prerequisites, or null.")
    supervision_and_identity_verification: Literal[
        "none", "supervised-no-id-check", "supervised-id-verified",
        "remote-supervised-id-verified"] | None = Field(
        None, description="O2 supervision and identity verification, or null.")
    grade_achieved: GradeAchieved | None = Field(None, description="O3 grade, or null.")
    integration_stackability: IntegrationStackability | None = Field(
        None, description="O4 integration/stackability, or null.")
    further_information: str | None = Field(None, description="O5 further information, or null.")

    @model_validator(mode="after")
    def _hungarian_title(self) -> Self:
        if not self.title.get("hu"):
            raise ValueError("title needs a non-empty 'hu' entry")
        return self


# ----------------------------------------------------------------------- write side


class LearnerRef(WireModel):
    """Who a change is about: the education ID, names optional."""

    education_id: EducationId = Field(description="Hungarian education ID (oktatási azonosító).")
    family_name: str | None = Field(None, description="Family name, if sent.")
    given_name: str | None = Field(None, description="Given name(s), if sent.")


class Revocation(WireModel):
    """Why and when a credential was revoked (canonical revocation record)."""

    reason: RevocationReason = Field(description="Canonical revocation reason code.")
    reason_text: str | None = Field(None, max_length=4000, description="Free text, or null.")
    revoked_on: date = Field(description="Date of the revocation, YYYY-MM-DD.")


class CredentialPush(WireModel):
    """Body of ``PUT /credentials/{credentialId}``: one change of a credential's state.

    ``eventType`` ``issued`` carries ``status`` ``active`` and the full ``credential``;
    ``revoked`` carries ``status`` ``revoked`` and ``revocation`` (``credential`` may be
    repeated and is then ignored: the issued content stays). ``eventId`` is the
    idempotency key and must equal the ``Idempotency-Key`` header.
    """

    event_id: Identifier = Field(description="Hub event id; the idempotency key.")
    event_type: CredentialEventType = Field(description="issued or revoked.")
    occurred_at: AwareDatetime = Field(description="When the event happened (RFC 3339, offset).")
    credential_key: str = Field(min_length=1, max_length=300,
                                description="Business key, e.g. he:FI31457:TME-MK-2025-0117.")
    learner: LearnerRef = Field(description="The learner the credential belongs to.")
    status: CredentialStatus = Field(description="The credential's status after this event.")
    credential: CredentialElements | None = Field(
        None, description="The §1.2 element record; required when eventType is issued.")
    revocation: Revocation | None = Field(
        None, description="Revocation details; required when eventType is revoked, else null.")
    source_system: str = Field(min_length=1, max_length=50,
                               description="Sector system of origin: FIR, KRETA or FAR.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.event_type == "issued":
            if self.status != "active":
                raise ValueError("an 'issued' event must carry status 'active'")
            if self.credential is None:
                raise ValueError("an 'issued' event must carry the credential record")
            if self.revocation is not None:
                raise ValueError("an 'issued' event must not carry a revocation")
        else:
            if self.status != "revoked":
                raise ValueError("a 'revoked' event must carry status 'revoked'")
            if self.revocation is None:
                raise ValueError("a 'revoked' event must carry the revocation")
        if (self.credential is not None
                and self.credential.learner_identification.education_id
                != self.learner.education_id):
            raise ValueError("credential.learnerIdentification.educationId differs from learner")
        return self


class CredentialChange(CredentialPush):
    """A :class:`CredentialPush` bound to its credential id: what the store applies.

    It is also the value of a ``register.credentials.state`` record (key = credential id).
    """

    credential_id: Identifier = Field(description="The register's credential id.")


class Programme(WireModel):
    """A programme or course of a provider."""

    id: str = Field(min_length=1, max_length=64, description="Programme code at the provider.")
    title: str = Field(min_length=1, max_length=500, description="Programme title.")


class EnrolmentPush(WireModel):
    """Body of ``PUT /learners/{educationId}/enrolments/{eventId}``: a status change.

    Enrolment changes are recorded as a history (monitoring adult participation); they
    are never checked against earlier statuses.
    """

    status: EnrolmentStatus = Field(description="enrolled, withdrawn or completed.")
    status_date: date = Field(description="Date of the status change, YYYY-MM-DD.")
    provider: AwardingBody = Field(description="The provider (same form as an awarding body).")
    programme: Programme = Field(description="The programme.")
    withdrawal_reason: Text | None = Field(None, description="Why the learner withdrew, or null.")
    occurred_at: AwareDatetime | None = Field(None, description="Event time, if known.")
    source_system: str = Field(min_length=1, max_length=50,
                               description="Sector system of origin: FIR, KRETA or FAR.")
    enrolment_key: str | None = Field(None, max_length=300,
                                      description="Business key of the enrolment, if any.")


class EnrolmentChange(EnrolmentPush):
    """An :class:`EnrolmentPush` bound to its learner and event id: what the store applies."""

    event_id: Identifier = Field(description="Hub event id; the idempotency key.")
    education_id: EducationId = Field(description="The learner's education ID.")


Change = CredentialChange | EnrolmentChange


#: most changes one ``POST /changes`` may carry
MAX_BATCH_CHANGES = 1000


class ChangeBatch(WireModel):
    """Body of ``POST /changes``: several changes, applied in order, each once per event id.

    Each item is a ``CredentialChange`` (a ``PUT /credentials/{id}`` body plus its
    ``credentialId``) or an ``EnrolmentChange`` (a ``PUT /learners/{educationId}/
    enrolments/{eventId}`` body plus ``educationId`` and ``eventId``); items are told
    apart by ``credentialId``. Items are validated one by one, so one bad item does not
    refuse the others.
    """

    changes: list[dict[str, Any]] = Field(
        max_length=MAX_BATCH_CHANGES,
        description="CredentialChange or EnrolmentChange objects, applied in this order.",
    )


class BatchItemResult(WireModel):
    """The verdict on one item of a batch, with the status a single push would have had.

    ``status`` 200/201: ``result`` says applied or duplicate. 409: rejected (``result``
    says why and whether it is retriable). 422: the item is not a valid change
    (``problem``). 424: not attempted, because an earlier change of the same credential
    in this batch was not applied (send it again after that one).
    """

    event_id: str | None = Field(description="The item's event id (null when unreadable).")
    status: int = Field(description="200, 201, 409, 422 or 424 (see above).")
    result: ApplyResult | None = Field(None, description="The register's verdict, if applied.")
    problem: dict[str, Any] | None = Field(None, description="Why the item was not attempted.")


class BatchResult(WireModel):
    """Answer of ``POST /changes``: one result per item, in the order of the request."""

    results: list[BatchItemResult]


# ------------------------------------------------------------------------ read side


class ApplyResult(WireModel):
    """The register's verdict on one change.

    ``applied``: the state changed. ``duplicate``: acknowledged, nothing changed (the event
    id was applied before, or the change is a no-op). ``rejected``: not applied; with
    ``retriable`` true the sender should retry later (the issuance has not arrived yet).
    """

    status: ApplyStatus = Field(description="applied, duplicate or rejected.")
    reason: str | None = Field(None, description="Machine-readable reason code, or null.")
    detail: str | None = Field(None, description="Human-readable explanation, or null.")
    event_id: str = Field(description="The event id the verdict is about.")
    created: bool = Field(False, description="True when this change created the credential.")
    retriable: bool = Field(False, description="True when a rejected change may succeed later.")


class HistoryEntry(WireModel):
    """One applied event of a credential."""

    event_id: str = Field(description="Hub event id.")
    event_type: CredentialEventType = Field(description="issued or revoked.")
    occurred_at: datetime = Field(description="When the event happened.")
    applied_at: datetime = Field(description="When the register applied it (UTC).")


class CredentialState(WireModel):
    """The current state of one credential, with the summary of its applied events."""

    credential_id: str = Field(description="The register's credential id.")
    credential_key: str = Field(description="Business key of the credential.")
    status: CredentialStatus = Field(description="active or revoked (revocation is final).")
    learner: LearnerRef = Field(description="The learner.")
    credential: dict[str, Any] = Field(description="The §1.2 element record as issued.")
    revocation: Revocation | None = Field(None, description="Revocation details, or null.")
    source_system: str = Field(description="Sector system of origin.")
    issued_at: datetime = Field(description="occurredAt of the issuance.")
    revoked_at: datetime | None = Field(None, description="occurredAt of the revocation.")
    updated_at: datetime = Field(description="When the register last changed it (UTC).")
    history: list[HistoryEntry] = Field(default_factory=list, description="Applied events.")


class LearnerCredentials(WireModel):
    """Every credential of one learner, oldest issuance first."""

    education_id: str = Field(description="The learner's education ID.")
    credentials: list[CredentialState] = Field(description="The learner's credentials.")


class EnrolmentRecord(WireModel):
    """One applied enrolment status change."""

    event_id: str = Field(description="Hub event id.")
    education_id: str = Field(description="The learner's education ID.")
    status: EnrolmentStatus = Field(description="enrolled, withdrawn or completed.")
    status_date: date = Field(description="Date of the status change.")
    provider: AwardingBody = Field(description="The provider.")
    programme: Programme = Field(description="The programme.")
    withdrawal_reason: str | None = Field(None, description="Why the learner withdrew, or null.")
    occurred_at: datetime | None = Field(None, description="Event time, if known.")
    source_system: str = Field(description="Sector system of origin.")
    enrolment_key: str | None = Field(None, description="Business key of the enrolment, if any.")
    applied_at: datetime = Field(description="When the register applied it (UTC).")


class LearnerEnrolments(WireModel):
    """A learner's enrolment history (status date order) and current status per programme."""

    education_id: str = Field(description="The learner's education ID.")
    enrolments: list[EnrolmentRecord] = Field(description="Every applied status change.")
    current: list[EnrolmentRecord] = Field(
        description="The latest status change per (provider, programme).")


class Verification(WireModel):
    """Whether a credential is valid according to the register."""

    credential_id: str = Field(description="The credential id asked about.")
    valid: bool = Field(description="True only for a known, active credential.")
    status: VerificationStatus = Field(description="active, revoked or unknown.")
    reason: str | None = Field(
        None, description="Null when valid; the revocation reason, or UNKNOWN_CREDENTIAL.")
    revoked_on: date | None = Field(None, description="Date of the revocation, or null.")
    checked_at: datetime = Field(description="When the register answered (UTC).")


class LearnerErasure(WireModel):
    """Answer of ``DELETE /learners/{educationId}``: what the register removed."""

    education_id: str = Field(description="The learner whose data was erased.")
    credentials_erased: int = Field(description="Credentials removed (0 on a repeat).")
    enrolments_erased: int = Field(description="Enrolment changes removed (0 on a repeat).")


class Health(WireModel):
    """Liveness and store reachability."""

    status: Literal["ok"] = Field(description="Always ok when the store answers.")
    store: str = Field(description="The store adapter: sqlite or postgresql.")


class Problem(BaseModel):
    """An RFC 9457 problem document (``application/problem+json``)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field("about:blank", description="URI of the problem type.")
    title: str = Field(description="Short summary of the problem type.")
    status: int = Field(description="HTTP status code.")
    detail: str | None = Field(None, description="Explanation of this occurrence.")
    instance: str | None = Field(None, description="The request path.")
    reason: str | None = Field(None, description="Register reason code, when there is one.")
    retriable: bool | None = Field(None, description="Whether a retry later may succeed.")
    errors: list[dict[str, Any]] | None = Field(None, description="Validation errors.")

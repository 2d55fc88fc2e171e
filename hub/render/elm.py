"""Render a canonical credential record as an ELM 3 / EDC JSON-LD credential (unsealed).

Follows the structure of the Commission's micro-credential sample
(``shared/reference/elm/Sample-MC-Annex1-signed.jsonld``) and satisfies the EDC generic
SHACL shapes. Node ids are ``urn:epass:<kind>:<uuid>`` where the UUID is derived
(UUID v5) from the credential id and the node's role, so rendering is deterministic:
the same input gives the same document, byte for byte. Choices are documented in
``docs/credentials.md``.
"""

from __future__ import annotations

import base64
import struct
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from functools import lru_cache
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub import vocab, wire
from hub.render import RenderInput
from hub.render import labels as lb
from hub.render.jsonld import EDC_AP_CONTEXT, VC_V1_CONTEXT

GENERIC_PROFILE: Final = "http://data.europa.eu/snb/credential/e34929035b"
EDC_GENERIC_FULL_SCHEMA: Final = "http://data.europa.eu/snb/model/ap/edc-generic-full"
MANDATE_EVIDENCE_TYPE: Final = "http://data.europa.eu/snb/evidence-type/c_18016257"
PNG_FILE_TYPE: Final = "http://publications.europa.eu/resource/authority/file-type/PNG"
BASE64_ENCODING: Final = "http://data.europa.eu/snb/encoding/6146cde7dd"
FORMAL: Final = vocab.LEARNING_SETTING_PREFIX + "6fd4685715"
NON_FORMAL: Final = vocab.LEARNING_SETTING_PREFIX + "e207a81fc7"
HUN_LANGUAGE: Final = vocab.LANGUAGE_PREFIX + "HUN"
ENG_LANGUAGE: Final = vocab.LANGUAGE_PREFIX + "ENG"
XSD_ANY_URI: Final = "http://www.w3.org/2001/XMLSchema#anyURI"
#: the sector feeds whose providers are formal education institutions (see docs)
FORMAL_FEEDS: Final = frozenset({"he", "vet"})

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class IssuerProfile:
    """The sealing organisation (EDC ``issuer``): it owns the seal certificate.

    ``eidas_identifier`` is the organisation identifier of the seal certificate
    (ETSI EN 319 412-1 form, e.g. ``NTRHU-12345678``); EDC requires exactly one.
    """

    legal_name: dict[str, str]
    eidas_identifier: str
    country: str = vocab.HUN_COUNTRY
    homepage: str | None = None

    @property
    def node_id(self) -> str:
        """A stable ``urn:epass:org:`` id derived from the eIDAS identifier."""
        return _org_node_id(self.eidas_identifier)


@lru_cache(maxsize=64)
def _org_node_id(eidas_identifier: str) -> str:
    return f"urn:epass:org:{wire.uuid5(uuid.NAMESPACE_URL, 'eidas:' + eidas_identifier)}"


def issuer_node_id(eidas_identifier: str) -> str:
    """The ``issuer`` id of the ELM credentials sealed by the organisation with this eIDAS
    identifier (also the issuer of the status lists their entries are in)."""
    return _org_node_id(eidas_identifier)


#: development issuer; production takes the values from the seal certificate
DEV_ISSUER: Final = IssuerProfile(
    legal_name={
        "hu": "Mikrotanúsítvány Hub (fejlesztői példány)",
        "en": "Micro-credential Hub (development instance)",
    },
    eidas_identifier="NTRHU-MCHUB-DEV",
)

_EVIDENCE_STATEMENT: Final = (
    "Every claim inside this credential is made by the awarding body or bodies it names, "
    "who remain responsible for it. By applying its electronic seal, the issuing "
    "organisation certifies the origin of each claim as made by the named awarding body."
)


@dataclass
class _Ids:
    """Deterministic node ids under one credential."""

    credential_id: str
    namespace: uuid.UUID = field(init=False)
    _uuid5: Callable[[str], str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.namespace = uuid.UUID(
            wire.uuid5(uuid.NAMESPACE_URL, f"urn:credential:{self.credential_id}")
        )
        self._uuid5 = wire.uuid5_in(self.namespace)

    def __call__(self, kind: str, key: str = "1") -> str:
        return f"urn:epass:{kind}:{self._uuid5(f'{kind}:{key}')}"


def render_elm(inp: RenderInput, issuer: IssuerProfile = DEV_ISSUER) -> JsonDict:
    """The unsealed EDC credential (JSON-LD, compact form) for ``inp``."""
    el = inp.elements
    ids = _Ids(inp.credential_id)
    issued = _iso(inp.issued_at)
    awarded = _local_midnight(date.fromisoformat(el["dateOfIssuing"]))
    bodies = [_organisation(ids, body, i) for i, body in enumerate(el["awardingBodies"])]
    awarding = {
        "id": ids("awardingProcess"),
        "type": "AwardingProcess",
        "awardingBody": bodies,
        "awardingDate": awarded,
    }
    claim: JsonDict = {
        "id": ids("learningAchievement"),
        "type": "LearningAchievement",
        "title": _lang(el["title"]),
        "awardedBy": awarding,
        "provenBy": [_assessment(ids, el, awarding)],
        "specifiedBy": _qualification(ids, inp, bodies[0]),
    }
    if el.get("furtherInformation"):
        claim["additionalNote"] = [
            _note(ids, "furtherInformation", {"hu": el["furtherInformation"]})
        ]
    cred: JsonDict = {
        "@context": [VC_V1_CONTEXT, EDC_AP_CONTEXT],
        "id": f"urn:credential:{inp.credential_id}",
        "type": ["VerifiableCredential", "EuropeanDigitalCredential"],
        "credentialProfiles": [
            _concept(
                GENERIC_PROFILE,
                {"en": "Generic"},
                scheme="http://data.europa.eu/snb/credential/25831c2",
            )
        ],
        "credentialSchema": {"id": EDC_GENERIC_FULL_SCHEMA, "type": "ShaclValidator2017"},
        "identifier": {
            "id": ids("identifier", "credentialKey"),
            "type": "Identifier",
            "schemeName": "mchub credential key",
            "notation": inp.credential_key,
        },
        "displayParameter": _display(ids, el),
        "issuer": _issuer(issuer),
        "issued": issued,
        "issuanceDate": issued,
        "validFrom": awarded,
        "credentialSubject": _person(ids, el, claim),
        "evidence": [_evidence(ids)],
    }
    if inp.status is not None:
        # the status entry as the EDC shapes define it: ELM 3 re-uses cred:credentialStatus
        # with no status class of its own (ELM.ttl, "Re-used properties"), and
        # EDC-generic-no-cv.ttl, edc:EuropeanDigitalCredential-cred_credentialStatus,
        # says ``sh:datatype xsd:anyURI; sh:maxCount 1`` (Violation): one URI value, no
        # node. It is ``<statusListCredential>#<statusListIndex>`` of a revocation list
        # (W3C Bitstring Status List) whose issuer is this credential's issuer
        cred["credentialStatus"] = {"@value": inp.status.entry_id, "@type": XSD_ANY_URI}
    return cred


# --- building blocks -------------------------------------------------------------------


def _concept(
    uri: str, labels: dict[str, str] | None = None, *, scheme: str | None = None
) -> JsonDict:
    """An EU vocabulary concept as EDC writes it (typed, with its scheme and labels)."""
    node: JsonDict = {
        "id": uri,
        "type": "Concept",
        "inScheme": {"id": scheme or lb.scheme_of(uri), "type": "ConceptScheme"},
    }
    found = labels if labels is not None else lb.labels_of(uri)
    if found:
        node["prefLabel"] = dict(found)
    return node


def _lang(value: dict[str, str]) -> dict[str, str]:
    """A language map without empty entries."""
    return {k: v for k, v in value.items() if v}


def _note(ids: _Ids, key: str, text: dict[str, str]) -> JsonDict:
    return {"id": ids("note", key), "type": "Note", "noteLiteral": _lang(text)}


def _location(ids: _Ids, key: str, country: str) -> JsonDict:
    return {
        "id": ids("location", key),
        "type": "Location",
        "address": {
            "id": ids("address", key),
            "type": "Address",
            "countryCode": _concept(country),
        },
    }


def _organisation(ids: _Ids, body: dict[str, Any], index: int) -> JsonDict:
    """An awarding body: legal name, registration (legal identifier) and location."""
    key = f"{body['scheme']}:{body.get('id') or index}"
    country = body.get("country") or vocab.HUN_COUNTRY
    # names of Hungarian bodies are Hungarian; foreign names are taken as given (en)
    lang = "hu" if country == vocab.HUN_COUNTRY else "en"
    org: JsonDict = {
        "id": ids("org", key),
        "type": "Organisation",
        "legalName": {lang: body["name"]},
        "location": [_location(ids, f"org:{key}", country)],
    }
    if body.get("id"):
        org["registration"] = {
            "id": ids("legalIdentifier", key),
            "type": "LegalIdentifier",
            "notation": body["id"],
            "schemeName": lb.BODY_SCHEME_NAMES.get(body["scheme"], body["scheme"]),
            "spatial": _concept(country),
        }
    return org


def _issuer(issuer: IssuerProfile) -> JsonDict:
    """The sealing organisation with its one eIDAS legal identifier."""
    node: JsonDict = {
        "id": issuer.node_id,
        "type": "Organisation",
        "legalName": dict(issuer.legal_name),
        "eIDASIdentifier": {
            "id": f"{issuer.node_id}:eidas",
            "type": "LegalIdentifier",
            "notation": issuer.eidas_identifier,
            "spatial": _concept(issuer.country),
        },
        "location": [
            {
                "id": f"{issuer.node_id}:location",
                "type": "Location",
                "address": {
                    "id": f"{issuer.node_id}:address",
                    "type": "Address",
                    "countryCode": _concept(issuer.country),
                },
            }
        ],
    }
    if issuer.homepage:
        node["homepage"] = [
            {
                "id": f"{issuer.node_id}:homepage",
                "type": "WebResource",
                "contentURL": issuer.homepage,
            }
        ]
    return node


def _person(ids: _Ids, el: dict[str, Any], claim: JsonDict) -> JsonDict:
    """The learner, with the education ID as national identifier."""
    learner = el["learnerIdentification"]
    given, family = learner["givenName"], learner["familyName"]
    return {
        "id": ids("person"),
        "type": "Person",
        "givenName": {"hu": given},
        "familyName": {"hu": family},
        # Hungarian name order: family name first
        "fullName": {"hu": f"{family} {given}"},
        "dateOfBirth": f"{learner['dateOfBirth']}T00:00:00Z",
        "nationalID": {
            "id": ids("legalIdentifier", "learner"),
            "type": "LegalIdentifier",
            "notation": learner["educationId"],
            "schemeName": "oktatási azonosító (Hungarian education ID)",
            "spatial": _concept(vocab.HUN_COUNTRY),
        },
        "hasClaim": [claim],
    }


def _qualification(ids: _Ids, inp: RenderInput, primary_body: JsonDict) -> JsonDict:
    """The specification: outcomes, workload, level, mode, setting, QA, prerequisites."""
    el = inp.elements
    workload = el["notionalWorkload"]
    spec: JsonDict = {
        "id": ids("qualification"),
        "type": "Qualification",
        "title": _lang(el["title"]),
        "learningOutcome": [
            _outcome(ids, i, outcome) for i, outcome in enumerate(el["learningOutcomes"])
        ],
        "creditPoint": [
            {
                "id": ids("creditPoint"),
                "type": "CreditPoint",
                "framework": _concept(workload.get("creditSystem") or vocab.ECTS_CREDIT_SYSTEM),
                "point": format_number(workload["ects"]),
            }
        ],
        "volumeOfLearning": iso_duration_hours(workload["hours"]),
        "mode": [_concept(el["formOfParticipation"])],
        "learningSetting": _concept(FORMAL if inp.feed in FORMAL_FEEDS else NON_FORMAL),
        "language": [_concept(HUN_LANGUAGE)],
    }
    eqf = el.get("eqfLevel")
    if eqf:
        level = int(lb.suffix(eqf))
        spec["eqfLevel"] = _concept(eqf)
        spec["nqfLevel"] = [
            _concept(vocab.MKKR_LEVEL_URIS[level], scheme="http://data.europa.eu/snb/qdr/25831c2")
        ]
    if el.get("fieldOfEducation"):
        spec["thematicArea"] = [_concept(el["fieldOfEducation"])]
    if el.get("prerequisites"):
        spec["entryRequirement"] = _note(ids, "entryRequirement", {"hu": el["prerequisites"]})
    notes = []
    if el.get("qfEheaCycle"):
        notes.append(_note(ids, "qfEhea", lb.QF_EHEA_LABELS[el["qfEheaCycle"]]))
    stack = el.get("integrationStackability")
    if stack:
        parts = [p for p in (stack.get("text"), _programme(stack.get("partOfProgramme"))) if p]
        notes.append(_note(ids, "stackability", {"hu": " ".join(parts)}))
    if notes:
        spec["additionalNote"] = notes
    spec["accreditation"] = [
        _accreditation(ids, uri, primary_body) for uri in el.get("qualityAssurance") or []
    ]
    if not spec["accreditation"]:
        del spec["accreditation"]
    return spec


def _programme(code: str | None) -> str | None:
    return f"(Program: {code})" if code else None


def _outcome(ids: _Ids, index: int, outcome: dict[str, Any]) -> JsonDict:
    node: JsonDict = {
        "id": ids("learningOutcome", str(index)),
        "type": "LearningOutcome",
        "title": {"hu": outcome["text"]},
    }
    if outcome.get("esco"):
        node["relatedESCOSkill"] = [_concept(outcome["esco"])]
    return node


def _accreditation(ids: _Ids, qa_type: str, agent: JsonDict) -> JsonDict:
    """A quality-assurance statement; the canonical record does not name the QA agency,
    so the primary awarding body is the agent that vouches for it (see docs)."""
    labels = lb.labels_of(qa_type) or {"en": "Quality assurance"}
    return {
        "id": ids("accreditation", lb.suffix(qa_type)),
        "type": "Accreditation",
        "dcType": _concept(qa_type),
        "title": dict(labels),
        "accreditingAgent": agent,
    }


def _assessment(ids: _Ids, el: dict[str, Any], awarding: JsonDict) -> JsonDict:
    """The one summative assessment that carries the grade.

    One assessment type: its spec has that ``dcType``. Several: the spec has one part per
    type (``hasPart``), since a spec holds at most one ``dcType``.
    """
    types = list(el.get("assessmentTypes") or [])
    spec: JsonDict = {
        "id": ids("learningAssessmentSpec"),
        "type": "LearningAssessmentSpecification",
        "title": {"hu": "Záró értékelés", "en": "Final assessment"},
    }
    if len(types) == 1:
        spec["dcType"] = _concept(types[0])
    elif types:
        spec["hasPart"] = [
            {
                "id": ids("learningAssessmentSpec", lb.suffix(t)),
                "type": "LearningAssessmentSpecification",
                "title": dict(lb.labels_of(t) or {"en": lb.suffix(t)}),
                "dcType": _concept(t),
            }
            for t in types
        ]
    grade = el.get("gradeAchieved")
    if grade:
        spec["gradingScheme"] = _grading_scheme(ids, grade["scale"])
    node: JsonDict = {
        "id": ids("learningAssessment"),
        "type": "LearningAssessment",
        "title": {"hu": "Záró értékelés", "en": "Final assessment"},
        "awardedBy": awarding,
        "grade": _note(ids, "grade", grade_text(grade)),
        "specifiedBy": spec,
    }
    supervision = el.get("supervisionAndIdentityVerification")
    if supervision:
        concept = lb.SUPERVISION_CONCEPTS.get(supervision)
        if concept:
            node["idVerification"] = _concept(concept)
        node["additionalNote"] = [_note(ids, "supervision", lb.SUPERVISION_TEXT[supervision])]
    return node


def _grading_scheme(ids: _Ids, scale: str) -> JsonDict:
    titles = {
        "HU_1_5": {"hu": "Ötfokú értékelési skála (1-5)", "en": "Hungarian five-point scale (1-5)"},
        "PERCENT": {"hu": "Százalékos értékelés (0-100%)", "en": "Percentage (0-100%)"},
    }
    return {
        "id": ids("gradingScheme", scale),
        "type": "GradingScheme",
        "title": titles.get(scale, {"en": scale}),
    }


def grade_text(grade: dict[str, Any] | None) -> dict[str, str]:
    """The grade as a language map; an ungraded pass says so (a grade is mandatory)."""
    if not grade:
        return {"hu": "Megfelelt (érdemjegy nélkül)", "en": "Passed (not graded)"}
    value = grade["value"]
    if grade["scale"] == "HU_1_5":
        names = lb.HU_GRADE_LABELS.get(int(value), {"hu": "", "en": ""})
        return {"hu": f"{int(value)} ({names['hu']})", "en": f"{int(value)} ({names['en']})"}
    number = format_number(value)
    return {"hu": f"{number.replace('.', ',')}%", "en": f"{number}%"}


def _display(ids: _Ids, el: dict[str, Any]) -> JsonDict:
    """Display parameters (mandatory): title, languages and one page image."""
    title = _lang(el["title"])
    languages = [_concept(HUN_LANGUAGE)] + ([_concept(ENG_LANGUAGE)] if title.get("en") else [])
    return {
        "id": ids("displayParameter"),
        "type": "DisplayParameter",
        "title": title,
        "language": languages,
        "primaryLanguage": _concept(HUN_LANGUAGE),
        "description": {
            "hu": "mikrotanúsítványt szerzett",
            "en": "has been awarded a micro-credential",
        },
        "individualDisplay": [
            {
                "id": ids("individualDisplay"),
                "type": "IndividualDisplay",
                "language": _concept(HUN_LANGUAGE),
                "displayDetail": [
                    {
                        "id": ids("displayDetail"),
                        "type": "DisplayDetail",
                        "image": {
                            "id": ids("mediaObject", "page1"),
                            "type": "MediaObject",
                            "content": PLACEHOLDER_PNG_B64,
                            "contentType": _concept(
                                PNG_FILE_TYPE,
                                {"en": "PNG"},
                                scheme="http://publications.europa.eu/resource/authority/file-type",
                            ),
                            "contentEncoding": _concept(
                                BASE64_ENCODING,
                                {"en": "base64"},
                                scheme="http://data.europa.eu/snb/encoding/25831c2",
                            ),
                        },
                        "page": 1,
                    }
                ],
            }
        ],
    }


def _evidence(ids: _Ids) -> JsonDict:
    """The mandate evidence EDC adds when the sealer is not the awarding body."""
    return {
        "id": ids("evidence"),
        "type": "Evidence",
        "evidenceStatement": _EVIDENCE_STATEMENT,
        "dcType": _concept(
            MANDATE_EVIDENCE_TYPE,
            {"en": "Mandate", "hu": "Megbízatás"},
            scheme="http://data.europa.eu/snb/evidence-type/25831c2",
        ),
    }


# --- value formatting ------------------------------------------------------------------


def format_number(value: float | int | str | Decimal) -> str:
    """A number as a plain decimal string: 4 -> "4", 5.0 -> "5", 2.5 -> "2.5"."""
    dec = Decimal(str(value))
    if dec == dec.to_integral_value():
        return str(dec.quantize(Decimal(1)))
    return format(dec.normalize(), "f")


def iso_duration_hours(hours: float | int | str | Decimal) -> str:
    """Hours as an xsd:duration: 120 -> ``PT120H``, 7.5 -> ``PT7H30M``, 7.33 -> ``PT7H19M48S``."""
    total = Decimal(str(hours)) * 3600
    seconds_total = int(total)
    h, rest = divmod(seconds_total, 3600)
    m, s = divmod(rest, 60)
    frac = total - seconds_total
    out = "PT"
    if h:
        out += f"{h}H"
    if m:
        out += f"{m}M"
    if s or frac:
        out += f"{format_number(Decimal(s) + frac)}S"
    return out if out != "PT" else "PT0H"


def _iso(moment: datetime) -> str:
    text = moment.isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _local_midnight(day: date) -> str:
    """Midnight of a calendar date in Hungary (Europe/Budapest), as xsd:dateTime."""
    try:
        tz: Any = ZoneInfo("Europe/Budapest")
    except ZoneInfoNotFoundError:  # pragma: no cover - tzdata missing
        return f"{day.isoformat()}T00:00:00Z"
    return _iso(datetime.combine(day, time(0, 0), tzinfo=tz))


def _placeholder_png(
    width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (0, 51, 153)
) -> bytes:
    """A tiny solid-colour PNG (EDC needs a page image; real layouts come from a designer)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        body = tag + data
        return (
            struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
        )

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height, 9))
        + chunk(b"IEND", b"")
    )


PLACEHOLDER_PNG_B64: Final = base64.b64encode(_placeholder_png()).decode("ascii")

"""Render a canonical credential record as an Open Badges 3.0 ``OpenBadgeCredential``.

VC 2.0 (``@context`` = credentials/v2 + OB 3.0.3). The primary awarding body is the
``issuer`` Profile, identified by its profile URL on the hub's issuer server
(:func:`issuer_id`), where a verifier also finds the signing keys. The learner is
identified by a pseudonymous ``credentialSubject.id`` (:func:`subject_id`: stable per
learner and issuer, unlinkable across issuers) and by a salted SHA-256 hash of the
education ID (``IdentityObject``, ``hashed: true``). Every key used here is defined by
the two contexts (checked in tests by expansion with the local contexts).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any, Final
from urllib.parse import quote

from hub import vocab, wire
from hub.render import RenderInput, StatusRef
from hub.render import labels as lb
from hub.render.elm import _local_midnight, format_number, grade_text
from hub.render.jsonld import OB3_CONTEXT, VC_V2_CONTEXT

#: OB3 identity type for the Hungarian education ID (extension value, see docs)
EDUCATION_ID_IDENTITY_TYPE: Final = "ext:HuEducationId"
ESCO_FRAMEWORK: Final = "ESCO (European Skills, Competences, Qualifications and Occupations)"
EQF_FRAMEWORK: Final = "European Qualifications Framework (EQF)"
MKKR_FRAMEWORK: Final = "Magyar Képesítési Keretrendszer (MKKR / HuQF)"

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class Ob3Options:
    """Knobs of the OB3 rendering; ``salt`` None means a fresh random salt per credential."""

    salt: str | None = None


def hashed_identity(education_id: str, salt: str) -> str:
    """OB3 ``identityHash``: ``sha256$`` + hex SHA-256 of the ID followed by the salt."""
    return "sha256$" + hashlib.sha256((education_id + salt).encode("utf-8")).hexdigest()


def issuer_id(body: dict[str, Any], public_base_url: str) -> str:
    """An awarding body's profile URL on the issuer server (its OB3 ``issuer.id``):
    ``<public base>/v1/issuers/<scheme>/<id>``; a body without an id gets the UUID v5 of
    its name."""
    ident = body.get("id") or wire.uuid5(uuid.NAMESPACE_URL, body["name"])
    return (
        f"{public_base_url.rstrip('/')}/v1/issuers/"
        f"{quote(str(body['scheme']), safe='')}/{quote(str(ident), safe='')}"
    )


def subject_id(secret: bytes, issuer: str, education_id: str) -> str:
    """The learner's pseudonymous ``credentialSubject.id`` under ``issuer``.

    ``urn:uuid:`` of the first 128 bits of HMAC-SHA256(secret, issuer + "\n" +
    education id), marked as a version 8 (custom) UUID: stable for one learner and
    issuer, different across issuers, not reversible without the secret.
    """
    mac = hmac.new(secret, f"{issuer}\n{education_id}".encode(), hashlib.sha256).digest()
    value = int.from_bytes(mac[:16], "big")
    value &= ~(0xF000 << 64)
    value |= 0x8000 << 64  # version 8
    value &= ~(0xC000 << 48)
    value |= 0x8000 << 48  # RFC 9562 variant
    return f"urn:uuid:{uuid.UUID(int=value)}"


def status_entry(ref: StatusRef) -> dict[str, str]:
    """The VC 2.0 ``credentialStatus`` (``BitstringStatusListEntry``) for ``ref``."""
    return {
        "id": ref.entry_id,
        "type": "BitstringStatusListEntry",
        "statusPurpose": ref.purpose,
        "statusListIndex": str(ref.index),
        "statusListCredential": ref.list_url,
    }


def render_ob3(inp: RenderInput, options: Ob3Options | None = None) -> JsonDict:
    """The unsigned ``OpenBadgeCredential`` for ``inp``."""
    opts = options or Ob3Options()
    el = inp.elements
    ns = uuid.UUID(wire.uuid5(uuid.NAMESPACE_URL, f"urn:uuid:{inp.credential_id}"))
    salt = opts.salt if opts.salt is not None else secrets.token_hex(16)
    title = el["title"]
    achievement = _achievement(inp, ns)
    issuer = _profile(el["awardingBodies"][0], inp.public_base_url)
    education_id = el["learnerIdentification"]["educationId"]
    subject: JsonDict = {}
    if inp.subject_secret is not None:
        subject["id"] = subject_id(inp.subject_secret, issuer["id"], education_id)
    subject |= {
        "type": ["AchievementSubject"],
        "identifier": [
            {
                "type": "IdentityObject",
                "identityHash": hashed_identity(education_id, salt),
                "identityType": EDUCATION_ID_IDENTITY_TYPE,
                "hashed": True,
                "salt": salt,
            }
        ],
        "achievement": achievement,
        "creditsEarned": float(el["notionalWorkload"]["ects"]),
    }
    grade = el.get("gradeAchieved")
    if grade:
        subject["result"] = [
            {
                "type": ["Result"],
                "resultDescription": achievement["resultDescription"][0]["id"],
                "value": format_number(grade["value"]),
            }
        ]
    awarded = _local_midnight_text(el["dateOfIssuing"])
    cred: JsonDict = {
        "@context": [VC_V2_CONTEXT, OB3_CONTEXT],
        "id": f"urn:uuid:{inp.credential_id}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": title.get("hu") or title.get("en"),
        "description": title.get("en") or title.get("hu"),
        "issuer": issuer,
        "validFrom": awarded,
        "awardedDate": awarded,
        "credentialSubject": subject,
    }
    if inp.status is not None:
        cred["credentialStatus"] = status_entry(inp.status)
    return cred


def _local_midnight_text(day: str) -> str:
    return _local_midnight(date.fromisoformat(day))


def _profile(body: dict[str, Any], public_base_url: str) -> JsonDict:
    country = body.get("country") or vocab.HUN_COUNTRY
    alpha3 = lb.suffix(country)
    address: JsonDict = {
        "type": ["Address"],
        "addressCountryCode": lb.ALPHA3_TO_ALPHA2.get(alpha3, alpha3),
    }
    names = lb.COUNTRY_LABELS.get(alpha3)
    if names:
        address["addressCountry"] = names["en"]
    return {
        "id": issuer_id(body, public_base_url),
        "type": ["Profile"],
        "name": body["name"],
        "address": address,
    }


def _achievement(inp: RenderInput, ns: uuid.UUID) -> JsonDict:
    el = inp.elements
    outcomes = el["learningOutcomes"]
    alignment: list[JsonDict] = [
        {
            "type": ["Alignment"],
            "targetName": o["text"],
            "targetUrl": o["esco"],
            "targetType": "ceasn:Competency",
            "targetFramework": ESCO_FRAMEWORK,
        }
        for o in outcomes
        if o.get("esco")
    ]
    eqf = el.get("eqfLevel")
    if eqf:
        level = lb.suffix(eqf)
        alignment.append(
            {
                "type": ["Alignment"],
                "targetName": f"EQF level {level}",
                "targetUrl": eqf,
                "targetCode": level,
                "targetFramework": EQF_FRAMEWORK,
            }
        )
        alignment.append(
            {
                "type": ["Alignment"],
                "targetName": f"MKKR {level}. szint",
                "targetUrl": vocab.MKKR_LEVEL_URIS[int(level)],
                "targetCode": level,
                "targetFramework": MKKR_FRAMEWORK,
            }
        )
    achievement: JsonDict = {
        "id": f"urn:uuid:{wire.uuid5(ns, 'achievement')}",
        "type": ["Achievement"],
        "achievementType": "MicroCredential",
        "name": el["title"].get("hu") or el["title"].get("en"),
        "description": _description(el),
        "criteria": {"narrative": "\n".join(f"- {o['text']}" for o in outcomes)},
        "creditsAvailable": float(el["notionalWorkload"]["ects"]),
        "inLanguage": "hu",
    }
    if alignment:
        achievement["alignment"] = alignment
    if el.get("fieldOfEducation"):
        code = lb.suffix(el["fieldOfEducation"])
        label = (lb.ISCED_F_LABELS.get(code) or {}).get("en")
        achievement["fieldOfStudy"] = f"ISCED-F {code}" + (f" {label}" if label else "")
    grade = el.get("gradeAchieved")
    if grade:
        achievement["resultDescription"] = [_result_description(ns, grade["scale"])]
    return achievement


def _result_description(ns: uuid.UUID, scale: str) -> JsonDict:
    rd: JsonDict = {
        "id": f"urn:uuid:{wire.uuid5(ns, 'result:' + scale)}",
        "type": ["ResultDescription"],
    }
    if scale == "HU_1_5":
        rd |= {
            "name": "Érdemjegy (ötfokú skála) / Grade (Hungarian five-point scale)",
            "resultType": "LetterGrade",
            "allowedValue": ["1", "2", "3", "4", "5"],
            "requiredValue": "2",
        }
    else:
        rd |= {
            "name": "Eredmény százalékban / Result in percent",
            "resultType": "Percent",
            "valueMin": "0",
            "valueMax": "100",
        }
    return rd


def _description(el: dict[str, Any]) -> str:
    """All Annex I elements without a native OB3 place, as one readable Hungarian text."""
    workload = el["notionalWorkload"]
    lines = [
        f"Tanulmányi terhelés: {format_number(workload['ects'])} ECTS kredit "
        f"({format_number(workload['hours'])} óra).",
        f"Részvétel formája: {_label(el['formOfParticipation'])}.",
        "Értékelés módja: " + ", ".join(_label(u) for u in el.get("assessmentTypes") or []) + ".",
        "Minőségbiztosítás: "
        + ", ".join(_label(u) for u in el.get("qualityAssurance") or [])
        + ".",
        "Kiállító ország: "
        + ", ".join(
            (lb.COUNTRY_LABELS.get(lb.suffix(c)) or {}).get("hu", lb.suffix(c))
            for c in el.get("issuerCountry") or []
        )
        + ".",
    ]
    bodies = el["awardingBodies"]
    if len(bodies) > 1:
        lines.append("Közös kiállítók: " + "; ".join(b["name"] for b in bodies[1:]) + ".")
    if el.get("qfEheaCycle"):
        lines.append(lb.QF_EHEA_LABELS[el["qfEheaCycle"]]["hu"] + ".")
    if el.get("prerequisites"):
        lines.append(f"Előfeltételek: {el['prerequisites']}")
    supervision = el.get("supervisionAndIdentityVerification")
    if supervision:
        lines.append(f"Felügyelet és azonosítás: {lb.SUPERVISION_TEXT[supervision]['hu']}.")
    lines.append(f"Eredmény: {grade_text(el.get('gradeAchieved'))['hu']}.")
    stack = el.get("integrationStackability")
    if stack:
        text = " ".join(
            p
            for p in (
                stack.get("text"),
                stack.get("partOfProgramme") and f"(Program: {stack['partOfProgramme']})",
            )
            if p
        )
        lines.append(f"Beszámíthatóság: {text}")
    if el.get("furtherInformation"):
        lines.append(f"További információ: {el['furtherInformation']}")
    return "\n".join(lines)


def _label(uri: str) -> str:
    found = lb.labels_of(uri)
    return found.get("hu") or found.get("en") or uri if found else uri

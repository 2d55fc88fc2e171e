"""Lossless conversion between the feed contract's §1.2 element form and the models.

The §1.2 form (``samples/expected/*.json`` ``elements``, and
``hub.normalise.types.NormalisedEvent.record`` for credentials) has 18 keys. The model
uses the same names except in two places:

* ``eqfLevel`` (URI ``http://data.europa.eu/snb/eqf/{n}``) and ``qfEheaCycle`` live in
  ``level`` (``level.eqf`` is the integer n; ``level.nationalLevel`` is derived from it:
  MKKR level n = EQF level n);
* ``formOfParticipation`` (one mode URI) is ``formOfParticipation.mode``.

Richer model fields (labels, legal identifiers, NUTS region, learning setting, further ESCO
skills, other learner identifiers) have defaults and are dropped by
:func:`model_to_elements`, so ``model_to_elements(elements_to_model(x)) == x`` for every
valid §1.2 record (numbers compare numerically).
"""

from __future__ import annotations

import re
from typing import Any, Final

from pydantic import ValidationError

from hub.contract.findings import ContractViolation, Finding, findings_from_validation_error
from hub.contract.models import Credential
from hub.vocab import EQF_PREFIX, MKKR_LEVEL_URIS

#: the 18 element keys of feed contract §1.2, in contract order
ELEMENT_KEYS: Final = (
    "learnerIdentification", "title", "issuerCountry", "awardingBodies", "dateOfIssuing",
    "learningOutcomes", "notionalWorkload", "eqfLevel", "qfEheaCycle", "fieldOfEducation",
    "assessmentTypes", "formOfParticipation", "qualityAssurance", "prerequisites",
    "supervisionAndIdentityVerification", "gradeAchieved", "integrationStackability",
    "furtherInformation",
)
_EQF_URI_RE: Final = re.compile(r"^http://data\.europa\.eu/snb/eqf/(-?[0-9]{1,3})$")
_PREFIX: Final = "credential"


def elements_to_dict(elements: dict[str, Any]) -> dict[str, Any]:
    """Reshape §1.2 elements into the model's JSON form (no validation); pure and cheap.

    Raises :class:`ContractViolation` (``INVALID_FORMAT``) when ``eqfLevel`` is neither
    null nor an EQF URI.
    """
    data = dict(elements)
    eqf_uri = data.pop("eqfLevel", None)
    eqf: Any = None
    if eqf_uri is not None:
        match = _EQF_URI_RE.fullmatch(eqf_uri) if isinstance(eqf_uri, str) else None
        if match is None:
            raise ContractViolation([Finding(
                "INVALID_FORMAT", f"{_PREFIX}.level.eqf",
                f"eqfLevel must be {EQF_PREFIX}{{1..8}} or null, got {eqf_uri!r}")])
        eqf = int(match.group(1))
    data["level"] = {"eqf": eqf, "nationalLevel": MKKR_LEVEL_URIS.get(eqf) if eqf else None,
                     "qfEheaCycle": data.pop("qfEheaCycle", None)}
    mode = data.get("formOfParticipation")
    if isinstance(mode, str):
        data["formOfParticipation"] = {"mode": mode}
    return data


def parse_elements(elements: dict[str, Any]) -> tuple[Credential | None, list[Finding]]:
    """§1.2 elements -> a :class:`Credential`, or ``None`` plus the structural findings."""
    try:
        data = elements_to_dict(elements)
        return Credential.model_validate(data), []
    except ContractViolation as exc:
        return None, exc.findings
    except ValidationError as exc:
        return None, findings_from_validation_error(exc, _PREFIX)


def elements_to_model(elements: dict[str, Any]) -> Credential:
    """§1.2 elements -> :class:`Credential`; raises :class:`ContractViolation` if impossible."""
    credential, findings = parse_elements(elements)
    if credential is None:
        raise ContractViolation(findings)
    return credential


def model_to_elements(credential: Credential) -> dict[str, Any]:
    """:class:`Credential` -> the 18 §1.2 element keys (JSON-compatible values)."""
    data = credential.model_dump(mode="json")
    level = data.pop("level")
    learner = data["learnerIdentification"]
    learner.pop("otherIdentifiers", None)
    learner.pop("sealed", None)  # the elements are the clear values (hub.privacy.seal)
    for body in data["awardingBodies"]:
        body.pop("legalIdentifiers", None)
        body.pop("nutsRegion", None)
    for outcome in data["learningOutcomes"]:
        outcome.pop("additionalEsco", None)
    eqf = level["eqf"]
    return {
        "learnerIdentification": learner,
        "title": data["title"],
        "issuerCountry": data["issuerCountry"],
        "awardingBodies": data["awardingBodies"],
        "dateOfIssuing": data["dateOfIssuing"],
        "learningOutcomes": data["learningOutcomes"],
        "notionalWorkload": data["notionalWorkload"],
        "eqfLevel": None if eqf is None else f"{EQF_PREFIX}{eqf}",
        "qfEheaCycle": level["qfEheaCycle"],
        "fieldOfEducation": data["fieldOfEducation"],
        "assessmentTypes": data["assessmentTypes"],
        "formOfParticipation": data["formOfParticipation"]["mode"],
        "qualityAssurance": data["qualityAssurance"],
        "prerequisites": data["prerequisites"],
        "supervisionAndIdentityVerification": data["supervisionAndIdentityVerification"],
        "gradeAchieved": data["gradeAchieved"],
        "integrationStackability": data["integrationStackability"],
        "furtherInformation": data["furtherInformation"],
    }

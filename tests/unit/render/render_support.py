"""Shared inputs of the render/crypto tests: the expected samples and record variants."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub import vocab
from hub.render import RenderInput, StatusRef
from hub.render.jsonld import default_reference_dir

EXPECTED_DIR = default_reference_dir().parent / "feeds" / "samples" / "expected"
EXPECTED_FILES = sorted(EXPECTED_DIR.glob("*.expected.json"))
ISSUED_AT = datetime(2025, 7, 1, 10, 30, tzinfo=UTC)
CREDENTIAL_ID = "0b6f2c1e-4a4e-4e0b-9a55-6f3d2f7c9a10"
STATUS = StatusRef("http://localhost:8080/v1/status/1", 4711)
#: the fixed pseudonym secret of the tests (credentialSubject.id)
SUBJECT_SECRET = b"mchub-test-subject-id-secret-32b"


def load_expected(path: Path) -> dict[str, Any]:
    """One expected sample (``credentialKey`` + ``elements``)."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def make_input(sample: dict[str, Any], status: StatusRef | None = STATUS) -> RenderInput:
    """A render input for a sample (fixed id and time)."""
    return RenderInput(
        CREDENTIAL_ID,
        sample["credentialKey"],
        sample["elements"],
        ISSUED_AT,
        status,
        subject_secret=SUBJECT_SECRET,
    )


def he_sample() -> dict[str, Any]:
    """The higher-education sample (all optional elements present)."""
    return load_expected(next(p for p in EXPECTED_FILES if p.name.startswith("he_")))


def minimal_variant() -> dict[str, Any]:
    """No optional element at all, no EQF level, no ESCO links, one assessment type."""
    sample = copy.deepcopy(he_sample())
    el = sample["elements"]
    el["title"] = {"hu": el["title"]["hu"]}
    el.update(
        eqfLevel=None,
        qfEheaCycle=None,
        fieldOfEducation=None,
        prerequisites=None,
        supervisionAndIdentityVerification=None,
        gradeAchieved=None,
        integrationStackability=None,
        furtherInformation=None,
        assessmentTypes=el["assessmentTypes"][:1],
    )
    for outcome in el["learningOutcomes"]:
        outcome["esco"] = None
    return sample


def co_awarded_foreign_variant() -> dict[str, Any]:
    """A foreign co-awarding body (scheme OTHER, country AUT), supervision ``none``."""
    sample = copy.deepcopy(he_sample())
    el = sample["elements"]
    aut = vocab.country_uri("AUT")
    el["awardingBodies"].append(
        {
            "id": "FN-123456a",
            "scheme": "OTHER",
            "name": "Technische Hochschule Beispiel",
            "country": aut,
        }
    )
    el["issuerCountry"] = [vocab.HUN_COUNTRY, aut]
    el["supervisionAndIdentityVerification"] = "none"
    el["gradeAchieved"] = {"scale": "PERCENT", "value": 87.25}
    el["notionalWorkload"] = {"ects": 2.5, "hours": 31.25, "creditSystem": vocab.ECTS_CREDIT_SYSTEM}
    return sample


def foreign_body_without_id_variant() -> dict[str, Any]:
    """A co-awarding body without an identifier (``id`` null)."""
    sample = co_awarded_foreign_variant()
    sample["elements"]["awardingBodies"][-1]["id"] = None
    return sample

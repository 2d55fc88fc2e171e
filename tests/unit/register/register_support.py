"""Builders of register changes from the shared worked examples (no fixtures here)."""

from __future__ import annotations

import copy
import json
import os
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from connectors.register.models import CredentialChange, EnrolmentChange

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED = Path(os.environ.get("MCHUB_SHARED_DIR") or (REPO_ROOT.parent / "shared")).resolve()
EXPECTED = SHARED / "feeds" / "samples" / "expected"
HE_01 = "he_01_kiallitas_tesztvezerelt_python.expected.json"
VET_01 = "vet_01_kiallitas_cnc.expected.json"
AL_ROW2 = "al_FAR_E-2020-000123_20250701_01.row2.expected.json"
SOURCE = {"he": "FIR", "vet": "KRETA", "al": "FAR"}


@cache
def _sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXPECTED / name).read_text(encoding="utf-8"))
    return data


def sample_names() -> list[str]:
    """The file names of the shared canonical credential records."""
    return sorted(p.name for p in EXPECTED.glob("*.expected.json"))


def elements(name: str = HE_01) -> dict[str, Any]:
    """A fresh copy of a worked example's §1.2 element record."""
    return copy.deepcopy(_sample(name)["elements"])


def education_id(name: str = HE_01) -> str:
    """The learner's education ID in a worked example."""
    return str(_sample(name)["elements"]["learnerIdentification"]["educationId"])


def issued(credential_id: str = "cred-1", event_id: str = "ev-issue-1", *,
           name: str = HE_01, record: dict[str, Any] | None = None,
           occurred_at: str = "2025-06-30T14:05:00+02:00") -> CredentialChange:
    """An issuance of a worked example (or of ``record``) under ``credential_id``."""
    rec = record if record is not None else elements(name)
    learner = rec["learnerIdentification"]
    return CredentialChange.model_validate({
        "credentialId": credential_id, "eventId": event_id, "eventType": "issued",
        "occurredAt": occurred_at, "credentialKey": _sample(name)["credentialKey"],
        "learner": {"educationId": learner["educationId"], "familyName": learner["familyName"],
                    "givenName": learner["givenName"]},
        "status": "active", "credential": rec, "revocation": None,
        "sourceSystem": SOURCE[name.split("_", 1)[0]],
    })


def revoked(credential_id: str = "cred-1", event_id: str = "ev-revoke-1", *,
            name: str = HE_01, learner: str | None = None, reason: str = "DATA_ERROR",
            revoked_on: str = "2025-07-01",
            occurred_at: str = "2025-07-01T09:00:00+02:00") -> CredentialChange:
    """A revocation of ``credential_id`` (learner of the worked example unless given)."""
    return CredentialChange.model_validate({
        "credentialId": credential_id, "eventId": event_id, "eventType": "revoked",
        "occurredAt": occurred_at, "credentialKey": _sample(name)["credentialKey"],
        "learner": {"educationId": learner or education_id(name)}, "status": "revoked",
        "revocation": {"reason": reason, "reasonText": "hibás adat", "revokedOn": revoked_on},
        "sourceSystem": SOURCE[name.split("_", 1)[0]],
    })


def enrolment(event_id: str, status: str, status_date: str, *, learner: str | None = None,
              programme: str = "TME-PTI-MK-01",
              withdrawal_reason: str | None = None) -> EnrolmentChange:
    """An enrolment status change of the he_01 learner at the he_01 institution."""
    return EnrolmentChange.model_validate({
        "eventId": event_id, "educationId": learner or education_id(HE_01), "status": status,
        "statusDate": status_date, "provider": elements(HE_01)["awardingBodies"][0],
        "programme": {"id": programme, "title": "Tesztvezérelt fejlesztés"},
        "withdrawalReason": withdrawal_reason, "occurredAt": f"{status_date}T10:00:00+02:00",
        "sourceSystem": "FIR", "enrolmentKey": f"he:FI31457:{programme}",
    })


def push_body(change: CredentialChange) -> dict[str, Any]:
    """The HTTP body of a credential change (the id travels in the path)."""
    body = change.wire()
    body.pop("credentialId")
    return body


def enrolment_body(change: EnrolmentChange) -> dict[str, Any]:
    """The HTTP body of an enrolment change (learner and event id travel in the path)."""
    body = change.wire()
    body.pop("eventId")
    body.pop("educationId")
    return body


def earlier(record: dict[str, Any], day: date, title: str) -> dict[str, Any]:
    """A copy of ``record`` issued on ``day`` under another Hungarian title."""
    out = copy.deepcopy(record)
    out["dateOfIssuing"] = day.isoformat()
    out["title"] = {"hu": title}
    return out

"""Shared test data for the canonical-contract tests (not a test module)."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.contract.build import build_canonical_event
from hub.contract.models import CanonicalEvent, CredentialIssued
from hub.contract.rules import ValidationContext
from hub.normalise.types import NormalisedEvent

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED = Path(os.environ.get("MCHUB_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()
EXPECTED_DIR = SHARED / "feeds" / "samples" / "expected"
EXPECTED_FILES = sorted(EXPECTED_DIR.glob("*.expected.json"))
NOW = datetime(2025, 7, 2, 12, 0, tzinfo=UTC)
CTX = ValidationContext(now=NOW, clock_skew_seconds=300)
SHA = hashlib.sha256(b"raw source bytes").hexdigest()
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
RECEIVED = datetime(2025, 7, 1, 8, 30, 15, 123456, tzinfo=UTC)
HUN = "http://publications.europa.eu/resource/authority/country/HUN"


def load(path: Path) -> dict[str, Any]:
    """One expected sample file."""
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def sample(feed: str) -> dict[str, Any]:
    """The expected sample of a feed (he, vet or al)."""
    return load(next(p for p in EXPECTED_FILES if p.name.startswith(feed + "_")))


def normalised_credential(data: dict[str, Any]) -> NormalisedEvent:
    """A NormalisedEvent as a normaliser would produce it for an expected sample."""
    feed = data["idempotencyKey"].split(":", 1)[0]
    return NormalisedEvent(
        feed=feed, record_type="credential", event_type="issued",  # type: ignore[arg-type]
        idempotency_key=data["idempotencyKey"], credential_key=data["credentialKey"],
        source_event_id=data.get("sor_azonosito") or data["idempotencyKey"].rsplit(":", 1)[-1],
        learner_id=data["elements"]["learnerIdentification"]["educationId"],
        awarding_body_id=data["elements"]["awardingBodies"][0]["id"],
        occurred_at=None if feed == "al" else "2025-06-30T14:05:00+02:00",
        record=copy.deepcopy(data["elements"]), content="{}", mapping_version="he-1.0",
        row=data.get("row"), sor_azonosito=data.get("sor_azonosito"))


def build(event: NormalisedEvent) -> CanonicalEvent:
    """build_canonical_event with the shared test context."""
    return build_canonical_event(event, raw_sha256=SHA, received_at=RECEIVED, trace_id=TRACE,
                                 hub_version="0.1.0")


def issued(feed: str = "he") -> CredentialIssued:
    """The canonical issuance event of a feed's expected sample."""
    event = build(normalised_credential(sample(feed)))
    assert isinstance(event, CredentialIssued)
    return event


def revocation_normalised(learner: str = "77721222107") -> NormalisedEvent:
    """A valid he revocation of the he sample's credential."""
    return NormalisedEvent(
        feed="he", record_type="revocation", event_type="revoked",
        idempotency_key="he:0b6f3c1e-8a43-5b4e-9d7a-1f2e3d4c5b6a",
        credential_key="he:FI31457:TME-MK-2025-0117",
        source_event_id="0b6f3c1e-8a43-5b4e-9d7a-1f2e3d4c5b6a", learner_id=learner,
        awarding_body_id="FI31457", occurred_at="2025-07-01T09:00:00+02:00",
        record={"credentialKey": "he:FI31457:TME-MK-2025-0117", "reason": "DATA_ERROR",
                "reasonText": "Hibás születési dátum.", "revokedOn": "2025-07-01"},
        content="{}", mapping_version="he-1.0")


def enrolment_normalised(status: str = "withdrawn") -> NormalisedEvent:
    """A valid he enrolment event."""
    return NormalisedEvent(
        feed="he", record_type="enrolment", event_type=status,
        idempotency_key="he:5a1d2c3b-4e5f-5a6b-8c7d-9e0f1a2b3c4d", credential_key=None,
        source_event_id="5a1d2c3b-4e5f-5a6b-8c7d-9e0f1a2b3c4d", learner_id="77721222107",
        awarding_body_id="FI31457", occurred_at="2025-07-01T09:00:00+02:00",
        record={"status": status, "statusDate": "2025-07-01",
                "learnerIdentification": {"educationId": "77721222107", "familyName": "Bárdos",
                                          "givenName": "Levente", "dateOfBirth": "2000-11-03"},
                "provider": {"id": "FI31457", "scheme": "HU-FI",
                             "name": "Tiszavölgyi Műszaki Egyetem", "country": HUN},
                "programme": {"id": "TME-PTI-BSC", "title": "Programtervező informatikus"},
                "withdrawalReason": "Munkahelyi elfoglaltság." if status == "withdrawn"
                else None},
        content="{}", mapping_version="he-1.0")


def as_json(event: CanonicalEvent) -> dict[str, Any]:
    """The JSON form of an event (what mchub validate reads)."""
    return json.loads(json.dumps(event.model_dump(mode="json")))  # type: ignore[no-any-return]

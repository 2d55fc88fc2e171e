"""Hand-built normalised events for the lifecycle core tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hub.normalise.types import NormalisedEvent

T0 = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
LEARNER_A = "70000000001"
LEARNER_B = "70000000002"


def canonical(value: Any) -> str:
    """Canonical JSON as the normalisers produce ``content`` (sorted keys, compact)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def elements(learner: str, variant: str = "a", ects: float = 4) -> dict[str, Any]:
    """A small stand-in for the 18 §1.2 elements; ``variant`` changes the title."""
    return {
        "learnerIdentification": {"educationId": learner, "familyName": "Kiss"},
        "title": {"hu": f"Mikrotanúsítvány {variant}"},
        "notionalWorkload": {"ects": ects, "hours": 120},
        "eqfLevel": None,
    }


def issuance(
    cred: str = "he:FI1:C1",
    key: str = "he:E1",
    learner: str = LEARNER_A,
    variant: str = "a",
    *,
    ects: float = 4,
    extra: str = "",
) -> NormalisedEvent:
    """An issuance; ``extra`` changes the source content without changing the elements."""
    record = elements(learner, variant, ects)
    source = {"type": "issued", "key": key, "cred": cred, "elements": record, "extra": extra}
    return NormalisedEvent(
        feed="he",
        record_type="credential",
        event_type="issued",
        idempotency_key=key,
        credential_key=cred,
        source_event_id=key.split(":", 1)[1],
        learner_id=learner,
        awarding_body_id="FI1",
        occurred_at="2025-07-01T08:00:00+02:00",
        record=record,
        content=canonical(source),
        mapping_version="1",
    )


def revocation(
    cred: str = "he:FI1:C1",
    key: str = "he:R1",
    learner: str = LEARNER_A,
    reason: str = "DATA_ERROR",
) -> NormalisedEvent:
    """A revocation of ``cred`` naming ``learner``."""
    record = {
        "credentialKey": cred,
        "reason": reason,
        "reasonText": None,
        "revokedOn": "2025-07-02",
    }
    source = {"type": "revoked", "key": key, "learner": learner, "record": record}
    return NormalisedEvent(
        feed="he",
        record_type="revocation",
        event_type="revoked",
        idempotency_key=key,
        credential_key=cred,
        source_event_id=key.split(":", 1)[1],
        learner_id=learner,
        awarding_body_id="FI1",
        occurred_at="2025-07-02T08:00:00+02:00",
        record=record,
        content=canonical(source),
        mapping_version="1",
    )


def enrolment(
    key: str = "he:N1", learner: str = LEARNER_A, status: str = "enrolled"
) -> NormalisedEvent:
    """An enrolment status change (no credential key)."""
    record = {
        "status": status,
        "statusDate": "2025-07-01",
        "learnerIdentification": {"educationId": learner},
        "provider": {"id": "FI1", "scheme": "HU-FI", "name": "Egyetem", "country": "HUN"},
        "programme": {"id": "P1", "title": "Program"},
        "withdrawalReason": "moved" if status == "withdrawn" else None,
    }
    return NormalisedEvent(
        feed="he",
        record_type="enrolment",
        event_type=status,
        idempotency_key=key,
        credential_key=None,
        source_event_id=key.split(":", 1)[1],
        learner_id=learner,
        awarding_body_id="FI1",
        occurred_at="2025-07-01T08:00:00+02:00",
        record=record,
        content=canonical({"type": status, "key": key, "record": record}),
        mapping_version="1",
    )

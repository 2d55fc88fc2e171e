"""Build canonical events from normalised source events (what the stream processor calls).

Identity is deterministic, so re-processing the same source event yields the same event:

* ``eventId`` = UUIDv5(:data:`EVENT_NAMESPACE`, idempotency key);
* ``credentialId`` = UUIDv5(:data:`CREDENTIAL_NAMESPACE`, credential key) — the same id for
  an issuance and every later revocation of that credential.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

from pydantic import ValidationError

from hub import wire
from hub.contract.elements import elements_to_dict
from hub.contract.findings import ContractViolation, Finding, findings_from_validation_error
from hub.contract.models import (
    SCHEMA_VERSION,
    CanonicalEvent,
    CredentialIssued,
    CredentialRevoked,
    EnrolmentRecorded,
)
from hub.normalise.types import NormalisedEvent

#: UUIDv5 namespace of hub event ids (derived from the hub's URN)
EVENT_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:mchub:canonical:event")
#: UUIDv5 namespace of hub-wide credential ids
CREDENTIAL_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:mchub:canonical:credential")
#: feed id -> sector information system
SOURCE_SYSTEMS: Final[dict[str, str]] = {"he": "FIR", "vet": "KRETA", "al": "FAR"}


def event_id(idempotency_key: str) -> str:
    """The hub event id of a source event: UUIDv5 over its idempotency key."""
    return wire.uuid5(EVENT_NAMESPACE, idempotency_key)


def credential_id(credential_key: str) -> str:
    """The hub-wide credential id: UUIDv5 over the feed contract's credential key."""
    return wire.uuid5(CREDENTIAL_NAMESPACE, credential_key)


def build_canonical_event(
    event: NormalisedEvent,
    *,
    raw_sha256: str,
    received_at: datetime,
    trace_id: str,
    hub_version: str,
    supersedes: str | None = None,
) -> CanonicalEvent:
    """The canonical event for one accepted normalised event (no semantic validation).

    ``raw_sha256`` is the hex SHA-256 of the raw source message bytes (the whole file for
    ``al``), ``received_at`` an aware timestamp, ``trace_id`` the W3C trace id and
    ``supersedes`` the hub credential id a corrected credential replaces. Raises
    :class:`~hub.contract.findings.ContractViolation` (an ``InputRejected``) when the record
    does not fit the contract's structure; run
    :func:`hub.contract.rules.validate_event` afterwards for the semantic rules.
    """
    envelope: dict[str, Any] = {
        "eventId": event_id(event.idempotency_key),
        "eventType": event.event_type,
        "sourceSystem": SOURCE_SYSTEMS.get(event.feed, event.feed),
        "feed": event.feed,
        "sourceEventId": event.source_event_id,
        "idempotencyKey": event.idempotency_key,
        "credentialKey": event.credential_key,
        "credentialId": credential_id(event.credential_key) if event.credential_key else None,
        "learnerKey": event.learner_id,
        "occurredAt": event.occurred_at,
        "receivedAt": received_at,
        "schemaVersion": SCHEMA_VERSION,
        "mappingVersion": event.mapping_version,
        "hubVersion": hub_version,
        "rawSha256": raw_sha256,
        "traceId": trace_id,
        "row": event.row,
        "sor_azonosito": event.sor_azonosito,
    }
    record = event.record
    cls: type[CanonicalEvent]
    data: dict[str, Any]
    if event.record_type == "credential":
        cls = CredentialIssued
        data = {"credential": elements_to_dict(record), "supersedes": supersedes}
    elif event.record_type == "revocation":
        cls = CredentialRevoked
        data = {key: record.get(key) for key in
                ("credentialKey", "reason", "reasonText", "revokedOn")}
    else:
        cls = EnrolmentRecorded
        data = {key: record.get(key) for key in
                ("status", "statusDate", "learnerIdentification", "provider", "programme",
                 "withdrawalReason")}
    data["envelope"] = envelope
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise ContractViolation(findings_from_validation_error(exc)) from exc


def attach_warnings(event: CanonicalEvent, findings: Iterable[Finding]) -> CanonicalEvent:
    """A copy of ``event`` whose ``envelope.warnings`` carries ``findings``.

    Pass the warnings only (a record with error findings is rejected, not published); the
    severity of the given findings is not looked at.
    """
    warnings = [{"rule": f.rule, "path": f.path, "message": f.message} for f in findings]
    if not warnings:
        return event
    data = event.model_dump()
    data["envelope"]["warnings"] = warnings
    return type(event).model_validate(data)

"""Synthetic canonical events from the shared sample feeds (benchmarks and tests).

:func:`templates` normalises and builds the sample feeds once (the real pure path:
normaliser, canonical builder, validation); :func:`issuance` and :func:`revocation`
derive any number of distinct, valid canonical records from them by changing their
identity (credential key and id, idempotency key, event id, learner).
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub import __version__
from hub.contract.build import build_canonical_event, credential_id, event_id
from hub.contract.codec import AvroCodec
from hub.normalise import normalise
from hub.normalise.types import NormalisedEvent


@dataclass(frozen=True)
class Templates:
    """One Avro dict form per event kind, built from the samples."""

    issued: dict[str, Any]
    revoked: dict[str, Any]
    enrolment: dict[str, Any]


def sample_events(samples_dir: Path) -> list[NormalisedEvent]:
    """Every accepted normalised event of the he and vet sample feeds."""
    events: list[NormalisedEvent] = []
    for feed in ("he", "vet"):
        for path in sorted((samples_dir / feed).iterdir()):
            result = normalise(feed, path.read_bytes())
            events += [item.event for item in result.items if item.event is not None]
    return events


def templates(samples_dir: Path, *, received_at: datetime | None = None) -> Templates:
    """Avro dict templates of an issuance, a revocation and an enrolment."""
    received = received_at or datetime.now(UTC)
    found: dict[str, dict[str, Any]] = {}
    for event in sample_events(samples_dir):
        if event.record_type in found:
            continue
        model = build_canonical_event(
            event,
            raw_sha256="0" * 64,
            received_at=received,
            trace_id="0" * 32,
            hub_version=__version__,
        )
        found[event.record_type] = model.model_dump()
    return Templates(found["credential"], found["revocation"], found["enrolment"])


def _identity(envelope: dict[str, Any], feed_key: str, i: int, received: datetime) -> None:
    envelope["idempotencyKey"] = feed_key
    envelope["eventId"] = event_id(feed_key)
    envelope["sourceEventId"] = feed_key.split(":", 1)[1]
    envelope["receivedAt"] = received
    envelope["traceId"] = uuid.uuid5(uuid.NAMESPACE_URL, feed_key).hex
    envelope["prevHash"] = None


def _event_of(template: dict[str, Any], feed_key: str, i: int,
              received: datetime) -> dict[str, Any]:
    """A copy of ``template`` as an event of synthetic credential ``i`` and its learner."""
    record = copy.deepcopy(template)
    envelope = record["envelope"]
    key = credential_key_for(i)
    _identity(envelope, feed_key, i, received)
    envelope["credentialKey"] = key
    envelope["credentialId"] = credential_id(key)
    envelope["learnerKey"] = learner_for(i)
    return record


def learner_for(i: int) -> str:
    """A syntactically plausible 11-digit education id for learner ``i`` (not validated)."""
    return f"7{i % 10**10:010d}"


def credential_key_for(i: int) -> str:
    """The credential key of synthetic credential ``i``."""
    return f"he:FI00000:SYN-{i:09d}"


def issuance(t: Templates, i: int, received: datetime) -> tuple[str, dict[str, Any]]:
    """(record name, Avro dict) of the issuance of synthetic credential ``i``."""
    record = _event_of(t.issued, f"he:issue-{i:09d}", i, received)
    record["credential"]["learnerIdentification"]["educationId"] = learner_for(i)
    return "CredentialIssued", record


def revocation(t: Templates, i: int, received: datetime) -> tuple[str, dict[str, Any]]:
    """(record name, Avro dict) of a revocation of synthetic credential ``i``."""
    record = _event_of(t.revoked, f"he:revoke-{i:09d}", i, received)
    record["credentialKey"] = credential_key_for(i)
    return "CredentialRevoked", record


def encoder() -> AvroCodec:
    """The codec that encodes synthetic records."""
    return AvroCodec()

"""The canonical contract: models, Avro schemas, validation rules and the codec.

Typical use by the stream processor::

    from hub.contract import AvroCodec, ValidationContext, attach_warnings, \\
        build_canonical_event, errors_of, validate_event

    event = build_canonical_event(normalised, raw_sha256=digest, received_at=now,
                                  trace_id=trace_id, hub_version=version)
    findings = validate_event(event, ValidationContext.from_settings(settings))
    if errors_of(findings):
        ...  # reject with the findings
    value = codec.encode(attach_warnings(event, findings))   # codec = AvroCodec(), reused

Modules: :mod:`~hub.contract.models` (pydantic models, the source of the schemas),
:mod:`~hub.contract.avrogen` (models -> Avro), :mod:`~hub.contract.store` (released
versions by fingerprint), :mod:`~hub.contract.codec` (single-object encoding),
:mod:`~hub.contract.elements` (feed contract §1.2 form <-> models),
:mod:`~hub.contract.rules` (validation), :mod:`~hub.contract.compat` (evolution check),
:mod:`~hub.contract.docs` (reference docs), :mod:`~hub.contract.build` (builder).
"""

from hub.contract.build import (
    attach_warnings,
    build_canonical_event,
    credential_id,
    event_id,
)
from hub.contract.codec import AvroCodec, Codec
from hub.contract.elements import elements_to_model, model_to_elements, parse_elements
from hub.contract.findings import ContractViolation, Finding, errors_of
from hub.contract.models import (
    NAMESPACE,
    SCHEMA_VERSION,
    CanonicalEvent,
    Credential,
    CredentialIssued,
    CredentialRevoked,
    EnrolmentRecorded,
    Envelope,
)
from hub.contract.rules import (
    RULES,
    ValidationContext,
    is_valid,
    parse_event,
    validate_data,
    validate_event,
)

__all__ = [
    "NAMESPACE",
    "RULES",
    "SCHEMA_VERSION",
    "AvroCodec",
    "CanonicalEvent",
    "Codec",
    "ContractViolation",
    "Credential",
    "CredentialIssued",
    "CredentialRevoked",
    "EnrolmentRecorded",
    "Envelope",
    "Finding",
    "ValidationContext",
    "attach_warnings",
    "build_canonical_event",
    "credential_id",
    "elements_to_model",
    "errors_of",
    "event_id",
    "is_valid",
    "model_to_elements",
    "parse_elements",
    "parse_event",
    "validate_data",
    "validate_event",
]

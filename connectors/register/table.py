"""The register's state as typed tables a stock sink can load (pure).

``register.credentials.state`` carries the register's nested push contract as plain JSON:
right for the register's own consumer, useless to a stock Kafka Connect sink (no schema,
``ects`` a double in one record and a long in the next, five nested arrays). This module
turns the same :class:`~connectors.register.models.CredentialChange` into **rows**: one
flat current-state row per credential and one child row per array element, each in
Kafka Connect's JSON-with-schema envelope (``{"schema": …, "payload": …}``, keys too), so
Connect's stock ``JsonConverter`` (``schemas.enable=true``) hands any JDBC sink typed
structs: decimals with their scale (Connect ``Decimal``, scale 2, as the canonical
``decimal(6,2)``/``decimal(8,2)``/``decimal(5,2)``), dates as Connect ``Date``, the event
time as Connect ``Timestamp`` (milliseconds), optional fields nullable.

Tables (logical topic → key columns), column names in snake_case:

====================================  ==============================================================
``register.credentials.table``        ``credential_id``
``register.titles.table``             ``credential_id``, ``language``
``register.countries.table``          ``credential_id``, ``position`` (issuer countries)
``register.bodies.table``             ``credential_id``, ``position`` (awarding bodies, 0 = primary)
``register.outcomes.table``           ``credential_id``, ``position`` (learning outcomes)
``register.assessments.table``        ``credential_id``, ``position`` (assessment types)
``register.accreditations.table``     ``credential_id``, ``position`` (quality assurance)
====================================  ==============================================================

A credential's rows are written whenever its state changes (issued, revoked: a revoked
row keeps the issued elements and adds the revocation) and **tombstoned** (key, null
value) when it leaves the register (a learner's erasure): :func:`table_tombstones`.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final

from connectors.register.models import CredentialChange, CredentialElements
from hub import wire
from hub.topics import (
    REGISTER_ASSESSMENT_TYPES,
    REGISTER_AWARDING_BODIES,
    REGISTER_CREDENTIALS_TABLE,
    REGISTER_ISSUER_COUNTRIES,
    REGISTER_LEARNING_OUTCOMES,
    REGISTER_QUALITY_ASSURANCE,
    REGISTER_TITLES,
)

#: one table record: (logical topic, key bytes, value bytes or None for a tombstone)
TableRecord = tuple[str, bytes, bytes | None]

_EPOCH: Final = date(1970, 1, 1)
#: the scale of every decimal column (the canonical schema's)
SCALE: Final = 2


def _string(name: str, optional: bool = True) -> dict[str, Any]:
    return {"type": "string", "optional": optional, "field": name}


def _int32(name: str) -> dict[str, Any]:
    return {"type": "int32", "optional": False, "field": name}


def _date(name: str, optional: bool = True) -> dict[str, Any]:
    return {"type": "int32", "optional": optional, "field": name,
            "name": "org.apache.kafka.connect.data.Date", "version": 1}


def _timestamp(name: str) -> dict[str, Any]:
    return {"type": "int64", "optional": False, "field": name,
            "name": "org.apache.kafka.connect.data.Timestamp", "version": 1}


def _decimal(name: str, precision: int) -> dict[str, Any]:
    return {"type": "bytes", "optional": True, "field": name,
            "name": "org.apache.kafka.connect.data.Decimal", "version": 1,
            "parameters": {"scale": str(SCALE), "connect.decimal.precision": str(precision)}}


def _struct(name: str, fields: list[dict[str, Any]], optional: bool) -> dict[str, Any]:
    return {"type": "struct", "name": name, "optional": optional, "fields": fields}


_NS: Final = "eu.mchub.register"

CREDENTIAL_KEY: Final = _struct(f"{_NS}.CredentialKey", [_string("credential_id", False)], False)
POSITION_KEY: Final = _struct(
    f"{_NS}.CredentialPositionKey", [_string("credential_id", False), _int32("position")], False)
LANGUAGE_KEY: Final = _struct(
    f"{_NS}.CredentialLanguageKey",
    [_string("credential_id", False), _string("language", False)], False)

CREDENTIAL_ROW: Final = _struct(f"{_NS}.Credential", [
    _string("credential_id", False),
    _string("credential_key", False),
    _string("status", False),
    _string("last_event_id", False),
    _string("last_event_type", False),
    _timestamp("occurred_at"),
    _string("source_system", False),
    _string("education_id", False),
    _string("family_name"),
    _string("given_name"),
    _date("date_of_birth"),
    _string("title_hu"),
    _string("title_en"),
    _date("date_of_issuing"),
    _string("primary_awarding_body_id"),
    _string("primary_awarding_body_name"),
    _decimal("ects", 6),
    _decimal("hours", 8),
    _string("credit_system"),
    _string("eqf_level"),
    _string("qf_ehea_cycle"),
    _string("field_of_education"),
    _string("form_of_participation"),
    _string("prerequisites"),
    _string("supervision_and_identity_verification"),
    _string("grade_scale"),
    _decimal("grade_value", 5),
    _string("part_of_programme"),
    _string("integration_stackability"),
    _string("further_information"),
    _string("revocation_reason"),
    _string("revocation_reason_text"),
    _date("revoked_on"),
], True)

TITLE_ROW: Final = _struct(f"{_NS}.CredentialTitle", [
    _string("credential_id", False), _string("language", False), _string("title", False)], True)
COUNTRY_ROW: Final = _struct(f"{_NS}.CredentialIssuerCountry", [
    _string("credential_id", False), _int32("position"), _string("country", False)], True)
AWARDING_BODY_ROW: Final = _struct(f"{_NS}.CredentialAwardingBody", [
    _string("credential_id", False), _int32("position"), _string("id"),
    _string("scheme", False), _string("name", False), _string("country", False)], True)
OUTCOME_ROW: Final = _struct(f"{_NS}.CredentialLearningOutcome", [
    _string("credential_id", False), _int32("position"), _string("text", False),
    _string("esco")], True)
ASSESSMENT_ROW: Final = _struct(f"{_NS}.CredentialAssessmentType", [
    _string("credential_id", False), _int32("position"),
    _string("assessment_type", False)], True)
QUALITY_ROW: Final = _struct(f"{_NS}.CredentialQualityAssurance", [
    _string("credential_id", False), _int32("position"), _string("accreditation", False)], True)

#: child tables holding one row per element of a list: topic -> (value schema, column)
LIST_TABLES: Final[dict[str, tuple[dict[str, Any], str]]] = {
    REGISTER_ISSUER_COUNTRIES: (COUNTRY_ROW, "country"),
    REGISTER_ASSESSMENT_TYPES: (ASSESSMENT_ROW, "assessment_type"),
    REGISTER_QUALITY_ASSURANCE: (QUALITY_ROW, "accreditation"),
}
#: every table topic, the flat one first
TABLE_TOPICS: Final = (
    REGISTER_CREDENTIALS_TABLE, REGISTER_TITLES, REGISTER_ISSUER_COUNTRIES,
    REGISTER_AWARDING_BODIES, REGISTER_LEARNING_OUTCOMES, REGISTER_ASSESSMENT_TYPES,
    REGISTER_QUALITY_ASSURANCE,
)


def connect_decimal(value: Decimal | int | float | None) -> str | None:
    """A Connect ``Decimal`` (scale 2) payload: base64 of the big-endian two's-complement
    unscaled value. Raises ValueError when ``value`` has more than two decimal places."""
    if value is None:
        return None
    exact = Decimal(str(value))
    unscaled = exact.scaleb(SCALE)
    if unscaled != unscaled.to_integral_value():
        raise ValueError(f"{value} has more than {SCALE} decimal places")
    number = int(unscaled)
    size = max(1, (number.bit_length() + 8) // 8)
    return base64.b64encode(number.to_bytes(size, "big", signed=True)).decode("ascii")


def _days(value: date | None) -> int | None:
    return None if value is None else (value - _EPOCH).days


def _millis(value: datetime) -> int:
    return int(value.astimezone(UTC).timestamp() * 1000)


def _envelope(schema: dict[str, Any], payload: dict[str, Any]) -> bytes:
    """A key or value in Kafka Connect's JSON-with-schema envelope."""
    return wire.dumps({"schema": schema, "payload": payload})


def _credential_row(change: CredentialChange) -> dict[str, Any]:
    elements = change.credential
    row: dict[str, Any] = {
        "credential_id": change.credential_id,
        "credential_key": change.credential_key,
        "status": change.status,
        "last_event_id": change.event_id,
        "last_event_type": change.event_type,
        "occurred_at": _millis(change.occurred_at),
        "source_system": change.source_system,
        "education_id": change.learner.education_id,
        "family_name": change.learner.family_name,
        "given_name": change.learner.given_name,
    }
    row.update(_element_columns(elements))
    revocation = change.revocation
    row["revocation_reason"] = None if revocation is None else revocation.reason
    row["revocation_reason_text"] = None if revocation is None else revocation.reason_text
    row["revoked_on"] = None if revocation is None else _days(revocation.revoked_on)
    return row


#: the flat row's columns that come from the element record (null without one)
ELEMENT_COLUMNS: Final = (
    "date_of_birth", "title_hu", "title_en", "date_of_issuing", "primary_awarding_body_id",
    "primary_awarding_body_name", "ects", "hours", "credit_system", "eqf_level",
    "qf_ehea_cycle", "field_of_education", "form_of_participation", "prerequisites",
    "supervision_and_identity_verification", "grade_scale", "grade_value",
    "part_of_programme", "integration_stackability", "further_information",
)


def _element_columns(elements: CredentialElements | None) -> dict[str, Any]:
    if elements is None:
        return dict.fromkeys(ELEMENT_COLUMNS)
    learner = elements.learner_identification
    primary = elements.awarding_bodies[0]
    workload = elements.notional_workload
    grade = elements.grade_achieved
    stack = elements.integration_stackability
    return {
        "date_of_birth": _days(learner.date_of_birth),
        "title_hu": elements.title.get("hu"),
        "title_en": elements.title.get("en"),
        "date_of_issuing": _days(elements.date_of_issuing),
        "primary_awarding_body_id": primary.id,
        "primary_awarding_body_name": primary.name,
        "ects": connect_decimal(workload.ects),
        "hours": connect_decimal(workload.hours),
        "credit_system": workload.credit_system,
        "eqf_level": elements.eqf_level,
        "qf_ehea_cycle": elements.qf_ehea_cycle,
        "field_of_education": elements.field_of_education,
        "form_of_participation": elements.form_of_participation,
        "prerequisites": elements.prerequisites,
        "supervision_and_identity_verification": elements.supervision_and_identity_verification,
        "grade_scale": None if grade is None else grade.scale,
        "grade_value": None if grade is None else connect_decimal(grade.value),
        "part_of_programme": None if stack is None else stack.part_of_programme,
        "integration_stackability": None if stack is None else stack.text,
        "further_information": elements.further_information,
    }


def _child_rows(
    cid: str, elements: CredentialElements
) -> Iterable[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(topic, key schema, key payload, value payload) of every child row."""
    key: dict[str, Any]
    for language, title in elements.title.items():
        key = {"credential_id": cid, "language": language}
        yield REGISTER_TITLES, LANGUAGE_KEY, key, {**key, "title": title}
    for position, body in enumerate(elements.awarding_bodies):
        key = {"credential_id": cid, "position": position}
        yield REGISTER_AWARDING_BODIES, POSITION_KEY, key, {
            **key, "id": body.id, "scheme": body.scheme, "name": body.name,
            "country": body.country}
    for position, outcome in enumerate(elements.learning_outcomes):
        key = {"credential_id": cid, "position": position}
        yield REGISTER_LEARNING_OUTCOMES, POSITION_KEY, key, {
            **key, "text": outcome.text, "esco": outcome.esco}
    lists = {
        REGISTER_ISSUER_COUNTRIES: elements.issuer_country,
        REGISTER_ASSESSMENT_TYPES: elements.assessment_types,
        REGISTER_QUALITY_ASSURANCE: elements.quality_assurance,
    }
    for topic, values in lists.items():
        column = LIST_TABLES[topic][1]
        for position, value in enumerate(values):
            key = {"credential_id": cid, "position": position}
            yield topic, POSITION_KEY, key, {**key, column: value}


_VALUE_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    REGISTER_TITLES: TITLE_ROW,
    REGISTER_AWARDING_BODIES: AWARDING_BODY_ROW,
    REGISTER_LEARNING_OUTCOMES: OUTCOME_ROW,
    **{topic: schema for topic, (schema, _) in LIST_TABLES.items()},
}


def table_records(change: CredentialChange) -> list[TableRecord]:
    """The rows of a credential's new state: its flat row, then its child rows."""
    cid = change.credential_id
    out: list[TableRecord] = [(
        REGISTER_CREDENTIALS_TABLE,
        _envelope(CREDENTIAL_KEY, {"credential_id": cid}),
        _envelope(CREDENTIAL_ROW, _credential_row(change)),
    )]
    if change.credential is not None:
        for topic, key_schema, key, payload in _child_rows(cid, change.credential):
            row = _envelope(_VALUE_SCHEMAS[topic], payload)
            out.append((topic, _envelope(key_schema, key), row))
    return out


def table_tombstones(change: CredentialChange) -> list[TableRecord]:
    """Tombstones of every row :func:`table_records` writes for ``change``'s credential."""
    return [(topic, key, None) for topic, key, _ in table_records(change)]

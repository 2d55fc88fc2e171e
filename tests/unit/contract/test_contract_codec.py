"""The Avro codec: lossless round trips, the single-object header, undecodable input."""

from __future__ import annotations

import copy
import json
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hub import vocab
from hub.contract.codec import AvroCodec, Codec
from hub.contract.elements import elements_to_model, model_to_elements
from hub.contract.fingerprint import MAGIC
from hub.contract.models import CredentialIssued
from hub.contract.rules import validate_credential
from hub.contract.store import SchemaStore, write_version
from hub.errors import UndecodableInput
from tests.unit.contract.contract_testdata import (
    CTX,
    EXPECTED_FILES,
    build,
    enrolment_normalised,
    issued,
    load,
    normalised_credential,
    revocation_normalised,
)

pytestmark = pytest.mark.unit

CODEC = AvroCodec()


# ----------------------------------------------------------------- independent CRC-64-AVRO


def spec_fingerprint64(data: bytes) -> int:
    """CRC-64-AVRO exactly as written in the Avro specification ("Schema Fingerprints")."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp & 0xFFFFFFFFFFFFFFFF


def test_spec_fingerprint_of_primitive_matches_published_value() -> None:
    # apache/avro share/test/data/schema-tests.txt, cases 000 and 004 (signed Java longs)
    assert spec_fingerprint64(b'"int"') == 8247732601305521295
    assert spec_fingerprint64(b'"null"') == 7195948357588979594


@pytest.mark.parametrize("name", ["CredentialIssued", "CredentialRevoked", "EnrolmentRecorded"])
def test_header_carries_crc64_fingerprint_of_canonical_form(name: str) -> None:
    from fastavro.schema import fingerprint, to_parsing_canonical_form

    entry = CODEC.store.get(name)
    canonical = to_parsing_canonical_form(entry.schema)
    expected = spec_fingerprint64(canonical.encode()).to_bytes(8, "little")
    events = {"CredentialIssued": issued("he"), "CredentialRevoked": build(revocation_normalised()),
              "EnrolmentRecorded": build(enrolment_normalised())}
    data = CODEC.encode(events[name])
    assert data[:2] == b"\xc3\x01" == MAGIC
    assert data[2:10] == expected
    assert fingerprint(canonical, "CRC-64-AVRO") == expected.hex()


# ------------------------------------------------------------------------ sample round trips


@pytest.mark.parametrize("path", EXPECTED_FILES, ids=lambda p: p.name)
def test_expected_samples_round_trip_through_avro(path: Path) -> None:
    sample = load(path)
    elements = sample["elements"]
    assert model_to_elements(elements_to_model(elements)) == elements
    event = build(normalised_credential(sample))
    decoded = CODEC.decode(CODEC.encode(event))
    assert decoded == event
    assert isinstance(decoded, CredentialIssued)
    assert model_to_elements(decoded.credential) == elements
    assert json.dumps(model_to_elements(decoded.credential), sort_keys=True)  # JSON-able


def test_expected_samples_cover_three_feeds() -> None:
    assert len(EXPECTED_FILES) == 3


def test_all_event_kinds_round_trip_and_satisfy_the_protocol() -> None:
    codec: Codec = CODEC
    for event in (issued("vet"), build(revocation_normalised()), build(enrolment_normalised())):
        data = codec.encode(event)
        assert codec.decode(data) == event
        name, record = CODEC.decode_dict(data)
        assert name == event.avro_name
        assert CODEC.encode_dict(name, record) == data


def test_decimals_are_exact() -> None:
    event = issued("al")
    decoded = CODEC.decode(CODEC.encode(event))
    assert isinstance(decoded, CredentialIssued)
    workload = decoded.credential.notional_workload
    assert workload.ects == Decimal("1.5") and workload.hours == Decimal("40")
    assert decoded.credential.grade_achieved is not None
    assert decoded.credential.grade_achieved.value == Decimal("92.50")


# ------------------------------------------------------------------------- undecodable input


@pytest.mark.parametrize("data", [b"", b"\xc3", b"\xc3\x02" + bytes(8) + b"x", b"{}json",
                                  b"\xc3\x01" + bytes(8)])
def test_bad_header_or_unknown_fingerprint_is_undecodable(data: bytes) -> None:
    with pytest.raises(UndecodableInput):
        CODEC.decode(data)


def test_truncated_body_and_trailing_bytes_are_undecodable() -> None:
    data = CODEC.encode(issued("he"))
    with pytest.raises(UndecodableInput, match="corrupt"):
        CODEC.decode(data[:-40])
    with pytest.raises(UndecodableInput, match="trailing"):
        CODEC.decode(data + b"\x00")


def test_old_version_bytes_resolve_to_the_current_reader(tmp_path: Path) -> None:
    root = tmp_path / "schemas"
    shutil.copytree(CODEC.store.root, root)
    v1 = {name: CODEC.store.get(name).schema for name in CODEC.store.names()}
    v2 = copy.deepcopy(v1)
    v2["CredentialRevoked"]["fields"].append(
        {"name": "revokedBy", "type": ["null", "string"], "default": None, "doc": "who"})
    write_version(root, CODEC.store.current_version + 1, v2)
    newer = AvroCodec(SchemaStore(root))
    old_bytes = CODEC.encode(build(revocation_normalised()))
    name, record = newer.decode_dict(old_bytes)
    assert name == "CredentialRevoked"
    assert record["revokedBy"] is None and record["reason"] == "DATA_ERROR"
    assert newer.encode_dict(name, record)[2:10] != old_bytes[2:10]  # writes the newer


# ------------------------------------------------------------------ property-based round trip

_letters = st.text(alphabet="aábcdeéfghiíjklmnoóöőpqrstuúüűvwxyzÁÉŐŰ -", min_size=1,
                   max_size=40).map(str.strip).filter(bool)
_uuid = st.uuids().map(str)


@st.composite
def education_ids(draw: st.DrawFn) -> str:
    digits = [7, *draw(st.lists(st.integers(0, 9), min_size=9, max_size=9))]
    remainder = sum(i * d for i, d in enumerate(digits, start=1)) % 11
    assume(remainder != 10)  # such IDs are never issued
    return "".join(map(str, digits)) + str(remainder)


def _number(cents: int) -> int | float:
    value = Decimal(cents) / 100
    return int(value) if value == value.to_integral_value() else float(value)


@st.composite
def credential_elements(draw: st.DrawFn) -> dict[str, Any]:
    countries = ["HUN", "AUT", "SVK"]
    bodies = [{"id": draw(st.sampled_from(["FI31457", "203517", "E/2020/000123"])),
               "scheme": draw(st.sampled_from(["HU-FI", "HU-OM", "HU-FAR"])),
               "name": draw(_letters), "country": vocab.country_uri("HUN")}]
    for _ in range(draw(st.integers(0, 2))):
        bodies.append({"id": draw(st.none() | st.just("X-1")), "scheme": "OTHER",
                       "name": draw(_letters),
                       "country": vocab.country_uri(draw(st.sampled_from(countries)))})
    birth = draw(st.dates(min_value=date(1940, 1, 1),
                          max_value=date(2010, 1, 1)))
    issue = draw(st.dates(min_value=birth, max_value=date(2025, 6, 30)))
    eqf = draw(st.none() | st.integers(1, 8))
    cycles = {5: "short cycle", 6: "first cycle", 7: "second cycle", 8: "third cycle"}
    cycle = cycles.get(eqf) if eqf and draw(st.booleans()) else None
    title = {"hu": draw(_letters)}
    if draw(st.booleans()):
        title["en"] = draw(_letters)
    grade = draw(st.none()
                 | st.builds(lambda v: {"scale": "HU_1_5", "value": v}, st.integers(2, 5))
                 | st.builds(lambda c: {"scale": "PERCENT", "value": _number(c)},
                             st.integers(0, 10000)))
    stack = draw(st.none() | st.fixed_dictionaries(
        {"partOfProgramme": st.none() | st.just("TME-PTI-BSC"), "text": st.none() | _letters}))
    assessment = draw(st.lists(st.sampled_from(["6e6cb2cc78", "d30284d7df", "6a4db9f11d"]),
                               min_size=1, max_size=3, unique=True))
    qa = draw(st.lists(st.sampled_from(["bb4618238e", "820101cba6", "003293d2ce"]),
                       min_size=1, max_size=3, unique=True))
    return {
        "learnerIdentification": {"educationId": draw(education_ids()),
                                  "familyName": draw(_letters), "givenName": draw(_letters),
                                  "dateOfBirth": birth.isoformat()},
        "title": title,
        "issuerCountry": list(dict.fromkeys(b["country"] for b in bodies)),
        "awardingBodies": bodies,
        "dateOfIssuing": issue.isoformat(),
        "learningOutcomes": draw(st.lists(st.fixed_dictionaries({
            "text": _letters,
            "esco": st.none() | _uuid.map(lambda u: vocab.ESCO_SKILL_PREFIX + u)}),
            min_size=1, max_size=4)),
        "notionalWorkload": {"ects": _number(draw(st.integers(1, 999_999))),
                             "hours": _number(draw(st.integers(1, 99_999_999))),
                             "creditSystem": vocab.ECTS_CREDIT_SYSTEM},
        "eqfLevel": None if eqf is None else vocab.eqf_uri(eqf),
        "qfEheaCycle": cycle,
        "fieldOfEducation": draw(st.none() | st.sampled_from(["0613", "0715", "10"]).map(
            lambda c: vocab.ISCED_F_PREFIX + c)),
        "assessmentTypes": [vocab.ASSESSMENT_PREFIX + a for a in assessment],
        "formOfParticipation": vocab.MODE_PREFIX + draw(st.sampled_from(
            ["920fbb3cbe", "9191af2ed9", "e92d221e4d", "729f3bed4b"])),
        "qualityAssurance": [vocab.ACCREDITATION_PREFIX + q for q in qa],
        "prerequisites": draw(st.none() | _letters),
        "supervisionAndIdentityVerification": draw(st.none() | st.sampled_from(
            ["none", "supervised-no-id-check", "supervised-id-verified",
             "remote-supervised-id-verified"])),
        "gradeAchieved": grade,
        "integrationStackability": stack if stack and any(stack.values()) else None,
        "furtherInformation": draw(st.none() | _letters),
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(credential_elements())
def test_valid_records_survive_avro_round_trip_unchanged(elements: dict[str, Any]) -> None:
    credential = elements_to_model(elements)
    assert not [f for f in validate_credential(credential, CTX) if f.severity == "error"]
    sample = {"idempotencyKey": "he:3f1e2d3c-4b5a-5968-8776-a5b4c3d2e1f0",
              "credentialKey": "he:FI31457:P-1", "elements": elements}
    event = build(normalised_credential(sample))
    data = CODEC.encode(event)
    assert data[2:10] == CODEC.store.get("CredentialIssued").fingerprint
    decoded = CODEC.decode(data)
    assert decoded == event
    assert isinstance(decoded, CredentialIssued)
    assert model_to_elements(decoded.credential) == elements

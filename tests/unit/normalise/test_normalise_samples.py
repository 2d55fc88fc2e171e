"""Every shared sample normalises and is accepted; the worked examples match exactly (§11)."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from hub.normalise import MAPPING_VERSION, normalise
from tests.unit.normalise.normalise_support import SAMPLES, sample_files

pytestmark = pytest.mark.unit

ELEMENT_KEYS = {
    "learnerIdentification",
    "title",
    "issuerCountry",
    "awardingBodies",
    "dateOfIssuing",
    "learningOutcomes",
    "notionalWorkload",
    "eqfLevel",
    "qfEheaCycle",
    "fieldOfEducation",
    "assessmentTypes",
    "formOfParticipation",
    "qualityAssurance",
    "prerequisites",
    "supervisionAndIdentityVerification",
    "gradeAchieved",
    "integrationStackability",
    "furtherInformation",
}


def same(actual: Any, expected: Any, path: str = "") -> list[str]:
    """Differences under the §11 rules: numbers numeric, lists ordered, null = absent/null."""
    if expected is None:
        return [] if actual is None else [f"{path}: expected null/absent, got {actual!r}"]
    if isinstance(expected, bool) or isinstance(actual, bool):
        return [] if actual is expected else [f"{path}: {actual!r} != {expected!r}"]
    if isinstance(expected, int | float):
        ok = isinstance(actual, int | float) and actual == expected
        return [] if ok else [f"{path}: {actual!r} != {expected!r}"]
    if isinstance(expected, str):
        ok = isinstance(actual, str) and unicodedata.normalize(
            "NFC", actual
        ) == unicodedata.normalize("NFC", expected)
        return [] if ok else [f"{path}: {actual!r} != {expected!r}"]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: {actual!r} != {expected!r}"]
        pairs = enumerate(zip(actual, expected, strict=True))
        return [d for i, (a, e) in pairs for d in same(a, e, f"{path}[{i}]")]
    assert isinstance(expected, dict)
    if not isinstance(actual, dict):
        return [f"{path}: expected an object, got {actual!r}"]
    diffs = []
    for key in expected.keys() | actual.keys():
        diffs += same(actual.get(key), expected.get(key), f"{path}.{key}")
    return diffs


FEED_SAMPLES = [(feed, path) for feed in ("he", "vet", "al") for path in sample_files(feed)]


@pytest.mark.parametrize(("feed", "path"), FEED_SAMPLES, ids=lambda v: getattr(v, "name", v))
def test_every_sample_is_accepted(feed: str, path: Path) -> None:
    result = normalise(feed, path.read_bytes())
    assert result.feed == feed
    assert not result.file_violations
    assert result.items, "no events"
    for item in result.items:
        assert item.accepted, [v.as_dict() for v in item.violations]
        event = item.event
        assert event is not None
        assert event.mapping_version == MAPPING_VERSION == "feeds-v1/mappings-1"
        assert event.idempotency_key == item.idempotency_key
        assert event.event_type in {"issued", "revoked", "enrolled", "withdrawn", "completed"}
        json.loads(event.content)  # content is JSON
        json.dumps(event.record)  # record is JSON-compatible
        if event.record_type == "credential":
            assert set(event.record) == ELEMENT_KEYS
        elif event.record_type == "revocation":
            assert set(event.record) == {"credentialKey", "reason", "reasonText", "revokedOn"}
            assert event.record["credentialKey"] == event.credential_key
        else:
            assert set(event.record) == {
                "status",
                "statusDate",
                "learnerIdentification",
                "provider",
                "programme",
                "withdrawalReason",
            }
            assert event.credential_key is None
        if feed == "al":
            assert event.occurred_at is None and event.row == item.row
            assert event.sor_azonosito == event.source_event_id
        else:
            assert event.occurred_at is not None and event.row is None


def test_al_row_counts_and_statuses() -> None:
    first, second = sample_files("al")
    events = [i.event for i in normalise("al", first.read_bytes()).items]
    assert [e.event_type for e in events if e] == [
        "enrolled",
        "issued",
        "issued",
        "withdrawn",
        "completed",
        "issued",
        "enrolled",
        "revoked",
    ]
    assert [i.row for i in normalise("al", second.read_bytes()).items] == [1, 2, 3]


EXPECTED = sorted((SAMPLES / "expected").glob("*.expected.json"))


@pytest.mark.parametrize("expected_file", EXPECTED, ids=lambda p: p.name)
def test_worked_example_matches(expected_file: Path) -> None:
    expected = json.loads(expected_file.read_text(encoding="utf-8"))
    source = SAMPLES.parent / expected["source"]
    feed = expected["source"].split("/")[1]
    result = normalise(feed, source.read_bytes())
    row = expected["row"]
    item = result.items[row - 1 if row else 0]
    assert item.accepted and item.event is not None
    event = item.event
    assert event.record_type == expected["recordType"]
    assert event.idempotency_key == expected["idempotencyKey"]
    assert event.credential_key == expected["credentialKey"]
    assert event.row == row
    if "sor_azonosito" in expected:
        assert event.sor_azonosito == expected["sor_azonosito"]
    assert set(event.record) == set(expected["elements"]) == ELEMENT_KEYS
    assert same(event.record, expected["elements"]) == []


def test_revocation_and_enrolment_records() -> None:
    he = {p.name: normalise("he", p.read_bytes()).items[0].event for p in sample_files("he")}
    revocation = he["04_visszavonas_agilis_projektmenedzsment.json"]
    assert revocation is not None
    assert revocation.record == {
        "credentialKey": "he:FI52804:AGF/MK/2025/031",
        "reason": "DATA_ERROR",
        "reasonText": (
            "A kreditérték hibásan került rögzítésre; a javított adatokkal új oklevél készül."
        ),
        "revokedOn": "2025-06-03",
    }
    withdrawn = he["07_kimaradas.json"]
    assert withdrawn is not None and withdrawn.record_type == "enrolment"
    assert withdrawn.record["status"] == "withdrawn"
    assert withdrawn.record["statusDate"] == "2025-03-20"
    assert withdrawn.record["provider"] == {
        "id": "FI52804",
        "scheme": "HU-FI",
        "name": "Alföldi Gazdaságtudományi Főiskola",
        "country": "http://publications.europa.eu/resource/authority/country/HUN",
    }
    assert withdrawn.record["programme"] == {
        "id": "AGF-MK-AGILIS-2025T",
        "title": "Agilis projektmenedzsment a közszférában",
    }
    assert withdrawn.record["withdrawalReason"].startswith("A hallgató írásban")
    foreign = he["03_kiallitas_haccp_elelmiszer.json"]
    assert foreign is not None
    assert foreign.record["issuerCountry"] == [
        "http://publications.europa.eu/resource/authority/country/HUN",
        "http://publications.europa.eu/resource/authority/country/SVK",
    ]
    assert foreign.record["awardingBodies"][1] == {
        "id": None,
        "scheme": "OTHER",
        "name": "Stredodunajská vysoká škola potravinárska",
        "country": "http://publications.europa.eu/resource/authority/country/SVK",
    }

    vet = {p.name: normalise("vet", p.read_bytes()).items[0].event for p in sample_files("vet")}
    vet_rev = vet["04_visszavonas_szarazepites.xml"]
    assert vet_rev is not None
    assert vet_rev.credential_key == "vet:038214:KESZI-2025-117"
    assert vet_rev.record["revokedOn"] == "2025-07-02" and vet_rev.record["reason"] == "DATA_ERROR"
    percent = vet["02_kiallitas_szarazepites.xml"]
    assert percent is not None and percent.awarding_body_id == "038214"
    assert percent.record["gradeAchieved"] == {"scale": "PERCENT", "value": 86}
    assert percent.record["notionalWorkload"]["ects"] == 2.5
    assert "en" not in percent.record["title"]

    quoted = normalise("al", sample_files("al")[1].read_bytes()).items[0].event
    assert quoted is not None
    assert quoted.record["furtherInformation"] == (
        'Részletek: képzési program; 2025. évi "B" kiírás, 3 helyszíni nap'
    )
    assert quoted.record["eqfLevel"] == "http://data.europa.eu/snb/eqf/5"
    al_rev = normalise("al", sample_files("al")[0].read_bytes()).items[7].event
    assert al_rev is not None
    assert al_rev.record == {
        "credentialKey": "al:E/2020/000123:KPF/2025/0312",
        "reason": "DATA_ERROR",
        "reasonText": (
            "A tanúsítványon hibás születési dátum szerepelt; javítás után új tanúsítvány készül."
        ),
        "revokedOn": "2025-07-01",
    }

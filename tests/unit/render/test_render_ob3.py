"""Open Badges 3.0 rendering: every term is defined by the two local contexts."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest

from hub.errors import UnknownContextError
from hub.render.jsonld import LocalContextLoader, undefined_terms
from hub.render.ob3 import Ob3Options, hashed_identity, render_ob3
from tests.unit.render.render_support import (
    EXPECTED_FILES,
    co_awarded_foreign_variant,
    he_sample,
    load_expected,
    make_input,
    minimal_variant,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("path", EXPECTED_FILES, ids=lambda p: p.name.split(".")[0])
def test_expected_samples_expand_without_dropped_terms(path: Any) -> None:
    loader = LocalContextLoader()
    doc = render_ob3(make_input(load_expected(path)), Ob3Options(salt="s4lt"))
    assert undefined_terms(doc, loader) == []
    # only the two contexts were ever asked for, from local files
    assert set(loader.requested) == {
        "https://www.w3.org/ns/credentials/v2",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
    }


@pytest.mark.parametrize("variant", [minimal_variant, co_awarded_foreign_variant])
def test_variants_expand_without_dropped_terms(variant: Any) -> None:
    assert undefined_terms(render_ob3(make_input(variant()))) == []


def test_checker_catches_an_unknown_term_and_type() -> None:
    doc = render_ob3(make_input(he_sample()))
    bad = copy.deepcopy(doc)
    bad["credentialSubject"]["achievement"]["mkkrLevel"] = 6
    problems = undefined_terms(bad)
    assert problems == ["$.credentialSubject.achievement.mkkrLevel (dropped by expansion)"]
    bad = copy.deepcopy(doc)
    bad["credentialSubject"]["type"].append("MicroCredentialSubject")
    assert any("MicroCredentialSubject" in p for p in undefined_terms(bad))
    bad = copy.deepcopy(doc)
    bad["issuer"]["vatNumber"] = "HU12345678"
    assert undefined_terms(bad) == ["$.issuer.vatNumber (dropped by expansion)"]


def test_unknown_context_is_refused_not_fetched() -> None:
    doc = render_ob3(make_input(he_sample()))
    doc["@context"].append("https://example.org/extension-context.json")
    with pytest.raises(UnknownContextError):
        undefined_terms(doc)


def test_mapping_per_domain_notes() -> None:
    sample = he_sample()
    el = sample["elements"]
    doc = render_ob3(make_input(sample), Ob3Options(salt="abc"))
    assert doc["@context"] == [
        "https://www.w3.org/ns/credentials/v2",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
    ]
    assert doc["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert doc["issuer"]["type"] == ["Profile"]
    assert doc["issuer"]["address"]["addressCountryCode"] == "HU"
    subject = doc["credentialSubject"]
    ident = subject["identifier"][0]
    assert ident["hashed"] is True and ident["salt"] == "abc"
    expected_hash = hashlib.sha256(("77721222107" + "abc").encode()).hexdigest()
    assert ident["identityHash"] == "sha256$" + expected_hash
    assert "77721222107" not in str(doc)  # the education ID never appears in clear
    ach = subject["achievement"]
    assert ach["achievementType"] == "MicroCredential"
    assert ach["name"] == el["title"]["hu"]
    assert ach["creditsAvailable"] == 4.0
    urls = [a["targetUrl"] for a in ach["alignment"]]
    assert el["learningOutcomes"][0]["esco"] in urls
    assert "http://data.europa.eu/snb/eqf/6" in urls
    assert ach["criteria"]["narrative"].count("\n- ") == 2
    result = subject["result"][0]
    assert result["value"] == "5"
    assert result["resultDescription"] == ach["resultDescription"][0]["id"]
    assert doc["credentialStatus"] == {
        "id": "http://localhost:8080/v1/status/1#4711",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "4711",
        "statusListCredential": "http://localhost:8080/v1/status/1",
    }


def test_random_salt_differs_per_rendering() -> None:
    a = render_ob3(make_input(he_sample()))["credentialSubject"]["identifier"][0]
    b = render_ob3(make_input(he_sample()))["credentialSubject"]["identifier"][0]
    assert a["salt"] != b["salt"] and a["identityHash"] != b["identityHash"]
    assert hashed_identity("77721222107", a["salt"]) == a["identityHash"]


def test_minimal_record_has_no_result_and_no_eqf_alignment() -> None:
    doc = render_ob3(make_input(minimal_variant(), status=None))
    assert "result" not in doc["credentialSubject"]
    assert "alignment" not in doc["credentialSubject"]["achievement"]
    assert "credentialStatus" not in doc

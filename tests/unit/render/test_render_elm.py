"""ELM 3 / EDC rendering conforms to the official EDC SHACL shapes (local contexts only)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub import vocab
from hub.errors import UnknownContextError
from hub.render.elm import (
    DEV_ISSUER,
    PLACEHOLDER_PNG_B64,
    format_number,
    grade_text,
    iso_duration_hours,
    render_elm,
)
from hub.render.jsonld import (
    LocalContextLoader,
    default_reference_dir,
    undefined_terms,
    validate_edc,
)
from tests.unit.render.render_support import (
    EXPECTED_FILES,
    co_awarded_foreign_variant,
    foreign_body_without_id_variant,
    he_sample,
    load_expected,
    make_input,
    minimal_variant,
)

pytestmark = pytest.mark.unit

REF = default_reference_dir()


def _sample_payload(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((REF / "elm" / name).read_text(encoding="utf-8"))
    return json.loads(doc["payload"]) if "payload" in doc else doc


# --- the harness itself ---------------------------------------------------------------


def test_harness_accepts_the_commissions_signed_sample() -> None:
    report = validate_edc(_sample_payload("Sample-MC-Annex1-signed.jsonld"))
    assert report.conforms, report.text
    assert report.triples == 353  # as the reference README states


def test_harness_rejects_the_unsigned_sample_only_on_issued_and_eidas() -> None:
    report = validate_edc(_sample_payload("Sample-MC-Annex1-unsigned.jsonld"))
    assert not report.conforms
    assert "Results (2)" in report.text
    assert "cred_issued" in report.text
    assert "eidasLegalIdentifier" in report.text


def test_loader_never_fetches_unknown_contexts() -> None:
    loader = LocalContextLoader()
    with pytest.raises(UnknownContextError):
        loader("https://example.org/some/context.jsonld")


# --- conformance of what we render -----------------------------------------------------


@pytest.mark.parametrize("path", EXPECTED_FILES, ids=lambda p: p.name.split(".")[0])
def test_expected_samples_conform_to_edc_shapes(path: Any) -> None:
    doc = render_elm(make_input(load_expected(path)))
    report = validate_edc(doc)
    assert report.conforms, report.text
    assert undefined_terms(doc) == []


@pytest.mark.parametrize(
    "variant",
    [minimal_variant, co_awarded_foreign_variant, foreign_body_without_id_variant],
    ids=["no-optional-no-eqf", "co-awarded-foreign", "foreign-without-id"],
)
def test_variants_conform(variant: Any) -> None:
    doc = render_elm(make_input(variant(), status=None))
    report = validate_edc(doc)
    assert report.conforms, report.text
    assert undefined_terms(doc) == []


def test_shapes_do_catch_a_broken_rendering() -> None:
    doc = render_elm(make_input(he_sample()))
    del doc["issuer"]["eIDASIdentifier"]
    doc["credentialSubject"]["hasClaim"][0]["provenBy"][0].pop("grade")
    report = validate_edc(doc)
    assert not report.conforms
    assert "eidasLegalIdentifier" in report.text and "elm:grade" in report.text


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    eqf=st.one_of(st.none(), st.integers(1, 8)),
    hours=st.decimals(min_value="0.5", max_value="400", places=2),
    grade=st.one_of(
        st.none(),
        st.builds(lambda v: {"scale": "HU_1_5", "value": v}, st.integers(2, 5)),
        st.builds(lambda v: {"scale": "PERCENT", "value": v}, st.integers(0, 100)),
    ),
    supervision=st.sampled_from(
        [
            None,
            "none",
            "supervised-no-id-check",
            "supervised-id-verified",
            "remote-supervised-id-verified",
        ]
    ),
    types=st.lists(
        st.sampled_from(
            sorted(vocab.ASSESSMENT_PREFIX + s for s in ("6e6cb2cc78", "d30284d7df", "6a4db9f11d"))
        ),
        min_size=1,
        max_size=3,
        unique=True,
    ),
)
def test_generated_records_conform(
    eqf: int | None, hours: Any, grade: Any, supervision: str | None, types: list[str]
) -> None:
    sample = he_sample()
    el = sample["elements"]
    el["eqfLevel"] = vocab.eqf_uri(eqf) if eqf else None
    el["qfEheaCycle"] = None
    el["notionalWorkload"]["hours"] = float(hours)
    el["gradeAchieved"] = grade
    el["supervisionAndIdentityVerification"] = supervision
    el["assessmentTypes"] = types
    report = validate_edc(render_elm(make_input(sample)))
    assert report.conforms, report.text


# --- content checks ---------------------------------------------------------------------


def test_structure_follows_the_commission_sample() -> None:
    el = he_sample()["elements"]
    doc = render_elm(make_input(he_sample()))
    assert doc["@context"] == [
        "https://www.w3.org/2018/credentials/v1",
        "http://data.europa.eu/snb/model/context/edc-ap",
    ]
    assert doc["type"] == ["VerifiableCredential", "EuropeanDigitalCredential"]
    assert doc["credentialProfiles"][0]["id"] == "http://data.europa.eu/snb/credential/e34929035b"
    assert doc["credentialSchema"]["type"] == "ShaclValidator2017"
    assert doc["issuer"]["eIDASIdentifier"]["notation"] == DEV_ISSUER.eidas_identifier
    assert doc["issued"] == "2025-07-01T10:30:00Z"
    assert doc["validFrom"] == "2025-06-27T00:00:00+02:00"
    claim = doc["credentialSubject"]["hasClaim"][0]
    assert claim["title"] == el["title"]
    spec = claim["specifiedBy"]
    assert spec["volumeOfLearning"] == "PT120H"
    assert spec["creditPoint"][0]["point"] == "4"
    assert spec["eqfLevel"]["id"] == "http://data.europa.eu/snb/eqf/6"
    assert spec["nqfLevel"][0]["id"] == vocab.MKKR_LEVEL_URIS[6]
    assert (
        spec["learningOutcome"][0]["relatedESCOSkill"][0]["id"] == el["learningOutcomes"][0]["esco"]
    )
    assert "relatedESCOSkill" not in spec["learningOutcome"][2]
    assessment = claim["provenBy"][0]
    assert assessment["grade"]["noteLiteral"] == {"hu": "5 (jeles)", "en": "5 (excellent)"}
    parts = assessment["specifiedBy"]["hasPart"]
    assert [p["dcType"]["id"] for p in parts] == el["assessmentTypes"]
    assert doc["credentialStatus"] == {
        "@value": "http://localhost:8080/v1/status/1#4711",
        "@type": "http://www.w3.org/2001/XMLSchema#anyURI",
    }


def test_plain_string_status_would_break_the_edc_shapes() -> None:
    """Why credentialStatus is an xsd:anyURI value: v1 coerces a string to an IRI node."""
    doc = render_elm(make_input(he_sample()))
    doc["credentialStatus"] = "http://localhost:8080/v1/status/1#4711"
    assert not validate_edc(doc).conforms


def test_a_status_node_would_break_the_edc_shapes() -> None:
    """Why ELM has no BitstringStatusListEntry node: ELM 3 (ELM.ttl) re-uses
    cred:credentialStatus without a class of its own, and EDC-generic-no-cv.ttl
    (``edc:EuropeanDigitalCredential-cred_credentialStatus``) requires
    ``sh:datatype xsd:anyURI; sh:maxCount 1`` at Violation severity: a node of any
    shape, with the VC 2.0 entry's properties, is refused."""
    doc = render_elm(make_input(he_sample()))
    report = validate_edc(doc)
    assert report.conforms, report.text
    doc["credentialStatus"] = {
        "id": "http://localhost:8080/v1/status/1#4711",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "4711",
        "statusListCredential": "http://localhost:8080/v1/status/1",
    }
    report = validate_edc(doc)
    assert not report.conforms
    assert "credentialStatus" in report.text and "anyURI" in report.text


def test_shapes_fix_the_status_datatype() -> None:
    """The shape line the rendering follows (guards against a shapes update)."""
    shapes = (REF / "elm" / "EDC-generic-no-cv.ttl").read_text(encoding="utf-8")
    block = shapes.split("edc:EuropeanDigitalCredential-cred_credentialStatus\n", 1)[1]
    block = block.split(" . ", 1)[0].split("\n .", 1)[0]
    assert "sh:path cred:credentialStatus;" in block
    assert "sh:datatype xsd:anyURI;" in block and "sh:deactivated" not in block
    ontology = (REF / "elm" / "ELM.ttl").read_text(encoding="utf-8")
    assert "CredentialStatus" not in ontology  # ELM defines no status class


def test_rendering_is_deterministic() -> None:
    assert render_elm(make_input(he_sample())) == render_elm(make_input(he_sample()))


def test_supervision_mapping() -> None:
    unsupervised = render_elm(make_input(co_awarded_foreign_variant()))
    node = unsupervised["credentialSubject"]["hasClaim"][0]["provenBy"][0]
    assert node["idVerification"]["id"] == vocab.SUPERVISION_PREFIX + "c598449d64"
    supervised = render_elm(make_input(he_sample()))
    node = supervised["credentialSubject"]["hasClaim"][0]["provenBy"][0]
    assert "idVerification" not in node  # no EU concept for supervised codes in domain.md
    assert "személyazonosság ellenőrizve" in node["additionalNote"][0]["noteLiteral"]["hu"]


def test_value_formatting() -> None:
    assert [format_number(v) for v in (4, 5.0, 2.5, 1.5, 92.5, 87.25)] == [
        "4", "5", "2.5", "1.5", "92.5", "87.25",
    ]  # fmt: skip
    assert iso_duration_hours(120) == "PT120H"
    assert iso_duration_hours(7.5) == "PT7H30M"
    assert iso_duration_hours(31.25) == "PT31H15M"
    assert iso_duration_hours("7.33") == "PT7H19M48S"
    assert grade_text(None)["en"] == "Passed (not graded)"
    assert grade_text({"scale": "PERCENT", "value": 92.5}) == {"hu": "92,5%", "en": "92.5%"}
    assert PLACEHOLDER_PNG_B64.startswith("iVBORw0KGgo")

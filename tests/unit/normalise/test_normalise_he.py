"""Feed ``he``: every rejection rule on a mutated sample, plus normalisation details."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hub.normalise import normalise
from tests.unit.normalise.normalise_support import (
    DELETE,
    HE_ISSUE,
    HE_ISSUE_FOREIGN,
    HE_REVOKE,
    HE_WITHDRAW,
    he_bytes,
    he_doc,
    only_event,
    rules_of,
    sample_bytes,
    set_path,
)

pytestmark = pytest.mark.unit

UUID = "d253379a-1e9f-5550-884a-66667341ec4e"

#: (sample, dotted member path, new value or DELETE, expected rule, expected violation path)
CASES: list[tuple[str, str, Any, str, str]] = [
    (HE_ISSUE, "sema_verzio", "2.0", "UNSUPPORTED_VERSION", "sema_verzio"),
    (HE_ISSUE, "sema_verzio", 1.0, "UNSUPPORTED_VERSION", "sema_verzio"),
    (HE_ISSUE, "sema_verzio", DELETE, "MISSING_REQUIRED", "sema_verzio"),
    (HE_ISSUE, "esemeny_tipus", "kiadas", "UNKNOWN_EVENT_TYPE", "esemeny_tipus"),
    (HE_ISSUE, "esemeny_tipus", "KIALLITAS", "UNKNOWN_EVENT_TYPE", "esemeny_tipus"),
    (HE_ISSUE, "esemeny_tipus", None, "MISSING_REQUIRED", "esemeny_tipus"),
    (HE_ISSUE, "esemeny_azonosito", UUID.upper(), "INVALID_FORMAT", "esemeny_azonosito"),
    (HE_ISSUE, "esemeny_azonosito", DELETE, "MISSING_REQUIRED", "esemeny_azonosito"),
    (HE_ISSUE, "esemeny_idopont", "2025-06-27T15:42:10", "INVALID_FORMAT", "esemeny_idopont"),
    (HE_ISSUE, "esemeny_idopont", "2025-06-27 15:42:10Z", "INVALID_FORMAT", "esemeny_idopont"),
    (HE_ISSUE, "esemeny_idopont", "2025-06-27T24:00:00Z", "INVALID_DATE", "esemeny_idopont"),
    (HE_ISSUE, "esemeny_idopont", "2025-02-29T10:00:00Z", "INVALID_DATE", "esemeny_idopont"),
    (HE_ISSUE, "intezmeny.kod", "FI3145", "INVALID_FORMAT", "intezmeny.kod"),
    (HE_ISSUE, "intezmeny.kod", 31457, "INVALID_FORMAT", "intezmeny.kod"),
    (HE_ISSUE, "intezmeny.nev", "  ", "MISSING_REQUIRED", "intezmeny.nev"),
    (HE_ISSUE, "intezmeny.nev", "É" * 301, "TEXT_TOO_LONG", "intezmeny.nev"),
    (HE_ISSUE, "intezmeny", "FI31457", "INVALID_FORMAT", "intezmeny"),
    (HE_ISSUE, "hallgato", DELETE, "MISSING_REQUIRED", "hallgato"),
    (
        HE_ISSUE,
        "hallgato.oktatasi_azonosito",
        "7772122210",
        "LEARNER_ID_INVALID",
        "hallgato.oktatasi_azonosito",
    ),
    (
        HE_ISSUE,
        "hallgato.oktatasi_azonosito",
        "87721222107",
        "LEARNER_ID_INVALID",
        "hallgato.oktatasi_azonosito",
    ),
    (
        HE_ISSUE,
        "hallgato.oktatasi_azonosito",
        77721222107,
        "LEARNER_ID_INVALID",
        "hallgato.oktatasi_azonosito",
    ),
    (
        HE_ISSUE,
        "hallgato.oktatasi_azonosito",
        "77721222104",
        "LEARNER_ID_CHECK_DIGIT",
        "hallgato.oktatasi_azonosito",
    ),
    (HE_ISSUE, "hallgato.csaladi_nev", "", "MISSING_REQUIRED", "hallgato.csaladi_nev"),
    (HE_ISSUE, "hallgato.utonev", "x" * 101, "TEXT_TOO_LONG", "hallgato.utonev"),
    (
        HE_ISSUE,
        "hallgato.szuletesi_datum",
        "2000-11-03",
        "INVALID_FORMAT",
        "hallgato.szuletesi_datum",
    ),
    (
        HE_ISSUE,
        "hallgato.szuletesi_datum",
        "2000.11.03",
        "INVALID_FORMAT",
        "hallgato.szuletesi_datum",
    ),
    (
        HE_ISSUE,
        "hallgato.szuletesi_datum",
        "2001.02.29.",
        "INVALID_DATE",
        "hallgato.szuletesi_datum",
    ),
    (
        HE_ISSUE,
        "hallgato.szuletesi_datum",
        "2001.13.01.",
        "INVALID_DATE",
        "hallgato.szuletesi_datum",
    ),
    (HE_ISSUE, "oklevel", DELETE, "MISSING_REQUIRED", "oklevel"),
    (HE_ISSUE, "oklevel.azonosito", "-bad", "INVALID_FORMAT", "oklevel.azonosito"),
    (HE_ISSUE, "oklevel.azonosito", "A" * 65, "INVALID_FORMAT", "oklevel.azonosito"),
    (HE_ISSUE, "oklevel.megnevezes", DELETE, "MISSING_REQUIRED", "oklevel.megnevezes"),
    (HE_ISSUE, "oklevel.megnevezes", "t" * 501, "TEXT_TOO_LONG", "oklevel.megnevezes"),
    (HE_ISSUE, "oklevel.megnevezes_angol", "t" * 501, "TEXT_TOO_LONG", "oklevel.megnevezes_angol"),
    (HE_ISSUE, "oklevel.kredit", 0, "WORKLOAD_NOT_POSITIVE", "oklevel.kredit"),
    (HE_ISSUE, "oklevel.kredit", -2.5, "WORKLOAD_NOT_POSITIVE", "oklevel.kredit"),
    (HE_ISSUE, "oklevel.kredit", "4", "INVALID_FORMAT", "oklevel.kredit"),
    (HE_ISSUE, "oklevel.kredit", True, "INVALID_FORMAT", "oklevel.kredit"),
    (HE_ISSUE, "oklevel.kredit", DELETE, "MISSING_REQUIRED", "oklevel.kredit"),
    (HE_ISSUE, "oklevel.mkkr_szint", 9, "LEVEL_OUT_OF_RANGE", "oklevel.mkkr_szint"),
    (HE_ISSUE, "oklevel.mkkr_szint", 0, "LEVEL_OUT_OF_RANGE", "oklevel.mkkr_szint"),
    (HE_ISSUE, "oklevel.mkkr_szint", -1, "LEVEL_OUT_OF_RANGE", "oklevel.mkkr_szint"),
    (HE_ISSUE, "oklevel.mkkr_szint", "6", "INVALID_FORMAT", "oklevel.mkkr_szint"),
    (HE_ISSUE, "oklevel.mkkr_szint", 5.5, "INVALID_FORMAT", "oklevel.mkkr_szint"),
    (HE_ISSUE, "oklevel.mkkr_szint", True, "INVALID_FORMAT", "oklevel.mkkr_szint"),
    (HE_ISSUE, "oklevel.mkkr_szint", DELETE, "MISSING_REQUIRED", "oklevel.mkkr_szint"),
    (HE_ISSUE, "oklevel.ciklus", "MASODIK", "CYCLE_LEVEL_MISMATCH", "oklevel.ciklus"),
    (HE_ISSUE, "oklevel.ciklus", "elso", "UNKNOWN_CODE", "oklevel.ciklus"),
    (HE_ISSUE, "oklevel.iscedf", "1234", "ISCED_INVALID", "oklevel.iscedf"),
    (HE_ISSUE, "oklevel.iscedf", 613, "ISCED_INVALID", "oklevel.iscedf"),
    (HE_ISSUE, "oklevel.iscedf", "06.13", "ISCED_INVALID", "oklevel.iscedf"),
    (HE_ISSUE, "oklevel.iscedf", DELETE, "MISSING_REQUIRED", "oklevel.iscedf"),
    (
        HE_ISSUE,
        "oklevel.tanulasi_eredmenyek",
        [],
        "MISSING_REQUIRED",
        "oklevel.tanulasi_eredmenyek",
    ),
    (
        HE_ISSUE,
        "oklevel.tanulasi_eredmenyek",
        "egy",
        "INVALID_FORMAT",
        "oklevel.tanulasi_eredmenyek",
    ),
    (
        HE_ISSUE,
        "oklevel.tanulasi_eredmenyek[1].szoveg",
        " ",
        "MISSING_REQUIRED",
        "oklevel.tanulasi_eredmenyek[1].szoveg",
    ),
    (
        HE_ISSUE,
        "oklevel.tanulasi_eredmenyek[0].szoveg",
        "s" * 1001,
        "TEXT_TOO_LONG",
        "oklevel.tanulasi_eredmenyek[0].szoveg",
    ),
    (
        HE_ISSUE,
        "oklevel.tanulasi_eredmenyek[2].esco",
        "https://data.europa.eu/esco/skill/5ff33838-a94f-5c2a-a50c-7c747621fecf",
        "INVALID_ESCO_URI",
        "oklevel.tanulasi_eredmenyek[2].esco",
    ),
    (
        HE_ISSUE,
        "oklevel.tanulasi_eredmenyek[0].esco",
        "http://data.europa.eu/esco/skill/B8C280CA-56A4-537B-8B8D-F4918F4449DE",
        "INVALID_ESCO_URI",
        "oklevel.tanulasi_eredmenyek[0].esco",
    ),
    (HE_ISSUE, "oklevel.ertekeles_modja", [], "MISSING_REQUIRED", "oklevel.ertekeles_modja"),
    (
        HE_ISSUE,
        "oklevel.ertekeles_modja",
        ["PROJEKTMUNKA", "projektmunka"],
        "UNKNOWN_CODE",
        "oklevel.ertekeles_modja[1]",
    ),
    (
        HE_ISSUE,
        "oklevel.reszvetel_formaja",
        "MUNKAHELYI",
        "UNKNOWN_CODE",
        "oklevel.reszvetel_formaja",
    ),
    (
        HE_ISSUE,
        "oklevel.reszvetel_formaja",
        DELETE,
        "MISSING_REQUIRED",
        "oklevel.reszvetel_formaja",
    ),
    (
        HE_ISSUE,
        "oklevel.minosegbiztositas",
        DELETE,
        "MISSING_REQUIRED",
        "oklevel.minosegbiztositas",
    ),
    (
        HE_ISSUE,
        "oklevel.minosegbiztositas",
        ["PROGRAMENGEDELY"],
        "UNKNOWN_CODE",
        "oklevel.minosegbiztositas[0]",
    ),
    (HE_ISSUE, "oklevel.erdemjegy", 1, "GRADE_FAIL", "oklevel.erdemjegy"),
    (HE_ISSUE, "oklevel.erdemjegy", 6, "GRADE_INVALID", "oklevel.erdemjegy"),
    (HE_ISSUE, "oklevel.erdemjegy", 0, "GRADE_INVALID", "oklevel.erdemjegy"),
    (HE_ISSUE, "oklevel.erdemjegy", "5", "INVALID_FORMAT", "oklevel.erdemjegy"),
    (HE_ISSUE, "oklevel.felugyelet", "TAVFELUGYELT", "UNKNOWN_CODE", "oklevel.felugyelet"),
    (HE_ISSUE, "oklevel.elofeltetelek", "p" * 4001, "TEXT_TOO_LONG", "oklevel.elofeltetelek"),
    (
        HE_ISSUE,
        "oklevel.halmozhatosag.kepzes_kod",
        "TME PTI",
        "INVALID_FORMAT",
        "oklevel.halmozhatosag.kepzes_kod",
    ),
    (
        HE_ISSUE,
        "oklevel.halmozhatosag.leiras",
        "l" * 4001,
        "TEXT_TOO_LONG",
        "oklevel.halmozhatosag.leiras",
    ),
    (
        HE_ISSUE,
        "oklevel.tovabbi_informacio",
        "i" * 4001,
        "TEXT_TOO_LONG",
        "oklevel.tovabbi_informacio",
    ),
    (
        HE_ISSUE,
        "oklevel.kiallitas_datuma",
        "2025.06.28.",
        "ISSUE_DATE_AFTER_EVENT",
        "oklevel.kiallitas_datuma",
    ),
    (
        HE_ISSUE,
        "oklevel.kiallitas_datuma",
        "2025.6.27.",
        "INVALID_FORMAT",
        "oklevel.kiallitas_datuma",
    ),
    (HE_ISSUE, "oklevel.kiallitas_datuma", DELETE, "MISSING_REQUIRED", "oklevel.kiallitas_datuma"),
    (HE_ISSUE, "tarsintezmenyek", {"nev": "x"}, "INVALID_FORMAT", "tarsintezmenyek"),
    (
        HE_ISSUE,
        "tarsintezmenyek",
        [{"nev": "Partner", "orszag": "HUN"}],
        "MISSING_REQUIRED",
        "tarsintezmenyek[0].kod",
    ),
    (
        HE_ISSUE,
        "tarsintezmenyek",
        [{"nev": "Partner", "orszag": "AT"}],
        "INVALID_FORMAT",
        "tarsintezmenyek[0].orszag",
    ),
    (
        HE_ISSUE,
        "tarsintezmenyek",
        [{"nev": "Partner", "orszag": "AUT", "kod": "k" * 51}],
        "TEXT_TOO_LONG",
        "tarsintezmenyek[0].kod",
    ),
    (
        HE_ISSUE,
        "tarsintezmenyek",
        [{"orszag": "AUT"}],
        "MISSING_REQUIRED",
        "tarsintezmenyek[0].nev",
    ),
    (HE_REVOKE, "visszavonas.ok_kod", "ADATHIBA", "UNKNOWN_CODE", "visszavonas.ok_kod"),
    (HE_REVOKE, "visszavonas", DELETE, "MISSING_REQUIRED", "visszavonas"),
    (
        HE_REVOKE,
        "visszavonas.oklevel_azonosito",
        DELETE,
        "MISSING_REQUIRED",
        "visszavonas.oklevel_azonosito",
    ),
    (
        HE_REVOKE,
        "visszavonas.visszavonas_idopontja",
        "2025.06.03.",
        "INVALID_FORMAT",
        "visszavonas.visszavonas_idopontja",
    ),
    (HE_REVOKE, "visszavonas.indoklas", "r" * 4001, "TEXT_TOO_LONG", "visszavonas.indoklas"),
    (HE_REVOKE, "intezmeny.kod", DELETE, "MISSING_REQUIRED", "intezmeny.kod"),
    (HE_WITHDRAW, "kepzes.kod", "AGF MK", "INVALID_FORMAT", "kepzes.kod"),
    (HE_WITHDRAW, "kepzes.megnevezes", DELETE, "MISSING_REQUIRED", "kepzes.megnevezes"),
    (HE_WITHDRAW, "datum", "2025.03.32.", "INVALID_DATE", "datum"),
    (
        HE_WITHDRAW,
        "hallgato.szuletesi_datum",
        DELETE,
        "MISSING_REQUIRED",
        "hallgato.szuletesi_datum",
    ),
    (HE_WITHDRAW, "kimaradas_oka", "o" * 4001, "TEXT_TOO_LONG", "kimaradas_oka"),
]


@pytest.mark.parametrize(
    ("sample", "member", "value", "rule", "path"),
    CASES,
    ids=[f"{c[3]}-{c[1]}={str(c[2])[:12]}" for c in CASES],
)
def test_rejection_rule(sample: str, member: str, value: Any, rule: str, path: str) -> None:
    result = normalise("he", he_bytes(set_path(he_doc(sample), member, value)))
    assert len(result.items) == 1 and not result.file_violations
    item = result.items[0]
    assert not item.accepted and item.event is None
    found = rules_of(result)
    assert rule in found, [v.as_dict() for v in item.violations]
    assert found[rule] == path


#: raw payloads that fail before the field checks: (payload, rule)
RAW_CASES: list[tuple[bytes, str]] = [
    (b" " * (1024 * 1024 + 1), "PAYLOAD_TOO_LARGE"),
    ('{"sema_verzio": "1.0", "x": "\xe9"}'.encode("latin-1"), "ENCODING"),
    (b"\xff\xfe{\x00}\x00", "ENCODING"),
    (b"", "MALFORMED"),
    (b"{", "MALFORMED"),
    (b"[]", "MALFORMED"),
    (b'"just a string"', "MALFORMED"),
    (b"{} {}", "MALFORMED"),
    (b'{"a": NaN}', "MALFORMED"),
    (b'{"a": 1, "a": 2}', "MALFORMED"),
    (b'{"a": "\\ud800"}', "MALFORMED"),
    (b"[" * 100_000 + b"]" * 100_000, "MALFORMED"),
]


@pytest.mark.parametrize(("payload", "rule"), RAW_CASES, ids=lambda v: repr(v)[:30])
def test_raw_payload_rule(payload: bytes, rule: str) -> None:
    result = normalise("he", payload)
    assert list(rules_of(result)) == [rule]
    assert result.items[0].violations[0].path == "(payload)"


def test_payload_limit_is_exactly_one_mebibyte() -> None:
    doc = he_doc()
    raw = he_bytes(doc)
    padded = raw[:-1] + b" " * (1024 * 1024 - len(raw)) + b"}"
    assert len(padded) == 1024 * 1024
    only_event(normalise("he", padded))
    assert "PAYLOAD_TOO_LARGE" in rules_of(normalise("he", padded + b" "))


def test_size_is_checked_before_encoding() -> None:
    assert list(rules_of(normalise("he", b"\xff" * (1024 * 1024 + 1)))) == ["PAYLOAD_TOO_LARGE"]


def test_envelope_stops_at_first_failure() -> None:
    doc = set_path(he_doc(), "sema_verzio", "9.9")
    doc = set_path(doc, "esemeny_tipus", "bogus")
    doc = set_path(doc, "hallgato.oktatasi_azonosito", "123")
    assert list(rules_of(normalise("he", he_bytes(doc)))) == ["UNSUPPORTED_VERSION"]


def test_several_field_violations_reported_together() -> None:
    doc = set_path(he_doc(), "oklevel.kredit", 0)
    doc = set_path(doc, "oklevel.iscedf", "99")
    doc = set_path(doc, "oklevel.erdemjegy", 1)
    found = rules_of(normalise("he", he_bytes(doc)))
    assert {"WORKLOAD_NOT_POSITIVE", "ISCED_INVALID", "GRADE_FAIL"} <= set(found)


def test_rejection_keeps_idempotency_key_when_derivable() -> None:
    item = normalise("he", he_bytes(set_path(he_doc(), "oklevel.kredit", 0))).items[0]
    assert item.idempotency_key == f"he:{UUID}"
    item = normalise("he", he_bytes(set_path(he_doc(), "esemeny_tipus", "x"))).items[0]
    assert item.idempotency_key == f"he:{UUID}"


def test_unknown_members_and_nulls_are_ignored() -> None:
    doc = set_path(he_doc(), "jovobeli_mezo", {"anything": [1, 2]})
    doc = set_path(doc, "oklevel.megnevezes_angol", None)
    doc = set_path(doc, "oklevel.erdemjegy", None)
    doc = set_path(doc, "tarsintezmenyek", None)
    event = only_event(normalise("he", he_bytes(doc)))
    assert event.record["title"] == {"hu": "Tesztvezérelt szoftverfejlesztés Pythonban"}
    assert event.record["gradeAchieved"] is None


def test_revocation_institution_name_is_optional() -> None:
    event = only_event(normalise("he", sample_bytes("he", HE_REVOKE)))
    assert event.record_type == "revocation" and event.event_type == "revoked"
    assert event.credential_key == "he:FI52804:AGF/MK/2025/031"
    assert event.learner_id == "73520374068" and event.awarding_body_id == "FI52804"


def test_fractional_credit_is_kept_exactly() -> None:
    event = only_event(normalise("he", _with_raw_credit("2.5")))
    assert event.record["notionalWorkload"] == {
        "ects": 2.5,
        "hours": 75,
        "creditSystem": "http://data.europa.eu/snb/education-credit/6fcec5c5af",
    }
    event = only_event(normalise("he", _with_raw_credit("0.1")))
    assert event.record["notionalWorkload"]["hours"] == 3  # exact: 0.1 x 30, no float error
    assert event.record["notionalWorkload"]["ects"] == 0.1


def _with_raw_credit(number: str) -> bytes:
    """The issuance sample with ``kredit`` written literally as ``number``."""
    text = sample_bytes("he", HE_ISSUE).decode("utf-8")
    return text.replace('"kredit": 4', f'"kredit": {number}').encode("utf-8")


def test_integral_float_level_and_grade_are_integers() -> None:
    text = sample_bytes("he", HE_ISSUE).decode("utf-8")
    text = text.replace('"mkkr_szint": 6', '"mkkr_szint": 6.0')
    text = text.replace('"erdemjegy": 5', '"erdemjegy": 5.0')
    event = only_event(normalise("he", text.encode("utf-8")))
    assert event.record["eqfLevel"] == "http://data.europa.eu/snb/eqf/6"
    assert event.record["gradeAchieved"] == {"scale": "HU_1_5", "value": 5}


def test_trimming_and_nfc() -> None:
    decomposed = "Tesztvezérelt szoftverfejlesztés Pythonban".replace("é", "e\u0301")
    doc = set_path(he_doc(), "oklevel.megnevezes", f"\u00a0 {decomposed}\t\n")
    doc = set_path(doc, "hallgato.csaladi_nev", "Gyo\u030bri")  # o + double acute
    doc = set_path(doc, "intezmeny.kod", " FI31457 ")
    event = only_event(normalise("he", he_bytes(doc, ensure_ascii=True)))
    assert event.record["title"]["hu"] == "Tesztvezérelt szoftverfejlesztés Pythonban"
    assert event.record["learnerIdentification"]["familyName"] == "Győri"
    assert event.credential_key == "he:FI31457:TME-MK-2025-0117"


def test_text_limit_counts_code_points_after_nfc() -> None:
    decomposed = "e\u0301" * 300  # 600 code points before NFC, 300 after
    doc = set_path(he_doc(), "intezmeny.nev", decomposed)
    assert only_event(normalise("he", he_bytes(doc))).record["awardingBodies"][0]["name"] == (
        "é" * 300
    )


def test_hungarian_co_awarding_body_and_distinct_countries() -> None:
    partners = [
        {"nev": "Pannon Egyetem", "kod": "FI12345"},
        {"nev": "Wiener Hochschule", "orszag": "AUT", "kod": "W-1"},
        {"nev": "Grazer Hochschule", "orszag": "AUT"},
    ]
    event = only_event(normalise("he", he_bytes(set_path(he_doc(), "tarsintezmenyek", partners))))
    bodies = event.record["awardingBodies"]
    assert [(b["id"], b["scheme"]) for b in bodies] == [
        ("FI31457", "HU-FI"),
        ("FI12345", "HU-FI"),
        ("W-1", "OTHER"),
        (None, "OTHER"),
    ]
    assert [c.rsplit("/", 1)[1] for c in event.record["issuerCountry"]] == ["HUN", "AUT"]


def test_codes_deduplicated_in_order() -> None:
    doc = set_path(
        he_doc(),
        "oklevel.minosegbiztositas",
        ["BELSO_MINOSEGBIZTOSITAS", "MAB_PROGRAM", "MAB_INTEZMENYI", "MAB_PROGRAM"],
    )
    doc = set_path(doc, "oklevel.ertekeles_modja", ["PORTFOLIO", "PORTFOLIO"])
    record = only_event(normalise("he", he_bytes(doc))).record
    assert record["qualityAssurance"] == [
        "http://data.europa.eu/snb/accreditation/bb4618238e",
        "http://data.europa.eu/snb/accreditation/820101cba6",
    ]
    assert record["assessmentTypes"] == ["http://data.europa.eu/snb/assessment/4f03b91c0e"]


def test_issue_date_uses_the_event_timestamps_own_offset() -> None:
    # 23:30-05:00 is already the next day in UTC; the event's own date is 06-27
    doc = set_path(he_doc(), "esemeny_idopont", "2025-06-27T23:30:00.125-05:00")
    assert only_event(normalise("he", he_bytes(doc))).occurred_at == "2025-06-27T23:30:00.125-05:00"
    # 00:30+02:00 is still 06-26 in UTC; its own date 06-27 allows issuing on 06-27
    doc = set_path(he_doc(), "esemeny_idopont", "2025-06-27T00:30:00+02:00")
    only_event(normalise("he", he_bytes(doc)))
    doc = set_path(he_doc(), "esemeny_idopont", "2025-06-26T23:59:59Z")
    assert "ISSUE_DATE_AFTER_EVENT" in rules_of(normalise("he", he_bytes(doc)))


def test_enrolment_withdrawal_reason_only_for_withdrawals() -> None:
    doc = set_path(he_doc(HE_WITHDRAW), "esemeny_tipus", "befejezes")
    record = only_event(normalise("he", he_bytes(doc))).record
    assert record["status"] == "completed" and record["withdrawalReason"] is None


def test_foreign_sample_keeps_partner_order() -> None:
    event = only_event(normalise("he", sample_bytes("he", HE_ISSUE_FOREIGN)))
    assert [b["scheme"] for b in event.record["awardingBodies"]] == ["HU-FI", "OTHER"]


def test_content_is_canonical_json_of_cleaned_source() -> None:
    event = only_event(normalise("he", sample_bytes("he", HE_ISSUE)))
    content = json.loads(event.content)
    assert content["oklevel"]["kredit"] == 4
    assert content == json.loads(sample_bytes("he", HE_ISSUE))

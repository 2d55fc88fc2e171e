"""Feed ``vet``: safe XML parsing, namespaces, and every rejection rule on mutated samples."""

from __future__ import annotations

import re
import time

import pytest

from hub.normalise import normalise
from tests.unit.normalise.normalise_support import (
    VET_ISSUE,
    VET_REVOKE,
    VET_WITHDRAW,
    only_event,
    rules_of,
    sample_bytes,
    vet_replace,
    vet_text,
)

pytestmark = pytest.mark.unit

OUTCOME_3 = "<Tanulasieredmeny>Betartja"
ESCO_1 = 'Esco="http://data.europa.eu/esco/skill/ec346617-e300-5ab0-918f-a20b9f5b79b4"'

#: (sample, exact snippet, replacement, expected rule, expected violation path)
CASES: list[tuple[str, str, str, str, str]] = [
    (
        VET_ISSUE,
        "<EsemenyAzonosito>KR-203517-2025-004711<",
        "<EsemenyAzonosito>KR 203517<",
        "INVALID_FORMAT",
        "Fejlec/EsemenyAzonosito",
    ),
    (
        VET_ISSUE,
        "<EsemenyIdopont>2025-06-18T14:20:00+02:00<",
        "<EsemenyIdopont>2025-06-18T14:20<",
        "INVALID_FORMAT",
        "Fejlec/EsemenyIdopont",
    ),
    (
        VET_ISSUE,
        "<EsemenyIdopont>2025-06-18T14:20:00+02:00<",
        "<EsemenyIdopont>2025-06-18T14:61:00+02:00<",
        "INVALID_DATE",
        "Fejlec/EsemenyIdopont",
    ),
    (
        VET_ISSUE,
        "<OMAzonosito>203517<",
        "<OMAzonosito>20351<",
        "INVALID_FORMAT",
        "Intezmeny/OMAzonosito",
    ),
    (
        VET_ISSUE,
        "<OMAzonosito>203517</OMAzonosito>",
        "",
        "MISSING_REQUIRED",
        "Intezmeny/OMAzonosito",
    ),
    (
        VET_ISSUE,
        "<Nev>Pannon Gépipari Technikum</Nev>",
        "<Nev/>",
        "MISSING_REQUIRED",
        "Intezmeny/Nev",
    ),
    (
        VET_ISSUE,
        "<Nev>Pannon Gépipari Technikum</Nev>",
        "<Nev>" + "N" * 301 + "</Nev>",
        "TEXT_TOO_LONG",
        "Intezmeny/Nev",
    ),
    (
        VET_ISSUE,
        'Kod="AKT-07"',
        'Kod="AKT-7"',
        "INVALID_FORMAT",
        "AgazatiKeszsegtanacs/@Kod",
    ),
    (
        VET_ISSUE,
        "<OktatasiAzonosito>79498822908<",
        "<OktatasiAzonosito>7949882290A<",
        "LEARNER_ID_INVALID",
        "Tanulo/OktatasiAzonosito",
    ),
    (
        VET_ISSUE,
        "<OktatasiAzonosito>79498822908<",
        "<OktatasiAzonosito>79498822907<",
        "LEARNER_ID_CHECK_DIGIT",
        "Tanulo/OktatasiAzonosito",
    ),
    (VET_ISSUE, "<Utonev>Márk</Utonev>", "", "MISSING_REQUIRED", "Tanulo/Utonev"),
    (
        VET_ISSUE,
        "<CsaladiNev>Tóth-Vámos<",
        "<CsaladiNev>" + "T" * 101 + "<",
        "TEXT_TOO_LONG",
        "Tanulo/CsaladiNev",
    ),
    (
        VET_ISSUE,
        "<SzuletesiDatum>2006-05-21<",
        "<SzuletesiDatum>2006.05.21.<",
        "INVALID_FORMAT",
        "Tanulo/SzuletesiDatum",
    ),
    (
        VET_ISSUE,
        "<SzuletesiDatum>2006-05-21<",
        "<SzuletesiDatum>2006-02-30<",
        "INVALID_DATE",
        "Tanulo/SzuletesiDatum",
    ),
    (
        VET_ISSUE,
        "<Azonosito>PGT/2025/0042<",
        "<Azonosito>PGT 2025<",
        "INVALID_FORMAT",
        "Tanusitvany/Azonosito",
    ),
    (VET_ISSUE, ' xml:lang="hu">CNC', ">CNC", "INVALID_FORMAT", "Tanusitvany/Megnevezes[1]"),
    (
        VET_ISSUE,
        ' xml:lang="hu">CNC',
        ' xml:lang="">CNC',
        "INVALID_FORMAT",
        "Tanusitvany/Megnevezes[1]",
    ),
    (VET_ISSUE, 'xml:lang="en"', 'xml:lang="hu"', "INVALID_FORMAT", "Tanusitvany/Megnevezes[2]"),
    (
        VET_ISSUE,
        ' xml:lang="hu">CNC',
        ' xml:lang="de">CNC',
        "MISSING_REQUIRED",
        "Tanusitvany/Megnevezes",
    ),
    (
        VET_ISSUE,
        '<Megnevezes xml:lang="hu">CNC',
        '<Megnevezes xml:lang="hu">' + "C" * 500,
        "TEXT_TOO_LONG",
        "Tanusitvany/Megnevezes[1]",
    ),
    (VET_ISSUE, "<Oraszam>120<", "<Oraszam>12.5<", "INVALID_FORMAT", "Tanusitvany/Oraszam"),
    (VET_ISSUE, "<Oraszam>120<", "<Oraszam>12,5<", "INVALID_FORMAT", "Tanusitvany/Oraszam"),
    (VET_ISSUE, "<Oraszam>120<", "<Oraszam>0<", "WORKLOAD_NOT_POSITIVE", "Tanusitvany/Oraszam"),
    (VET_ISSUE, "<Oraszam>120<", "<Oraszam>-40<", "WORKLOAD_NOT_POSITIVE", "Tanusitvany/Oraszam"),
    (VET_ISSUE, "<Oraszam>120</Oraszam>", "", "MISSING_REQUIRED", "Tanusitvany/Oraszam"),
    (VET_ISSUE, "<MKKRSzint>4<", "<MKKRSzint>9<", "LEVEL_OUT_OF_RANGE", "Tanusitvany/MKKRSzint"),
    (VET_ISSUE, "<MKKRSzint>4<", "<MKKRSzint>hat<", "INVALID_FORMAT", "Tanusitvany/MKKRSzint"),
    (VET_ISSUE, "<ISCEDF>0715<", "<ISCEDF>1234<", "ISCED_INVALID", "Tanusitvany/ISCEDF"),
    (VET_ISSUE, "<ISCEDF>0715</ISCEDF>", "", "MISSING_REQUIRED", "Tanusitvany/ISCEDF"),
    (
        VET_ISSUE,
        ESCO_1,
        'Esco="http://data.europa.eu/esco/skill/not-a-uuid"',
        "INVALID_ESCO_URI",
        "Tanusitvany/Tanulasieredmenyek/Tanulasieredmeny[1]/@Esco",
    ),
    (
        VET_ISSUE,
        OUTCOME_3,
        "<Tanulasieredmeny>" + "x" * 1001,
        "TEXT_TOO_LONG",
        "Tanusitvany/Tanulasieredmenyek/Tanulasieredmeny[3]",
    ),
    (
        VET_ISSUE,
        "<Modszer>INTERAKTIV<",
        "<Modszer>ONLINE<",
        "UNKNOWN_CODE",
        "Tanusitvany/Ertekeles/Modszer[2]",
    ),
    (
        VET_ISSUE,
        "<KepzesiForma>DUALIS<",
        "<KepzesiForma>dualis<",
        "UNKNOWN_CODE",
        "Tanusitvany/KepzesiForma",
    ),
    (
        VET_ISSUE,
        "<Minosegbiztositas>SZAKKEPZESI_MINOSEGIRANYITAS</Minosegbiztositas>",
        "",
        "MISSING_REQUIRED",
        "Tanusitvany/Minosegbiztositas",
    ),
    (VET_ISSUE, 'Skala="OTFOKU">4<', 'Skala="OTFOKU">1<', "GRADE_FAIL", "Tanusitvany/Eredmeny"),
    (VET_ISSUE, 'Skala="OTFOKU">4<', 'Skala="OTFOKU">6<', "GRADE_INVALID", "Tanusitvany/Eredmeny"),
    (
        VET_ISSUE,
        'Skala="OTFOKU">4<',
        'Skala="OTOS">4<',
        "UNKNOWN_CODE",
        "Tanusitvany/Eredmeny/@Skala",
    ),
    (
        VET_ISSUE,
        'Skala="OTFOKU">4<',
        'Skala="SZAZALEK">101<',
        "GRADE_INVALID",
        "Tanusitvany/Eredmeny",
    ),
    (
        VET_ISSUE,
        "<Felugyelet>FELUGYELT_AZONOSITOTT<",
        "<Felugyelet>IGEN<",
        "UNKNOWN_CODE",
        "Tanusitvany/Felugyelet",
    ),
    (
        VET_ISSUE,
        'Kepzes="PGT-GEPGYART-TECH"',
        'Kepzes="PGT GEPGYART"',
        "INVALID_FORMAT",
        "Tanusitvany/Beszamithatosag/@Kepzes",
    ),
    (
        VET_ISSUE,
        "<KiallitasDatuma>2025-06-18<",
        "<KiallitasDatuma>2025-06-19<",
        "ISSUE_DATE_AFTER_EVENT",
        "Tanusitvany/KiallitasDatuma",
    ),
    (
        VET_ISSUE,
        "<Oraszam>120</Oraszam>",
        "<Oraszam>120</Oraszam><Oraszam>40</Oraszam>",
        "INVALID_FORMAT",
        "Tanusitvany/Oraszam",
    ),
    (VET_REVOKE, "<Ok>ADATHIBA<", "<Ok>HIBAS_ADAT<", "UNKNOWN_CODE", "Visszavonas/Ok"),
    (
        VET_REVOKE,
        "<VisszavonasDatuma>2025-07-02<",
        "<VisszavonasDatuma>2025-07-32<",
        "INVALID_DATE",
        "Visszavonas/VisszavonasDatuma",
    ),
    (
        VET_REVOKE,
        "<TanusitvanyAzonosito>KESZI-2025-117</TanusitvanyAzonosito>",
        "",
        "MISSING_REQUIRED",
        "Visszavonas/TanusitvanyAzonosito",
    ),
    (VET_WITHDRAW, "<Datum>2025-02-10<", "<Datum>2025.02.10.<", "INVALID_FORMAT", "Datum"),
    (
        VET_WITHDRAW,
        "<Azonosito>HVT-ALLERGEN-2025T<",
        "<Azonosito><",
        "MISSING_REQUIRED",
        "Kepzes/Azonosito",
    ),
    (VET_WITHDRAW, "<Ok>Másik", "<Ok>" + "o" * 4001, "TEXT_TOO_LONG", "Ok"),
]


@pytest.mark.parametrize(
    ("sample", "old", "new", "rule", "path"),
    CASES,
    ids=[f"{c[3]}-{c[4]}" for c in CASES],
)
def test_rejection_rule(sample: str, old: str, new: str, rule: str, path: str) -> None:
    result = normalise("vet", vet_replace(old, new, sample))
    assert len(result.items) == 1 and not result.items[0].accepted
    found = rules_of(result)
    assert rule in found, [v.as_dict() for v in result.items[0].violations]
    assert found[rule] == path


XXE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<!DOCTYPE TanusitvanyKiallitas [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    b'<TanusitvanyKiallitas xmlns="urn:mchub:feed:vet:1"><Fejlec>'
    b"<EsemenyAzonosito>&xxe;</EsemenyAzonosito></Fejlec></TanusitvanyKiallitas>"
)

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode()
        for i in range(1, 10)
    )
    + b']>\n<Beiratkozas xmlns="urn:mchub:feed:vet:1">&lol9;</Beiratkozas>'
)

PARAMETER_ENTITY = (
    b'<!DOCTYPE x [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>\n'
    b'<Beiratkozas xmlns="urn:mchub:feed:vet:1"/>'
)

#: raw documents that fail before the field checks: (payload, rule)
RAW_CASES: list[tuple[bytes, str]] = [
    (b"<a/>" + b" " * (1024 * 1024), "PAYLOAD_TOO_LARGE"),
    (vet_text().replace("UTF-8", "ISO-8859-2").encode("utf-8"), "ENCODING"),
    (vet_text().replace('"UTF-8"', "'windows-1250'").encode("utf-8"), "ENCODING"),
    (vet_text().encode("utf-16"), "ENCODING"),
    (vet_text().encode("utf-8").replace("Márk".encode(), b"M\xe1rk"), "ENCODING"),
    (XXE, "XML_DOCTYPE"),
    (BILLION_LAUGHS, "XML_DOCTYPE"),
    (PARAMETER_ENTITY, "XML_DOCTYPE"),
    (b'<!DOCTYPE Beiratkozas><Beiratkozas xmlns="urn:mchub:feed:vet:1"/>', "XML_DOCTYPE"),
    (b"", "MALFORMED"),
    (b"not xml at all", "MALFORMED"),
    (vet_text().replace("</Fejlec>", "").encode("utf-8"), "MALFORMED"),
    (vet_text().replace("Márk", "M&aacute;rk").encode("utf-8"), "MALFORMED"),
    (vet_text().encode("utf-8") + b"<extra/>", "MALFORMED"),
    (vet_text().replace(' xmlns="urn:mchub:feed:vet:1"', "").encode("utf-8"), "XML_NAMESPACE"),
    (
        vet_text().replace("urn:mchub:feed:vet:1", "urn:mchub:feed:vet:2").encode("utf-8"),
        "XML_NAMESPACE",
    ),
    (
        b'<v:TanusitvanyKiallitas xmlns:v="urn:other" xmlns="urn:mchub:feed:vet:1"/>',
        "XML_NAMESPACE",
    ),
    (b'<Tanusitvany xmlns="urn:mchub:feed:vet:1"/>', "UNKNOWN_EVENT_TYPE"),
    (b'<tanusitvanykiallitas xmlns="urn:mchub:feed:vet:1"/>', "UNKNOWN_EVENT_TYPE"),
]


@pytest.mark.parametrize(("payload", "rule"), RAW_CASES, ids=lambda v: repr(v)[:40])
def test_raw_document_rule(payload: bytes, rule: str) -> None:
    result = normalise("vet", payload)
    assert len(result.items) == 1
    assert list(rules_of(result)) == [rule], [v.as_dict() for v in result.items[0].violations]


def test_doctype_rejected_quickly_without_expansion() -> None:
    started = time.perf_counter()
    for _ in range(50):
        result = normalise("vet", BILLION_LAUGHS)
        assert list(rules_of(result)) == ["XML_DOCTYPE"]
        assert "lollol" not in result.items[0].violations[0].message
    assert time.perf_counter() - started < 2.0


def test_xxe_never_reads_the_file() -> None:
    result = normalise("vet", XXE)
    assert "root:" not in repr(result)


def test_any_prefix_and_child_order() -> None:
    text = vet_text()
    prefixed = text.replace('xmlns="urn:mchub:feed:vet:1"', 'xmlns:k="urn:mchub:feed:vet:1"')
    prefixed = prefixed.replace("<", "<k:").replace("<k:/", "</k:").replace("<k:?xml", "<?xml")
    event = only_event(normalise("vet", prefixed.encode("utf-8")))
    reference = only_event(normalise("vet", sample_bytes("vet", VET_ISSUE)))
    assert event.record == reference.record
    # move Tanulo before Fejlec: child order is not significant
    start, end = text.index("  <Tanulo>"), text.index("</Tanulo>\n") + len("</Tanulo>\n")
    block = text[start:end]
    moved = text.replace(block, "").replace("  <Fejlec>", block + "  <Fejlec>")
    assert only_event(normalise("vet", moved.encode("utf-8"))).record == reference.record


def test_elements_of_other_namespaces_are_ignored_or_missing() -> None:
    extra = vet_replace(
        "<Tanulo>", '<x:Megjegyzes xmlns:x="urn:other">ignored</x:Megjegyzes><Tanulo>'
    )
    only_event(normalise("vet", extra))
    foreign_required = vet_replace(
        "<Oraszam>120</Oraszam>", '<x:Oraszam xmlns:x="urn:other">120</x:Oraszam>'
    )
    assert rules_of(normalise("vet", foreign_required)) == {
        "MISSING_REQUIRED": "Tanusitvany/Oraszam"
    }


def test_other_language_titles_ignored() -> None:
    event = only_event(
        normalise(
            "vet",
            vet_replace(
                '<Megnevezes xml:lang="en">',
                '<Megnevezes xml:lang="de">CNC-Grundlagen</Megnevezes><Megnevezes xml:lang="en">',
            ),
        )
    )
    assert set(event.record["title"]) == {"hu", "en"}


def test_workload_grade_and_bodies() -> None:
    event = only_event(normalise("vet", sample_bytes("vet", VET_ISSUE)))
    assert event.record["notionalWorkload"]["ects"] == 5.0
    assert event.record["awardingBodies"][1]["scheme"] == "HU-AKT"
    assert event.idempotency_key == "vet:203517:KR-203517-2025-004711"
    assert event.occurred_at == "2025-06-18T14:20:00+02:00"
    small = only_event(normalise("vet", vet_replace("<Oraszam>120<", "<Oraszam>10<")))
    assert small.record["notionalWorkload"]["ects"] == 0.5
    percent = only_event(normalise("vet", vet_replace('Skala="OTFOKU">4<', 'Skala="SZAZALEK">0<')))
    assert percent.record["gradeAchieved"] == {"scale": "PERCENT", "value": 0}


def test_no_learning_outcome_is_missing() -> None:
    text = re.sub(r"<Tanulasieredmeny[ >].*?</Tanulasieredmeny>", "", vet_text(), flags=re.S)
    assert rules_of(normalise("vet", text.encode("utf-8"))) == {
        "MISSING_REQUIRED": "Tanusitvany/Tanulasieredmenyek/Tanulasieredmeny"
    }
    text = re.sub(r"<Modszer>.*?</Modszer>", "", vet_text())
    assert rules_of(normalise("vet", text.encode("utf-8"))) == {
        "MISSING_REQUIRED": "Tanusitvany/Ertekeles/Modszer"
    }


def test_declaration_optional_and_utf8_case_insensitive() -> None:
    text = vet_text()
    no_decl = text.split("\n", 1)[1]
    only_event(normalise("vet", no_decl.encode("utf-8")))
    only_event(normalise("vet", text.replace('"UTF-8"', '"utf-8"').encode("utf-8")))
    only_event(normalise("vet", b"\xef\xbb\xbf" + text.encode("utf-8")))


def test_cdata_comments_and_processing_instructions() -> None:
    payload = vet_replace(
        "<Nev>Pannon Gépipari Technikum</Nev>",
        "<!-- c --><Nev><![CDATA[Pannon Gépipari]]> <!-- mid -->Technikum</Nev><?pi x?>",
    )
    event = only_event(normalise("vet", payload))
    assert event.record["awardingBodies"][0]["name"] == "Pannon Gépipari Technikum"


def test_decomposed_text_is_nfc() -> None:
    payload = vet_replace("<Utonev>Márk<", "<Utonev>  Ma\u0301rk\n<")
    event = only_event(normalise("vet", payload))
    assert event.record["learnerIdentification"]["givenName"] == "Márk"


def test_revocation_needs_only_the_learner_id() -> None:
    event = only_event(normalise("vet", sample_bytes("vet", VET_REVOKE)))
    assert event.learner_id == "79653483697" and event.awarding_body_id == "038214"
    assert event.record["reasonText"].startswith("A tanúsítványon")


def test_deeply_nested_foreign_elements_do_not_crash() -> None:
    deep = "<x:a xmlns:x='urn:o'>" * 5000 + "</x:a>" * 5000
    payload = vet_replace("<Tanulo>", deep + "<Tanulo>")
    result = normalise("vet", payload)
    assert len(result.items) == 1  # accepted or rejected, but never an exception


def test_doctype_text_inside_a_comment_is_not_a_doctype() -> None:
    payload = vet_replace("<Tanulo>", "<!-- no <!DOCTYPE here, nor <!ENTITY x 'y'> --><Tanulo>")
    only_event(normalise("vet", payload))


def test_stray_entity_declaration_is_xml_doctype() -> None:
    payload = b'<!ENTITY x "y"><Beiratkozas xmlns="urn:mchub:feed:vet:1"/>'
    assert list(rules_of(normalise("vet", payload))) == ["XML_DOCTYPE"]


def test_fast_and_defused_parsers_agree() -> None:
    plain = normalise("vet", sample_bytes("vet", VET_ISSUE)).items[0].event
    via_defused = (
        normalise("vet", vet_replace("<Tanulo>", "<!-- <!DOCTYPE --><Tanulo>")).items[0].event
    )
    assert plain is not None and via_defused is not None
    assert plain.content == via_defused.content and plain.record == via_defused.record

"""Feed ``al``: CSV file rules, per-row rules on mutated sample rows, row independence."""

from __future__ import annotations

import pytest

from hub.normalise import normalise
from tests.unit.normalise.normalise_support import (
    AL_FILE,
    al_bytes,
    al_row,
    al_table,
    only_event,
    rules_of,
    sample_bytes,
)

pytestmark = pytest.mark.unit

ISSUE, ENROL, WITHDRAW, REVOKE = 2, 1, 4, 8  # rows of the first al sample
ESCO = "http://data.europa.eu/esco/skill/0d6ad4a4-48be-5f18-8721-8d953aec96e0"

#: (sample row, column, new cell value, expected rule); the path is "row 1: <column>"
CASES: list[tuple[int, str, str, str]] = [
    (ISSUE, "sor_azonosito", "R 002", "INVALID_FORMAT"),
    (ISSUE, "sor_azonosito", "R" * 41, "INVALID_FORMAT"),
    (ISSUE, "sor_azonosito", "", "MISSING_REQUIRED"),
    (ISSUE, "statusz", "KIADVA", "UNKNOWN_EVENT_TYPE"),
    (ISSUE, "statusz", "kiallitva", "UNKNOWN_EVENT_TYPE"),
    (ISSUE, "statusz", "", "MISSING_REQUIRED"),
    (ISSUE, "esemeny_datuma", "2025-06-30", "INVALID_FORMAT"),
    (ISSUE, "esemeny_datuma", "2025.02.30.", "INVALID_DATE"),
    (ISSUE, "esemeny_datuma", "", "MISSING_REQUIRED"),
    (ISSUE, "felnottkepzo_nyilvantartasi_szam", "E-2020-000123", "INVALID_FORMAT"),
    (ISSUE, "felnottkepzo_nyilvantartasi_szam", "C/2020/000123", "INVALID_FORMAT"),
    (ISSUE, "felnottkepzo_neve", "", "MISSING_REQUIRED"),
    (ISSUE, "felnottkepzo_neve", "F" * 301, "TEXT_TOO_LONG"),
    (ISSUE, "kepzes_azonosito", "", "MISSING_REQUIRED"),
    (ISSUE, "kepzes_azonosito", "KPF 2025", "INVALID_FORMAT"),
    (ISSUE, "kepzes_megnevezese", "", "MISSING_REQUIRED"),
    (ISSUE, "kepzes_megnevezese", "K" * 501, "TEXT_TOO_LONG"),
    (ISSUE, "kepzes_megnevezese_angol", "E" * 501, "TEXT_TOO_LONG"),
    (ISSUE, "oktatasi_azonosito", "759719354620", "LEARNER_ID_INVALID"),
    (ISSUE, "oktatasi_azonosito", "75971935463", "LEARNER_ID_CHECK_DIGIT"),
    (ISSUE, "oktatasi_azonosito", "", "MISSING_REQUIRED"),
    (ISSUE, "csaladi_nev", "", "MISSING_REQUIRED"),
    (ISSUE, "utonev", "U" * 101, "TEXT_TOO_LONG"),
    (ISSUE, "szuletesi_datum", "1979.1.26.", "INVALID_FORMAT"),
    (ISSUE, "tanusitvany_szam", "", "MISSING_REQUIRED"),
    (ISSUE, "tanusitvany_szam", "KPF 2025", "INVALID_FORMAT"),
    (ISSUE, "oraszam", "40.5", "INVALID_FORMAT"),
    (ISSUE, "oraszam", "40,555", "INVALID_FORMAT"),
    (ISSUE, "oraszam", "1 000", "INVALID_FORMAT"),
    (ISSUE, "oraszam", "0", "WORKLOAD_NOT_POSITIVE"),
    (ISSUE, "oraszam", "-7,5", "WORKLOAD_NOT_POSITIVE"),
    (ISSUE, "oraszam", "", "MISSING_REQUIRED"),
    (ISSUE, "mkkr_szint", "9", "LEVEL_OUT_OF_RANGE"),
    (ISSUE, "mkkr_szint", "0", "LEVEL_OUT_OF_RANGE"),
    (ISSUE, "mkkr_szint", "4,5", "INVALID_FORMAT"),
    (ISSUE, "mkkr_szint", "hat", "INVALID_FORMAT"),
    (ISSUE, "iscedf", "1234", "ISCED_INVALID"),
    (ISSUE, "iscedf", "06.11", "ISCED_INVALID"),
    (ISSUE, "tanulasi_eredmenyek", "", "MISSING_REQUIRED"),
    (ISSUE, "tanulasi_eredmenyek", "egy | | kettő | három", "INVALID_FORMAT"),
    (ISSUE, "tanulasi_eredmenyek", "x" * 1001 + " | b | c", "TEXT_TOO_LONG"),
    (ISSUE, "esco_uri", f"{ESCO} | -", "ESCO_COUNT_MISMATCH"),
    (ISSUE, "esco_uri", f"- | - | {ESCO} | -", "ESCO_COUNT_MISMATCH"),
    (ISSUE, "esco_uri", f"- | - | {ESCO.upper()}", "INVALID_ESCO_URI"),
    (ISSUE, "esco_uri", f"- | - | {ESCO.replace('http:', 'https:')}", "INVALID_ESCO_URI"),
    (ISSUE, "ertekeles", "", "MISSING_REQUIRED"),
    (ISSUE, "ertekeles", "GYAKORLATI_FELADAT | gyakorlati_feladat", "UNKNOWN_CODE"),
    (ISSUE, "ertekeles", "GYAKORLATI_FELADAT |  | IRASBELI_TESZT", "INVALID_FORMAT"),
    (ISSUE, "reszvetel_formaja", "TAVOKTATAS", "UNKNOWN_CODE"),
    (ISSUE, "reszvetel_formaja", "", "MISSING_REQUIRED"),
    (ISSUE, "minosegbiztositas", "MAB_PROGRAM", "UNKNOWN_CODE"),
    (ISSUE, "minosegbiztositas", "", "MISSING_REQUIRED"),
    (ISSUE, "eredmeny_szazalek", "100,01", "GRADE_INVALID"),
    (ISSUE, "eredmeny_szazalek", "-1", "GRADE_INVALID"),
    (ISSUE, "eredmeny_szazalek", "92.5", "INVALID_FORMAT"),
    (ISSUE, "elofeltetelek", "e" * 4001, "TEXT_TOO_LONG"),
    (ISSUE, "vizsga_felugyelet", "FELUGYELT_AZONOSITVA", "UNKNOWN_CODE"),
    (ISSUE, "beszamithatosag", "b" * 4001, "TEXT_TOO_LONG"),
    (ISSUE, "tovabbi_informacio", "t" * 4001, "TEXT_TOO_LONG"),
    (REVOKE, "visszavonas_oka", "HIBAS_ADAT", "UNKNOWN_CODE"),
    (REVOKE, "visszavonas_oka", "", "MISSING_REQUIRED"),
    (REVOKE, "visszavonas_indoklasa", "v" * 4001, "TEXT_TOO_LONG"),
    (REVOKE, "tanusitvany_szam", "", "MISSING_REQUIRED"),
    (REVOKE, "esemeny_datuma", "2025.07.1.", "INVALID_FORMAT"),
    (REVOKE, "oktatasi_azonosito", "78976651888", "LEARNER_ID_CHECK_DIGIT"),
    (ENROL, "kepzes_azonosito", "", "MISSING_REQUIRED"),
    (ENROL, "szuletesi_datum", "1985.04.31.", "INVALID_DATE"),
    (WITHDRAW, "felnottkepzo_neve", "", "MISSING_REQUIRED"),
    (WITHDRAW, "kepzes_megnevezese", "", "MISSING_REQUIRED"),
]


@pytest.mark.parametrize(
    ("sample_row", "column", "value", "rule"),
    CASES,
    ids=[f"{c[3]}-row{c[0]}-{c[1]}={c[2][:10]}" for c in CASES],
)
def test_row_rejection_rule(sample_row: int, column: str, value: str, rule: str) -> None:
    result = normalise("al", al_row(sample_row, **{column: value}))
    assert not result.file_violations and len(result.items) == 1
    item = result.items[0]
    assert not item.accepted and item.row == 1
    found = rules_of(result)
    assert rule in found, [v.as_dict() for v in item.violations]
    assert found[rule].startswith(f"row 1: {column}")


def _sample_text() -> str:
    return sample_bytes("al", AL_FILE).decode("utf-8-sig")


#: whole-file failures: (payload, rule)
FILE_CASES: list[tuple[str, bytes, str]] = [
    ("too large", b"\xef\xbb\xbf" + b" " * (8 * 1024 * 1024), "PAYLOAD_TOO_LARGE"),
    ("no BOM", _sample_text().encode("utf-8"), "ENCODING"),
    ("windows-1250", b"\xef\xbb\xbf" + _sample_text().encode("cp1250"), "ENCODING"),
    ("utf-16", _sample_text().encode("utf-16"), "ENCODING"),
    ("empty", b"", "ENCODING"),
    ("BOM only", b"\xef\xbb\xbf", "CSV_HEADER"),
    (
        "unterminated quote",
        b"\xef\xbb\xbf" + _sample_text().replace(';"A tan', ';"A tan"x').encode("utf-8"),
        "MALFORMED",
    ),
    (
        "never closed",
        b"\xef\xbb\xbf" + _sample_text().replace('készül."', "készül.").encode("utf-8"),
        "MALFORMED",
    ),
    (
        "quote in unquoted cell",
        b"\xef\xbb\xbf" + _sample_text().replace("Halász", 'Hal"ász').encode("utf-8"),
        "MALFORMED",
    ),
    (
        "missing column",
        b"\xef\xbb\xbf" + _sample_text().replace(";visszavonas_indoklasa", "", 1).encode("utf-8"),
        "CSV_HEADER",
    ),
    (
        "duplicate column",
        b"\xef\xbb\xbf"
        + _sample_text().replace("visszavonas_indoklasa", "visszavonas_oka", 1).encode("utf-8"),
        "CSV_HEADER",
    ),
    (
        "unknown column",
        b"\xef\xbb\xbf" + _sample_text().replace("utonev", "keresztnev", 1).encode("utf-8"),
        "CSV_HEADER",
    ),
    (
        "upper-case column",
        b"\xef\xbb\xbf" + _sample_text().replace("utonev", "UTONEV", 1).encode("utf-8"),
        "CSV_HEADER",
    ),
    (
        "comma separator",
        b"\xef\xbb\xbf" + _sample_text().replace(";", ",").encode("utf-8"),
        "CSV_HEADER",
    ),
]


@pytest.mark.parametrize(("name", "payload", "rule"), FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_file_rejection_rule(name: str, payload: bytes, rule: str) -> None:
    result = normalise("al", payload)
    assert result.items == ()
    assert [v.rule for v in result.file_violations] == [rule]
    assert result.file_violations[0].message


def test_column_count_rejects_only_that_row() -> None:
    header, rows = al_table()
    rows[2] = rows[2][:-1]  # row 3: one cell short
    rows[4] = [*rows[4], "extra"]  # row 5: one cell too many
    result = normalise("al", al_bytes(header, rows))
    assert len(result.items) == 8
    assert [i.accepted for i in result.items] == [True, True, False, True, False, True, True, True]
    assert rules_of(result, 2) == {"CSV_COLUMN_COUNT": "row 3"}
    assert rules_of(result, 4) == {"CSV_COLUMN_COUNT": "row 5"}
    assert result.items[2].sor_azonosito == "R-20250701-003"


def test_rows_are_independent() -> None:
    header, rows = al_table()
    rows[1][header.index("oraszam")] = "0"
    result = normalise("al", al_bytes(header, rows))
    assert [i.accepted for i in result.items].count(False) == 1
    bad = result.items[1]
    assert bad.row == 2 and bad.sor_azonosito == "R-20250701-002"
    assert bad.idempotency_key == "al:E/2020/000123:R-20250701-002"
    assert rules_of(result, 1) == {"WORKLOAD_NOT_POSITIVE": "row 2: oraszam"}


def test_header_only_file_is_valid_and_empty() -> None:
    header, _ = al_table()
    result = normalise("al", al_bytes(header, []))
    assert result.file_violations == () and result.items == ()


def test_empty_lines_skipped_and_not_counted() -> None:
    text = _sample_text().replace("\r\n", "\r\n\r\n", 3) + "\r\n\r\n"
    result = normalise("al", b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert len(result.items) == 8 and all(i.accepted for i in result.items)
    assert [i.row for i in result.items] == list(range(1, 9))


def test_columns_in_any_order_lf_and_full_quoting() -> None:
    header, rows = al_table()
    order = list(reversed(range(len(header))))
    shuffled = al_bytes(
        [header[i] for i in order],
        [[row[i] for i in order] for row in rows],
        newline="\n",
        quote_all=True,
    )
    reference = normalise("al", sample_bytes("al", AL_FILE))
    result = normalise("al", shuffled)
    assert [i.event.record for i in result.items if i.event] == [
        i.event.record for i in reference.items if i.event
    ]


def test_quoted_cell_with_separator_quotes_and_newline() -> None:
    event = only_event(
        normalise("al", al_row(ISSUE, tovabbi_informacio='Első sor; "idézet"\r\nmásodik sor'))
    )
    assert event.record["furtherInformation"] == 'Első sor; "idézet"\nmásodik sor'


def test_esco_alignment_and_workload() -> None:
    event = only_event(normalise("al", al_row(ISSUE)))
    assert [o["esco"] is None for o in event.record["learningOutcomes"]] == [False, True, False]
    assert event.record["notionalWorkload"]["ects"] == 1.5
    assert event.record["gradeAchieved"] == {"scale": "PERCENT", "value": 92.5}
    empty_item = only_event(
        normalise(
            "al",
            al_row(
                ISSUE,
                esco_uri="http://data.europa.eu/esco/skill/0d6ad4a4-48be-5f18-8721-8d953aec96e0||",
            ),
        )
    )
    assert [o["esco"] is None for o in empty_item.record["learningOutcomes"]] == [
        False,
        True,
        True,
    ]
    none = only_event(normalise("al", al_row(ISSUE, esco_uri="")))
    assert all(o["esco"] is None for o in none.record["learningOutcomes"])
    fractional = only_event(normalise("al", al_row(ISSUE, oraszam="31,25")))
    assert fractional.record["notionalWorkload"]["ects"] == 1.5
    assert fractional.record["notionalWorkload"]["hours"] == 31.25


def test_ignored_columns_are_not_validated() -> None:
    event = only_event(normalise("al", al_row(REVOKE, oraszam="abc", kepzes_azonosito="x y")))
    assert event.record_type == "revocation"
    event = only_event(normalise("al", al_row(ENROL, tanusitvany_szam="?", visszavonas_oka="?")))
    assert event.record["status"] == "enrolled" and event.credential_key is None


def test_stackability_and_optional_level() -> None:
    event = only_event(normalise("al", al_row(ISSUE, beszamithatosag="Beszámítható.")))
    assert event.record["integrationStackability"] == {
        "partOfProgramme": None,
        "text": "Beszámítható.",
    }
    assert event.record["eqfLevel"] is None
    leveled = only_event(normalise("al", al_row(ISSUE, mkkr_szint="4", iscedf="")))
    assert leveled.record["eqfLevel"] == "http://data.europa.eu/snb/eqf/4"
    assert leveled.record["fieldOfEducation"] is None


def test_nfc_in_cells() -> None:
    event = only_event(normalise("al", al_row(ISSUE, csaladi_nev=" Va\u0301rga ")))
    assert event.record["learnerIdentification"]["familyName"] == "Várga"


def test_keys_and_metadata() -> None:
    result = normalise("al", sample_bytes("al", AL_FILE))
    event = result.items[1].event
    assert event is not None
    assert event.idempotency_key == "al:E/2020/000123:R-20250701-002"
    assert event.credential_key == "al:E/2020/000123:KPF/2025/0311"
    assert event.awarding_body_id == "E/2020/000123" and event.learner_id == "75971935462"
    assert event.row == 2 and event.sor_azonosito == "R-20250701-002"

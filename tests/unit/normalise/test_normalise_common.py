"""Common value rules (§3): ECTS table, dates, timestamps, IDs, mappings."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub import vocab
from hub.normalise import common as c
from hub.normalise.mappings import FEEDS, MAPPING_FILE, MAPPING_VERSION, load_mappings
from hub.normalise.types import Violation

pytestmark = pytest.mark.unit

#: §3.8 worked table: hours -> ECTS
ECTS_TABLE = [
    ("7,5", "0.5"),
    ("10", "0.5"),
    ("24", "1.0"),
    ("30", "1.0"),
    ("31,25", "1.5"),
    ("40", "1.5"),
    ("45", "2.0"),
    ("60", "2.5"),
    ("90", "3.5"),
    ("120", "5.0"),
    ("200", "8.0"),
]


@pytest.mark.parametrize(("hours", "ects"), ECTS_TABLE)
def test_ects_table(hours: str, ects: str) -> None:
    parsed = c.text_decimal(hours, c.AL_NUMBER_RE)
    assert parsed is not None
    assert c.ects_from_hours(parsed) == Decimal(ects)
    workload = c.workload_from_hours(parsed)
    assert workload["ects"] == float(ects)
    assert workload["hours"] == float(hours.replace(",", "."))


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=2))
def test_ects_is_nearest_half_never_below_half(hours: Decimal) -> None:
    ects = c.ects_from_hours(hours)
    assert ects >= Decimal("0.5")
    assert (ects * 2) == (ects * 2).to_integral_value()
    if ects > Decimal("0.5"):
        assert abs(ects - hours / 25) <= Decimal("0.25")


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("2025-06-30T14:05:00+02:00", None),
        ("2025-06-30T14:05:00Z", None),
        ("2025-06-30T14:05:00.123456-11:30", None),
        ("2025-06-30T14:05+02:00", "INVALID_FORMAT"),
        ("2025-06-30T14:05:00", "INVALID_FORMAT"),
        ("2025-06-30T14:05:00+0200", "INVALID_FORMAT"),
        ("2025-06-30", "INVALID_FORMAT"),
        ("２０２５-06-30T14:05:00Z", "INVALID_FORMAT"),
        ("2025-06-30T24:00:00Z", "INVALID_DATE"),
        ("2025-06-30T23:60:00Z", "INVALID_DATE"),
        ("2025-06-31T10:00:00Z", "INVALID_DATE"),
        ("2025-13-01T10:00:00Z", "INVALID_DATE"),
        ("2025-06-30T10:00:00+25:00", "INVALID_DATE"),
    ],
)
def test_timestamps(value: str, rule: str | None) -> None:
    out: list[Violation] = []
    result = c.timestamp(out, value, "t")
    assert [v.rule for v in out] == ([rule] if rule else [])
    assert result == (None if rule else value)


@pytest.mark.parametrize(
    ("value", "expected", "rule"),
    [
        ("2025.06.30.", "2025-06-30", None),
        ("2024.02.29.", "2024-02-29", None),
        ("2025.02.29.", None, "INVALID_DATE"),
        ("2025.02.30.", None, "INVALID_DATE"),
        ("0000.01.01.", None, "INVALID_DATE"),
        ("2025.6.30.", None, "INVALID_FORMAT"),
        ("2025.06.30", None, "INVALID_FORMAT"),
        ("2025-06-30", None, "INVALID_FORMAT"),
        ("", None, "MISSING_REQUIRED"),
    ],
)
def test_hu_dates(value: str, expected: str | None, rule: str | None) -> None:
    out: list[Violation] = []
    assert c.hu_date(out, value, "d") == expected
    assert [v.rule for v in out] == ([rule] if rule else [])


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("77721222107", None),
        ("77721222104", "LEARNER_ID_CHECK_DIGIT"),
        ("7772122210", "LEARNER_ID_INVALID"),
        ("777212221070", "LEARNER_ID_INVALID"),
        ("67721222107", "LEARNER_ID_INVALID"),
        ("7772122210x", "LEARNER_ID_INVALID"),
        ("७७७२१२२२१०७", "LEARNER_ID_INVALID"),  # non-ASCII digits
        (Decimal("77721222107"), "LEARNER_ID_INVALID"),
        ("70000000010", "LEARNER_ID_CHECK_DIGIT"),  # weighted sum 7 -> d11 must be 7
    ],
)
def test_education_id(value: object, rule: str | None) -> None:
    out: list[Violation] = []
    c.education_id(out, value, "id")
    assert [v.rule for v in out] == ([rule] if rule else [])


def test_remainder_ten_is_never_valid() -> None:
    # 7000000003x: sum = 7 + 10*3 = 37 -> 4; find a prefix with remainder 10
    prefix = next(
        f"7{n:09d}"
        for n in range(10**6)
        if sum(i * int(d) for i, d in enumerate(f"7{n:09d}", start=1)) % 11 == 10
    )
    for last in "0123456789":
        out: list[Violation] = []
        c.education_id(out, prefix + last, "id")
        assert [v.rule for v in out] == ["LEARNER_ID_CHECK_DIGIT"]


@pytest.mark.parametrize(
    ("code", "ok"),
    [("06", True), ("061", True), ("0613", True), ("10", True), ("1013", True), ("00", True)],
)
def test_isced_codes(code: str, ok: bool) -> None:
    out: list[Violation] = []
    assert c.isced(out, code, "f", required=True) == vocab.ISCED_F_PREFIX + code
    assert out == []


@pytest.mark.parametrize("code", ["1234", "11", "6", "06131", "06.13", " 0613x", "٠٦١٣"])
def test_isced_invalid(code: str) -> None:
    out: list[Violation] = []
    assert c.isced(out, code, "f", required=True) is None
    assert [v.rule for v in out] == ["ISCED_INVALID"]


def test_clean_trims_unicode_whitespace_and_composes() -> None:
    assert c.clean("\u00a0\u2003 Gyo\u030bri \t\n") == "Győri"
    assert c.clean("  ascii  ") == "ascii"


def test_canonical_json_numbers_are_exact_and_normalised() -> None:
    assert c.canonical_json({"b": Decimal("4.0"), "a": Decimal("4")}) == '{"a":4,"b":4}'
    assert c.canonical_json([Decimal("2.50")]) == "[2.5]"
    huge = c.canonical_json([Decimal("1E+400"), Decimal("10E+399")])
    assert json.loads(huge)[0] == json.loads(huge)[1]
    precise = c.canonical_json([Decimal("0.1000000000000000000001")])
    assert precise != c.canonical_json([Decimal("0.1")])


def test_mapping_tables_are_complete_and_well_formed() -> None:
    version, feeds = load_mappings(MAPPING_FILE)
    assert version == MAPPING_VERSION == "feeds-v1/mappings-1"
    assert set(feeds) == set(FEEDS) == {"he", "vet", "al"}
    prefixes = {
        "assessment": vocab.ASSESSMENT_PREFIX,
        "participation": vocab.MODE_PREFIX,
        "quality_assurance": vocab.ACCREDITATION_PREFIX,
    }
    for mapping in feeds.values():
        for table, prefix in prefixes.items():
            uris = getattr(mapping, table).values()
            assert uris and all(u.startswith(prefix) and len(u) == len(prefix) + 10 for u in uris)
        assert set(mapping.revocation_reason.values()) <= {
            "DATA_ERROR",
            "FRAUD",
            "ASSESSMENT_ANNULLED",
            "ISSUER_DECISION",
            "OTHER",
        }
        assert list(mapping.supervision.values()) == [
            "none",
            "supervised-no-id-check",
            "supervised-id-verified",
            "remote-supervised-id-verified",
        ]
        assert sorted(mapping.event_type.values()) == sorted(
            ["issued", "revoked", "enrolled", "withdrawn", "completed"]
        )
    assert set(feeds["he"].cycle.values()) == set(vocab.QF_EHEA_CYCLE_LEVELS)
    # six assessment concepts, four (he/vet: three) QA concepts
    assert len(set(feeds["al"].assessment.values())) == 6
    assert len(set(feeds["al"].quality_assurance.values())) == 4
    assert len(set(feeds["vet"].participation.values())) == 4


def test_bad_mapping_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"version": "x", "feeds": {"he": {"assessment": {"A": 1}}}}))
    with pytest.raises(ValueError, match=r"lacks|strings"):
        load_mappings(path)


# --- canonical_json: the standard library's text, however it is written ---------------

_json_scalars = (
    st.none() | st.booleans() | st.text() | st.integers()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.decimals(min_value=Decimal("-0.001"), max_value=Decimal("0.001"), places=12)
    | st.sampled_from([Decimal("1E-5"), Decimal("5.50"), Decimal("1E+40"), Decimal("0.1")])
)
_json_values = st.recursive(
    _json_scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=25,
)


@given(_json_values)
def test_canonical_json_is_the_standard_library_text(value: object) -> None:
    assert c.canonical_json(value) == c._CANONICAL_ENCODER.encode(value)


def test_canonical_json_refuses_what_the_standard_library_refuses() -> None:
    with pytest.raises(TypeError):
        c.canonical_json({"when": date(2025, 1, 1)})

"""Common value rules of the feed contract §3, shared by the three sector normalisers.

Every checker takes the value (already trimmed and NFC-normalised, see :func:`clean`),
the field path used in violations and the list the violations go to. It returns the
canonical value, or ``None`` when the value is absent or broke a rule (the violation is
then in the list). All checks are pure and never raise on bad input.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from hub import vocab, wire
from hub.normalise.types import Violation

# --- rule codes (§8.1) ----------------------------------------------------------------
PAYLOAD_TOO_LARGE: Final = "PAYLOAD_TOO_LARGE"
ENCODING: Final = "ENCODING"
MALFORMED: Final = "MALFORMED"
XML_DOCTYPE: Final = "XML_DOCTYPE"
XML_NAMESPACE: Final = "XML_NAMESPACE"
CSV_HEADER: Final = "CSV_HEADER"
CSV_COLUMN_COUNT: Final = "CSV_COLUMN_COUNT"
UNSUPPORTED_VERSION: Final = "UNSUPPORTED_VERSION"
UNKNOWN_EVENT_TYPE: Final = "UNKNOWN_EVENT_TYPE"
MISSING_REQUIRED: Final = "MISSING_REQUIRED"
INVALID_FORMAT: Final = "INVALID_FORMAT"
INVALID_DATE: Final = "INVALID_DATE"
TEXT_TOO_LONG: Final = "TEXT_TOO_LONG"
LEARNER_ID_INVALID: Final = "LEARNER_ID_INVALID"
LEARNER_ID_CHECK_DIGIT: Final = "LEARNER_ID_CHECK_DIGIT"
UNKNOWN_CODE: Final = "UNKNOWN_CODE"
LEVEL_OUT_OF_RANGE: Final = "LEVEL_OUT_OF_RANGE"
CYCLE_LEVEL_MISMATCH: Final = "CYCLE_LEVEL_MISMATCH"
ISCED_INVALID: Final = "ISCED_INVALID"
INVALID_ESCO_URI: Final = "INVALID_ESCO_URI"
ESCO_COUNT_MISMATCH: Final = "ESCO_COUNT_MISMATCH"
WORKLOAD_NOT_POSITIVE: Final = "WORKLOAD_NOT_POSITIVE"
GRADE_INVALID: Final = "GRADE_INVALID"
GRADE_FAIL: Final = "GRADE_FAIL"
ISSUE_DATE_AFTER_EVENT: Final = "ISSUE_DATE_AFTER_EVENT"

# --- transport limits (§2) -------------------------------------------------------------
MIB: Final = 1024 * 1024
MAX_BYTES: Final[Mapping[str, int]] = {"he": MIB, "vet": MIB, "al": 8 * MIB}

#: path used for violations about the whole message or file
PAYLOAD_PATH: Final = "(payload)"

# --- text limits in code points (§3.3) ---------------------------------------------------
TITLE_MAX: Final = 500
PERSON_NAME_MAX: Final = 100
BODY_NAME_MAX: Final = 300
OUTCOME_MAX: Final = 1000
LONG_TEXT_MAX: Final = 4000
FOREIGN_CODE_MAX: Final = 50

# --- identifier patterns (§3.4); always used with fullmatch ----------------------------
HE_INSTITUTION_RE: Final = re.compile(r"FI[0-9]{5}")
OM_RE: Final = re.compile(r"[0-9]{6}")
AKT_RE: Final = re.compile(r"AKT-[0-9]{2}")
FAR_RE: Final = re.compile(r"[EB]/[0-9]{4}/[0-9]{6}")
CREDENTIAL_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9/._-]{0,63}")
PROGRAMME_ID_RE: Final = CREDENTIAL_ID_RE
HE_EVENT_ID_RE: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
VET_EVENT_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
AL_ROW_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
COUNTRY_RE: Final = vocab.COUNTRY_CODE_RE

# --- dates and numbers (§3.2, §3.5, §3.8, §6.1); ASCII digits only -----------------------
HU_DATE_RE: Final = re.compile(r"([0-9]{4})\.([0-9]{2})\.([0-9]{2})\.")
ISO_DATE_RE: Final = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
TIMESTAMP_RE: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?"
    r"(?:Z|[+-]([0-9]{2}):([0-9]{2}))"
)
TEXT_INTEGER_RE: Final = re.compile(r"-?[0-9]+")
AL_NUMBER_RE: Final = re.compile(r"-?[0-9]+(?:,[0-9]{1,2})?")
#: numbers with this many integer digits or more cannot be represented canonically
NUMBER_DIGITS_MAX: Final = 15

_SURROGATE_RE: Final = re.compile("[\ud800-\udfff]")
_HALF: Final = Decimal("0.5")
_ECTS_PER_HOUR_X2: Final = Decimal(2) / Decimal(25)
_HOURS_PER_CREDIT: Final = Decimal(30)
_PERCENT_MAX: Final = Decimal(100)

Out = list[Violation]


def add(out: Out, rule: str, path: str, message: str) -> None:
    """Record one violation."""
    out.append(Violation(rule, path, message))


def clean(value: str) -> str:
    """Trim leading/trailing Unicode whitespace and normalise to NFC (§3.3)."""
    value = value.strip()
    if value.isascii():
        return value
    return unicodedata.normalize("NFC", value)


def has_surrogate(value: str) -> bool:
    """True when ``value`` holds a lone surrogate (possible only via JSON ``\\u`` escapes)."""
    return not value.isascii() and _SURROGATE_RE.search(value) is not None


def dedupe(values: Iterable[str]) -> list[str]:
    """Distinct values in order of first appearance (§3.10)."""
    return list(dict.fromkeys(values))


# --- canonical JSON ---------------------------------------------------------------------


def _decimal_json(value: object) -> object:
    """``json.dumps`` hook: a Decimal as an exact, canonical JSON value."""
    if not isinstance(value, Decimal):
        raise TypeError(f"not JSON serialisable: {type(value).__name__}")
    if value.is_finite() and value == value.to_integral_value() and value.adjusted() < 30:
        return int(value)
    number = float(value)
    if math.isfinite(number) and Decimal(repr(number)) == value:
        return number
    sign, digits, exponent = value.as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    exponent = int(exponent) + len(digits) - len(text)
    return {"$decimal": f"{'-' if sign else ''}{text}E{exponent}"}


_CANONICAL_ENCODER: Final = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_decimal_json
)


def canonical_json(value: object) -> str:
    """Canonical JSON text: sorted keys, no insignificant whitespace, exact decimals.

    The text is what :data:`_CANONICAL_ENCODER` (the standard library) writes, written
    by :func:`hub.wire.standard_json` (orjson where it gives the same bytes). Numbers
    arrive as Decimals (the parsers refuse NaN and Infinity), so a ``null`` is a None.
    """
    return wire.standard_json(
        value, sort_keys=True, default=_decimal_json, finite=True
    ).decode("utf-8")


def json_number(value: Decimal) -> int | float:
    """A finite Decimal as a JSON number: int when integral, else float."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def representable(value: Decimal) -> bool:
    """True when a Decimal is small enough to be emitted as a plain JSON number."""
    return value.is_finite() and (value.is_zero() or value.adjusted() < NUMBER_DIGITS_MAX)


# --- value checkers ---------------------------------------------------------------------


def text(out: Out, value: object, path: str, limit: int, *, required: bool) -> str | None:
    """A free text: empty counts as missing/absent, longer than ``limit`` is TEXT_TOO_LONG."""
    if value is None or value == "":
        if required:
            add(out, MISSING_REQUIRED, path, "required text is missing or empty")
        return None
    if not isinstance(value, str):
        add(out, INVALID_FORMAT, path, f"expected a string, got {_kind(value)}")
        return None
    if len(value) > limit:
        add(out, TEXT_TOO_LONG, path, f"text has {len(value)} characters, the limit is {limit}")
        return None
    return value


def identifier(
    out: Out, value: object, path: str, pattern: re.Pattern[str], what: str, *, required: bool
) -> str | None:
    """An identifier that must fully match ``pattern`` (§3.4)."""
    if value is None or value == "":
        if required:
            add(out, MISSING_REQUIRED, path, f"required {what} is missing or empty")
        return None
    if not isinstance(value, str):
        add(out, INVALID_FORMAT, path, f"{what} must be a string, got {_kind(value)}")
        return None
    if pattern.fullmatch(value) is None:
        add(out, INVALID_FORMAT, path, f"{_show(value)} is not a valid {what}")
        return None
    return value


def education_id(out: Out, value: object, path: str) -> str | None:
    """The learner's education ID (§3.1): format, then check digit."""
    if value is None or value == "":
        add(out, MISSING_REQUIRED, path, "the learner's education ID is missing")
        return None
    if not isinstance(value, str) or not vocab.education_id_format_ok(value):
        shown = _show(value) if isinstance(value, str) else f"a JSON {_kind(value)}"
        add(out, LEARNER_ID_INVALID, path, f"{shown} is not 11 ASCII digits starting with 7")
        return None
    if not vocab.education_id_check_digit_ok(value):
        add(out, LEARNER_ID_CHECK_DIGIT, path, f"{value!r} has a wrong check digit")
        return None
    return value


def calendar_date(
    out: Out, value: object, path: str, pattern: re.Pattern[str], shape: str, *, required: bool
) -> str | None:
    """A calendar date in the feed's ``shape``; canonical ``YYYY-MM-DD`` (§3.2)."""
    if value is None or value == "":
        if required:
            add(out, MISSING_REQUIRED, path, "required date is missing")
        return None
    if not isinstance(value, str):
        add(out, INVALID_FORMAT, path, f"date must be a string {shape}, got {_kind(value)}")
        return None
    match = pattern.fullmatch(value)
    if match is None:
        add(out, INVALID_FORMAT, path, f"{_show(value)} is not a date of the form {shape}")
        return None
    year, month, day = match.groups()
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        add(out, INVALID_DATE, path, f"{value!r} is not a real calendar date")
        return None
    return f"{year}-{month}-{day}"


def hu_date(out: Out, value: object, path: str, *, required: bool = True) -> str | None:
    """A ``YYYY.MM.DD.`` date (``he``, ``al``) as ``YYYY-MM-DD``."""
    return calendar_date(out, value, path, HU_DATE_RE, "YYYY.MM.DD.", required=required)


def iso_date(out: Out, value: object, path: str, *, required: bool = True) -> str | None:
    """A ``YYYY-MM-DD`` date (``vet``)."""
    return calendar_date(out, value, path, ISO_DATE_RE, "YYYY-MM-DD", required=required)


def timestamp(out: Out, value: object, path: str) -> str | None:
    """A required RFC 3339 timestamp with seconds and offset, returned as written (§3.2)."""
    if value is None or value == "":
        add(out, MISSING_REQUIRED, path, "required timestamp is missing")
        return None
    if not isinstance(value, str):
        add(out, INVALID_FORMAT, path, f"timestamp must be a string, got {_kind(value)}")
        return None
    match = TIMESTAMP_RE.fullmatch(value)
    if match is None:
        add(
            out,
            INVALID_FORMAT,
            path,
            f"{_show(value)} is not a timestamp like 2025-06-30T14:05:00+02:00 (offset required)",
        )
        return None
    year, month, day, hour, minute, second, off_h, off_m = match.groups()
    try:
        date(int(year), int(month), int(day))
        real = int(hour) < 24 and int(minute) < 60 and int(second) < 60
        real = real and (off_h is None or (int(off_h) < 24 and int(off_m) < 60))
    except ValueError:
        real = False
    if not real:
        add(out, INVALID_DATE, path, f"{value!r} is not a real date and time")
        return None
    return value


def code(
    out: Out, value: object, path: str, table: Mapping[str, str], what: str, *, required: bool
) -> str | None:
    """A code looked up exactly and case-sensitively in ``table`` (§3.10)."""
    if value is None or value == "":
        if required:
            add(out, MISSING_REQUIRED, path, f"required {what} code is missing")
        return None
    if not isinstance(value, str):
        add(out, INVALID_FORMAT, path, f"{what} code must be a string, got {_kind(value)}")
        return None
    mapped = table.get(value)
    if mapped is None:
        add(out, UNKNOWN_CODE, path, f"{_show(value)} is not a known {what} code")
    return mapped


def level(out: Out, value: Decimal, path: str) -> str | None:
    """An MKKR level 1-8 as its EQF URI (§3.5)."""
    if not value.is_finite() or value != value.to_integral_value():
        add(out, INVALID_FORMAT, path, f"MKKR level must be an integer, got {value}")
        return None
    if not 1 <= value <= 8:
        add(out, LEVEL_OUT_OF_RANGE, path, f"MKKR level {value} is outside 1-8")
        return None
    return vocab.EQF_PREFIX + str(int(value))


def isced(out: Out, value: object, path: str, *, required: bool) -> str | None:
    """An ISCED-F 2013 code (a string) as its URI, leading zero kept (§3.6)."""
    if value is None or value == "":
        if required:
            add(out, MISSING_REQUIRED, path, "required ISCED-F code is missing")
        return None
    if not isinstance(value, str) or vocab.ISCED_F_CODE_RE.fullmatch(value) is None:
        shown = _show(value) if isinstance(value, str) else f"a JSON {_kind(value)}"
        add(out, ISCED_INVALID, path, f"{shown} is not an ISCED-F code string (2-4 digits, 00-10)")
        return None
    return vocab.ISCED_F_PREFIX + value


def esco(out: Out, value: object, path: str) -> str | None:
    """An optional ESCO skill URI (§3.7): http scheme, lowercase UUID."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or vocab.ESCO_SKILL_RE.fullmatch(value) is None:
        shown = _show(value) if isinstance(value, str) else f"a JSON {_kind(value)}"
        add(out, INVALID_ESCO_URI, path, f"{shown} is not an ESCO skill URI")
        if not isinstance(value, str):
            add(out, INVALID_FORMAT, path, f"ESCO URI must be a string, got {_kind(value)}")
        return None
    return value


def positive_workload(out: Out, value: Decimal, path: str, what: str) -> bool:
    """True when a workload is > 0 and representable (§3.8)."""
    if not representable(value):
        add(out, INVALID_FORMAT, path, f"{what} {value} is too large to represent")
        return False
    if value <= 0:
        add(out, WORKLOAD_NOT_POSITIVE, path, f"{what} must be greater than 0, got {value}")
        return False
    return True


def ects_from_hours(hours: Decimal) -> Decimal:
    """ECTS for ``vet``/``al`` hours: max(0.5, roundHalfUp(hours*2/25)/2), exact (§3.8)."""
    doubled = (hours * _ECTS_PER_HOUR_X2).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return max(_HALF, doubled / 2)


def workload_from_hours(hours: Decimal) -> dict[str, object]:
    """Canonical ``notionalWorkload`` from notional hours (``vet``, ``al``)."""
    return {
        "ects": json_number(ects_from_hours(hours)),
        "hours": json_number(hours),
        "creditSystem": vocab.ECTS_CREDIT_SYSTEM,
    }


def workload_from_credits(credits: Decimal) -> dict[str, object]:
    """Canonical ``notionalWorkload`` from Hungarian HE credits: hours = credits x 30."""
    return {
        "ects": json_number(credits),
        "hours": json_number(credits * _HOURS_PER_CREDIT),
        "creditSystem": vocab.ECTS_CREDIT_SYSTEM,
    }


def five_grade(out: Out, value: Decimal, path: str) -> dict[str, object] | None:
    """A grade on the Hungarian five-grade scale (§3.9); GRADE_FAIL is checked by callers."""
    if not value.is_finite() or value != value.to_integral_value():
        add(out, GRADE_INVALID, path, f"grade must be an integer 1-5, got {value}")
        add(out, INVALID_FORMAT, path, f"grade must be an integer, got {value}")
        return None
    if not 1 <= value <= 5:
        add(out, GRADE_INVALID, path, f"grade {value} is outside the five-grade scale 1-5")
        return None
    return {"scale": "HU_1_5", "value": int(value)}


def percent_grade(out: Out, value: Decimal, path: str) -> dict[str, object] | None:
    """A percent result 0-100 (§3.9)."""
    if not 0 <= value <= _PERCENT_MAX:
        add(out, GRADE_INVALID, path, f"percent result {value} is outside 0-100")
        return None
    return {"scale": "PERCENT", "value": json_number(value)}


def text_decimal(value: str, pattern: re.Pattern[str]) -> Decimal | None:
    """A number written as text (integer, or ``al`` decimal comma), or None if malformed."""
    if pattern.fullmatch(value) is None or len(value) > 40:
        return None
    return Decimal(value.replace(",", "."))


def text_number(
    out: Out, value: str, path: str, pattern: re.Pattern[str], what: str
) -> Decimal | None:
    """Parse a textual number, reporting INVALID_FORMAT with an explanation on failure."""
    number = text_decimal(value, pattern)
    if number is None:
        hint = (
            "an integer (digits only)"
            if pattern is TEXT_INTEGER_RE
            else "a number with a decimal comma and at most 2 decimals"
        )
        add(out, INVALID_FORMAT, path, f"{what} {_show(value)} is not {hint}")
    return number


def cycle_fits(out: Out, cycle: str, eqf_uri: str, path: str) -> None:
    """CYCLE_LEVEL_MISMATCH unless the QF-EHEA cycle fits the EQF level (§7.2)."""
    needed = vocab.QF_EHEA_CYCLE_LEVELS[cycle]
    if eqf_uri != vocab.EQF_PREFIX + str(needed):
        add(
            out,
            CYCLE_LEVEL_MISMATCH,
            path,
            f"cycle {cycle!r} requires MKKR level {needed}, got {eqf_uri.rsplit('/', 1)[-1]}",
        )


def issue_not_after_event(out: Out, issued: str, event_ts: str, path: str) -> None:
    """ISSUE_DATE_AFTER_EVENT when the issue date is after the event's own calendar date."""
    event_day = event_ts[:10]
    if issued > event_day:
        add(
            out,
            ISSUE_DATE_AFTER_EVENT,
            path,
            f"date of issuing {issued} is after the event date {event_day}",
        )


def body(identifier_: str | None, scheme: str, name: str | None, country: str) -> dict[str, Any]:
    """One canonical awarding body / provider."""
    return {"id": identifier_, "scheme": scheme, "name": name, "country": country}


def _kind(value: object) -> str:
    """The JSON kind of a parsed value, for messages."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, Decimal | int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _show(value: str) -> str:
    """A value quoted for a message, shortened when long."""
    return repr(value if len(value) <= 80 else value[:77] + "...")

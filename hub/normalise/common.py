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
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar, Final, Generic, TypeVar

from hub import vocab, wire
from hub.normalise.mappings import MAPPING_VERSION
from hub.normalise.types import (
    Feed,
    ItemResult,
    MessageResult,
    NormalisedEvent,
    RecordType,
    Violation,
)

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


def _string(
    out: Out, value: object, path: str, missing: str, expected: str, *, required: bool
) -> str | None:
    """A present string value; absent/empty is ``missing`` (when required), else the type."""
    if value is None or value == "":
        if required:
            add(out, MISSING_REQUIRED, path, missing)
        return None
    if not isinstance(value, str):
        add(out, INVALID_FORMAT, path, f"{expected}, got {_kind(value)}")
        return None
    return value


def text(out: Out, value: object, path: str, limit: int, *, required: bool) -> str | None:
    """A free text: empty counts as missing/absent, longer than ``limit`` is TEXT_TOO_LONG."""
    missing = "required text is missing or empty"
    found = _string(out, value, path, missing, "expected a string", required=required)
    if found is not None and len(found) > limit:
        add(out, TEXT_TOO_LONG, path, f"text has {len(found)} characters, the limit is {limit}")
        return None
    return found


def identifier(
    out: Out, value: object, path: str, pattern: re.Pattern[str], what: str, *, required: bool
) -> str | None:
    """An identifier that must fully match ``pattern`` (§3.4)."""
    missing = f"required {what} is missing or empty"
    found = _string(out, value, path, missing, f"{what} must be a string", required=required)
    if found is not None and pattern.fullmatch(found) is None:
        add(out, INVALID_FORMAT, path, f"{_show(found)} is not a valid {what}")
        return None
    return found


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
    expected = f"date must be a string {shape}"
    found = _string(out, value, path, "required date is missing", expected, required=required)
    if found is None:
        return None
    match = pattern.fullmatch(found)
    if match is None:
        add(out, INVALID_FORMAT, path, f"{_show(found)} is not a date of the form {shape}")
        return None
    year, month, day = match.groups()
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        add(out, INVALID_DATE, path, f"{found!r} is not a real calendar date")
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
    missing = "required timestamp is missing"
    found = _string(out, value, path, missing, "timestamp must be a string", required=True)
    if found is None:
        return None
    match = TIMESTAMP_RE.fullmatch(found)
    if match is None:
        add(
            out,
            INVALID_FORMAT,
            path,
            f"{_show(found)} is not a timestamp like 2025-06-30T14:05:00+02:00 (offset required)",
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
        add(out, INVALID_DATE, path, f"{found!r} is not a real date and time")
        return None
    return found


def code(
    out: Out, value: object, path: str, table: Mapping[str, str], what: str, *, required: bool
) -> str | None:
    """A code looked up exactly and case-sensitively in ``table`` (§3.10)."""
    missing = f"required {what} code is missing"
    found = _string(out, value, path, missing, f"{what} code must be a string", required=required)
    if found is None:
        return None
    mapped = table.get(found)
    if mapped is None:
        add(out, UNKNOWN_CODE, path, f"{_show(found)} is not a known {what} code")
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


def passing_five_grade(out: Out, value: Decimal, path: str) -> dict[str, object] | None:
    """A five-grade scale grade on an issuance: grade 1 (fail) is GRADE_FAIL."""
    grade = five_grade(out, value, path)
    if grade is not None and grade["value"] == 1:
        add(out, GRADE_FAIL, path, "grade 1 (fail) on an issuance")
    return grade


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


def code_list(
    out: Out, items: Iterable[tuple[str, object]], table: Mapping[str, str], what: str
) -> list[str]:
    """``(path, value)`` items looked up as required codes, de-duplicated in order (§3.10)."""
    mapped: list[str] = []
    for path, value in items:
        uri = code(out, value, path, table, what, required=True)
        if uri is not None:
            mapped.append(uri)
    return dedupe(mapped)


def learner(
    learner_id: str | None, family: str | None, given: str | None, born: str | None
) -> dict[str, Any]:
    """The canonical learner identification."""
    return {
        "educationId": learner_id,
        "familyName": family,
        "givenName": given,
        "dateOfBirth": born,
    }


def revocation(
    credential_key: str | None, reason: str | None, reason_text: str | None, revoked_on: str | None
) -> dict[str, Any]:
    """The canonical revocation record."""
    return {
        "credentialKey": credential_key,
        "reason": reason,
        "reasonText": reason_text,
        "revokedOn": revoked_on,
    }


@dataclass
class Credential:
    """The 18 canonical elements of an issuance (§1.2), set one by one as they are read."""

    learner: dict[str, Any] | None
    awarding_bodies: list[dict[str, Any]]
    issuer_country: list[str] = field(default_factory=lambda: [vocab.HUN_COUNTRY])
    title: dict[str, str | None] | None = None
    date_of_issuing: str | None = None
    learning_outcomes: list[dict[str, Any]] = field(default_factory=list)
    notional_workload: dict[str, object] | None = None
    eqf_level: str | None = None
    qf_ehea_cycle: str | None = None
    field_of_education: str | None = None
    assessment_types: list[str] = field(default_factory=list)
    form_of_participation: str | None = None
    quality_assurance: list[str] = field(default_factory=list)
    prerequisites: str | None = None
    supervision: str | None = None
    grade: dict[str, object] | None = None
    stackability: dict[str, Any] | None = None
    further_information: str | None = None

    def record(self) -> dict[str, Any]:
        """The canonical credential record, keys in contract order."""
        return {
            "learnerIdentification": self.learner,
            "title": self.title,
            "issuerCountry": self.issuer_country,
            "awardingBodies": self.awarding_bodies,
            "dateOfIssuing": self.date_of_issuing,
            "learningOutcomes": self.learning_outcomes,
            "notionalWorkload": self.notional_workload,
            "eqfLevel": self.eqf_level,
            "qfEheaCycle": self.qf_ehea_cycle,
            "fieldOfEducation": self.field_of_education,
            "assessmentTypes": self.assessment_types,
            "formOfParticipation": self.form_of_participation,
            "qualityAssurance": self.quality_assurance,
            "prerequisites": self.prerequisites,
            "supervisionAndIdentityVerification": self.supervision,
            "gradeAchieved": self.grade,
            "integrationStackability": self.stackability,
            "furtherInformation": self.further_information,
        }


def stackability(part_of: str | None, text_: str | None) -> dict[str, Any] | None:
    """``integrationStackability``, or None when it says nothing."""
    if part_of is None and text_ is None:
        return None
    return {"partOfProgramme": part_of, "text": text_}


def enrolment(
    status: str,
    status_date: str | None,
    learner: dict[str, Any] | None,
    provider: dict[str, Any],
    programme: tuple[str | None, str | None],
    withdrawal_reason: str | None,
) -> dict[str, Any]:
    """The canonical enrolment record; ``programme`` is its (id, title)."""
    return {
        "status": status,
        "statusDate": status_date,
        "learnerIdentification": learner,
        "provider": provider,
        "programme": {"id": programme[0], "title": programme[1]},
        "withdrawalReason": withdrawal_reason,
    }


# --- field readers ----------------------------------------------------------------------

V = TypeVar("V")


class Fields(ABC, Generic[V]):
    """Reads and checks the fields of one source node, each named once by its local name.

    A subclass binds the node (an XML element, a JSON object, a CSV row) and says how a
    field is looked up (:meth:`raw`), how its path is joined to ``base`` (the node's own
    path, "" at the top), how dates are written and how a present value is a number.
    Every check reports at :meth:`path` of the field, into ``out``.
    """

    #: what joins ``base`` and a field name in a path
    separator: ClassVar[str]
    #: whether an empty string counts as an absent number
    empty_is_absent: ClassVar[bool] = True
    date_pattern: ClassVar[re.Pattern[str]] = HU_DATE_RE
    date_shape: ClassVar[str] = "YYYY.MM.DD."

    def __init__(self, out: Out, base: str) -> None:
        self.out = out
        self.base = base

    def path(self, name: str) -> str:
        """The violation path of field ``name``; the empty name is the node itself."""
        if not name:
            return self.base
        return f"{self.base}{self.separator}{name}" if self.base else name

    @abstractmethod
    def raw(self, name: str) -> V | None:
        """The field's value as found, None when absent (lookup problems go to ``out``)."""

    @abstractmethod
    def parse_number(self, value: V, path: str, what: str) -> Decimal | None:
        """A present value as a Decimal, or None with the violation recorded."""

    def text(self, name: str, limit: int, *, required: bool) -> str | None:
        """See :func:`text`."""
        return text(self.out, self.raw(name), self.path(name), limit, required=required)

    def identifier(
        self, name: str, pattern: re.Pattern[str], what: str, *, required: bool
    ) -> str | None:
        """See :func:`identifier`."""
        value = self.raw(name)
        return identifier(self.out, value, self.path(name), pattern, what, required=required)

    def education_id(self, name: str) -> str | None:
        """See :func:`education_id`."""
        return education_id(self.out, self.raw(name), self.path(name))

    def date(self, name: str, *, required: bool = True) -> str | None:
        """A calendar date in this feed's shape (see :func:`calendar_date`)."""
        value = self.raw(name)
        path = self.path(name)
        return calendar_date(
            self.out, value, path, self.date_pattern, self.date_shape, required=required
        )

    def timestamp(self, name: str) -> str | None:
        """See :func:`timestamp`."""
        return timestamp(self.out, self.raw(name), self.path(name))

    def code(self, name: str, table: Mapping[str, str], what: str, *, required: bool) -> str | None:
        """See :func:`code`."""
        return code(self.out, self.raw(name), self.path(name), table, what, required=required)

    def isced(self, name: str, *, required: bool) -> str | None:
        """See :func:`isced`."""
        return isced(self.out, self.raw(name), self.path(name), required=required)

    def esco(self, name: str) -> str | None:
        """See :func:`esco`."""
        return esco(self.out, self.raw(name), self.path(name))

    def number(self, name: str, *, missing: str | None = None) -> Decimal | None:
        """The field as a number; when absent None, and MISSING_REQUIRED ``missing`` if given."""
        value = self.raw(name)
        path = self.path(name)
        if value is None or (self.empty_is_absent and value == ""):
            if missing is not None:
                add(self.out, MISSING_REQUIRED, path, missing)
            return None
        return self.parse_number(value, path, name)

    def workload(
        self, name: str, missing: str, convert: Callable[[Decimal], dict[str, object]]
    ) -> dict[str, object] | None:
        """A required positive workload number turned into ``notionalWorkload``."""
        amount = self.number(name, missing=missing)
        if amount is None or not positive_workload(self.out, amount, self.path(name), name):
            return None
        return convert(amount)

    def level(self, name: str, *, missing: str | None = None) -> str | None:
        """An MKKR level as its EQF URI (see :func:`level`)."""
        number = self.number(name, missing=missing)
        return None if number is None else level(self.out, number, self.path(name))

    def five_grade(self, name: str) -> dict[str, object] | None:
        """An optional five-grade result of an issuance (see :func:`passing_five_grade`)."""
        number = self.number(name)
        return None if number is None else passing_five_grade(self.out, number, self.path(name))

    def title(self, hu: str, en: str) -> dict[str, str | None]:
        """The ``title`` from a required Hungarian and an optional English field."""
        title_hu = self.text(hu, TITLE_MAX, required=True)
        title_en = self.text(en, TITLE_MAX, required=False)
        return {"hu": title_hu} if title_en is None else {"hu": title_hu, "en": title_en}

    def programme(self, id_name: str, title_name: str) -> tuple[str | None, str | None]:
        """A programme's required (id, title)."""
        return (
            self.identifier(id_name, PROGRAMME_ID_RE, "programme id", required=True),
            self.text(title_name, TITLE_MAX, required=True),
        )

    def stackability(self, programme: str, text: str) -> dict[str, Any] | None:
        """``integrationStackability`` from an optional programme id and text."""
        part_of = self.identifier(programme, PROGRAMME_ID_RE, "programme id", required=False)
        return stackability(part_of, self.text(text, LONG_TEXT_MAX, required=False))

    def issue_date(self, name: str, occurred: str | None) -> str | None:
        """The date of issuing, not after the event's own date (when both are known)."""
        issued = self.date(name)
        if issued is not None and occurred is not None:
            issue_not_after_event(self.out, issued, occurred, self.path(name))
        return issued

    def learner(self, learner_id: str | None, family: str, given: str, born: str) -> dict[str, Any]:
        """The learner identification from the family name, given name and birth date fields."""
        return learner(
            learner_id,
            self.text(family, PERSON_NAME_MAX, required=True),
            self.text(given, PERSON_NAME_MAX, required=True),
            self.date(born),
        )


class TextFields(Fields[str]):
    """A reader whose values are texts (XML, CSV): numbers are written as text."""

    number_pattern: ClassVar[re.Pattern[str]] = TEXT_INTEGER_RE

    def parse_number(self, value: str, path: str, what: str) -> Decimal | None:
        """See :func:`text_number`."""
        return text_number(self.out, value, path, self.number_pattern, what)


# --- results ----------------------------------------------------------------------------

#: the record type of each canonical event type
RECORD_TYPES: Final[Mapping[str, RecordType]] = {
    "issued": "credential",
    "revoked": "revocation",
    "enrolled": "enrolment",
    "withdrawn": "enrolment",
    "completed": "enrolment",
}


def scoped_key(feed: Feed, body_id: str | None, local_id: str | None) -> str | None:
    """``feed:body:id`` (a credential key, a ``vet``/``al`` event key), None if a part is."""
    return f"{feed}:{body_id}:{local_id}" if body_id and local_id else None


def rejected_item(rule: str, path: str, message: str, key: str | None = None) -> ItemResult:
    """An item rejected with one violation."""
    return ItemResult(event=None, violations=(Violation(rule, path, message),), idempotency_key=key)


def rejected_message(
    feed: Feed, rule: str, path: str, message: str, key: str | None = None
) -> MessageResult:
    """A single-event message rejected with one violation."""
    return MessageResult(feed=feed, items=(rejected_item(rule, path, message, key),))


@dataclass(frozen=True)
class Envelope:
    """The identity of one source event: what its accepted form carries besides the record.

    ``key`` is its idempotency key (None while a part is missing); ``row`` and ``shown_id``
    (the row id as shown on a rejection) are for ``al`` rows.
    """

    feed: Feed
    event_type: str
    key: str | None
    source_event_id: str | None
    learner_id: str | None
    awarding_body_id: str | None
    occurred_at: str | None = None
    row: int | None = None
    shown_id: str | None = None

    def rejected(self, violations: Iterable[Violation]) -> ItemResult:
        """The event rejected with ``violations``."""
        return ItemResult(
            event=None,
            violations=tuple(violations),
            row=self.row,
            sor_azonosito=self.shown_id,
            idempotency_key=self.key,
        )

    def result(
        self,
        out: Out,
        record: dict[str, Any] | None,
        credential_id: str | None,
        content: Callable[[], str | Violation],
    ) -> ItemResult:
        """Accepted when nothing is violated and every id is there, else rejected.

        ``content`` (called only then) gives the canonical content, or the violation that
        stops it.
        """
        if (
            out
            or record is None
            or self.key is None
            or self.source_event_id is None
            or self.learner_id is None
            or self.awarding_body_id is None
        ):
            return self.rejected(out)
        canonical = content()
        if isinstance(canonical, Violation):
            return self.rejected((canonical,))
        event = NormalisedEvent(
            feed=self.feed,
            record_type=RECORD_TYPES[self.event_type],
            event_type=self.event_type,
            idempotency_key=self.key,
            credential_key=scoped_key(self.feed, self.awarding_body_id, credential_id),
            source_event_id=self.source_event_id,
            learner_id=self.learner_id,
            awarding_body_id=self.awarding_body_id,
            occurred_at=self.occurred_at,
            record=record,
            content=canonical,
            mapping_version=MAPPING_VERSION,
            row=self.row,
            sor_azonosito=self.shown_id,
        )
        return ItemResult(
            event=event, row=self.row, sor_azonosito=self.shown_id, idempotency_key=self.key
        )


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

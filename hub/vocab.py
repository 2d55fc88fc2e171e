"""EU vocabulary URIs and the value checks every layer shares (pure, no I/O).

Sources: ``shared/domain.md`` (EU vocabularies) and ``shared/feeds/README.md`` §3
(common value rules). Both the sector normalisers and the canonical validation rules
use these, so a learner ID or an ESCO URI is judged the same way everywhere.
"""

from __future__ import annotations

import re
from typing import Final

COUNTRY_PREFIX: Final = "http://publications.europa.eu/resource/authority/country/"
LANGUAGE_PREFIX: Final = "http://publications.europa.eu/resource/authority/language/"
EQF_PREFIX: Final = "http://data.europa.eu/snb/eqf/"
ISCED_F_PREFIX: Final = "http://data.europa.eu/snb/isced-f/"
ESCO_SKILL_PREFIX: Final = "http://data.europa.eu/esco/skill/"
NUTS_PREFIX: Final = "http://data.europa.eu/nuts/code/"
ASSESSMENT_PREFIX: Final = "http://data.europa.eu/snb/assessment/"
MODE_PREFIX: Final = "http://data.europa.eu/snb/learning-assessment/"
LEARNING_SETTING_PREFIX: Final = "http://data.europa.eu/snb/learning-setting/"
ACCREDITATION_PREFIX: Final = "http://data.europa.eu/snb/accreditation/"
SUPERVISION_PREFIX: Final = "http://data.europa.eu/snb/supervision-verification/"
ECTS_CREDIT_SYSTEM: Final = "http://data.europa.eu/snb/education-credit/6fcec5c5af"
ECVET_CREDIT_SYSTEM: Final = "http://data.europa.eu/snb/education-credit/60b314e826"
HUN_COUNTRY: Final = COUNTRY_PREFIX + "HUN"

#: Hungarian NQF (MKKR/HuQF) level N -> its EU URI; MKKR level N = EQF level N
MKKR_LEVEL_URIS: Final[dict[int, str]] = {
    1: "http://data.europa.eu/snb/qdr/c_01be7324",
    2: "http://data.europa.eu/snb/qdr/c_1b9935cd",
    3: "http://data.europa.eu/snb/qdr/c_b763e7c8",
    4: "http://data.europa.eu/snb/qdr/c_b9eadd5c",
    5: "http://data.europa.eu/snb/qdr/c_13865e16",
    6: "http://data.europa.eu/snb/qdr/c_9ec87162",
    7: "http://data.europa.eu/snb/qdr/c_c2f4856f",
    8: "http://data.europa.eu/snb/qdr/c_ea1b27b9",
}

#: QF-EHEA cycle -> the EQF level it requires
QF_EHEA_CYCLE_LEVELS: Final[dict[str, int]] = {
    "short cycle": 5,
    "first cycle": 6,
    "second cycle": 7,
    "third cycle": 8,
}

ESCO_SKILL_RE: Final = re.compile(
    r"^http://data\.europa\.eu/esco/skill/"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
ISCED_F_CODE_RE: Final = re.compile(r"^(0[0-9]|10)[0-9]{0,2}$")
ISCED_F_URI_RE: Final = re.compile(r"^http://data\.europa\.eu/snb/isced-f/(0[0-9]|10)[0-9]{0,2}$")
COUNTRY_CODE_RE: Final = re.compile(r"^[A-Z]{3}$")
COUNTRY_URI_RE: Final = re.compile(
    r"^http://publications\.europa\.eu/resource/authority/country/[A-Z]{3}$"
)
NUTS_URI_RE: Final = re.compile(r"^http://data\.europa\.eu/nuts/code/[A-Z]{2}[0-9A-Z]{0,3}$")
EQF_URI_RE: Final = re.compile(r"^http://data\.europa\.eu/snb/eqf/[1-8]$")
EDUCATION_ID_RE: Final = re.compile(r"^7[0-9]{10}$")


def eqf_uri(level: int) -> str:
    """The EQF level URI for a level 1-8 (raises ``ValueError`` outside 1-8)."""
    if not 1 <= level <= 8:
        raise ValueError(f"EQF level must be 1-8, got {level}")
    return f"{EQF_PREFIX}{level}"


def country_uri(alpha3: str) -> str:
    """The EU country authority URI for an ISO 3166-1 alpha-3 code."""
    return COUNTRY_PREFIX + alpha3


def education_id_format_ok(value: str) -> bool:
    """True when ``value`` is 11 ASCII digits starting with 7 (feed rule LEARNER_ID_INVALID)."""
    return bool(EDUCATION_ID_RE.fullmatch(value))


def education_id_check_digit(first_ten: str) -> int | None:
    """The check digit d11 for the first ten digits, or ``None`` when none is issued.

    d11 = (1*d1 + 2*d2 + ... + 10*d10) mod 11; a remainder of 10 is never issued.
    """
    remainder = sum(i * int(c) for i, c in enumerate(first_ten[:10], start=1)) % 11
    return None if remainder == 10 else remainder


def education_id_check_digit_ok(value: str) -> bool:
    """True when the check digit is right (feed rule LEARNER_ID_CHECK_DIGIT).

    Assumes :func:`education_id_format_ok` holds.
    """
    check = education_id_check_digit(value[:10])
    return check is not None and check == int(value[10])

"""Labels and concept schemes for the EU vocabulary URIs the renderers emit (pure data).

Only the concepts listed in ``shared/domain.md`` and ``shared/feeds/README.md`` have
labels here; a URI without a label is still emitted, just without ``prefLabel``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

from hub import vocab

#: a concept's labels by language
Labels = dict[str, str]

SNB_SCHEME_SUFFIX: Final = "25831c2"

ASSESSMENT_LABELS: Final[dict[str, Labels]] = {
    "6e6cb2cc78": {"en": "Written exam", "hu": "Írásbeli vizsga"},
    "d30284d7df": {"en": "Oral exam", "hu": "Szóbeli vizsga"},
    "6a4db9f11d": {"en": "Practical exam", "hu": "Gyakorlati vizsga"},
    "795dac4096": {"en": "Project work", "hu": "Projektmunka"},
    "4f03b91c0e": {"en": "Portfolio", "hu": "Portfólió"},
    "3484bd7e51": {"en": "Continuous evaluation", "hu": "Folyamatos értékelés"},
    "19a2e5e671": {"en": "Peer assessment", "hu": "Társértékelés"},
}
MODE_LABELS: Final[dict[str, Labels]] = {
    "920fbb3cbe": {"en": "Online", "hu": "Online"},
    "9191af2ed9": {"en": "In person", "hu": "Jelenléti"},
    "e92d221e4d": {"en": "Blended", "hu": "Vegyes"},
    "729f3bed4b": {"en": "Work-based", "hu": "Munkahelyi"},
}
LEARNING_SETTING_LABELS: Final[dict[str, Labels]] = {
    "6fd4685715": {"en": "formal learning", "hu": "formális tanulás"},
    "e207a81fc7": {"en": "non-formal learning", "hu": "nem formális tanulás"},
}
ACCREDITATION_LABELS: Final[dict[str, Labels]] = {
    "bb4618238e": {"en": "Institutional quality assurance", "hu": "Intézményi minőségbiztosítás"},
    "820101cba6": {"en": "Programme quality assurance", "hu": "Programszintű minőségbiztosítás"},
    "003293d2ce": {"en": "Institutional licence", "hu": "Intézményi engedély"},
    "e57dddfcf3": {"en": "Programme licence", "hu": "Programengedély"},
}
SUPERVISION_LABELS: Final[dict[str, Labels]] = {
    "c598449d64": {"en": "Unsupervised without ID verification"},
    "df2880c5cb": {"en": "Unsupervised with ID verification"},
}
CREDIT_SYSTEM_LABELS: Final[dict[str, Labels]] = {
    vocab.ECTS_CREDIT_SYSTEM: {"en": "European Credit Transfer and Accumulation System"},
    vocab.ECVET_CREDIT_SYSTEM: {
        "en": "European Credit system for Vocational Education and Training"
    },
}
ISCED_F_LABELS: Final[dict[str, Labels]] = {
    "0413": {"en": "Management and administration"},
    "0611": {"en": "Computer use"},
    "0613": {"en": "Software and applications development and analysis"},
    "0713": {"en": "Electricity and energy"},
    "0715": {"en": "Mechanics and metal trades"},
    "0721": {"en": "Food processing"},
    "0732": {"en": "Building and civil engineering"},
    "1013": {"en": "Hotel, restaurants and catering"},
}
COUNTRY_LABELS: Final[dict[str, Labels]] = {
    "HUN": {"en": "Hungary", "hu": "Magyarország"},
    "AUT": {"en": "Austria", "hu": "Ausztria"},
    "DEU": {"en": "Germany", "hu": "Németország"},
    "SVK": {"en": "Slovakia", "hu": "Szlovákia"},
    "ROU": {"en": "Romania", "hu": "Románia"},
    "HRV": {"en": "Croatia", "hu": "Horvátország"},
    "SVN": {"en": "Slovenia", "hu": "Szlovénia"},
    "SRB": {"en": "Serbia", "hu": "Szerbia"},
    "UKR": {"en": "Ukraine", "hu": "Ukrajna"},
    "CZE": {"en": "Czechia", "hu": "Csehország"},
    "POL": {"en": "Poland", "hu": "Lengyelország"},
    "FIN": {"en": "Finland", "hu": "Finnország"},
    "IRL": {"en": "Ireland", "hu": "Írország"},
}
#: ISO 3166-1 alpha-3 -> alpha-2 (Open Badges wants alpha-2)
ALPHA3_TO_ALPHA2: Final[dict[str, str]] = {
    "HUN": "HU",
    "AUT": "AT",
    "DEU": "DE",
    "SVK": "SK",
    "ROU": "RO",
    "HRV": "HR",
    "SVN": "SI",
    "SRB": "RS",
    "UKR": "UA",
    "CZE": "CZ",
    "POL": "PL",
    "FIN": "FI",
    "IRL": "IE",
    "BEL": "BE",
    "NLD": "NL",
    "FRA": "FR",
    "ITA": "IT",
    "ESP": "ES",
    "PRT": "PT",
    "SWE": "SE",
    "DNK": "DK",
    "EST": "EE",
    "LVA": "LV",
    "LTU": "LT",
    "LUX": "LU",
    "MLT": "MT",
    "CYP": "CY",
    "GRC": "GR",
    "BGR": "BG",
    "NOR": "NO",
    "ISL": "IS",
    "LIE": "LI",
    "CHE": "CH",
    "GBR": "GB",
    "TUR": "TR",
    "MKD": "MK",
    "MNE": "ME",
    "ALB": "AL",
    "BIH": "BA",
}
#: awarding-body identifier schemes of §1.2 -> human-readable scheme names
BODY_SCHEME_NAMES: Final[dict[str, str]] = {
    "HU-FI": "FIR intézménykód (HU-FI)",
    "HU-OM": "OM azonosító (HU-OM)",
    "HU-AKT": "Ágazati készségtanács kód (HU-AKT)",
    "HU-FAR": "Felnőttképzési nyilvántartási szám (HU-FAR)",
    "OTHER": "Foreign identifier (OTHER)",
}
#: QF-EHEA cycle -> labels
QF_EHEA_LABELS: Final[dict[str, Labels]] = {
    "short cycle": {"en": "QF-EHEA short cycle", "hu": "QF-EHEA rövid ciklus"},
    "first cycle": {"en": "QF-EHEA first cycle", "hu": "QF-EHEA első ciklus"},
    "second cycle": {"en": "QF-EHEA second cycle", "hu": "QF-EHEA második ciklus"},
    "third cycle": {"en": "QF-EHEA third cycle", "hu": "QF-EHEA harmadik ciklus"},
}
#: Hungarian five-grade scale -> labels
HU_GRADE_LABELS: Final[dict[int, Labels]] = {
    5: {"hu": "jeles", "en": "excellent"},
    4: {"hu": "jó", "en": "good"},
    3: {"hu": "közepes", "en": "satisfactory"},
    2: {"hu": "elégséges", "en": "pass"},
    1: {"hu": "elégtelen", "en": "fail"},
}
#: hub-local supervision codes (§7.4) -> human-readable description
SUPERVISION_TEXT: Final[dict[str, Labels]] = {
    "none": {
        "hu": "Felügyelet és személyazonosítás nélkül",
        "en": "No supervision, no identity check",
    },
    "supervised-no-id-check": {
        "hu": "Felügyelt, személyazonosítás nélkül",
        "en": "Supervised, identity not checked",
    },
    "supervised-id-verified": {
        "hu": "Helyszínen felügyelt, személyazonosság ellenőrizve",
        "en": "Supervised on site, identity checked",
    },
    "remote-supervised-id-verified": {
        "hu": "Távfelügyelt (online), személyazonosság ellenőrizve",
        "en": "Remotely proctored online, identity checked",
    },
}
#: hub-local supervision codes -> EU supervision-verification concept, where one fits.
#: ``shared/domain.md`` lists only the two *unsupervised* concepts, so supervised codes
#: have no concept (rendered as a note instead of a wrong concept).
SUPERVISION_CONCEPTS: Final[dict[str, str | None]] = {
    "none": vocab.SUPERVISION_PREFIX + "c598449d64",
    "supervised-no-id-check": None,
    "supervised-id-verified": None,
    "remote-supervised-id-verified": None,
}


def suffix(uri: str) -> str:
    """The last path segment of a vocabulary URI."""
    return uri.rstrip("/").rsplit("/", 1)[-1]


@lru_cache(maxsize=4096)
def scheme_of(uri: str) -> str:
    """The concept scheme URI of an EU vocabulary concept URI."""
    if uri.startswith(vocab.COUNTRY_PREFIX):
        return vocab.COUNTRY_PREFIX.rstrip("/")
    if uri.startswith(vocab.LANGUAGE_PREFIX):
        return vocab.LANGUAGE_PREFIX.rstrip("/")
    if uri.startswith(vocab.ESCO_SKILL_PREFIX):
        return "http://data.europa.eu/esco/concept-scheme/skills"
    return uri.rsplit("/", 1)[0] + "/" + SNB_SCHEME_SUFFIX


#: the label tables of the vocabularies whose concepts share a URI prefix, in lookup order
_PREFIX_TABLES: Final[tuple[tuple[str, dict[str, Labels]], ...]] = (
    (vocab.ASSESSMENT_PREFIX, ASSESSMENT_LABELS),
    (vocab.MODE_PREFIX, MODE_LABELS),
    (vocab.LEARNING_SETTING_PREFIX, LEARNING_SETTING_LABELS),
    (vocab.ACCREDITATION_PREFIX, ACCREDITATION_LABELS),
    (vocab.SUPERVISION_PREFIX, SUPERVISION_LABELS),
    (vocab.ISCED_F_PREFIX, ISCED_F_LABELS),
    (vocab.COUNTRY_PREFIX, COUNTRY_LABELS),
)
#: labels of single concepts outside the prefix tables (MKKR levels, languages)
_SINGLE_LABELS: Final[dict[str, Labels]] = {
    **{
        mkkr: {"en": f"HuQF level {level}", "hu": f"MKKR {level}. szint"}
        for level, mkkr in reversed(vocab.MKKR_LEVEL_URIS.items())
    },
    vocab.LANGUAGE_PREFIX + "HUN": {"en": "Hungarian", "hu": "magyar"},
    vocab.LANGUAGE_PREFIX + "ENG": {"en": "English", "hu": "angol"},
}


@lru_cache(maxsize=4096)
def labels_of(uri: str) -> Labels | None:
    """Known labels of a vocabulary URI, or None.

    The answer is cached and shared between calls: copy it before changing it.
    """
    tail = suffix(uri)
    for prefix, table in _PREFIX_TABLES:
        if uri.startswith(prefix):
            return table.get(tail)
    if uri in CREDIT_SYSTEM_LABELS:
        return CREDIT_SYSTEM_LABELS[uri]
    if uri.startswith(vocab.EQF_PREFIX):
        return {"en": f"Level {tail}", "hu": f"{tail}. szint"}
    return _SINGLE_LABELS.get(uri)

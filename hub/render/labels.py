"""Labels and concept schemes for the EU vocabulary URIs the renderers emit.

The label tables are package data (``labels.json``); the lookups here are pure.

Only the concepts listed in ``shared/domain.md`` and ``shared/feeds/README.md`` have
labels here; a URI without a label is still emitted, just without ``prefLabel``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Final

from hub import vocab
from hub.resources import package_path

#: a concept's labels by language
Labels = dict[str, str]

SNB_SCHEME_SUFFIX: Final = "25831c2"

#: the label tables, kept as package data (``labels.json``)
_TABLES: Final[dict[str, Any]] = json.loads(
    package_path("hub.render", "labels.json").read_text(encoding="utf-8"))

ASSESSMENT_LABELS: Final[dict[str, Labels]] = _TABLES["assessment_labels"]
MODE_LABELS: Final[dict[str, Labels]] = _TABLES["mode_labels"]
LEARNING_SETTING_LABELS: Final[dict[str, Labels]] = _TABLES["learning_setting_labels"]
ACCREDITATION_LABELS: Final[dict[str, Labels]] = _TABLES["accreditation_labels"]
SUPERVISION_LABELS: Final[dict[str, Labels]] = _TABLES["supervision_labels"]
ISCED_F_LABELS: Final[dict[str, Labels]] = _TABLES["isced_f_labels"]
COUNTRY_LABELS: Final[dict[str, Labels]] = _TABLES["country_labels"]
#: ISO 3166-1 alpha-3 -> alpha-2 (Open Badges wants alpha-2)
ALPHA3_TO_ALPHA2: Final[dict[str, str]] = _TABLES["alpha3_to_alpha2"]
#: awarding-body identifier schemes of §1.2 -> human-readable scheme names
BODY_SCHEME_NAMES: Final[dict[str, str]] = _TABLES["body_scheme_names"]
#: QF-EHEA cycle -> labels
QF_EHEA_LABELS: Final[dict[str, Labels]] = _TABLES["qf_ehea_labels"]
#: Hungarian five-grade scale -> labels
HU_GRADE_LABELS: Final[dict[int, Labels]] = {
    int(grade): labels for grade, labels in _TABLES["hu_grade_labels"].items()
}
#: hub-local supervision codes (§7.4) -> human-readable description
SUPERVISION_TEXT: Final[dict[str, Labels]] = _TABLES["supervision_text"]

CREDIT_SYSTEM_LABELS: Final[dict[str, Labels]] = {
    vocab.ECTS_CREDIT_SYSTEM: {"en": "European Credit Transfer and Accumulation System"},
    vocab.ECVET_CREDIT_SYSTEM: {
        "en": "European Credit system for Vocational Education and Training"
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

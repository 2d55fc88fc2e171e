"""Every §8.1 rule that applies at normalisation time has a failing-input test."""

from __future__ import annotations

import pytest

from tests.unit.normalise import test_normalise_al as al_tests
from tests.unit.normalise import test_normalise_he as he_tests
from tests.unit.normalise import test_normalise_vet as vet_tests

pytestmark = pytest.mark.unit

#: §8.1, minus the two lifecycle/state rules owned by the lifecycle core
NORMALISATION_RULES = {
    "PAYLOAD_TOO_LARGE",
    "ENCODING",
    "MALFORMED",
    "XML_DOCTYPE",
    "XML_NAMESPACE",
    "CSV_HEADER",
    "CSV_COLUMN_COUNT",
    "UNSUPPORTED_VERSION",
    "UNKNOWN_EVENT_TYPE",
    "MISSING_REQUIRED",
    "INVALID_FORMAT",
    "INVALID_DATE",
    "TEXT_TOO_LONG",
    "LEARNER_ID_INVALID",
    "LEARNER_ID_CHECK_DIGIT",
    "UNKNOWN_CODE",
    "LEVEL_OUT_OF_RANGE",
    "CYCLE_LEVEL_MISMATCH",
    "ISCED_INVALID",
    "INVALID_ESCO_URI",
    "ESCO_COUNT_MISMATCH",
    "WORKLOAD_NOT_POSITIVE",
    "GRADE_INVALID",
    "GRADE_FAIL",
    "ISSUE_DATE_AFTER_EVENT",
}

#: rules tested by dedicated functions rather than the case tables
DEDICATED = {"al": {"CSV_COLUMN_COUNT"}}

#: which feeds each rule applies to (§8.1 scope column)
SCOPE = {
    "XML_DOCTYPE": {"vet"},
    "XML_NAMESPACE": {"vet"},
    "CSV_HEADER": {"al"},
    "CSV_COLUMN_COUNT": {"al"},
    "UNSUPPORTED_VERSION": {"he"},
    "CYCLE_LEVEL_MISMATCH": {"he"},
    "ESCO_COUNT_MISMATCH": {"al"},
    "GRADE_FAIL": {"he", "vet"},
    "ISSUE_DATE_AFTER_EVENT": {"he", "vet"},
    # he and vet have no optional ISCED/level other than the tested ones; al has no
    # grade scale other than percent; every feed is still covered where the rule applies
}


def covered() -> dict[str, set[str]]:
    return {
        "he": {c[3] for c in he_tests.CASES} | {r for _, r in he_tests.RAW_CASES},
        "vet": {c[3] for c in vet_tests.CASES} | {r for _, r in vet_tests.RAW_CASES},
        "al": {c[3] for c in al_tests.CASES}
        | {c[2] for c in al_tests.FILE_CASES}
        | DEDICATED["al"],
    }


@pytest.mark.parametrize("rule", sorted(NORMALISATION_RULES))
def test_rule_has_failing_input_in_every_feed_it_applies_to(rule: str) -> None:
    feeds = SCOPE.get(rule, {"he", "vet", "al"})
    missing = sorted(feed for feed in feeds if rule not in covered()[feed])
    assert missing == [], f"{rule} has no failing-input test for {missing}"

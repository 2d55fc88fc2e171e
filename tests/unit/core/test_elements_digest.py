"""elements_digest: the SHA-256 of the standard library's sorted compact JSON, however
it is computed (orjson on the hot path, the standard library where they could differ)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.core.state import elements_digest

pytestmark = pytest.mark.unit


def reference_digest(elements: dict[str, Any]) -> str:
    """The definition (§9.3): integral floats as ints, sorted keys, compact, UTF-8."""

    def canonical(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, dict):
            return {str(k): canonical(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [canonical(v) for v in value]
        return value

    text = json.dumps(canonical(elements), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


scalars = (
    st.none() | st.booleans() | st.text()
    | st.integers()  # beyond 64 bits too
    | st.floats(allow_nan=False, allow_infinity=False)  # JSON has neither
    | st.floats(min_value=-1e-3, max_value=1e-3)  # where the spellings differ
    | st.sampled_from([5.0, 5.5, 1e-05, 1.5e-07, 1e16, -0.0, 2.5e-4])
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=25,
)


@given(st.dictionaries(st.text(max_size=10), values, max_size=6))
def test_digest_equals_the_standard_library_definition(elements: dict[str, Any]) -> None:
    assert elements_digest(elements) == reference_digest(elements)


def test_whole_and_fractional_spellings_of_a_number_are_equal() -> None:
    assert elements_digest({"ects": 5}) == elements_digest({"ects": 5.0})
    assert elements_digest({"ects": 5.5}) != elements_digest({"ects": 5})
    assert elements_digest({"a": 1, "b": [1e-05]}) == elements_digest({"b": [1e-05], "a": 1.0})

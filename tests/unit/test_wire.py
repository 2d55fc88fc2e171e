"""hub.wire: the fast JSON and UUID helpers give what the standard library gives."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub import wire

pytestmark = pytest.mark.unit

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_dumps_is_compact_utf8_json_as_the_standard_library_writes_it(value: object) -> None:
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert wire.dumps(value) == expected.encode("utf-8")
    assert wire.dumps(value, sort_keys=True) == json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), sort_keys=True
    ).encode("utf-8")
    assert wire.loads(wire.dumps(value)) == value


def test_loads_refuses_what_is_not_json() -> None:
    with pytest.raises(ValueError):
        wire.loads(b"{not json")


@given(st.uuids(), st.text())
def test_uuid5_equals_the_standard_library(namespace: uuid.UUID, name: str) -> None:
    expected = uuid.uuid5(namespace, name)
    assert wire.uuid5(namespace, name) == str(expected)
    assert wire.uuid5_hex(namespace, name) == expected.hex


@given(st.uuids(), st.lists(st.text(), max_size=4))
def test_uuid5_in_a_namespace_equals_the_standard_library(
    namespace: uuid.UUID, names: list[str]
) -> None:
    named = wire.uuid5_in(namespace)
    assert [named(n) for n in names] == [str(uuid.uuid5(namespace, n)) for n in names]


_numbers_and_text = st.recursive(
    st.none() | st.booleans() | st.text() | st.integers()  # beyond 64 bits too
    | st.floats()  # NaN, Infinity, tiny and huge
    | st.sampled_from([1e-05, 1.5e-07, "1e-5", "x,1e-5", 0.0001, 1e16, "0.00001", "null",
                       "urn:x:1234567e-4b", "e-1"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@given(_numbers_and_text, st.booleans())
def test_standard_json_is_exactly_the_standard_library_text(value: object, sort: bool) -> None:
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=sort)
    assert wire.standard_json(value, sort_keys=sort) == expected.encode("utf-8")

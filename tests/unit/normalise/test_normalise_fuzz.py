"""Robustness: the normalisers never raise, whatever the bytes (hypothesis)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hub.normalise.al import normalise_al
from hub.normalise.he import normalise_he
from hub.normalise.types import MessageResult
from hub.normalise.vet import normalise_vet
from tests.unit.normalise.normalise_support import (
    AL_FILE,
    HE_ISSUE,
    VET_ISSUE,
    he_bytes,
    he_doc,
    sample_bytes,
)

pytestmark = pytest.mark.unit

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NORMALISERS = {"he": normalise_he, "vet": normalise_vet, "al": normalise_al}


def check(feed: str, payload: bytes) -> MessageResult:
    """Call the raw normaliser (no safety net) and check the result's shape."""
    result = NORMALISERS[feed](payload)
    assert isinstance(result, MessageResult) and result.feed == feed
    if feed != "al":
        assert len(result.items) == 1 and not result.file_violations
    for item in result.items:
        assert item.accepted == (item.event is not None)
        assert item.accepted or item.violations
        if item.event is not None:
            json.dumps(item.event.record)
            item.event.content.encode("utf-8")
    for violation in (*result.file_violations, *(v for i in result.items for v in i.violations)):
        assert violation.rule.isupper() and violation.message
    return result


def _mutations(sample: bytes) -> st.SearchStrategy[bytes]:
    """A sample with a random slice replaced by random bytes."""

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        start = draw(st.integers(0, len(sample)))
        end = draw(st.integers(start, min(len(sample), start + 40)))
        junk = draw(st.binary(max_size=20) | st.sampled_from([b'"', b";", b"<", b"&", b"|", b"\n"]))
        return sample[:start] + junk + sample[end:]

    return mutate()


@pytest.mark.parametrize("feed", ["he", "vet", "al"])
@FAST
@given(payload=st.binary(max_size=400))
@example(payload=b"")
@example(payload=b"\xef\xbb\xbf")
@example(payload=b'\xef\xbb\xbf\n\n"')
@example(payload=b"{}")
@example(payload=b"<a/>")
def test_arbitrary_bytes_never_raise(feed: str, payload: bytes) -> None:
    check(feed, payload)


@FAST
@given(payload=_mutations(sample_bytes("he", HE_ISSUE)))
def test_mutated_he_never_raises(payload: bytes) -> None:
    check("he", payload)


@FAST
@given(payload=_mutations(sample_bytes("vet", VET_ISSUE)))
def test_mutated_vet_never_raises(payload: bytes) -> None:
    check("vet", payload)


@FAST
@given(payload=_mutations(sample_bytes("al", AL_FILE)))
def test_mutated_al_never_raises(payload: bytes) -> None:
    check("al", payload)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
HE_MEMBERS = [
    "sema_verzio", "esemeny_tipus", "esemeny_azonosito", "esemeny_idopont", "intezmeny",
    "intezmeny.kod", "hallgato", "hallgato.oktatasi_azonosito", "hallgato.szuletesi_datum",
    "tarsintezmenyek", "oklevel", "oklevel.kredit", "oklevel.mkkr_szint", "oklevel.ciklus",
    "oklevel.iscedf", "oklevel.tanulasi_eredmenyek", "oklevel.tanulasi_eredmenyek[0]",
    "oklevel.tanulasi_eredmenyek[0].esco", "oklevel.ertekeles_modja", "oklevel.erdemjegy",
    "oklevel.halmozhatosag", "oklevel.halmozhatosag.kepzes_kod", "oklevel.kiallitas_datuma",
]  # fmt: skip


@FAST
@given(member=st.sampled_from(HE_MEMBERS), value=JSON_VALUES)
def test_any_json_value_in_any_he_member_never_raises(member: str, value: object) -> None:
    doc = he_doc()
    target: object = doc
    parts = member.replace("[0]", ".0").split(".")
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]  # type: ignore[index]
    last = parts[-1]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value  # type: ignore[index]
    check("he", he_bytes(doc))


@FAST
@given(text=st.text(max_size=30))
def test_any_text_in_a_csv_cell_never_raises(text: str) -> None:
    sample = sample_bytes("al", AL_FILE)
    check("al", sample.replace(b"Varga", text.encode("utf-8", "surrogatepass"), 1))

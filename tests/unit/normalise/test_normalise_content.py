"""Same content (§9.2): re-serialised resends give identical ``content``, changes do not."""

from __future__ import annotations

import json
import random

import pytest

from hub.normalise import normalise
from tests.unit.normalise.normalise_support import (
    AL_FILE,
    al_bytes,
    al_table,
    he_bytes,
    he_doc,
    only_event,
    sample_bytes,
    set_path,
    vet_replace,
    vet_text,
)

pytestmark = pytest.mark.unit


def he_content(payload: bytes) -> str:
    return only_event(normalise("he", payload)).content


def vet_content(payload: bytes) -> str:
    return only_event(normalise("vet", payload)).content


def al_contents(payload: bytes) -> dict[str, str]:
    result = normalise("al", payload)
    return {i.event.idempotency_key: i.event.content for i in result.items if i.event}


def _shuffled(value: object, rng: random.Random) -> object:
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {k: _shuffled(value[k], rng) for k in keys}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


@pytest.mark.parametrize("seed", range(5))
def test_he_member_order_whitespace_and_escapes(seed: int) -> None:
    doc = he_doc()
    reference = he_content(sample_bytes("he", "01_kiallitas_tesztvezerelt_python.json"))
    reordered = _shuffled(doc, random.Random(seed))
    assert he_content(he_bytes(reordered)) == reference
    assert he_content(he_bytes(reordered, ensure_ascii=True, indent=seed)) == reference
    assert he_content(he_bytes(doc, separators=(",", ":"))) == reference


def test_he_trimming_nfc_numbers_and_nulls_are_same_content() -> None:
    reference = he_content(he_bytes(he_doc()))
    doc = set_path(he_doc(), "hallgato.csaladi_nev", "  Ba\u0301rdos ")
    doc = set_path(doc, "oklevel.tovabbi_informacio_extra", None)
    text = he_bytes(doc).decode().replace('"kredit": 4', '"kredit": 4.0')
    assert he_content(text.encode()) == reference


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("oklevel.kredit", 5),
        ("oklevel.megnevezes", "Más cím"),
        ("oklevel.erdemjegy", 4),
        ("oklevel.tanulasi_eredmenyek[2].szoveg", "Más eredmény"),
        ("oklevel.ertekeles_modja", ["SZOBELI_VIZSGA", "PROJEKTMUNKA"]),
        ("esemeny_idopont", "2025-06-27T15:42:11+02:00"),
        ("ismeretlen_mezo", "érték"),
    ],
)
def test_he_real_change_changes_content(member: str, value: object) -> None:
    reference = he_content(he_bytes(he_doc()))
    assert he_content(he_bytes(set_path(he_doc(), member, value))) != reference


def test_he_content_does_not_depend_on_unicode_escape_form() -> None:
    plain = b'{"a": "\xc3\xa1"}'
    escaped = b'{"a": "\\u00e1"}'
    decomposed = b'{"a": "a\\u0301"}'
    from hub.normalise.common import canonical_json
    from hub.normalise.he import parse

    forms = {canonical_json(parse(p.decode())) for p in (plain, escaped, decomposed)}
    assert len(forms) == 1


def test_vet_prefix_declaration_comments_whitespace() -> None:
    text = vet_text()
    reference = vet_content(text.encode())
    prefixed = text.replace('xmlns="urn:mchub:feed:vet:1"', 'xmlns:kr="urn:mchub:feed:vet:1"')
    prefixed = prefixed.replace("<", "<kr:").replace("<kr:/", "</kr:").replace("<kr:?xml", "<?xml")
    assert vet_content(prefixed.encode()) == reference
    no_declaration = text.split("\n", 1)[1]
    assert vet_content(no_declaration.encode()) == reference
    compact = "".join(line.strip() for line in text.splitlines()[1:])
    assert vet_content(compact.encode()) == reference
    commented = text.replace("<Tanulo>", "<!-- tanuló adatai --><?pi x?><Tanulo>\n\n")
    assert vet_content(commented.encode()) == reference
    single_quotes = text.replace('Kod="AKT-07"', "Kod='AKT-07'")
    assert vet_content(single_quotes.encode()) == reference
    cdata = text.replace("<Utonev>Márk</Utonev>", "<Utonev><![CDATA[ Márk ]]></Utonev>")
    assert vet_content(cdata.encode()) == reference
    decomposed = text.replace("Márk", "Ma\u0301rk")
    assert vet_content(decomposed.encode()) == reference


def test_vet_child_order_is_not_content_but_repeated_order_is() -> None:
    text = vet_text()
    reference = vet_content(text.encode())
    fejlec = text[text.index("  <Fejlec>") : text.index("</Fejlec>\n") + len("</Fejlec>\n")]
    moved = text.replace(fejlec, "").replace(
        "</TanusitvanyKiallitas>", fejlec + "</TanusitvanyKiallitas>"
    )
    assert vet_content(moved.encode()) == reference
    swapped = text.replace("<Modszer>GYAKORLATI</Modszer>", "<Modszer>TMP</Modszer>")
    swapped = swapped.replace("<Modszer>INTERAKTIV</Modszer>", "<Modszer>GYAKORLATI</Modszer>")
    swapped = swapped.replace("<Modszer>TMP</Modszer>", "<Modszer>INTERAKTIV</Modszer>")
    assert vet_content(swapped.encode()) != reference


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("<Oraszam>120<", "<Oraszam>121<"),
        ('Kod="AKT-07"', 'Kod="AKT-08"'),
        ("<Utonev>Márk<", "<Utonev>Marko<"),
        ("<Tanulo>", '<x:Jegyzet xmlns:x="urn:other">új</x:Jegyzet><Tanulo>'),
    ],
)
def test_vet_real_change_changes_content(old: str, new: str) -> None:
    assert vet_content(vet_replace(old, new)) != vet_content(vet_text().encode())


def test_al_column_order_quoting_and_line_endings() -> None:
    reference = al_contents(sample_bytes("al", AL_FILE))
    assert len(reference) == 8
    header, rows = al_table()
    order = list(range(len(header)))
    random.Random(7).shuffle(order)
    shuffled = al_bytes(
        [header[i] for i in order],
        [[row[i] for i in order] for row in rows],
        newline="\n",
        quote_all=True,
    )
    assert al_contents(shuffled) == reference
    padded = al_bytes(header, [[f" {cell} " if cell else cell for cell in row] for row in rows])
    assert al_contents(padded) == reference
    reordered_rows = al_bytes(header, list(reversed(rows)))
    assert al_contents(reordered_rows) == reference


def test_al_real_change_changes_content() -> None:
    header, rows = al_table()
    reference = al_contents(al_bytes(header, rows))
    rows[1][header.index("eredmeny_szazalek")] = "93"
    changed = al_contents(al_bytes(header, rows))
    differing = [k for k in reference if reference[k] != changed[k]]
    assert differing == ["al:E/2020/000123:R-20250701-002"]


def test_content_is_json() -> None:
    for payload, feed in (
        (sample_bytes("he", "03_kiallitas_haccp_elelmiszer.json"), "he"),
        (vet_text().encode(), "vet"),
    ):
        json.loads(only_event(normalise(feed, payload)).content)

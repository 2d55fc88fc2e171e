"""The renderers' output is pinned byte for byte, and their fast paths equal the slow ones.

The digests below are of the documents the renderers produced before their hot paths
were optimised (``hub.wire.uuid5`` instead of ``uuid.uuid5``, cached vocabulary lookups):
a change of output must be deliberate. If you change a rendering on purpose, update the
digest of each sample it changes (and say why in the commit).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest

from hub import vocab
from hub.render import labels as lb
from hub.render.elm import DEV_ISSUER, IssuerProfile, _Ids, render_elm
from hub.render.ob3 import Ob3Options, issuer_id, render_ob3
from tests.unit.render.render_support import (
    EXPECTED_FILES,
    co_awarded_foreign_variant,
    foreign_body_without_id_variant,
    load_expected,
    make_input,
    minimal_variant,
)

pytestmark = pytest.mark.unit

#: sample -> (sha256 of the ELM document, sha256 of the OB3 badge with salt "00" * 16),
#: both as compact UTF-8 JSON. OB3 re-pinned for issue 11: ``issuer.id`` became the
#: profile URL on the issuer server and ``credentialSubject.id`` the pseudonymous
#: ``urn:uuid`` (nothing else changed: checked by mapping both back to the old form)
PINNED: dict[str, tuple[str, str]] = {
    "al_FAR_E-2020-000123_20250701_01": (
        "3433283beaf6d6d05aa48f2722c8b54558f9ea523dfdfc101aa86834fea69d92",
        "81ccb6513bb03289cae85c5a5e03a716a9628ac6bc066e5d2a1e8a705f3d5bf7",
    ),
    "he_01_kiallitas_tesztvezerelt_python": (
        "46054c5f01029fadbb32b2bb5a788cfa74ee19e6aee16faaff6e6e81ddfeea2e",
        "394430316cc458b12e7c2d7628cd49758259f5b135132041677b8416908b1bc1",
    ),
    "vet_01_kiallitas_cnc": (
        "3d4b8475028534e7e0e2e8a8883dd501ec1910de247e44b812a0de06452f13d4",
        "ebe4ab2ce352d0fda17ac9f244a65bcdf97a4d6302ed54adbc3c60cdcd937fdb",
    ),
    "minimal": (
        "78dd73fcda64dee9d31116b773b82fa84689eea028714a5c80092ce40e0c9b0f",
        "970b7b0daa5f8a62037b3abeef577ff9e14ef8a7cbcf4591de9f3c629f1c2c79",
    ),
    "co_awarded_foreign": (
        "d8232027617aa9f8a4e81d6f00c662f67b6d1b0a0be4a32435027a80bf0cf6cd",
        "6f3dda72f74ede312a60df7696d42203b2b9ba75f3031460241d233b216d2118",
    ),
    "foreign_body_without_id": (
        "7f32af0640b1c646ae6622af518a6d6197089d3fa5ffd5b7af615c9de1a3b568",
        "6f3dda72f74ede312a60df7696d42203b2b9ba75f3031460241d233b216d2118",
    ),
}


def _samples() -> dict[str, dict[str, Any]]:
    found = {p.name.split(".")[0]: load_expected(p) for p in EXPECTED_FILES}
    return found | {
        "minimal": minimal_variant(),
        "co_awarded_foreign": co_awarded_foreign_variant(),
        "foreign_body_without_id": foreign_body_without_id_variant(),
    }


def _digest(doc: dict[str, Any]) -> str:
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_every_sample_is_pinned() -> None:
    assert set(_samples()) == set(PINNED)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_rendered_documents_are_unchanged(name: str) -> None:
    inp = make_input(_samples()[name])
    elm_digest, ob3_digest = PINNED[name]
    assert _digest(render_elm(inp)) == elm_digest
    assert _digest(render_ob3(inp, Ob3Options(salt="00" * 16))) == ob3_digest


def test_node_ids_are_the_standard_librarys_uuid5() -> None:
    credential = "0b6f2c1e-4a4e-4e0b-9a55-6f3d2f7c9a10"
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:credential:{credential}")
    ids = _Ids(credential)
    assert ids.namespace == namespace
    for kind, key in [("org", "HU-FI:FI12345"), ("note", "grade"), ("person", "1")]:
        assert ids(kind, key) == f"urn:epass:{kind}:{uuid.uuid5(namespace, f'{kind}:{key}')}"
    issuer = IssuerProfile({"en": "x"}, "NTRHU-12345678")
    expected = uuid.uuid5(uuid.NAMESPACE_URL, "eidas:NTRHU-12345678")
    assert issuer.node_id == f"urn:epass:org:{expected}"
    assert DEV_ISSUER.node_id.startswith("urn:epass:org:")


def test_ob3_issuer_of_a_body_without_id_is_the_uuid5_of_its_name() -> None:
    body = {"scheme": "OTHER", "name": "Technische Hochschule Beispiel", "id": None}
    expected = uuid.uuid5(uuid.NAMESPACE_URL, body["name"])
    url = issuer_id(body, "https://hub.example/")
    assert url == f"https://hub.example/v1/issuers/OTHER/{expected}"


def test_labels_cover_every_table_entry_and_stop_at_the_first_matching_prefix() -> None:
    tables = [
        (vocab.ASSESSMENT_PREFIX, lb.ASSESSMENT_LABELS),
        (vocab.MODE_PREFIX, lb.MODE_LABELS),
        (vocab.LEARNING_SETTING_PREFIX, lb.LEARNING_SETTING_LABELS),
        (vocab.ACCREDITATION_PREFIX, lb.ACCREDITATION_LABELS),
        (vocab.SUPERVISION_PREFIX, lb.SUPERVISION_LABELS),
        (vocab.ISCED_F_PREFIX, lb.ISCED_F_LABELS),
        (vocab.COUNTRY_PREFIX, lb.COUNTRY_LABELS),
    ]
    for prefix, table in tables:
        for code, labels in table.items():
            assert lb.labels_of(prefix + code) == labels
        assert lb.labels_of(prefix + "unknown") is None
    for uri, labels in lb.CREDIT_SYSTEM_LABELS.items():
        assert lb.labels_of(uri) == labels
    for level, uri in vocab.MKKR_LEVEL_URIS.items():
        assert lb.labels_of(uri) == {"en": f"HuQF level {level}", "hu": f"MKKR {level}. szint"}
    assert lb.labels_of(vocab.EQF_PREFIX + "5") == {"en": "Level 5", "hu": "5. szint"}
    assert lb.labels_of(vocab.LANGUAGE_PREFIX + "HUN") == {"en": "Hungarian", "hu": "magyar"}
    assert lb.labels_of(vocab.LANGUAGE_PREFIX + "ENG") == {"en": "English", "hu": "angol"}
    assert lb.labels_of(vocab.LANGUAGE_PREFIX + "DEU") is None
    assert lb.labels_of("http://example.org/concept/x") is None


def test_rendered_concepts_are_copies_of_the_cached_labels() -> None:
    doc = render_elm(make_input(minimal_variant()))
    languages = doc["displayParameter"]["language"]
    languages[0]["prefLabel"]["en"] = "changed"
    assert lb.labels_of(vocab.LANGUAGE_PREFIX + "HUN") == {"en": "Hungarian", "hu": "magyar"}

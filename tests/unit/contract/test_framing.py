"""Registry framing of canonical records: a header swap that changes nothing else.

Properties: a record framed for a registry decodes to the same record, has the same
chain hash and the same envelope as its single-object form; unknown ids are undecodable
(or looked up once); headers say what the value is. The end-to-end checks (the real
stages writing registry framing, verify on it, Apicurio's serde reading it) are in
tests/integration/registry/.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.contract.codec import AvroCodec
from hub.contract.fingerprint import MAGIC
from hub.contract.framing import (
    REGISTRY_MAGIC,
    SchemaIds,
    frame,
    registry_form,
    single_object_form,
    value_headers,
)
from hub.contract.store import SchemaStore
from hub.errors import UndecodableInput
from hub.stream.chain import EnvelopeReader, genesis, record_hash
from tests.unit.contract.contract_testdata import issued

pytestmark = pytest.mark.unit

CODEC = AvroCodec()
STORE = SchemaStore()


def ids_for_store(first: int = 7) -> SchemaIds:
    """Every released schema with an id, as a registry would number them."""
    ids = SchemaIds()
    for n, entry in enumerate(STORE.entries()):
        ids.learn(first + n, entry.fingerprint)
    return ids


def chained_issuance() -> bytes:
    value = CODEC.encode(issued("he"))
    return EnvelopeReader().with_prev_hash(value, genesis(0))


def test_registry_form_is_the_confluent_header_over_the_same_body() -> None:
    ids = ids_for_store()
    value = chained_issuance()
    framed = registry_form(value, ids)
    schema_id = ids.id_of(value[2:10])
    assert schema_id is not None
    assert framed[:1] == REGISTRY_MAGIC
    assert int.from_bytes(framed[1:5], "big") == schema_id
    assert framed[5:] == value[10:]
    assert single_object_form(framed, ids) == value
    assert frame(value, "single-object", ids) == value


@given(first=st.integers(min_value=1, max_value=2**31 - 64))
def test_any_id_numbering_round_trips_and_keeps_the_chain_hash(first: int) -> None:
    ids = ids_for_store(first)
    value = chained_issuance()
    framed = registry_form(value, ids)
    assert single_object_form(framed, ids) == value
    # the hash is over the single-object form, whatever the framing
    assert record_hash(value) == hashlib.sha256(value).hexdigest()


def test_codec_and_envelope_reader_read_both_framings() -> None:
    from hub.contract.framing import SCHEMA_IDS

    value = chained_issuance()
    try:
        for n, entry in enumerate(STORE.entries()):
            SCHEMA_IDS.learn(100 + n, entry.fingerprint)
        framed = registry_form(value)
        assert CODEC.decode_dict(framed) == CODEC.decode_dict(value)
        reader = EnvelopeReader()
        assert reader.envelope(framed) == reader.envelope(value)
        assert reader.ids(framed) == reader.ids(value)
        assert reader.prev_hash(framed) == genesis(0)
        assert record_hash(framed) == record_hash(value)
    finally:
        SCHEMA_IDS.clear()


def test_an_unknown_id_is_undecodable_and_says_what_to_set() -> None:
    value = chained_issuance()
    framed = registry_form(value, ids_for_store())
    with pytest.raises(UndecodableInput, match="MCHUB_SCHEMA_REGISTRY_URL"):
        single_object_form(framed, SchemaIds())
    with pytest.raises(UndecodableInput, match="not an Avro record"):
        single_object_form(b"\x01garbage-bytes", SchemaIds())


def test_an_unknown_id_is_looked_up_once() -> None:
    known = ids_for_store()
    value = chained_issuance()
    framed = registry_form(value, known)
    asked: list[int] = []

    def lookup(schema_id: int) -> bytes | None:
        asked.append(schema_id)
        return value[2:10]

    fresh = SchemaIds()
    fresh.install_lookup(lookup)
    assert single_object_form(framed, fresh) == value
    assert single_object_form(framed, fresh) == value
    assert asked == [int.from_bytes(framed[1:5], "big")]


def test_a_lookup_that_does_not_know_the_id_leaves_it_undecodable() -> None:
    framed = registry_form(chained_issuance(), ids_for_store())
    fresh = SchemaIds()
    fresh.install_lookup(lambda _id: None)
    with pytest.raises(UndecodableInput, match="not one of the hub's schemas"):
        single_object_form(framed, fresh)


def test_an_unregistered_schema_cannot_be_framed() -> None:
    with pytest.raises(LookupError, match="not registered"):
        registry_form(chained_issuance(), SchemaIds())


def test_headers_say_format_schema_and_fingerprint() -> None:
    ids = ids_for_store()
    value = chained_issuance()
    name = "eu.mchub.canonical.CredentialIssued"
    plain = dict(value_headers(value, name, "single-object", ids))
    assert plain == {
        "mchub-value-format": b"avro-single-object",
        "mchub-schema": name.encode(),
        "mchub-schema-fingerprint": value[2:10].hex().encode(),
    }
    framed = registry_form(value, ids)
    registry = dict(value_headers(value, name, "registry", ids))
    assert registry["mchub-value-format"] == b"avro-registry"
    assert registry["mchub-schema-fingerprint"] == plain["mchub-schema-fingerprint"]
    assert registry["mchub-schema-id"] == str(int.from_bytes(framed[1:5], "big")).encode()
    assert value[:2] == MAGIC

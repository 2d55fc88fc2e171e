"""W3C Bitstring Status List: encoding, bit order, allocation, revocation and re-signing."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.crypto.jades import seal
from connectors.crypto.keys import b64url_decode, dev_signer, load_certificates
from connectors.crypto.statuslist import (
    MIN_BITS,
    InMemoryStatusListStore,
    JsonFileStatusListStore,
    StatusListError,
    StatusListService,
    decode_list,
    encode_list,
    get_bit,
    new_bitstring,
    set_bit,
    status_in_list,
)
from connectors.crypto.vcjwt import sign_vc, verify_vc
from connectors.crypto.verify import verify_credential
from connectors.render.elm import render_elm
from connectors.render.jsonld import undefined_terms
from connectors.render.ob3 import render_ob3
from tests.unit.render.render_support import he_sample, make_input

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Any:
    directory = tmp_path_factory.mktemp("keys")
    return dev_signer(directory), load_certificates(directory / "ca.cert.pem")


def _service(keys: Any, store: Any = None) -> StatusListService:
    return StatusListService(store or InMemoryStatusListStore(), keys[0], "urn:mchub:issuer:test")


@settings(max_examples=25, deadline=None)
@given(st.sets(st.integers(0, MIN_BITS - 1), max_size=50))
def test_round_trip(indexes: set[int]) -> None:
    bits = new_bitstring()
    for i in indexes:
        set_bit(bits, i)
    decoded = decode_list(encode_list(bits))
    assert decoded == bytes(bits)
    assert all(get_bit(decoded, i) for i in indexes)
    assert sum(bin(b).count("1") for b in decoded) == len(indexes)


def test_encoding_is_multibase_base64url_gzip() -> None:
    bits = new_bitstring()
    encoded = encode_list(bits)
    assert (
        encoded.startswith("u") and "=" not in encoded and "+" not in encoded and "/" not in encoded
    )
    raw = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    assert len(raw) * 8 == MIN_BITS == 131_072


def test_bit_order_index_zero_is_leftmost_bit() -> None:
    bits = new_bitstring()
    set_bit(bits, 0)
    assert bits[0] == 0b1000_0000
    set_bit(bits, 7)
    assert bits[0] == 0b1000_0001
    set_bit(bits, 9)
    assert bits[1] == 0b0100_0000
    set_bit(bits, MIN_BITS - 1)
    assert bits[-1] == 0b0000_0001
    assert [get_bit(bits, i) for i in (0, 1, 7, 8, 9, MIN_BITS - 1)] == [
        True,
        False,
        True,
        False,
        True,
        True,
    ]


def test_minimum_size_enforced() -> None:
    with pytest.raises(StatusListError):
        new_bitstring(MIN_BITS - 8)
    short = "u" + base64.urlsafe_b64encode(gzip.compress(bytes(1024))).rstrip(b"=").decode()
    with pytest.raises(StatusListError):
        decode_list(short)
    with pytest.raises(StatusListError):
        decode_list("z" + short[1:])


def test_random_indexes_do_not_collide(keys: Any) -> None:
    service = _service(keys)
    refs = [service.allocate() for _ in range(10_000)]
    indexes = [r.index for r in refs]
    assert len(set(indexes)) == 10_000
    assert all(0 <= i < MIN_BITS for i in indexes)
    assert indexes != sorted(indexes)  # not sequential
    state = service.store.get("1")
    assert state is not None and state.allocated == set(indexes)


def test_collision_is_retried(keys: Any) -> None:
    draws = iter([5, 5, 5, 9])
    service = _service(keys)
    service.randbelow = lambda n: next(draws)
    assert [service.allocate().index, service.allocate().index] == [5, 9]


def test_revocation_sets_exactly_one_bit_and_the_list_verifies(keys: Any) -> None:
    service = _service(keys)
    refs = [service.allocate() for _ in range(20)]
    target = refs[7]
    token = service.revoke(target)
    info = verify_vc(token, keys[1])
    subject = info.credential["credentialSubject"]
    assert info.credential["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert subject["statusPurpose"] == "revocation"
    bits = decode_list(subject["encodedList"])
    assert [i for i in range(MIN_BITS) if get_bit(bits, i)] == [target.index]
    assert status_in_list(info.credential, target.index, "revocation")
    assert not status_in_list(info.credential, refs[0].index, "revocation")
    assert undefined_terms(info.credential) == []
    with pytest.raises(StatusListError, match="final"):
        service.set_status("1", target.index, False)
    unallocated = next(i for i in range(MIN_BITS) if i not in {r.index for r in refs})
    with pytest.raises(StatusListError, match="never allocated"):
        service.set_status("1", unallocated)


def test_file_store_round_trip(tmp_path: Path, keys: Any) -> None:
    service = _service(keys, JsonFileStatusListStore(tmp_path))
    ref = service.allocate()
    service.revoke(ref)
    again = JsonFileStatusListStore(tmp_path).get("1")
    assert again is not None and ref.index in again.allocated and get_bit(again.bits, ref.index)


@pytest.mark.parametrize("fmt", ["elm", "ob3"])
def test_verifier_sees_revocation(keys: Any, fmt: str, tmp_path: Path) -> None:
    signer, anchors = keys
    service = _service(keys)
    ref = service.allocate()
    inp = make_input(he_sample(), status=ref)
    text = (
        json.dumps(seal(render_elm(inp), signer))
        if fmt == "elm"
        else sign_vc(render_ob3(inp), signer)
    )
    lists = {service.list_url("1"): service.signed_credential("1")}
    before = verify_credential(text, anchors, status_resolver=lists.get)
    assert before.valid and before.status_checked
    lists[service.list_url("1")] = service.revoke(ref)
    after = verify_credential(text, anchors, status_resolver=lists.get)
    assert not after.valid and after.code == "revoked"
    # a forged list (signed by someone else) is not believed
    payload = json.loads(b64url_decode(lists[service.list_url("1")].split(".")[1]))
    lists[service.list_url("1")] = sign_vc(payload, dev_signer(tmp_path / "forger"))
    forged = verify_credential(text, anchors, status_resolver=lists.get)
    assert not forged.valid and forged.code == "status-list-invalid"

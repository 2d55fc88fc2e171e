"""W3C Bitstring Status List: encoding, bit order, allocation, revocation and re-signing."""

from __future__ import annotations

import base64
import gzip
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.status import SqliteStatusStore, StatusPublisher, hub_issuer_id, legacy_issuer_id
from hub.crypto.devca import dev_signer
from hub.crypto.jades import seal
from hub.crypto.jwks import key_url, signer_jwk
from hub.crypto.keys import b64url_decode, load_certificates
from hub.crypto.statuslist import (
    MIN_BITS,
    InMemoryStatusListStore,
    JsonFileStatusListStore,
    StatusListService,
    StatusListState,
    decode_list,
    encode_list,
    get_bit,
    new_bitstring,
    set_bit,
    status_in_list,
)
from hub.crypto.vcjwt import sign_vc, verify_vc
from hub.crypto.verify import verify_credential
from hub.errors import StatusListError, VerificationError
from hub.render.elm import DEV_ISSUER, render_elm
from hub.render.jsonld import undefined_terms
from hub.render.ob3 import render_ob3
from tests.oracles import bitstring_status as oracle
from tests.unit.render.render_support import he_sample, make_input

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Any:
    directory = tmp_path_factory.mktemp("keys")
    return dev_signer(directory), load_certificates(directory / "ca.cert.pem")


ISSUER = "https://issuer.test/v1/issuers/HU-OM/FI00000"
#: a signer for tests that never sign (hypothesis runs them without fixtures)
_SIGNER: Any = None


def _service(keys: Any, store: Any = None) -> StatusListService:
    return StatusListService(
        store or InMemoryStatusListStore(), keys[0], ISSUER, "https://issuer.test/v1/status"
    )


def _key_of(signer: Any) -> Any:
    """A key resolver that knows only ``signer``'s published key (under ISSUER)."""
    jwk = signer_jwk(signer)

    def resolve(kid: str) -> Any:
        assert kid == key_url(ISSUER, jwk["kid"])
        return jwk

    return resolve


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
    info = verify_vc(token, _key_of(keys[0]))
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
    jwk = signer_jwk(signer)
    inp = make_input(he_sample())
    # the list's issuer is the credential's: the ELM seal's organisation, the badge's body
    issuer = DEV_ISSUER.node_id if fmt == "elm" else render_ob3(inp)["issuer"]["id"]
    service = StatusListService(
        InMemoryStatusListStore(),
        signer,
        issuer,
        "https://issuer.test/v1/status",
        kid_for=lambda i: None if i.startswith("http") else key_url(ISSUER, jwk["kid"]),
    )
    ref = service.allocate()
    inp = make_input(he_sample(), status=ref)
    text = (
        json.dumps(seal(render_elm(inp), signer))
        if fmt == "elm"
        else sign_vc(render_ob3(inp), signer)
    )

    def resolve_key(kid: str) -> Any:  # only the hub's key is published
        if not kid.endswith("/keys/" + jwk["kid"]):
            raise VerificationError("key-unavailable", f"no key {kid}")
        return jwk

    lists = {service.list_url("1"): service.signed_credential("1")}

    def check() -> Any:
        return verify_credential(text, anchors, status_resolver=lists.get, key_resolver=resolve_key)

    before = check()
    assert before.valid and before.status_checked, before
    lists[service.list_url("1")] = service.revoke(ref)
    after = check()
    assert not after.valid and after.code == "revoked"
    # a forged list (signed by someone else) is not believed
    payload = json.loads(b64url_decode(lists[service.list_url("1")].split(".")[1]))
    forger = dev_signer(tmp_path / "forger")
    lists[service.list_url("1")] = sign_vc(
        payload, forger, kid=key_url(ISSUER, signer_jwk(forger)["kid"])
    )
    forged = check()
    assert not forged.valid and forged.code in ("status-list-invalid", "key-unavailable")


# --- the hub's publisher: lists per issuer ---------------------------------------------

BODY_A = "https://issuer.test/v1/issuers/HU-OM/FI11111"
BODY_B = "https://issuer.test/v1/issuers/HU-OM/FI22222"


def _publisher(keys: Any, db: Any = ":memory:") -> StatusPublisher:
    return StatusPublisher(SqliteStatusStore(db), keys[0], "https://issuer.test/v1/status")


def _payload(token: str) -> dict[str, Any]:
    header, payload, _ = token.split(".")
    return {"header": json.loads(b64url_decode(header)), **json.loads(b64url_decode(payload))}


def test_each_issuer_has_its_own_lists_and_signs_them(keys: Any) -> None:
    pub = _publisher(keys)
    a, b, hub = (
        pub.allocate("c1", issuer=BODY_A),
        pub.allocate("c1", issuer=BODY_B),
        pub.allocate("c1"),
    )
    assert len({a.list_url, b.list_url, hub.list_url}) == 3
    assert pub.allocate("c2", issuer=BODY_A).list_url == a.list_url  # same issuer, same list
    assert pub.issuer_id == hub_issuer_id(keys[0]) == DEV_ISSUER.node_id
    for ref, issuer in ((a, BODY_A), (b, BODY_B), (hub, DEV_ISSUER.node_id)):
        list_id = ref.list_url.rsplit("/", 1)[1]
        claims = _payload(pub.signed(list_id))
        assert claims["issuer"] == claims["iss"] == issuer
        assert claims["id"] == claims["jti"] == ref.list_url
        assert claims["credentialSubject"]["id"] == claims["sub"] == f"{ref.list_url}#list"
    # the ELM issuer is no URL: its lists name the hub's key under the issuer server
    hub_kid = _payload(pub.signed(hub.list_url.rsplit("/", 1)[1]))["header"]["kid"]
    assert hub_kid == key_url(
        "https://issuer.test/v1/issuers/eidas/NTRHU-MCHUB-DEV", signer_jwk(keys[0])["kid"]
    )
    assert _payload(pub.signed(a.list_url.rsplit("/", 1)[1]))["header"]["kid"].startswith(
        BODY_A + "/keys/"
    )


def test_revocation_sets_the_bit_in_every_issuers_list(keys: Any) -> None:
    pub = _publisher(keys)
    refs = [pub.allocate("c1", issuer=BODY_A), pub.allocate("c1")]
    other = pub.allocate("c2", issuer=BODY_A)
    first, changed = pub.revoke("c1", "FRAUD")
    assert changed and first == refs[0] and pub.is_revoked("c1") and not pub.is_revoked("c2")
    for ref in refs:
        listed = _payload(pub.signed(ref.list_url.rsplit("/", 1)[1]))
        assert status_in_list(listed, ref.index, "revocation")
    listed = _payload(pub.signed(other.list_url.rsplit("/", 1)[1]))
    assert not status_in_list(listed, other.index, "revocation")
    assert pub.revoke("c1") == (refs[0], False)
    # a later rendering for another issuer gets an entry that is set from the start
    late = pub.allocate("c1", issuer=BODY_B)
    listed = _payload(pub.signed(late.list_url.rsplit("/", 1)[1]))
    assert status_in_list(listed, late.index, "revocation")
    assert {e.reason for e in pub.store.credential_entries("c1")} == {"FRAUD"}


def test_allocate_many_across_issuers_is_one_commit(keys: Any, tmp_path: Path) -> None:
    pub = _publisher(keys, tmp_path / "status.db")
    commits: list[str] = []
    pub.store._conn.set_trace_callback(
        lambda sql: commits.append(sql) if sql.strip().upper() == "COMMIT" else None
    )
    issuers = {"c1": BODY_A, "c2": BODY_B, "c3": BODY_A}
    refs = pub.allocate_many(["c1", "c2", "c3", "c4"], issuers=issuers)
    assert len(commits) == 1  # the entries, and the three new lists signed
    assert refs["c1"].list_url == refs["c3"].list_url != refs["c2"].list_url
    again = _publisher(keys, tmp_path / "status.db")  # another process finds them
    assert again.allocate_many(["c4", "c3", "c2", "c1"], issuers=issuers) == refs
    assert again.allocate("c2", issuer=BODY_B) == refs["c2"]
    assert again.store.stale_lists() == []


OLD_SCHEMA = """
CREATE TABLE status_lists (list_id TEXT PRIMARY KEY, seq INTEGER NOT NULL,
    purpose TEXT NOT NULL, size INTEGER NOT NULL, encoded_list TEXT NOT NULL,
    version INTEGER NOT NULL, signed TEXT, signed_version INTEGER, signed_at TEXT,
    created_at TEXT NOT NULL);
CREATE INDEX status_lists_by_purpose ON status_lists (purpose, seq);
CREATE TABLE status_entries (list_id TEXT NOT NULL, idx INTEGER NOT NULL,
    purpose TEXT NOT NULL, credential_id TEXT, allocated_at TEXT NOT NULL,
    revoked_at TEXT, reason TEXT, PRIMARY KEY (list_id, idx));
CREATE UNIQUE INDEX status_entries_by_credential
    ON status_entries (credential_id, purpose) WHERE credential_id IS NOT NULL;
"""


def test_a_database_from_before_issuers_keeps_working(keys: Any, tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(OLD_SCHEMA)
        conn.execute(
            "INSERT INTO status_lists VALUES ('1', 1, 'revocation', ?, ?, 1, NULL, NULL,"
            " NULL, 'then')",
            (MIN_BITS, encode_list(new_bitstring())),
        )
        conn.execute(
            "INSERT INTO status_entries VALUES ('1', 42, 'revocation', 'old', 'then', NULL, NULL)"
        )
    pub = _publisher(keys, db)
    assert pub.store.issuer("1") == ""
    legacy = _payload(pub.signed("1"))
    assert legacy["issuer"] == legacy["iss"] == legacy_issuer_id(keys[0])  # as before
    new = pub.allocate("old", issuer=BODY_A)  # a new rendering: the body's own list
    assert new.list_url.endswith("/2")
    _, changed = pub.revoke("old", "DATA_ERROR")
    assert changed
    assert status_in_list(_payload(pub.signed("1")), 42, "revocation")  # the old badge
    assert status_in_list(_payload(pub.signed("2")), new.index, "revocation")
    pub.store.close()
    reopened = SqliteStatusStore(db)  # migrating twice changes nothing
    assert [e.index for e in reopened.credential_entries("old")] == [42, new.index]


# --- the independent oracle reads what the hub writes ---------------------------------


@settings(max_examples=20, deadline=None)
@given(
    st.sets(st.integers(0, MIN_BITS - 1), max_size=40),
    st.sampled_from(["revocation", "suspension"]),
)
def test_the_oracle_decodes_the_hubs_lists(indexes: set[int], purpose: str) -> None:
    """tests.oracles.bitstring_status (written from the spec) reads back exactly the bits
    the hub set, at the positions it set them (index 0 = left-most bit)."""
    store = InMemoryStatusListStore()
    state = StatusListState("1", purpose)  # type: ignore[arg-type]
    for index in indexes:
        set_bit(state.bits, index)
    store.put(state)
    listed = StatusListService(store, _SIGNER, ISSUER, "https://issuer.test/v1/status")
    subject = listed.credential("1")["credentialSubject"]
    assert subject["statusPurpose"] == purpose and subject["id"].endswith("/1#list")
    bitstring = oracle.expand_bitstring(subject["encodedList"])
    assert len(bitstring) * 8 == MIN_BITS
    ones = {i for i, byte in enumerate(bitstring) if byte for i in range(i * 8, i * 8 + 8)}
    assert {i for i in ones if oracle.bit_at(bitstring, i)} == indexes
    for index in list(indexes)[:5]:
        assert oracle.bit_at(bitstring, index) == 1
        if index + 1 < MIN_BITS and index + 1 not in indexes:
            assert oracle.bit_at(bitstring, index + 1) == 0
    with pytest.raises(oracle.StatusCheckError) as caught:
        oracle.bit_at(bitstring, MIN_BITS)
    assert caught.value.code == "RANGE_ERROR"


def test_the_oracle_refuses_malformed_lists() -> None:
    good = encode_list(new_bitstring())
    for bad in ("z" + good[1:], good + "==", "u!!!!"):
        with pytest.raises(oracle.StatusCheckError) as caught:
            oracle.expand_bitstring(bad)
        assert caught.value.code == "MALFORMED_VALUE_ERROR"


def test_list_urls_come_from_the_public_base_url(
    keys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCHUB_PUBLIC_BASE_URL", "https://hub.example.hu/")
    monkeypatch.delenv("MCHUB_STATUS_BASE_URL", raising=False)
    pub = StatusPublisher(SqliteStatusStore(":memory:"), keys[0])
    assert pub.public_base_url == "https://hub.example.hu"
    assert pub.allocate("c1").list_url == "https://hub.example.hu/v1/status/1"
    header = _payload(pub.signed("1"))["header"]
    assert header["kid"].startswith("https://hub.example.hu/v1/issuers/eidas/NTRHU-MCHUB-DEV/")
    # a publisher given its server's list prefix derives the public base URL from it
    served = StatusPublisher(SqliteStatusStore(":memory:"), keys[0], "http://127.0.0.1:9/v1/status")
    assert served.public_base_url == "http://127.0.0.1:9"

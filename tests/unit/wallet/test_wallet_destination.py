"""The wallet destination's requests: signed OB 3.0 upserts, registry routing, revocation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.status import StatusPublisher
from connectors.wallet import (
    SentCredentials,
    WalletDestination,
    WalletRegistry,
    wallet_destination,
    wallet_registry,
)
from connectors.wallet.registry import WalletHost
from hub.crypto.statuslist import status_in_list
from hub.crypto.vcjwt import verify_vc
from hub.errors import ConfigurationError
from hub.render.jsonld import undefined_terms
from hub.settings import load_settings
from tests.unit.wallet.issuing_support import (
    LEARNER,
    STATUS_BASE,
    DevSeal,
    dev_seal,
    enrolment_item,
    issued_item,
    publisher,
    revoked_item,
)

HOST = "https://wallet.test"


@pytest.fixture(scope="module")
def seal(tmp_path_factory: pytest.TempPathFactory) -> DevSeal:
    return dev_seal(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def pub(seal: DevSeal) -> StatusPublisher:
    return publisher(seal)


def destination(pub: StatusPublisher, registry: WalletRegistry | None = None) -> WalletDestination:
    return wallet_destination(
        registry=registry or WalletRegistry.single(HOST, "t0ken"),
        publisher=pub,
        sent=SentCredentials(":memory:"),
    )


def test_issuance_is_an_upsert_of_a_signed_badge_with_a_status_entry(
    pub: StatusPublisher, seal: DevSeal
) -> None:
    item = issued_item("he")
    dest = destination(pub)
    assert dest.name == "wallet" and dest.wants(item)
    request = dest.build_request(item)
    assert (request.method, request.path) == ("POST", f"{HOST}/ims/ob/v3p0/credentials")
    assert request.headers["Content-Type"] == "text/plain"
    assert request.headers["Authorization"] == "Bearer t0ken"
    assert request.json is None and request.content is not None
    assert request.accept_status == frozenset({304})  # OB 3.0: unchanged = delivered
    info = verify_vc(request.content.decode(), seal.keys)
    badge = info.credential
    assert badge["id"] == f"urn:uuid:{item.credential_id}"
    assert "OpenBadgeCredential" in badge["type"]
    assert undefined_terms(badge) == []
    status = badge["credentialStatus"]
    # the badge's entry is in a list of its issuer, the awarding body
    ref = pub.allocate(item.credential_id or "", issuer=badge["issuer"]["id"])
    assert dest.issuer_of(item) == badge["issuer"]["id"]
    assert status == {
        "id": f"{STATUS_BASE}/1#{ref.index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": str(ref.index),
        "statusListCredential": f"{STATUS_BASE}/1",
    }
    assert LEARNER not in request.content.decode()  # hashed identity only
    assert LEARNER not in json.dumps(badge)


def test_a_redelivered_issuance_sends_the_same_bytes(pub: StatusPublisher) -> None:
    dest = destination(pub)
    first = dest.build_request(issued_item("he"))
    again = dest.build_request(issued_item("he"))
    assert first.content == again.content
    assert len(pub.store.entries("1")) == 1


def test_enrolments_are_skipped(pub: StatusPublisher) -> None:
    assert not destination(pub).wants(enrolment_item())


def test_registered_learners_go_to_their_host_others_to_the_default(
    pub: StatusPublisher,
) -> None:
    registry = WalletRegistry.from_json(
        {
            "default": "national",
            "wallets": {
                "national": {"url": "https://national.test", "token": "n"},
                "campus": {"url": "https://campus.test/", "tokenEnv": "CAMPUS_TOKEN"},
            },
            "learners": {LEARNER: "campus"},
        },
        environ={"CAMPUS_TOKEN": "c"},
    )
    dest = destination(pub, registry)
    he = dest.build_request(issued_item("he"))  # LEARNER
    vet = dest.build_request(issued_item("vet"))
    assert he.path == "https://campus.test/ims/ob/v3p0/credentials"
    assert he.headers["Authorization"] == "Bearer c"
    assert vet.path == "https://national.test/ims/ob/v3p0/credentials"
    assert vet.headers["Authorization"] == "Bearer n"
    assert "token" not in repr(registry.host("campus"))  # tokens are never printed


def test_without_a_default_only_registered_learners_are_wanted(pub: StatusPublisher) -> None:
    registry = WalletRegistry({"campus": WalletHost("campus", HOST, "x")}, {LEARNER: "campus"})
    dest = destination(pub, registry)
    assert dest.wants(issued_item("he"))
    assert not dest.wants(issued_item("vet"))


def test_revocation_sets_the_bit_and_re_upserts_to_the_holder(
    pub: StatusPublisher, seal: DevSeal
) -> None:
    dest = destination(pub)
    issued_request = dest.build_request(issued_item("he"))
    revocation = revoked_item()
    assert revocation.credential_id == issued_item("he").credential_id
    assert dest.wants(revocation)
    assert not pub.is_revoked(revocation.credential_id or "")  # wants() changes nothing
    dest.prepare([revocation])  # the fan-out prepares each batch: the bit is set here
    ref = pub.allocate(revocation.credential_id or "", issuer=dest.issuer_of(issued_item("he")))
    signed = pub.store.signed("1")
    assert signed is not None
    listed = verify_vc(signed.token, seal.keys, anchors=seal.anchors).credential
    assert status_in_list(listed, ref.index, "revocation")
    notify = dest.build_request(revocation)
    assert notify.path == issued_request.path
    assert notify.content == issued_request.content  # the same credential, re-checked
    [entry] = pub.store.entries("1")
    assert entry.reason == "DATA_ERROR"


def test_revocation_of_a_credential_no_wallet_holds_is_skipped_but_published(
    pub: StatusPublisher,
) -> None:
    dest = destination(pub)
    revocation = revoked_item()
    dest.prepare([revocation])
    assert not dest.wants(revocation)
    assert pub.is_revoked(revocation.credential_id or "")


def test_configuration_from_the_environment(
    pub: StatusPublisher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCHUB_WALLET_URL", "https://default.test")
    monkeypatch.setenv("MCHUB_WALLET_TOKEN", "d")
    monkeypatch.setenv("MCHUB_WALLET_DB", str(tmp_path / "sent.db"))
    dest = wallet_destination(publisher=pub)
    assert dest.registry.for_learner(LEARNER) == WalletHost("default", "https://default.test", "d")
    request = dest.build_request(issued_item("he"))
    assert request.path == "https://default.test/ims/ob/v3p0/credentials"
    assert (tmp_path / "sent.db").exists()

    registry_file = tmp_path / "wallets.json"
    registry_file.write_text(
        json.dumps(
            {"wallets": {"campus": {"url": "https://campus.test"}}, "learners": {LEARNER: "campus"}}
        )
    )
    monkeypatch.setenv("MCHUB_WALLET_REGISTRY", str(registry_file))
    with pytest.raises(ConfigurationError, match="no token"):
        wallet_destination(publisher=pub)  # two hosts, one without a token
    monkeypatch.delenv("MCHUB_WALLET_URL")
    monkeypatch.delenv("MCHUB_WALLET_REGISTRY")
    with pytest.raises(ConfigurationError, match="MCHUB_WALLET_URL"):
        wallet_registry(load_settings())


def test_registry_errors_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="unknown hosts"):
        WalletRegistry.from_json({"wallets": {}, "learners": {LEARNER: "nowhere"}})
    with pytest.raises(ConfigurationError, match="CAMPUS_TOKEN"):
        WalletRegistry.from_json(
            {"wallets": {"c": {"url": "https://c.test", "tokenEnv": "CAMPUS_TOKEN"}}}, environ={}
        )


def test_an_erasure_forgets_the_signed_copies_of_the_learners_credentials(
        tmp_path: Path) -> None:
    from connectors.wallet.destination import SentCredential

    path = tmp_path / "issued.db"
    sent = SentCredentials(path)
    for cid in ("c-1", "c-2", "c-3"):
        sent.put(SentCredential(cid, f"ev-{cid}", "https://w.example", f"token-of-{cid}"))
    assert sent.forget(["c-1", "c-3", "unknown"]) == 2
    assert sent.forget([]) == 0
    assert sent.get("c-1") is None and sent.get("c-3") is None
    assert sent.get("c-2") is not None
    sent.close()
    import zlib

    stored = path.read_bytes()  # the pages were overwritten, not only unlinked
    assert zlib.compress(b"token-of-c-2", 6) in stored
    assert zlib.compress(b"token-of-c-1", 6) not in stored

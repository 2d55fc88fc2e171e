"""The EDC destination's requests: sealed ELM in a multipart ``_credential`` deposit."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.delivery.http_sink import HttpRequest, HttpSink
from connectors.delivery.sink import DeliveryItem
from connectors.edc import EdcDestination, EdcRegistry, EdcWallet, edc_destination
from connectors.edc.destination import sealed_file
from connectors.edc.multipart import FilePart, encode_multipart, parse_multipart
from connectors.status import StatusPublisher
from connectors.wallet import SentCredentials, WalletRegistry, wallet_destination
from hub.crypto.jades import verify_seal
from hub.crypto.statuslist import get_bit
from hub.errors import MultipartError
from hub.render.jsonld import validate_edc
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


@pytest.fixture(scope="module")
def seal(tmp_path_factory: pytest.TempPathFactory) -> DevSeal:
    return dev_seal(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def pub(seal: DevSeal) -> StatusPublisher:
    return publisher(seal)


def destination(pub: StatusPublisher, registry: EdcRegistry | None = None) -> EdcDestination:
    return edc_destination(
        registry=registry or EdcRegistry({LEARNER: EdcWallet(user_id="edc-user-1")}),
        publisher=pub,
    )


def the_part(request: HttpRequest) -> FilePart:
    assert request.content is not None
    parts = parse_multipart(request.content, request.headers["Content-Type"])
    assert [p.name for p in parts] == ["_credential"]
    return parts[0]


def test_issuance_is_a_multipart_deposit_of_a_sealed_conforming_credential(
    pub: StatusPublisher, seal: DevSeal
) -> None:
    item = issued_item("he")
    dest = destination(pub)
    assert dest.name == "edc" and dest.wants(item)
    request = dest.build_request(item)
    assert (request.method, request.path) == ("POST", "/v1/wallets/edc-user-1/credentials")
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert 409 in request.accept_status
    part = the_part(request)
    assert part.filename == f"{item.credential_id}.jsonld"
    assert part.content_type == "application/json"
    sealed = json.loads(part.data)
    info = verify_seal(sealed, seal.anchors)
    header = info.header
    assert {"x5c", "x5t#S256", "iat"} <= header.keys() and header["b64"] is False
    credential = info.credential
    assert credential["id"] == f"urn:credential:{item.credential_id}"
    ref = pub.allocate(item.credential_id or "")
    assert credential["credentialStatus"]["@value"] == f"{STATUS_BASE}/1#{ref.index}"
    assert credential["issuer"]["eIDASIdentifier"]["notation"] == "NTRHU-MCHUB-DEV"
    report = validate_edc(credential)
    assert report.conforms, report.text


def test_wallet_and_edc_entries_are_in_their_issuers_lists(
    pub: StatusPublisher, seal: DevSeal
) -> None:
    item = issued_item("he")
    destination(pub).build_request(item)
    wallet = wallet_destination(
        registry=WalletRegistry.single("https://w.test", "t"),
        publisher=pub,
        sent=SentCredentials(":memory:"),
    )
    wallet.build_request(item)
    entries = pub.store.credential_entries(item.credential_id or "")
    # the ELM form's entry in the hub's (ELM issuer's) list, the badge's in its body's list
    assert [e.issuer for e in entries] == [pub.issuer_id, wallet.issuer_of(item)]
    assert len({e.list_id for e in entries}) == 2
    ref, changed = pub.revoke(item.credential_id or "", "DATA_ERROR")
    assert changed and (ref.list_url, ref.index) == (f"{STATUS_BASE}/1", entries[0].index)
    for entry in entries:  # one revocation sets the bit in every list
        state = pub.store.get(entry.list_id)
        assert state is not None and get_bit(state.bits, entry.index)


def test_a_batchs_entries_are_claimed_in_one_transaction_before_any_request(
    seal: DevSeal, tmp_path: Path
) -> None:
    items = [issued_item("he"), issued_item("vet"), issued_item("al"), enrolment_item()]
    issuances = [i for i in items if i.event_type == "issued"]
    db = tmp_path / "status.db"
    wallet_pub, edc_pub = publisher(seal, db), publisher(seal, db)  # two connectors
    wallet = wallet_destination(
        registry=WalletRegistry.single("https://w.test", "t"),
        publisher=wallet_pub,
        sent=SentCredentials(":memory:"),
    )
    edc = destination(edc_pub)  # only the he learner has an EDC wallet
    edc_pub.allocate("earlier")  # list 1 (the ELM issuer's) exists and is published
    commits: list[str] = []
    for store in (wallet_pub.store, edc_pub.store):
        store._conn.set_trace_callback(
            lambda sql: commits.append(sql) if sql.strip().upper() == "COMMIT" else None
        )
    wallet.prepare(items)
    assert len(commits) == 1  # every issuance's entry (in its body's list), one commit
    claimed = {
        e.credential_id: e.issuer
        for list_id in wallet_pub.store.list_ids()
        for e in wallet_pub.store.entries(list_id)
    }
    assert claimed == {"earlier": edc_pub.issuer_id} | {
        i.credential_id: wallet.issuer_of(i) for i in issuances
    }
    edc.prepare(items)
    assert len(commits) == 2  # the ELM entry of the he credential, one more commit
    edc.prepare(items)  # a redelivered batch finds them
    for item in issuances:
        wallet.build_request(item)
    edc_request = edc.build_request(items[0])
    assert len(commits) == 2  # no request claimed anything more
    sealed = verify_seal(json.loads(the_part(edc_request).data), seal.anchors).credential
    he_id = items[0].credential_id or ""
    entries = {e.credential_id: e.index for e in edc_pub.store.entries("1")}
    assert set(entries) == {"earlier", he_id}
    assert sealed["credentialStatus"]["@value"] == f"{STATUS_BASE}/1#{entries[he_id]}"


def test_preparing_a_batch_without_issuances_or_revocations_claims_nothing(
    pub: StatusPublisher,
) -> None:
    destination(pub).prepare([enrolment_item()])
    wallet_destination(
        registry=WalletRegistry.single("https://w.test", "t"),
        publisher=pub,
        sent=SentCredentials(":memory:"),
    ).prepare([enrolment_item()])
    assert pub.store.list_ids() == []


def test_email_only_wallets_use_the_email_path(pub: StatusPublisher) -> None:
    registry = EdcRegistry.from_json({"learners": {LEARNER: {"email": "bardos.l+mc@example.hu"}}})
    request = destination(pub, registry).build_request(issued_item("he"))
    assert request.path == "/v1/wallets/email/bardos.l%2Bmc@example.hu/credentials"


def test_revocations_set_the_bit_and_are_skipped(pub: StatusPublisher) -> None:
    dest = destination(pub)
    dest.build_request(issued_item("he"))
    revocation = revoked_item()
    assert not dest.wants(revocation)
    assert not pub.is_revoked(revocation.credential_id or "")  # wants() changes nothing
    dest.prepare([revocation])  # the fan-out prepares each batch: the bit is set here
    assert pub.is_revoked(revocation.credential_id or "")


def test_enrolments_and_unknown_learners_are_skipped(pub: StatusPublisher) -> None:
    dest = destination(pub)
    assert not dest.wants(enrolment_item())
    assert not dest.wants(issued_item("vet"))  # no EDC wallet registered
    with_default = destination(pub, EdcRegistry.from_json({"default": {"userId": "demo"}}))
    assert with_default.wants(issued_item("vet"))
    assert with_default.build_request(issued_item("vet")).path == "/v1/wallets/demo/credentials"


def test_registry_file_from_the_environment(
    pub: StatusPublisher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "edc.json"
    path.write_text(json.dumps({"learners": {LEARNER: {"userId": "u-9", "email": "x@y.hu"}}}))
    monkeypatch.setenv("MCHUB_EDC_REGISTRY", str(path))
    request = edc_destination(publisher=pub).build_request(issued_item("he"))
    assert request.path == "/v1/wallets/u-9/credentials"  # userId wins over email
    monkeypatch.delenv("MCHUB_EDC_REGISTRY")
    assert not edc_destination(publisher=pub).wants(issued_item("he"))


async def test_a_duplicate_answer_counts_as_delivered(pub: StatusPublisher) -> None:
    request = destination(pub).build_request(issued_item("he"))
    seen: list[httpx.Request] = []

    def answer(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(409, json={"title": "Conflict"})

    async with HttpSink(
        "https://edc.test", build_request=lambda _: request, transport=httpx.MockTransport(answer)
    ) as sink:
        item = DeliveryItem(event_id="e-1", key="k", payload={}, credential_id="k")
        result = await sink.deliver(item)
    assert result.state == "delivered" and result.status == 409
    assert seen[0].headers["content-type"].startswith("multipart/form-data")
    # without accept_status the same answer is a permanent failure, as before
    plain = HttpRequest("POST", "/x", content=b"{}")
    async with HttpSink(
        "https://edc.test", build_request=lambda _: plain, transport=httpx.MockTransport(answer)
    ) as sink:
        item = DeliveryItem(event_id="e-2", key="k", payload={}, credential_id="k")
        assert (await sink.deliver(item)).state == "failed"


def test_multipart_round_trip_and_strictness() -> None:
    data = b'{"a": "\\r\\n--not-a-boundary"}\r\n'
    body, content_type = encode_multipart(
        [FilePart("_credential", "c.jsonld", "application/json", data)], boundary="b0undary"
    )
    assert content_type == "multipart/form-data; boundary=b0undary"
    assert body.startswith(b"--b0undary\r\nContent-Disposition: form-data; name=\"_credential\"")
    [part] = parse_multipart(body, content_type)
    assert part == FilePart("_credential", "c.jsonld", "application/json", data)
    with pytest.raises(MultipartError):
        parse_multipart(body, "application/json")
    with pytest.raises(MultipartError):
        parse_multipart(body[:-14], content_type)  # no closing boundary
    with pytest.raises(MultipartError):
        encode_multipart([FilePart('bad"name', None, "text/plain", b"")])


def test_issued_at_comes_from_the_event(pub: StatusPublisher, seal: DevSeal) -> None:
    item = issued_item("al")  # the adult-learning feed has no event time
    request = destination(pub, EdcRegistry(default=EdcWallet("u"))).build_request(item)
    credential = verify_seal(json.loads(the_part(request).data), seal.anchors).credential
    issued = datetime.fromisoformat(credential["issued"].replace("Z", "+00:00"))
    received = datetime.fromisoformat(item.received_at).astimezone(UTC)
    assert issued == received.replace(microsecond=0)


@given(st.text(), st.text(), st.text())
def test_the_sealed_file_keeps_every_string_exactly(
    payload: str, protected: str, signature: str
) -> None:
    sealed = {"payload": payload, "signatures": [{"protected": protected, "signature": signature}]}
    assert json.loads(sealed_file(sealed)) == sealed


def test_a_real_seal_verifies_from_its_file(pub: StatusPublisher, seal: DevSeal) -> None:
    real = destination(pub).sealed_credential(issued_item("he"))
    from_file = json.loads(sealed_file(real))
    assert from_file == real
    verify_seal(from_file, seal.anchors)  # raises when it does not verify

"""Status lists as an independent W3C Bitstring Status List verifier sees them.

The hub's issuer server runs on a free port with the public base URL set to its real
address; credentials are made by the wallet (OB3 VC-JWT) and EDC (sealed ELM)
destinations as in production; the oracle (:mod:`tests.oracles.bitstring_status`,
written from the spec, not from the hub) fetches each credential's list over HTTP,
verifies it with joserfc against the key its ``kid`` URL serves, checks that the list's
issuer is the credential's, and reads the bit. After a revocation event reaches the
destinations (as the fan-out delivers it) both credentials read revoked.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from connectors.edc import EdcRegistry, EdcWallet, edc_destination
from connectors.edc.destination import EdcDestination
from connectors.edc.multipart import parse_multipart
from connectors.fanout.base import CanonicalItem
from connectors.status import SqliteStatusStore, StatusPublisher, running_status_server
from connectors.wallet import SentCredentials, WalletRegistry, wallet_destination
from connectors.wallet.destination import WalletDestination
from hub.crypto.devca import dev_signer
from hub.crypto.keys import load_certificates
from tests.oracles.bitstring_status import StatusCheckError, check_status
from tests.oracles.node_status import NodeChecker, node_checker
from tests.support import free_port_block
from tests.unit.wallet.issuing_support import LEARNER, issued_item, revoked_item

pytestmark = pytest.mark.integration


@dataclass
class Issuing:
    """The issuer server at its real address and the destinations signing for it."""

    url: str
    publisher: StatusPublisher
    wallet: WalletDestination
    edc: EdcDestination
    anchors: list[x509.Certificate]
    http: httpx.Client


@pytest.fixture
def issuing(tmp_path: Path) -> Iterator[Issuing]:
    port = free_port_block(1, start=42180)
    url = f"http://127.0.0.1:{port}"
    keys = tmp_path / "keys"
    signer = dev_signer(keys, public_base_url=url)
    db = tmp_path / "status" / "status.db"
    db.parent.mkdir(parents=True)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MCHUB_DATA_DIR", str(tmp_path))  # the server reads <data_dir>/keys
        env.setenv("MCHUB_PUBLIC_BASE_URL", url)
        with (
            running_status_server(db, port=port) as served,
            SqliteStatusStore(db) as store,
            closing(SentCredentials(":memory:")) as sent,
            httpx.Client(timeout=10) as http,
        ):
            assert served == url
            publisher = StatusPublisher(store, signer, f"{url}/v1/status")
            assert publisher.public_base_url == url
            yield Issuing(
                url,
                publisher,
                wallet_destination(
                    registry=WalletRegistry.single("https://w.test", "t"),
                    publisher=publisher,
                    sent=sent,
                ),
                edc_destination(
                    registry=EdcRegistry(
                        {LEARNER: EdcWallet(user_id="u")}, default=EdcWallet(user_id="u")
                    ),
                    publisher=publisher,
                ),
                load_certificates(keys / "ca.cert.pem"),
                http,
            )


def _jwt_payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return data


def badge_of(issuing: Issuing, item: CanonicalItem) -> dict[str, Any]:
    """The OB3 credential the wallet destination sends for ``item`` (JWT payload)."""
    issuing.wallet.prepare([item])
    request = issuing.wallet.build_request(item)
    assert request.content is not None
    return _jwt_payload(request.content.decode("ascii"))


def elm_of(issuing: Issuing, item: CanonicalItem) -> dict[str, Any]:
    """The ELM credential the EDC destination deposits for ``item`` (sealed payload)."""
    issuing.edc.prepare([item])
    request = issuing.edc.build_request(item)
    assert request.content is not None
    (part,) = parse_multipart(request.content, request.headers["Content-Type"])
    sealed = json.loads(part.data)
    payload = sealed["payload"]
    if not payload.lstrip().startswith("{"):  # base64url-encoded payload
        payload = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    credential: dict[str, Any] = json.loads(payload)
    return credential


def test_ob3_and_elm_are_not_revoked_then_revoked(issuing: Issuing) -> None:
    item = issued_item("he")
    badge, elm = badge_of(issuing, item), elm_of(issuing, item)
    results = {}
    for name, credential in (("ob3", badge), ("elm", elm)):
        result = check_status(credential, issuing.http, anchors=issuing.anchors)
        assert result.status == 0 and not result.revoked, name
        assert result.entry.list_url.startswith(f"{issuing.url}/v1/status/"), name
        results[name] = result
    # each list is its credential's issuer's: the awarding body's, the sealing organisation's
    assert results["ob3"].list_issuer == badge["issuer"]["id"]
    assert results["ob3"].list_issuer.startswith(f"{issuing.url}/v1/issuers/")
    assert results["elm"].list_issuer == elm["issuer"]["id"]
    assert results["ob3"].entry.list_url != results["elm"].entry.list_url

    revocation = revoked_item()
    assert revocation.credential_id == item.credential_id
    issuing.edc.prepare([revocation])  # the fan-out prepares each batch: bit set
    assert issuing.edc.wants(revocation) is False  # and skips the revocation
    for name, credential in (("ob3", badge), ("elm", elm)):
        after = check_status(credential, issuing.http, anchors=issuing.anchors)
        assert after.status == 1 and after.revoked, name
    # the other credentials of the same lists stay valid
    other = dataclasses.replace(
        issued_item("vet"), credential_id="00000000-0000-4000-8000-000000000001"
    )
    assert not check_status(badge_of(issuing, other), issuing.http).revoked


def test_the_oracle_refuses_a_list_of_another_issuer(issuing: Issuing) -> None:
    badge = badge_of(issuing, issued_item("he"))
    assert check_status(badge, issuing.http).status == 0
    forged = {**badge, "issuer": {**badge["issuer"], "id": issuing.url + "/v1/issuers/X/Y"}}
    with pytest.raises(StatusCheckError) as caught:
        check_status(forged, issuing.http)
    assert caught.value.code == "STATUS_VERIFICATION_ERROR"
    moved = {
        **badge,
        "credentialStatus": {
            **badge["credentialStatus"],
            "statusListCredential": issuing.url + "/v1/status/999",
        },
    }
    with pytest.raises(StatusCheckError) as caught:
        check_status(moved, issuing.http)
    assert caught.value.code == "STATUS_RETRIEVAL_ERROR"


@pytest.fixture(scope="module")
def node_check() -> NodeChecker:
    check = node_checker()
    if check is None:
        pytest.skip("Node/npm or @digitalbazaar/vc-bitstring-status-list not available")
    return check


@pytest.mark.slow
def test_digitalbazaar_library_agrees(issuing: Issuing, node_check: NodeChecker) -> None:
    """@digitalbazaar/vc-bitstring-status-list with its default issuer check: the issue's
    report was that it refused every credential (list issuer != credential issuer)."""
    item = issued_item("he")
    badge, elm = badge_of(issuing, item), elm_of(issuing, item)
    foreign = {**badge, "issuer": {**badge["issuer"], "id": issuing.url + "/v1/issuers/X/Y"}}
    before = node_check([badge, elm, foreign])
    assert [(r["verified"], r["status"]) for r in before[:2]] == [(True, False)] * 2, before
    assert not before[2]["verified"] and "do not match" in before[2]["error"]
    issuing.edc.prepare([revoked_item()])  # as the fan-out prepares a batch: bits set
    assert issuing.edc.wants(revoked_item()) is False  # and skips the revocation
    after = node_check([badge, elm])
    assert [(r["verified"], r["status"]) for r in after] == [(True, True)] * 2, after


def test_every_sample_and_generated_credentials_then_exactly_the_revoked_ones(
    issuing: Issuing,
) -> None:
    """The three samples' issuances and hypothesis-generated ones, both formats: the
    spec oracle reads every entry as not revoked; after revocation events for a drawn
    subset (as the fan-out delivers them) it reads exactly that subset as revoked."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from tests.unit.contract.test_contract_codec import credential_elements

    template = issued_item("he")
    revocation = revoked_item()
    samples = [issued_item(feed) for feed in ("he", "vet", "al")]

    @settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        generated=st.lists(credential_elements(), min_size=1, max_size=3),
        revoke=st.lists(st.booleans(), min_size=6, max_size=6),
    )
    def check(generated: list[dict[str, Any]], revoke: list[bool]) -> None:
        items = [dataclasses.replace(s, credential_id=str(uuid.uuid4())) for s in samples]
        for elements in generated:
            items.append(
                dataclasses.replace(
                    template,
                    event_id=str(uuid.uuid4()),
                    credential_id=str(uuid.uuid4()),
                    elements=elements,
                )
            )
        issued = [(item, badge_of(issuing, item), elm_of(issuing, item)) for item in items]
        for _, badge, elm in issued:
            for credential in (badge, elm):
                assert not check_status(credential, issuing.http, anchors=issuing.anchors).revoked
        chosen = {item.credential_id for item, on in zip(items, revoke, strict=False) if on}
        for credential_id in chosen:
            event = dataclasses.replace(revocation, credential_id=credential_id)
            issuing.edc.prepare([event])  # bits set in both lists
            assert issuing.edc.wants(event) is False  # and skips the revocation
        for item, badge, elm in issued:
            for credential in (badge, elm):
                result = check_status(credential, issuing.http, anchors=issuing.anchors)
                assert result.revoked is (item.credential_id in chosen)

    check()

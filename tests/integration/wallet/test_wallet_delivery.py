"""Wallet delivery against real local servers: the OB 3.0 wallet host and the status server.

Issuance → signed badge upserted (201, verified on receipt, status fetched over HTTP);
redelivery → 200 with the same bytes; wrong token → 401 stops the connector; an
untrusted signature → 400 recorded as failed; revocation → bit set, list re-signed and
served, the wallet notified (it now holds the credential as revoked) and ``mchub verify
--fetch-status`` on the credential issued earlier says revoked.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors.status import HttpStatusResolver, StatusPublisher
from connectors.wallet import SentCredentials, WalletRegistry, wallet_destination
from connectors.wallet.destination import WalletDestination
from hub.crypto.keys import b64url_decode
from hub.crypto.statuslist import status_in_list
from hub.crypto.vcjwt import CLAIMS, sign_vc, verify_vc
from hub.errors import DestinationUnauthorised, VerificationError
from mchub_reference.wallet_host import running_wallet_host
from tests.integration.wallet.servers_support import Issuing, deliver, issuing, mchub_verify
from tests.unit.wallet.issuing_support import dev_seal, enrolment_item, issued_item, revoked_item

TOKEN = "wallet-secret"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Issuing]:
    with issuing(tmp_path) as found:
        yield found


def destination(env: Issuing, url: str, token: str = TOKEN) -> WalletDestination:
    return wallet_destination(
        registry=WalletRegistry.single(url, token),
        publisher=env.publisher,
        sent=SentCredentials(env.db.parent / "sent.db"),
    )


def held(url: str) -> dict[str, dict[str, object]]:
    response = httpx.get(f"{url}/v1/credentials", headers={"Authorization": f"Bearer {TOKEN}"})
    response.raise_for_status()
    return {c["id"]: c for c in response.json()}


async def test_issuance_is_upserted_verified_and_status_checked(env: Issuing) -> None:
    with running_wallet_host(TOKEN, trust_anchors=env.seal.anchors) as url:
        dest = destination(env, url)
        item = issued_item("he")
        result = await deliver(dest, url, item)
        assert result is not None and result.state == "delivered" and result.status == 201
        assert result.response_id == f"/ims/ob/v3p0/credentials/urn%3Auuid%3A{item.credential_id}"
        holding = (await asyncio.to_thread(held, url))[f"urn:uuid:{item.credential_id}"]
        assert (holding["status"], holding["code"], holding["upserts"]) == ("active", "ok", 1)

        again = await deliver(dest, url, item)  # a redelivery: same bytes, replaced
        assert again is not None and (again.state, again.status) == ("delivered", 200)
        listing = httpx.get(
            f"{url}/ims/ob/v3p0/credentials", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert listing.headers["x-total-count"] == "1"
        [token] = listing.json()["compactJwsStrings"]
        badge = verify_vc(token, env.seal.keys).credential
        assert badge["id"] == f"urn:uuid:{item.credential_id}"

        assert await deliver(dest, url, enrolment_item()) is None  # skipped, nothing sent


async def test_a_wrong_token_is_a_401_that_stops_the_connector(env: Issuing) -> None:
    with running_wallet_host(TOKEN, trust_anchors=env.seal.anchors) as url:
        with pytest.raises(DestinationUnauthorised):
            await deliver(destination(env, url, "not-the-token"), url, issued_item("he"))
        assert await asyncio.to_thread(held, url) == {}


def payload_credential(payload: dict[str, object]) -> dict[str, object]:
    """The credential of a VC-JWT payload (registered claims removed)."""
    return {k: v for k, v in payload.items() if k not in CLAIMS}


async def test_a_key_the_issuer_does_not_publish_is_refused_with_400(
    env: Issuing, tmp_path: Path
) -> None:
    stranger = dev_seal(tmp_path / "other-ca")
    with running_wallet_host(TOKEN, trust_anchors=env.seal.anchors) as url:
        genuine = destination(env, url)
        _, token = genuine.issue(issued_item("vet"))
        payload = json.loads(b64url_decode(token.split(".")[1]))
        forged = sign_vc(payload_credential(payload), stranger.signer)  # not published
        result = httpx.post(
            f"{url}/ims/ob/v3p0/credentials",
            content=forged.encode(),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/plain"},
        )
        assert result.status_code == 400 and result.json()["code"] == "key-unavailable"
        direct = httpx.post(
            f"{url}/ims/ob/v3p0/credentials",
            content=b"not.a.jwt",
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/plain"},
        )
        assert direct.status_code == 400 and direct.json()["code"] == "malformed"
        as_json = httpx.post(
            f"{url}/ims/ob/v3p0/credentials",
            json={"id": "x"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert as_json.status_code == 415


async def test_revocation_is_published_and_the_wallet_notified(
    env: Issuing, tmp_path: Path
) -> None:
    with running_wallet_host(TOKEN, trust_anchors=env.seal.anchors) as url:
        dest = destination(env, url)
        item = issued_item("he")
        issued = await deliver(dest, url, item)
        assert issued is not None and issued.state == "delivered"
        jwt_file = tmp_path / "badge.jwt"
        sent = dest.sent.get(item.credential_id or "")
        assert sent is not None
        jwt_file.write_text(sent.token + "\n", encoding="utf-8")
        before = await asyncio.to_thread(
            mchub_verify, jwt_file, None, "--fetch-status"  # the file alone: key over HTTP
        )
        assert before.returncode == 0, before.stdout + before.stderr
        assert before.stdout.startswith("valid (vc-jwt") and "status checked" in before.stdout

        revocation = revoked_item()
        notified = await deliver(dest, url, revocation)
        assert notified is not None and (notified.state, notified.status) == ("delivered", 200)

        # the status bit is set and the re-signed list is served over HTTP
        payload = json.loads(b64url_decode(sent.token.split(".")[1]))
        entry = payload["credentialStatus"]
        list_url, index = entry["statusListCredential"], int(entry["statusListIndex"])
        assert list_url == f"{env.status_url}/v1/status/1"
        response = httpx.get(list_url)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/vc+jwt"
        listed = verify_vc(response.text, env.seal.keys, anchors=env.seal.anchors).credential
        assert status_in_list(listed, index, "revocation")
        cached = httpx.get(list_url, headers={"If-None-Match": response.headers["etag"]})
        assert cached.status_code == 304
        assert httpx.get(f"{env.status_url}/v1/status/99").status_code == 404
        assert httpx.get(f"{env.status_url}/status/1").text == response.text  # alias

        # the wallet re-checked the credential on the notification upsert
        holding = (await asyncio.to_thread(held, url))[payload["id"]]
        assert (holding["status"], holding["upserts"]) == ("revoked", 2)

        # mchub verify on the credential issued earlier now says revoked, with the reason
        after = await asyncio.to_thread(
            mchub_verify, jwt_file, None, "--fetch-status"  # the file alone: key over HTTP
        )
        assert after.returncode == 1
        assert after.stdout.startswith("invalid: revoked: ")
        assert f"marks index {index} (revocation)" in after.stdout
        # without --fetch-status, verify stays offline (compatible): status not checked
        offline = await asyncio.to_thread(mchub_verify, jwt_file, env.seal.ca_file)
        assert offline.returncode == 0 and "status not checked" in offline.stdout

        # a redelivered revocation is idempotent: same list version, another notification
        version = env.publisher.store.version("1")
        again = await deliver(dest, url, revocation)
        assert again is not None and again.state == "delivered"
        assert env.publisher.store.version("1") == version


async def test_verify_reports_an_unreachable_status_list(env: Issuing, tmp_path: Path) -> None:
    dest = wallet_destination(
        registry=WalletRegistry.single("http://127.0.0.1:9", "t"),
        # lists at an address nobody answers; issuer documents on the real server
        publisher=StatusPublisher(
            env.publisher.store, env.seal.signer, "http://127.0.0.1:9/s",
            public_base_url=env.status_url,
        ),
        sent=SentCredentials(":memory:"),
    )
    request = dest.build_request(issued_item("al"))
    assert request.content is not None
    jwt_file = tmp_path / "unreachable.jwt"
    jwt_file.write_bytes(request.content)
    result = await asyncio.to_thread(mchub_verify, jwt_file, None, "--fetch-status")
    assert result.returncode == 1
    assert result.stdout.startswith("invalid: status-list-unavailable: ")
    with pytest.raises(VerificationError, match="not http"):
        HttpStatusResolver()("file:///etc/passwd")

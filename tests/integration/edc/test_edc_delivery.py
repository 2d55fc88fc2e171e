"""EDC delivery against real local servers: the EDC deposit endpoint and the status server.

Issuance → sealed ELM deposited as multipart ``_credential`` (201, seal verified on
receipt); a redelivery → EDC's 409 duplicate, recorded as delivered; no wallet → 404
(failed); invalid file → 400; wrong token → 401; e-mail wallets; revocation → skipped at
EDC but visible through the credential's ``credentialStatus`` over HTTP.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors.edc import EdcRegistry, EdcWallet, edc_destination
from connectors.edc.destination import EdcDestination
from connectors.edc.multipart import FilePart, encode_multipart, parse_multipart
from hub.crypto.pki import revoke_seal
from hub.errors import DestinationUnauthorised
from mchub_reference.edc_endpoint import running_edc_endpoint
from tests.integration.wallet.servers_support import Issuing, deliver, issuing, mchub_verify
from tests.unit.wallet.issuing_support import LEARNER, issued_item, revoked_item

USER = "edc-user-1"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Issuing]:
    with issuing(tmp_path) as found:
        yield found


def destination(env: Issuing, registry: EdcRegistry | None = None) -> EdcDestination:
    return edc_destination(
        registry=registry or EdcRegistry({LEARNER: EdcWallet(user_id=USER)}),
        publisher=env.publisher,
    )


def listing(url: str, user: str = USER, token: str | None = None) -> list[dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{url}/v1/wallets/{user}/credentials", headers=headers)
    response.raise_for_status()
    items: list[dict[str, object]] = response.json()
    return items


def upload(url: str, path: str, data: bytes) -> httpx.Response:
    body, content_type = encode_multipart(
        [FilePart("_credential", "c.jsonld", "application/json", data)]
    )
    return httpx.post(url + path, content=body, headers={"Content-Type": content_type})


async def test_deposit_then_redelivery_is_a_409_counted_as_delivered(env: Issuing) -> None:
    with running_edc_endpoint({USER: "bardos@example.hu"}, trust_anchors=env.seal.anchors) as url:
        dest = destination(env)
        item = issued_item("he")
        first = await deliver(dest, url, item)
        assert first is not None and (first.state, first.status) == ("delivered", 201)
        [held] = await asyncio.to_thread(listing, url)
        assert held["id"] == f"urn:credential:{item.credential_id}" and held["sealed"] is True
        assert "NTRHU-MCHUB-DEV" in str(held["signer"])

        again = await deliver(dest, url, item)
        assert again is not None and (again.state, again.status) == ("delivered", 409)
        assert len(await asyncio.to_thread(listing, url)) == 1

        # the endpoint itself answers a duplicate id with 409, as EDC does
        request = dest.build_request(item)
        assert request.content is not None
        sealed = parse_multipart(request.content, request.headers["Content-Type"])[0].data
        direct = await asyncio.to_thread(upload, url, request.path, sealed)
        assert direct.status_code == 409 and direct.json()["title"] == "Conflict"


async def test_email_wallets_and_unknown_wallets(env: Issuing) -> None:
    with running_edc_endpoint({USER: "bardos@example.hu"}, trust_anchors=env.seal.anchors) as url:
        by_email = destination(env, EdcRegistry({LEARNER: EdcWallet(email="Bardos@example.hu")}))
        result = await deliver(by_email, url, issued_item("he"))
        assert result is not None and (result.state, result.status) == ("delivered", 201)
        assert len(await asyncio.to_thread(listing, url)) == 1

        nowhere = destination(env, EdcRegistry(default=EdcWallet(user_id="no-such-user")))
        missing = await deliver(nowhere, url, issued_item("vet"))
        assert missing is not None and (missing.state, missing.status) == ("failed", 404)


async def test_invalid_files_are_a_400(env: Issuing, tmp_path: Path) -> None:
    with running_edc_endpoint({USER: None}, trust_anchors=env.seal.anchors) as url:
        path = f"/v1/wallets/{USER}/credentials"
        request = destination(env).build_request(issued_item("he"))
        assert request.content is not None
        [part] = parse_multipart(request.content, request.headers["Content-Type"])
        sealed = json.loads(part.data)
        unsealed = sealed["payload"]
        sealed["payload"] = unsealed.replace("Bárdos", "Bardos")
        tampered = await asyncio.to_thread(upload, url, path, json.dumps(sealed).encode())
        assert tampered.status_code == 400 and tampered.json()["code"] == "bad-signature"
        plain = await asyncio.to_thread(upload, url, path, unsealed.encode())
        assert plain.status_code == 400 and plain.json()["code"] == "not-signed"
        garbage = await asyncio.to_thread(upload, url, path, b"<xml/>")
        assert garbage.status_code == 400
        no_part = httpx.post(url + path, json={"credential": "x"})
        assert no_part.status_code == 400
        assert await asyncio.to_thread(listing, url) == []


async def test_a_wrong_token_is_a_401(env: Issuing) -> None:
    with running_edc_endpoint({USER: None}, token="edc-secret") as url:
        with pytest.raises(DestinationUnauthorised):
            await deliver(destination(env), url, issued_item("he"), token="wrong")
        ok = await deliver(destination(env), url, issued_item("he"), token="edc-secret")
        assert ok is not None and ok.status == 201
        assert len(await asyncio.to_thread(listing, url, USER, "edc-secret")) == 1


async def test_revocation_is_skipped_at_edc_but_published(env: Issuing, tmp_path: Path) -> None:
    with running_edc_endpoint({USER: None}, trust_anchors=env.seal.anchors) as url:
        dest = destination(env)
        item = issued_item("he")
        request = dest.build_request(item)
        assert request.content is not None
        sealed_file = tmp_path / "credential.jades.json"
        sealed_file.write_bytes(
            parse_multipart(request.content, request.headers["Content-Type"])[0].data
        )
        assert (await deliver(dest, url, item)) is not None
        ok = await asyncio.to_thread(mchub_verify, sealed_file, env.seal.ca_file, "--fetch-status")
        assert ok.returncode == 0 and "status checked" in ok.stdout, ok.stdout + ok.stderr

        assert await deliver(dest, url, revoked_item()) is None  # skipped: no EDC call
        revoked = await asyncio.to_thread(
            mchub_verify, sealed_file, env.seal.ca_file, "--fetch-status"
        )
        assert revoked.returncode == 1 and revoked.stdout.startswith("invalid: revoked: ")
        assert f"{env.status_url}/v1/status/1" in revoked.stdout


async def test_verify_online_refuses_a_seal_whose_certificate_the_ca_revoked(
    env: Issuing, tmp_path: Path
) -> None:
    """``mchub verify --fetch-status`` reads the CRL the seal certificate names (served by
    the issuer server): valid before, invalid (certificate-revoked) once the dev CA revoked
    the seal; offline verification cannot know and still says valid."""
    request = destination(env).build_request(issued_item("he"))
    assert request.content is not None
    sealed_file = tmp_path / "credential.jades.json"
    sealed_file.write_bytes(
        parse_multipart(request.content, request.headers["Content-Type"])[0].data
    )
    ok = await asyncio.to_thread(mchub_verify, sealed_file, env.seal.ca_file, "--fetch-status")
    assert ok.returncode == 0, ok.stdout + ok.stderr

    revoke_seal(env.seal.ca_file.parent)
    refused = await asyncio.to_thread(mchub_verify, sealed_file, env.seal.ca_file, "--fetch-status")
    assert refused.returncode == 1 and "certificate-revoked" in refused.stdout, refused.stdout
    offline = await asyncio.to_thread(mchub_verify, sealed_file, env.seal.ca_file)
    assert offline.returncode == 0, offline.stdout

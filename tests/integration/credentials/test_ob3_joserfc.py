"""OB3 VC-JWTs signed by the hub verify with an independent JOSE library (joserfc, default
settings) and the key found over HTTP from the credential alone; forgeries do not.

The hub's issuer server runs on a free port with its real address as the public base
URL; badges are signed by the wallet destination (samples and hypothesis-generated
records); the verifier is :func:`ob3_support.independent_verify`, written from OB 3.0
§8.2, plus the hub's own verifier with the HTTP key resolver, which must agree.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from joserfc.errors import BadSignatureError, ExpiredTokenError

from connectors.status import SqliteStatusStore, running_app
from connectors.status.issuers import IssuerDirectory, issuers_router, ob3_issuing
from hub.crypto.devca import dev_signer
from hub.crypto.jose import compact_json, sign
from hub.crypto.jwks import HttpKeyResolver, key_url, publish_key, signer_jwk
from hub.crypto.keys import b64url, b64url_decode
from hub.crypto.verify import verify_credential
from hub.render.ob3 import issuer_id
from tests.integration.credentials.ob3_support import (
    IssuerServer,
    independent_verify,
    issuer_server,
)
from tests.unit.contract.test_contract_codec import credential_elements
from tests.unit.wallet.issuing_support import issued_item

pytestmark = pytest.mark.integration


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    with issuer_server(tmp_path, monkeypatch) as running:
        yield running


def _ours(token: str, **kw: Any) -> Any:
    with HttpKeyResolver() as keys:
        return verify_credential(token, [], key_resolver=keys, **kw)


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    head, body, _ = token.split(".")
    return json.loads(b64url_decode(head)), json.loads(b64url_decode(body))


@pytest.mark.parametrize("feed", ["he", "vet", "al"])
def test_samples_verify_with_joserfc_and_the_served_documents(
    server: IssuerServer, feed: str
) -> None:
    item = issued_item(feed)
    _, token = server.wallet.issue(item)
    claims = independent_verify(token)
    assert claims["jti"] == f"urn:uuid:{item.credential_id}"
    assert claims["iss"].startswith(f"{server.url}/v1/issuers/")
    verdict = _ours(token)
    assert verdict.valid, verdict.line()
    # the issuer id resolves to the Profile; its JWKS holds the key
    profile = httpx.get(claims["iss"], timeout=10).json()
    assert profile["id"] == claims["iss"] and profile["name"] == claims["issuer"]["name"]
    assert "Profile" in profile["type"]
    jwks = httpx.get(claims["iss"] + "/jwks", timeout=10).json()
    assert signer_jwk(server.signer) in jwks["keys"]


def test_generated_records_verify_with_joserfc(server: IssuerServer) -> None:
    template = issued_item("he")

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(elements=credential_elements())
    def check(elements: dict[str, Any]) -> None:
        item = dataclasses.replace(
            template,
            event_id=str(uuid.uuid4()),
            credential_id=str(uuid.uuid4()),
            learner_id=elements["learnerIdentification"]["educationId"],
            elements=elements,
        )
        _, token = server.wallet.issue(item)
        claims = independent_verify(token)
        assert claims["iss"] == issuer_id(elements["awardingBodies"][0], server.url)
        assert _ours(token).valid

    check()


def test_unknown_issuer_and_key_are_404(server: IssuerServer) -> None:
    server.wallet.issue(issued_item("he"))
    missing = httpx.get(f"{server.url}/v1/issuers/HU-FI/NOPE", timeout=10)
    assert missing.status_code == 404
    kid = signer_jwk(server.signer)["kid"]
    unknown_key = httpx.get(f"{server.url}/v1/issuers/HU-FI/NOPE/keys/{kid}", timeout=10)
    assert unknown_key.status_code == 404
    elements = issued_item("he").elements or {}
    issuer = issuer_id(elements["awardingBodies"][0], server.url)
    assert httpx.get(f"{issuer}/keys/{kid}", timeout=10).status_code == 200
    assert httpx.get(f"{issuer}/keys/AAAA", timeout=10).status_code == 404


def test_tampered_payload_fails_both(server: IssuerServer) -> None:
    _, token = server.wallet.issue(issued_item("he"))
    head, body, sig = token.split(".")
    payload = json.loads(b64url_decode(body))
    payload["credentialSubject"]["achievement"]["name"] = "Something else"
    tampered = f"{head}.{b64url(compact_json(payload))}.{sig}"
    with pytest.raises(BadSignatureError):
        independent_verify(tampered)
    assert _ours(tampered).code == "bad-signature"


def test_expired_badge_fails_both(server: IssuerServer) -> None:
    _, token = server.wallet.issue(issued_item("he"))
    _, payload = _parts(token)
    badge = {k: v for k, v in payload.items() if k not in ("iss", "sub", "jti", "nbf")}
    badge["validUntil"] = "2026-01-01T00:00:00Z"
    expired = ob3_issuing(server.publisher).sign(badge, server.signer)
    with pytest.raises(ExpiredTokenError):
        independent_verify(expired)
    assert _ours(expired).code == "not-valid-now"
    # before its end it was valid, for both
    then = datetime(2025, 12, 1, tzinfo=UTC)
    assert independent_verify(expired, now=then)["exp"] == int(
        datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    )
    assert _ours(expired, now=then).valid


def test_a_kid_on_another_host_fails_both(server: IssuerServer, tmp_path: Path) -> None:
    """A forger signs the badge with their own key and serves it from their own host,
    under the same issuer path: neither verifier accepts a key not under the issuer."""
    _, token = server.wallet.issue(issued_item("he"))
    _, payload = _parts(token)
    forger_keys = tmp_path / "forger"
    forger = dev_signer(forger_keys)
    publish_key(forger_keys, forger)
    store = SqliteStatusStore(tmp_path / "forger.db")
    directory = IssuerDirectory(tmp_path / "forger.db")
    app = FastAPI()
    app.include_router(issuers_router(store, keys_dir=forger_keys))
    with running_app(app, name="forger") as evil:
        issuer = payload["iss"]
        directory.record({**payload["issuer"], "id": issuer.replace(server.url, evil)})
        kid = key_url(issuer.replace(server.url, evil), signer_jwk(forger)["kid"])
        assert httpx.get(kid, timeout=10).status_code == 200  # the forger does serve it
        head = b64url(compact_json({"alg": "ES256", "kid": kid, "typ": "JWT"}))
        body = b64url(compact_json(payload))
        forged = f"{head}.{body}.{b64url(sign(forger, f'{head}.{body}'.encode()))}"
        with pytest.raises(AssertionError, match="not published under the issuer"):
            independent_verify(forged)
        assert _ours(forged).code == "untrusted-key"
        # the forger's key under the real issuer URL: the hub does not serve it
        kid_here = key_url(issuer, signer_jwk(forger)["kid"])
        head = b64url(compact_json({"alg": "ES256", "kid": kid_here, "typ": "JWT"}))
        forged = f"{head}.{body}.{b64url(sign(forger, f'{head}.{body}'.encode()))}"
        with pytest.raises(httpx.HTTPStatusError):
            independent_verify(forged)
        assert _ours(forged).code == "key-unavailable"
    directory.close()
    store.close()


def test_status_lists_of_badges_verify_with_joserfc(server: IssuerServer) -> None:
    """The list credential a badge points at is an OB3-style VC-JWT of the same issuer."""
    _, token = server.wallet.issue(issued_item("he"))
    _, payload = _parts(token)
    listed = httpx.get(payload["credentialStatus"]["statusListCredential"], timeout=10)
    assert listed.status_code == 200
    claims = independent_verify(listed.text.strip())
    assert claims["iss"] == payload["iss"]  # W3C: the list's issuer is the badge's
    assert claims["id"] == payload["credentialStatus"]["statusListCredential"]

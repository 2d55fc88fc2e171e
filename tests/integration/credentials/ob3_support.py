"""The OB3 integration tests' harness: the hub's issuer server on a free port (its real
address is the public base URL), badges signed by the hub's wallet destination, and an
independent verifier written from OB 3.0 §8.2 with joserfc (default settings) and httpx —
it never calls the hub's verifier."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwk, jws, jwt
from joserfc.jwt import JWTClaimsRegistry

from connectors.status import SqliteStatusStore, StatusPublisher, running_status_server
from connectors.wallet import SentCredentials, WalletRegistry, wallet_destination
from connectors.wallet.destination import WalletDestination
from hub.crypto.devca import generate_dev_keys
from hub.crypto.keys import Signer, load_signer
from tests.support import free_port_block

#: the JOSE header parameters OB 3.0 §8.2.3 allows
ALLOWED_HEADERS = {"alg", "kid", "jwk", "typ"}


@dataclass
class IssuerServer:
    """A running issuer server, the dev seal behind it and a wallet destination signing."""

    url: str
    keys_dir: Path
    db: Path
    publisher: StatusPublisher
    wallet: WalletDestination

    @property
    def signer(self) -> Signer:
        return self.publisher.signer


@contextmanager
def issuer_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[IssuerServer]:
    """Dev keys in ``<tmp>/keys`` (``MCHUB_DATA_DIR`` = tmp), the issuer server over
    ``<tmp>/status.db`` on a free port, and the hub's wallet destination issuing with them."""
    monkeypatch.setenv("MCHUB_DATA_DIR", str(tmp_path))
    for name in (
        "MCHUB_SUBJECT_ID_SECRET",
        "MCHUB_SEAL_KEY",
        "MCHUB_SEAL_CERT",
        "MCHUB_STATUS_BASE_URL",
        "MCHUB_STATUS_DB",
    ):
        monkeypatch.delenv(name, raising=False)
    port = free_port_block(1, start=41200)
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("MCHUB_PUBLIC_BASE_URL", url)
    keys_dir = tmp_path / "keys"
    paths = generate_dev_keys(keys_dir, public_base_url=url)
    db = tmp_path / "status.db"
    with running_status_server(db, port=port) as served:
        assert served == url
        store = SqliteStatusStore(db)
        publisher = StatusPublisher(store, load_signer(paths.key, paths.chain), f"{url}/v1/status")
        wallet = wallet_destination(
            registry=WalletRegistry.single("http://wallet.invalid", "t"),
            publisher=publisher,
            sent=SentCredentials(":memory:"),
        )
        try:
            yield IssuerServer(url, keys_dir, db, publisher, wallet)
        finally:
            store.close()


def fetch_jwk(kid: str) -> jwk.Key:
    """OB 3.0 §8.5: dereference the ``kid`` URL to a JWK over HTTP."""
    answer = httpx.get(kid, timeout=10)
    answer.raise_for_status()
    data = answer.json()
    assert "d" not in data, "a served JWK must never hold the private key"
    return jwk.import_key(data)


def independent_verify(token: str, now: datetime | None = None) -> dict[str, Any]:
    """OB 3.0 §8.2.6 with joserfc's defaults: the claims of a valid VC-JWT, else raises.

    Header: ``typ`` JWT (when present), only §8.2.3's parameters, ``kid`` a URL under the
    issuer (``<iss>/keys/``) — the key is fetched from it. Claims required as §8.2.6.1
    says (iss, sub, nbf, jti; exp if present), compared with the credential.
    """
    header = jws.extract_compact(token.encode()).protected  # unverified: to find the key
    assert set(header) <= ALLOWED_HEADERS, header
    assert header.get("typ", "JWT") == "JWT"
    kid = header["kid"]
    decoded = jwt.decode(token, fetch_jwk(kid))  # default algorithms and limits
    claims = decoded.claims
    registry = JWTClaimsRegistry(
        now=int(now.timestamp()) if now is not None else None,
        iss={"essential": True},
        sub={"essential": True},
        nbf={"essential": True},
        jti={"essential": True},
    )
    registry.validate(claims)
    issuer = claims["issuer"]["id"] if isinstance(claims["issuer"], dict) else claims["issuer"]
    assert claims["iss"] == issuer
    assert kid.startswith(issuer + "/keys/"), "the key is not published under the issuer"
    assert claims["sub"] == claims["credentialSubject"]["id"]
    assert claims["jti"] == claims["id"]
    valid_from = datetime.fromisoformat(claims["validFrom"].replace("Z", "+00:00"))
    assert claims["nbf"] == int(valid_from.timestamp())
    if "validUntil" in claims:
        until = datetime.fromisoformat(claims["validUntil"].replace("Z", "+00:00"))
        assert claims["exp"] == int(until.timestamp())
    return dict(claims)

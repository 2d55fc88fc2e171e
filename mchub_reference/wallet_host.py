"""A small Open Badges 3.0 wallet host (resource server) for tests and the demo.

Implements the part of the OB 3.0 API the hub uses, on a real HTTP server:

``POST /ims/ob/v3p0/credentials`` (upsertCredential)
    ``Authorization: Bearer <token>`` (else ``401``); body = a VC-JWT compact JWS with
    ``Content-Type: text/plain`` (a JSON credential with an embedded proof is refused
    with ``415``: this host verifies JOSE signatures only). The OB 3.0 §8.2 proof is
    verified as any verifier would: the key fetched over HTTP from the header's ``kid``
    URL (published under the issuer), the claims against the credential (``400``
    problem+json with the verifier's reason code when invalid). The trust anchor is used
    only for status lists whose issuer is the sealing organisation. Stored by the
    credential's ``id``:
    ``201`` when new, ``200`` when replaced (an identical re-send is a ``200`` too);
    the answer body is the stored JWS (``text/plain``) and ``Location`` names it. With
    ``check_status`` the host fetches the credential's status list over HTTP on every
    upsert and records ``active``, ``revoked``, ``suspended`` or ``unknown`` — which is
    how a re-upsert after a revocation "notifies" the wallet.
``GET /ims/ob/v3p0/credentials`` (getCredentials)
    ``{"compactJwsStrings": [...]}`` with ``X-Total-Count``; ``limit``/``offset``.
``GET /v1/credentials`` (not OB 3.0: inspection for tests and the demo)
    ``[{id, status, code, upserts, receivedAt, updatedAt}]``.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from cryptography import x509
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from connectors.status.client import HttpStatusResolver
from connectors.status.server import running_app
from connectors.wallet.destination import CREDENTIALS_PATH
from hub.crypto.devca import generate_dev_keys
from hub.crypto.jwks import HttpKeyResolver
from hub.crypto.keys import load_certificates
from hub.crypto.verify import check_status, verify_credential
from hub.errors import VerificationError
from hub.settings import load_settings

DEV_WALLET_TOKEN: Final = "dev-wallet-token"
PROBLEM: Final = "application/problem+json"


@dataclass
class HeldCredential:
    """What the host holds for one credential id."""

    id: str
    token: str
    status: str
    code: str
    upserts: int
    received_at: str
    updated_at: str

    def summary(self) -> dict[str, Any]:
        """The inspection view (``GET /v1/credentials``)."""
        return {
            "id": self.id,
            "status": self.status,
            "code": self.code,
            "upserts": self.upserts,
            "receivedAt": self.received_at,
            "updatedAt": self.updated_at,
        }


def _problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status, headers=headers, media_type=PROBLEM)


def _status_of(
    credential: dict[str, Any],
    anchors: Sequence[x509.Certificate],
    resolver: HttpStatusResolver,
    keys: HttpKeyResolver,
) -> tuple[str, str]:
    """(held status, verifier code) of a verified credential's status entry."""
    try:
        checked = check_status(credential, anchors, resolver, key_resolver=keys)
    except VerificationError as exc:
        held = {"revoked": "revoked", "suspended": "suspended"}.get(exc.code, "unknown")
        return held, exc.code
    return ("active", "ok") if checked else ("active", "no-status")


def create_wallet_app(
    token: str | None,
    anchors: Sequence[x509.Certificate],
    *,
    check_status: bool = True,
) -> FastAPI:
    """The wallet host application (see the module docstring); ``token`` None: no auth."""
    app = FastAPI(title="mchub test wallet host (Open Badges 3.0 API subset)", version="1")
    held: dict[str, HeldCredential] = {}
    lock = threading.Lock()
    status_resolver = HttpStatusResolver() if check_status else None
    key_resolver = HttpKeyResolver()
    #: whoever runs the app closes them when the server has stopped
    app.state.status_resolver = status_resolver
    app.state.key_resolver = key_resolver

    def authorised(request: Request) -> bool:
        if token is None:
            return True
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)

    @app.post(CREDENTIALS_PATH, summary="upsertCredential")
    async def upsert(request: Request) -> Response:
        if not authorised(request):
            return _problem(401, "Unauthorized", "a valid bearer token is required")
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "text/plain":
            return _problem(
                415,
                "Unsupported Media Type",
                "send the credential as a VC-JWT compact JWS with Content-Type text/plain",
            )
        body = (await request.body()).decode("utf-8", "replace").strip()
        verdict = await run_in_threadpool(  # the key fetch blocks: off the loop
            verify_credential, body, anchors, key_resolver=key_resolver
        )
        if not verdict.valid or verdict.credential is None:
            return _problem(400, "Invalid credential", verdict.reason, code=verdict.code)
        cred_id = verdict.credential.get("id")
        if not isinstance(cred_id, str) or not cred_id:
            return _problem(400, "Invalid credential", "the credential has no id", code="malformed")
        status, code = "active", "not-checked"
        if status_resolver is not None:
            status, code = await run_in_threadpool(  # the status fetch blocks: off the loop
                _status_of, verdict.credential, anchors, status_resolver, key_resolver
            )
        now = datetime.now(UTC).isoformat()
        with lock:
            before = held.get(cred_id)
            held[cred_id] = HeldCredential(
                cred_id,
                body,
                status,
                code,
                (before.upserts if before else 0) + 1,
                before.received_at if before else now,
                now,
            )
        return Response(
            body,
            200 if before else 201,
            headers={"Location": f"{CREDENTIALS_PATH}/{quote(cred_id, safe='')}"},
            media_type="text/plain",
        )

    @app.get(CREDENTIALS_PATH, summary="getCredentials")
    def get_credentials(request: Request, limit: int = 100, offset: int = 0) -> Response:
        if not authorised(request):
            return _problem(401, "Unauthorized", "a valid bearer token is required")
        with lock:
            tokens = [h.token for h in held.values()]
        page = tokens[max(offset, 0) : max(offset, 0) + max(limit, 1)]
        return JSONResponse(
            {"compactJwsStrings": page}, headers={"X-Total-Count": str(len(tokens))}
        )

    @app.get("/v1/credentials", summary="What the host holds (tests, demo)")
    def inspect(request: Request) -> Response:
        if not authorised(request):
            return _problem(401, "Unauthorized", "a valid bearer token is required")
        with lock:
            return JSONResponse([h.summary() for h in held.values()])

    return app


def dev_trust_anchors() -> list[x509.Certificate]:
    """The dev CA of ``<data_dir>/keys`` (made on first use), the hub's dev seal anchor."""
    paths = generate_dev_keys(load_settings().data_dir / "keys")
    return load_certificates(paths.ca_cert)


@contextmanager
def running_wallet_host(
    token: str | None = DEV_WALLET_TOKEN,
    *,
    trust_anchors: Sequence[x509.Certificate] | Path | None = None,
    check_status: bool = True,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[str]:
    """Run the wallet host in a background thread; yields its base URL.

    ``trust_anchors``: certificates or a PEM file (default: the dev CA in
    ``<data_dir>/keys``).
    """
    if trust_anchors is None:
        anchors: Sequence[x509.Certificate] = dev_trust_anchors()
    elif isinstance(trust_anchors, Path):
        anchors = load_certificates(trust_anchors)
    else:
        anchors = trust_anchors
    app = create_wallet_app(token, anchors, check_status=check_status)
    try:
        with running_app(app, name="mchub-wallet-host", host=host, port=port) as url:
            yield url
    finally:
        if app.state.status_resolver is not None:
            app.state.status_resolver.close()
        app.state.key_resolver.close()

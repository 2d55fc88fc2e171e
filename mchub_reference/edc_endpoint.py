"""A small EDC wallet deposit endpoint for tests and the demo.

Implements the deposit calls of the EDC wallet API on a real HTTP server:

``POST /v1/wallets/{userId}/credentials``, ``POST /v1/wallets/email/{email}/credentials``
    ``multipart/form-data`` with the file part ``_credential``: a sealed credential (JWS
    JSON whose payload is the ELM credential) or an unsealed JSON-LD credential.
    ``401`` without the bearer token (when one is configured); ``404`` when there is no
    such wallet; ``400`` (problem+json) when the body is not multipart, lacks
    ``_credential``, is not JSON, is not a ``EuropeanDigitalCredential`` with an ``id``,
    or — with trust anchors configured — its seal does not verify (the verifier's reason
    code is in ``code``: the same :func:`~hub.crypto.jades.verify_seal` rules as
    everywhere, ``iat``/``sigT``, chain to the anchor and, with ``check_revocation``, the
    signing certificate against the CRL its distribution point names, fetched over HTTP
    on every deposit — ``certificate-revoked``, ``revocation-unknown``); ``409`` when the
    wallet already holds a credential with that id; ``201`` with ``{"id", "walletUserId"}``
    and a ``Location`` otherwise.
``POST /v1/wallets`` ``{"userId", "email"}``
    creates a wallet (``201``; ``409`` when the user id exists).
``GET /v1/wallets/{userId}/credentials``
    the wallet's credentials ``[{id, sealed, signer, receivedAt}]`` (inspection).
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from cryptography import x509
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from connectors.edc.multipart import parse_multipart
from connectors.status.client import fetch_crl
from connectors.status.server import running_app
from hub.crypto.jades import RevocationCheck, verify_seal
from hub.crypto.keys import load_certificates
from hub.crypto.pki import crl_revocation_check
from hub.errors import MultipartError, VerificationError

PROBLEM: Final = "application/problem+json"
CREDENTIAL_PART: Final = "_credential"


def _problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status, headers=headers, media_type=PROBLEM)


class EdcWallets:
    """The endpoint's state: wallets (user id → e-mail) and their credentials."""

    def __init__(self, wallets: Mapping[str, str | None], *, auto_create: bool) -> None:
        self.emails: dict[str, str | None] = dict(wallets)
        self.credentials: dict[str, dict[str, dict[str, Any]]] = {u: {} for u in wallets}
        self.auto_create = auto_create
        self.lock = threading.Lock()

    def user_of_email(self, email: str) -> str | None:
        """The wallet user id registered with ``email`` (case-insensitive)."""
        for user, known in self.emails.items():
            if known is not None and known.lower() == email.lower():
                return user
        return None

    def create(self, user_id: str, email: str | None) -> bool:
        """Create a wallet; False when the user id exists."""
        with self.lock:
            if user_id in self.emails:
                return False
            self.emails[user_id] = email
            self.credentials[user_id] = {}
            return True


def _read_credential(
    data: bytes,
    anchors: Sequence[x509.Certificate] | None,
    revocation: RevocationCheck | None = None,
) -> tuple[dict[str, Any], bool, str | None]:
    """The credential in an uploaded file, whether it was sealed, and the seal's signer."""
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise VerificationError("malformed", f"the file is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise VerificationError("malformed", "the file is not a JSON object")
    sealed = "signatures" in doc and "payload" in doc
    signer: str | None = None
    if sealed:
        if anchors:
            info = verify_seal(doc, anchors, revocation=revocation)
            credential, signer = info.credential, info.certificate.subject.rfc4514_string()
        else:
            try:
                credential = json.loads(doc["payload"])
            except (TypeError, ValueError) as exc:
                raise VerificationError("malformed", "the seal's payload is not JSON") from exc
    elif anchors:
        raise VerificationError("not-signed", "this wallet accepts sealed credentials only")
    else:
        credential = doc
    if not isinstance(credential, dict):
        raise VerificationError("malformed", "the credential is not a JSON object")
    types = credential.get("type")
    if not isinstance(types, list) or "EuropeanDigitalCredential" not in types:
        raise VerificationError("malformed", "not a EuropeanDigitalCredential")
    if not isinstance(credential.get("id"), str):
        raise VerificationError("malformed", "the credential has no id")
    return credential, sealed, signer


def create_edc_app(
    wallets: Mapping[str, str | None] | None = None,
    *,
    token: str | None = None,
    anchors: Sequence[x509.Certificate] | None = None,
    auto_create: bool = False,
    check_revocation: bool = False,
) -> FastAPI:
    """The endpoint application; ``wallets`` maps user ids to e-mails (or None).

    ``auto_create`` makes a deposit to an unknown user id create its wallet (demo);
    otherwise it is a ``404`` as in EDC. ``check_revocation`` (with ``anchors``): check
    the seal certificate against the CRL its distribution point names, fetched on every
    deposit (a seal certificate without one is refused, as EDC's validation policy does).
    """
    app = FastAPI(title="mchub test EDC wallet endpoint (deposit subset)", version="1")
    state = EdcWallets(wallets or {}, auto_create=auto_create)
    app.state.wallets = state
    revocation = crl_revocation_check(fetch_crl) if check_revocation else None

    def authorised(request: Request) -> bool:
        if token is None:
            return True
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)

    async def deposit(user_id: str, request: Request) -> Response:
        try:
            parts = parse_multipart(await request.body(), request.headers.get("content-type", ""))
        except MultipartError as exc:
            return _problem(400, "Bad Request", f"multipart/form-data expected: {exc}")
        files = [p for p in parts if p.name == CREDENTIAL_PART]
        if len(files) != 1:
            return _problem(400, "Bad Request", f"exactly one {CREDENTIAL_PART} part expected")
        try:
            credential, sealed, signer = await run_in_threadpool(
                _read_credential, files[0].data, anchors, revocation
            )
        except VerificationError as exc:
            return _problem(400, "Invalid credential", exc.message, code=exc.code)
        cred_id = str(credential["id"])
        with state.lock:
            held = state.credentials[user_id]
            if cred_id in held:
                return _problem(409, "Conflict", f"the wallet already holds {cred_id}")
            held[cred_id] = {
                "id": cred_id,
                "sealed": sealed,
                "signer": signer,
                "receivedAt": datetime.now(UTC).isoformat(),
                "file": files[0].data.decode("utf-8", "replace"),
            }
        return JSONResponse(
            {"id": cred_id, "walletUserId": user_id},
            201,
            headers={
                "Location": f"/v1/wallets/{quote(user_id, safe='')}/credentials/"
                f"{quote(cred_id, safe='')}"
            },
        )

    def known(user_id: str) -> bool:
        if user_id in state.emails:
            return True
        return state.auto_create and (state.create(user_id, None) or user_id in state.emails)

    @app.post("/v1/wallets/{user_id}/credentials", summary="Deposit a credential (by user id)")
    async def deposit_by_user(user_id: str, request: Request) -> Response:
        if not authorised(request):
            return _problem(401, "Unauthorized", "a valid bearer token is required")
        if not known(user_id):
            return _problem(404, "Not Found", f"no wallet for user {user_id}")
        return await deposit(user_id, request)

    @app.post("/v1/wallets/email/{email}/credentials", summary="Deposit a credential (by e-mail)")
    async def deposit_by_email(email: str, request: Request) -> Response:
        if not authorised(request):
            return _problem(401, "Unauthorized", "a valid bearer token is required")
        user_id = state.user_of_email(email)
        if user_id is None:
            return _problem(404, "Not Found", f"no wallet for {email}")
        return await deposit(user_id, request)

    @app.post("/v1/wallets", summary="Create a wallet")
    async def create_wallet(request: Request) -> Response:
        if not authorised(request):
            return _problem(401, "Unauthorized", "a valid bearer token is required")
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("userId"), str):
            return _problem(400, "Bad Request", "a JSON object with userId is expected")
        email = body.get("email")
        if not state.create(body["userId"], email if isinstance(email, str) else None):
            return _problem(409, "Conflict", f"wallet {body['userId']} exists")
        return JSONResponse({"userId": body["userId"], "email": email}, 201)

    @app.get("/v1/wallets/{user_id}/credentials", summary="A wallet's credentials")
    def list_credentials(user_id: str, request: Request) -> Response:
        if not authorised(request):
            return _problem(401, "Unauthorized", "a valid bearer token is required")
        if user_id not in state.emails:
            return _problem(404, "Not Found", f"no wallet for user {user_id}")
        with state.lock:
            items = [
                {k: v for k, v in c.items() if k != "file"}
                for c in state.credentials[user_id].values()
            ]
        return JSONResponse(items)

    return app


@contextmanager
def running_edc_endpoint(
    wallets: Mapping[str, str | None] | None = None,
    *,
    token: str | None = None,
    trust_anchors: Sequence[x509.Certificate] | Path | None = None,
    auto_create: bool = False,
    check_revocation: bool = False,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[str]:
    """Run the EDC endpoint in a background thread; yields its base URL.

    ``wallets``: user id → e-mail (or None). ``trust_anchors`` (certificates or a PEM
    file): verify seals on deposit and refuse unsealed files; None accepts any
    well-formed credential. ``check_revocation``: also check the seal certificate's CRL
    (see :func:`create_edc_app`).
    """
    anchors = load_certificates(trust_anchors) if isinstance(trust_anchors, Path) else trust_anchors
    app = create_edc_app(
        wallets,
        token=token,
        anchors=anchors,
        auto_create=auto_create,
        check_revocation=check_revocation,
    )
    with running_app(app, name="mchub-edc-endpoint", host=host, port=port) as url:
        yield url

"""The gateway's HTTP application (FastAPI): its routes and its OpenAPI document.

:func:`create_app` builds the application over a :class:`~hub.gateway.runtime.Gateway`
(the runtime); :func:`openapi_document` is the published contract
(``docs/openapi/gateway.json``). The wire models and problem documents are in
:mod:`hub.gateway.wire`; running it (uvicorn, TLS, threads) in :mod:`hub.gateway.server`.

Checks of ``POST /v1/feeds/{feed}/events``, cheapest first; each refusal is an RFC 9457
problem and writes nothing: unknown feed (404), authentication (401), rate limit (429),
content type (415), size on the raw bytes (413), ``Idempotency-Key`` syntax (400), the
normaliser's parse verdict (400 for ``ENCODING``, ``MALFORMED``, ``XML_DOCTYPE``), the
issuer registry (403, ``ISSUER_NOT_AUTHORISED``), ``Idempotency-Key`` reuse (422 other
body, 409 still in flight). Then the body is appended to the source topic and the answer
is ``202`` with a receipt id, or with ``Prefer: wait=N`` the §2 answer once decided.

No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations.
"""

import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Final

from fastapi import Depends, FastAPI, Header, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.adapters.http_server import (
    openapi_text,
)
from hub.errors import ConfigurationError, RequestRefused
from hub.gateway.idempotency import SubmissionStore
from hub.gateway.receipts import Verdict
from hub.gateway.runtime import Gateway, prefer_wait
from hub.gateway.wire import PROBLEM_MEDIA_TYPE, Health, Problem, ReceiptView, Submitted, problem
from hub.settings import Settings
from hub.topics import FEEDS

log = logging.getLogger(__name__)

API_VERSION: Final = "1.0.0"

_IDEMPOTENCY_KEY_RE: Final = re.compile(r"[\x21-\x7e]{1,255}")

DESCRIPTION = """\
The ingestion gateway of Hungary's micro-credential hub: the three sector feeds of the
feed contract (v1) over HTTP, for systems that cannot produce to Kafka.

**Submit.** `POST /v1/feeds/{feed}/events` with exactly the payload the feed contract
defines (§2): `he` one JSON event (`application/json`, ≤ 1 MiB), `vet` one XML document
(`application/xml` or `text/xml`, ≤ 1 MiB), `al` one CSV file (`text/csv; charset=utf-8`,
≤ 8 MiB, optional `X-File-Name`). The body is appended byte for byte to the feed's Kafka
source topic once Kafka acknowledged it (acks=all); the answer is `202 Accepted` with a
receipt id and `Location: /v1/receipts/{id}`. HTTP and Kafka are the same path: an event
sent by Kafka and again by HTTP is a duplicate (§9).

**Wait for the verdict.** With `Prefer: wait=N` (RFC 7240, N ≤ 30 s) the gateway waits for
the stream's decision and answers as the feed contract §2 does: `he`/`vet` `200` for
accept, hold and duplicate, `409` for conflict, `400` for a rejection; `al` `400` for a
rejected file, else `200` with the per-row report. Undecided after N seconds: `202`.

**Read the verdict.** `GET /v1/receipts/{id}` returns `status` (`pending`, `decided`),
`fate` (accepted, rejected, held, duplicate, conflict; `al`: processed or rejected) and
the §2 outcome report. Only the source that submitted an event can read its receipt.

**Authentication.** `Authorization: Bearer mchub.<key id>.<secret>` (per-source API keys,
several active per source), and/or a TLS client certificate registered for the source.
No anonymous writes.

**Authorisation.** The issuer registry says which awarding bodies each source may issue,
revoke and report enrolments for, per sector. An event for any other awarding body is
refused with `403` (rule `ISSUER_NOT_AUTHORISED`) and nothing is written.

**Idempotency.** `Idempotency-Key` (≤ 255 visible ASCII characters): the same key with
the same body returns the first receipt id (`Idempotent-Replayed: true`) and writes
nothing; the same key with another body is `422`; while the first request is still being
written, `409`. Keys are remembered per source for 72 hours.

**Errors** are RFC 9457 problem documents (`application/problem+json`) with a `type` URI
`urn:mchub:problem:…`, and, where a feed rule is involved, `rules: [{rule, path,
message}]`: `400` malformed body (`ENCODING`, `MALFORMED`, `XML_DOCTYPE`) or bad header,
`401`, `403`, `404` unknown feed or receipt, `413` (`PAYLOAD_TOO_LARGE`, checked on the raw
bytes: only above the feed's limit; a body within it is taken whole), `415` wrong content
type, `422`, `429` with `Retry-After` (token bucket per source), `503` with `Retry-After`
only when Kafka does not acknowledge (a retry can succeed). A refused request writes
nothing. A request head must arrive within 10 s and its body within 120 s (then `408`).
"""

def _doc(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}

# ---------------------------------------------------------------------------- the app


def create_app(gateway: Gateway, *, manage_lifecycle: bool = True) -> FastAPI:
    """The gateway's FastAPI application; ``manage_lifecycle`` starts Kafka clients."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if not manage_lifecycle:
            yield
            return
        async with gateway.running():
            yield

    app = FastAPI(title="mchub ingestion gateway", version=API_VERSION, description=DESCRIPTION,
                  docs_url="/docs", redoc_url=None, lifespan=lifespan)
    bearer = HTTPBearer(auto_error=False, description="A source's API key: mchub.<id>.<secret>")
    feed_param = PathParam(description="Feed id: he, vet or al.",
                           json_schema_extra={"enum": list(FEEDS)})

    @app.exception_handler(RequestRefused)
    async def _refusal(request: Request, exc: RequestRefused) -> JSONResponse:
        return problem(exc.status, exc.slug, exc.title, detail=exc.detail,
                       instance=request.url.path, headers=exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg"))}
                  for e in exc.errors()]
        return problem(400, "invalid-request", "Invalid request",
                       detail="a header or parameter is invalid", instance=request.url.path,
                       errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = "not-found" if exc.status_code == 404 else "invalid-request"
        return problem(exc.status_code, slug, str(exc.detail), instance=request.url.path,
                       headers=dict(exc.headers) if exc.headers else None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("gateway: unexpected error on %s", request.url.path)
        return problem(500, "internal", "Internal error", instance=request.url.path)

    def verdict_response(receipt_id: str, feed: str, verdict: Verdict,
                         submitted_at: str | None, path: str) -> JSONResponse:
        body = {**verdict.body(receipt_id, feed), "submittedAt": submitted_at}
        status = verdict.http_status or 200
        if status == 200:
            return JSONResponse(body, status_code=200)
        rules = (verdict.report or {}).get("rules") or \
            ((verdict.report or {}).get("file") or {}).get("rules")
        if status == 409:
            return problem(409, "conflict", "Conflict",
                           detail="same key as an earlier event but different content; the "
                                  "first version stays (feed contract §9)", instance=path,
                           receiptId=receipt_id, report=verdict.report, rules=rules)
        return problem(status, "rejected", "Rejected", detail="the event breaks feed rules",
                       instance=path, receiptId=receipt_id, report=verdict.report, rules=rules)

    @app.post(
        "/v1/feeds/{feed}/events", status_code=202, tags=["feeds"], operation_id="postEvents",
        summary="Submit one he/vet event or one al CSV file",
        response_model=Submitted,
        openapi_extra={"requestBody": {"required": True, "content": {
            "application/json": {"schema": {"type": "object", "description": "he: one event "
                                             "(feed contract §4)"}},
            "application/xml": {"schema": {"type": "string", "description": "vet: one XML "
                                            "document (feed contract §5)"}},
            "text/xml": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string", "description": "al: one CSV file, UTF-8 "
                                     "with BOM, ';' (feed contract §6)"}},
        }}},
        responses={
            200: {"model": ReceiptView, "description": "With Prefer: wait — decided: accept, "
                  "hold, duplicate (he/vet); the per-row report (al)."},
            202: {"description": "Appended to the source topic; the stream decides next."},
            400: _doc("Malformed body (ENCODING, MALFORMED, XML_DOCTYPE), an invalid header, or "
                      "with Prefer: wait a rejection (the report is in the problem)."),
            401: _doc("No valid API key or client certificate."),
            403: _doc("The source may not act for the event's awarding body "
                      "(ISSUER_NOT_AUTHORISED)."),
            404: _doc("Unknown feed."),
            409: _doc("Idempotency-Key in use by a request still being written, or with "
                      "Prefer: wait a conflict (§9)."),
            413: _doc("Body over the feed's limit (PAYLOAD_TOO_LARGE)."),
            415: _doc("Content type not accepted for this feed."),
            422: _doc("Idempotency-Key reused with a different body."),
            429: _doc("Rate limit of the source exceeded; see Retry-After."),
            500: _doc("Kafka refused a body within the feed's limit as too large (the "
                      "source topic is configured below the contract); nothing was "
                      "appended; a retry does not help."),
            503: _doc("Kafka did not acknowledge; nothing was appended; see Retry-After."),
        },
    )
    async def post_events(
        request: Request,
        feed: Annotated[str, feed_param],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        idempotency_key: Annotated[str | None, Header(
            alias="Idempotency-Key", description="Client key: a replay with the same body "
                                                 "returns the first receipt.")] = None,
        prefer: Annotated[str | None, Header(
            alias="Prefer", description="wait=N: wait up to N seconds (max 30) for the "
                                        "verdict (RFC 7240).")] = None,
        file_name: Annotated[str | None, Header(
            alias="X-File-Name", description="al: the file name (logging only).")] = None,
        traceparent: Annotated[str | None, Header(
            alias="traceparent", description="W3C trace context, passed on.")] = None,
    ) -> JSONResponse:
        if feed not in FEEDS:
            raise RequestRefused(404, "unknown-feed", "Unknown feed",
                                 f"no feed {feed!r}; the feeds are {', '.join(FEEDS)}")
        principal = gateway.principal(request, credentials)
        content_type = request.headers.get("content-type")
        gateway.check_media_type(feed, content_type)
        body = await gateway.read_body(request, feed)
        if idempotency_key is not None and not _IDEMPOTENCY_KEY_RE.fullmatch(idempotency_key):
            raise RequestRefused(400, "invalid-request", "Invalid Idempotency-Key",
                                 "1 to 255 visible ASCII characters")
        result = await gateway.normalised(feed, body)
        gateway.authorise(principal, result)
        receipt_id, replayed = await gateway.append(
            principal=principal, feed=feed, body=body, result=result,
            idempotency_key=idempotency_key, content_type=content_type or "",
            file_name=file_name, traceparent=traceparent)
        headers = {"Location": f"/v1/receipts/{receipt_id}"}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        wait = prefer_wait(prefer, gateway.config.max_wait_seconds)
        if wait > 0:
            verdict = await gateway.follower.wait(receipt_id, feed, wait)
            if verdict.status == "decided":
                response = verdict_response(receipt_id, feed, verdict, None, request.url.path)
                response.headers.update(headers)
                return response
        return JSONResponse({"receiptId": receipt_id, "feed": feed, "status": "pending",
                             "receipt": headers["Location"]}, status_code=202, headers=headers)

    @app.get(
        "/v1/receipts/{receiptId}", tags=["receipts"], operation_id="getReceipt",
        summary="The stream's verdict for a submission", response_model=ReceiptView,
        responses={401: _doc("No valid API key or client certificate."),
                   404: _doc("No receipt with this id for the calling source."),
                   429: _doc("Rate limit of the source exceeded; see Retry-After.")},
        description="`pending` until the stream has decided (then `Retry-After: 1`); "
                    "`decided` with the fate and the §2 outcome report. A held revocation is "
                    "`decided` with fate `held` and `final: false` until it is released.",
    )
    async def get_receipt(
        request: Request,
        receipt_id: Annotated[str, PathParam(alias="receiptId", max_length=100,
                                             description="Receipt id from the POST.")],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> JSONResponse:
        principal = gateway.principal(request, credentials)
        submission = gateway.store.get(receipt_id)
        if submission is None or submission.source != principal.source.id \
                or submission.state != "written":
            raise RequestRefused(404, "unknown-receipt", "Unknown receipt",
                                 f"no receipt {receipt_id!r} for source {principal.source.id!r}")
        verdict = gateway.follower.verdict(receipt_id, submission.feed)
        response = verdict_response(receipt_id, submission.feed, verdict,
                                    submission.submitted_at, request.url.path)
        response.status_code = 200
        if verdict.status == "pending":
            response.headers["Retry-After"] = "1"
        if response.media_type == PROBLEM_MEDIA_TYPE:  # the verdict, not an error of GET
            response = JSONResponse({**verdict.body(receipt_id, submission.feed),
                                     "submittedAt": submission.submitted_at})
        return response

    @app.get("/healthz", tags=["operations"], operation_id="health", response_model=Health,
             summary="Liveness and the issuer registry version in force")
    async def healthz() -> Health:
        return Health(status="ok", registry_version=gateway.registry.current().version)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description,
                              routes=app.routes)
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            schemas["Problem"] = Problem.model_json_schema(
                ref_template="#/components/schemas/{model}")
            schemas.update(Problem.model_json_schema(
                ref_template="#/components/schemas/{model}").pop("$defs", {}))
            schemas["Problem"].pop("$defs", None)
            _validation_errors_are_400(doc)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


# ---------------------------------------------------------------------------- OpenAPI


def _validation_errors_are_400(doc: dict[str, Any]) -> None:
    """FastAPI documents parameter errors as 422; this gateway answers them with 400."""
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            default = responses.get("422", {})
            ref = json.dumps(default)
            if "HTTPValidationError" in ref:
                del responses["422"]
                responses.setdefault("400", _doc("A header or parameter is invalid."))
    schemas = doc.get("components", {}).get("schemas", {})
    if "HTTPValidationError" not in json.dumps(doc.get("paths", {})):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)


def openapi_document() -> dict[str, Any]:
    """The gateway's OpenAPI document, generated from the application (no I/O)."""
    registry = _EmptyRegistry()
    gateway = Gateway(Settings(), registry,  # type: ignore[arg-type]
                      store=SubmissionStore(":memory:"))
    try:
        return create_app(gateway, manage_lifecycle=False).openapi()
    finally:
        gateway.store.close()


class _EmptyRegistry:
    """Stands in for a registry file when only the OpenAPI document is wanted."""

    def current(self) -> Any:  # pragma: no cover - never called while rendering
        raise ConfigurationError("no issuer registry")


def render_openapi() -> str:
    """The OpenAPI document as committed (``mchub … openapi`` writes it)."""
    return openapi_text(openapi_document())

"""The gateway's HTTP application (FastAPI) and how it runs.

:class:`Gateway` holds the runtime (issuer registry, submissions store, rate limiter,
Kafka producer, receipts follower); :func:`create_app` builds the FastAPI application
over it; :func:`running_gateway` runs it on a loopback port in a background thread (tests,
benchmarks); :func:`serve` runs it in the foreground (``mchub gateway serve``);
:func:`openapi_document` is the published contract (``docs/openapi/gateway.json``).

Checks of ``POST /v1/feeds/{feed}/events``, cheapest first; each refusal is an RFC 9457
problem and writes nothing: unknown feed (404), authentication (401), rate limit (429),
content type (415), size on the raw bytes (413), ``Idempotency-Key`` syntax (400), the
normaliser's parse verdict (400 for ``ENCODING``, ``MALFORMED``, ``XML_DOCTYPE``), the
issuer registry (403, ``ISSUER_NOT_AUTHORISED``), ``Idempotency-Key`` reuse (422 other
body, 409 still in flight). Then the body is appended to the source topic and the answer
is ``202`` with a receipt id, or with ``Prefer: wait=N`` the §2 answer once decided.

No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations.
"""

import asyncio
import hashlib
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated, Any, Final

import uvicorn
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError
from fastapi import Depends, FastAPI, Header, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.adapters.http_server import (
    ReadTimeoutProtocol,
    exit_cleanly_on_sigterm,
    openapi_text,
    read_timeout_protocol,
    serving_in_thread,
)
from hub.adapters.kafka import make_producer
from hub.authz import SOURCE_HEADER, RegistryFile
from hub.errors import ConfigurationError, RequestRefused
from hub.gateway.auth import Principal, authenticate
from hub.gateway.config import GatewaySettings
from hub.gateway.idempotency import Submission, SubmissionStore, now_iso
from hub.gateway.ratelimit import RateLimiter
from hub.gateway.receipts import RECEIPT_PREFIX, ReceiptFollower, Verdict
from hub.normalise import MessageResult, normalise
from hub.normalise.common import ENCODING, MALFORMED, MAX_BYTES, PAYLOAD_TOO_LARGE, XML_DOCTYPE
from hub.publish import routing_key
from hub.settings import Settings
from hub.stream.ingest import RECEIPT_ID_HEADER
from hub.topics import FEEDS, SOURCE_TOPICS, source_record_limit

log = logging.getLogger(__name__)

API_VERSION: Final = "1.0.0"
PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
#: accepted media types per feed (feed contract §2); a charset, if given, must be UTF-8
MEDIA_TYPES: Final[dict[str, tuple[str, ...]]] = {
    "he": ("application/json",),
    "vet": ("application/xml", "text/xml"),
    "al": ("text/csv",),
}
#: normaliser verdicts that mean "cannot be read at all": refused with 400, nothing written
UNREADABLE: Final = frozenset({ENCODING, MALFORMED, XML_DOCTYPE})
#: bodies above this are normalised in a worker thread (keeps the event loop responsive)
THREAD_THRESHOLD: Final = 64 * 1024
#: ``Retry-After`` when Kafka does not acknowledge in time
BROKER_RETRY_AFTER: Final = 5
PRODUCE_TIMEOUT_SECONDS: Final = 30.0
_IDEMPOTENCY_KEY_RE: Final = re.compile(r"[\x21-\x7e]{1,255}")
_WAIT_RE: Final = re.compile(r"(?:^|[,;\s])wait\s*=\s*\"?([0-9]+)\"?", re.IGNORECASE)
_TRACEPARENT_RE: Final = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


def _ptype(slug: str) -> str:
    return f"urn:mchub:problem:{slug}"


#: problem type URIs (RFC 9457 ``type``)
PROBLEM_TYPES: Final[dict[str, str]] = {
    slug: _ptype(slug)
    for slug in (
        "unknown-feed", "unauthenticated", "rate-limited", "unsupported-media-type",
        "payload-too-large", "malformed", "issuer-not-authorised", "invalid-request",
        "idempotency-key-reused", "idempotency-key-in-use", "broker-unavailable",
        "rejected", "conflict", "unknown-receipt", "not-found", "internal",
    )
}

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


# ---------------------------------------------------------------------------- models


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class Rule(_Wire):
    """One broken rule: the feed contract's rule code, the source field path, a message."""

    rule: str = Field(description="Rule code (feed contract §8, or ISSUER_NOT_AUTHORISED).")
    path: str = Field(description="Field path in the source payload.")
    message: str = Field(description="Human explanation.")


class Problem(_Wire):
    """An RFC 9457 problem document (``application/problem+json``)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="URI of the problem type (urn:mchub:problem:…).")
    title: str = Field(description="Short summary of the problem type.")
    status: int = Field(description="HTTP status code.")
    detail: str | None = Field(None, description="Explanation of this occurrence.")
    instance: str | None = Field(None, description="The request path.")
    rules: list[Rule] | None = Field(None, description="Broken rules with field paths.")
    receipt_id: str | None = Field(None, alias="receiptId",
                                   description="Receipt id, when the event was appended.")
    report: dict[str, Any] | None = Field(None, description="The §2 outcome report, if any.")


class Submitted(_Wire):
    """Answer to an appended submission."""

    receipt_id: str = Field(alias="receiptId",
                            description="Id of the receipt; GET /v1/receipts/{receiptId}.")
    feed: str = Field(description="he, vet or al.")
    status: str = Field(description="pending: the stream has not decided yet.")
    receipt: str = Field(description="Path of the receipt resource.")


class ReceiptView(_Wire):
    """The stream's verdict for one submission."""

    receipt_id: str = Field(alias="receiptId")
    feed: str
    status: str = Field(description="pending or decided.")
    fate: str | None = Field(
        None, description="accepted, rejected, held, duplicate, conflict (al: processed, "
                          "rejected); null while pending.")
    final: bool = Field(description="False while pending or held (a held revocation).")
    report: dict[str, Any] | None = Field(
        None, description="Outcome report of the feed contract §2: {feed, outcome, rules, "
                          "idempotencyKey}; al: {feed, file: {outcome, rules}, rows: [...]}.")
    submitted_at: str | None = Field(None, alias="submittedAt")


class Health(_Wire):
    """Liveness."""

    status: str
    registry_version: str = Field(alias="registryVersion")


# ---------------------------------------------------------------------------- problems




def problem(status: int, slug: str, title: str, *, detail: str | None = None,
            instance: str | None = None, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    """An RFC 9457 ``application/problem+json`` response."""
    body: dict[str, Any] = {"type": PROBLEM_TYPES[slug], "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _doc(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


# ---------------------------------------------------------------------------- runtime


class Gateway:
    """The gateway's runtime: registry, store, limiter, producer and receipts follower."""

    def __init__(self, settings: Settings, config: GatewaySettings, registry: RegistryFile,
                 *, store: SubmissionStore | None = None) -> None:
        self.settings = settings
        self.config = config
        self.registry = registry
        db = config.db or settings.data_dir / "gateway.db"
        self.store = store or SubmissionStore(db)
        self.limiter = RateLimiter()
        self.follower = ReceiptFollower(
            settings, lookback_seconds=config.receipts_lookback_hours * 3600,
            capacity=config.receipts_cache)
        self._producer: AIOKafkaProducer | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator["Gateway"]:
        """Start the Kafka clients; stop them (and close the store) at the end."""
        self.store.prune(self.config.idempotency_ttl_hours)
        producer = make_producer(self.settings, **self.producer_options())
        try:
            await asyncio.wait_for(producer.start(), 30)
        except Exception as exc:
            await producer.stop()
            raise ConfigurationError(
                f"the gateway cannot reach Kafka at {self.settings.bootstrap}: {exc}") from exc
        try:
            await self.follower.start()
            self._producer = producer
            try:
                yield self
            finally:
                await self.follower.stop()
        finally:
            self._producer = None
            await producer.stop()
            self.store.close()

    def producer_options(self) -> dict[str, Any]:
        """The gateway producer's own options: its client id, and a request size for the
        largest feed payload (al, 8 MiB) plus key and headers (docs/limits.md)."""
        return {"client_id": f"{self.settings.client_id}-gateway",
                "max_request_size": max(source_record_limit(f, self.settings) for f in FEEDS)}

    @property
    def producer(self) -> AIOKafkaProducer:
        """The started producer."""
        if self._producer is None:
            raise RequestRefused(503, "broker-unavailable", "Kafka unavailable",
                                 "the gateway is not connected to Kafka",
                                 headers={"Retry-After": str(BROKER_RETRY_AFTER)})
        return self._producer

    # -- checks ---------------------------------------------------------------------------
    def principal(self, request: Request,
                  credentials: HTTPAuthorizationCredentials | None) -> Principal:
        """The authenticated caller (401 otherwise), after its rate limit (429)."""
        registry = self.registry.current()
        authorization = request.headers.get("authorization")
        subject = request.scope.get("extensions", {}).get("tls", {}).get("client_cert_subject")
        who = authenticate(registry, authorization, subject) if authorization or subject else None
        if who is None:
            raise RequestRefused(401, "unauthenticated", "Unauthenticated",
                                 "send a valid API key (Authorization: Bearer mchub.<id>.<secret>) "
                                 "or a registered client certificate",
                                 headers={"WWW-Authenticate": 'Bearer realm="mchub-gateway"'})
        limit = who.source.rate_limit
        rate = limit.requests_per_second if limit else self.config.rate_per_second
        burst = limit.burst if limit else self.config.rate_burst
        wait = self.limiter.check(who.source.id, rate, burst)
        if wait:
            raise RequestRefused(429, "rate-limited", "Too many requests",
                                 f"source {who.source.id!r} is limited to {rate:g} requests/s "
                                 f"(burst {burst})", headers={"Retry-After": str(wait)})
        return who

    @staticmethod
    def check_media_type(feed: str, content_type: str | None) -> None:
        """415 unless the content type is one of the feed's (charset UTF-8 if given)."""
        allowed = MEDIA_TYPES[feed]
        media, *params = (content_type or "").split(";")
        media = media.strip().lower()
        charset = next((p.split("=", 1)[1].strip().strip('"').lower() for p in params
                        if p.strip().lower().startswith("charset=")), None)
        if media not in allowed or (charset is not None and charset not in ("utf-8", "utf8")):
            raise RequestRefused(415, "unsupported-media-type", "Unsupported media type",
                                 f"feed {feed!r} takes {' or '.join(allowed)} (UTF-8), "
                                 f"not {content_type or 'a body without Content-Type'!r}")

    @staticmethod
    async def read_body(request: Request, feed: str) -> bytes:
        """The raw body, refused with 413 as soon as it exceeds the feed's limit."""
        limit = MAX_BYTES[feed]

        def too_large(size: int | str) -> RequestRefused:
            message = f"{size} bytes exceed the {feed} limit of {limit} bytes"
            return RequestRefused(413, "payload-too-large", "Payload too large", message,
                                  rules=[{"rule": PAYLOAD_TOO_LARGE, "path": "(payload)",
                                          "message": message}])

        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise too_large(int(declared))
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large(f"more than {limit}")
            chunks.append(chunk)
        return b"".join(chunks)

    async def normalised(self, feed: str, body: bytes) -> MessageResult:
        """The normaliser's verdict (400 when the body cannot be read at all)."""
        if len(body) > THREAD_THRESHOLD:
            result = await asyncio.to_thread(normalise, feed, body)
        else:
            result = normalise(feed, body)
        unreadable = [v for v in result.file_violations if v.rule in UNREADABLE]
        if not result.file_violations and len(result.items) == 1 and result.items[0].event is None:
            unreadable = [v for v in result.items[0].violations if v.rule in UNREADABLE]
        if unreadable:
            raise RequestRefused(400, "malformed", "Malformed body", unreadable[0].message,
                                 rules=[v.as_dict() for v in unreadable])
        return result

    def authorise(self, principal: Principal, result: MessageResult) -> None:
        """403 when any event names an awarding body the source may not act for."""
        registry = self.registry.current()
        refused = [v for item in result.items if item.event is not None
                   if (v := registry.authorise(principal.source.id, item.event)) is not None]
        if refused:
            log.warning("gateway: refused %d event(s) of source %s: %s", len(refused),
                        principal.source.id, refused[0].message)
            raise RequestRefused(403, "issuer-not-authorised",
                                 "Not authorised for this awarding body", refused[0].message,
                                 rules=[v.as_dict() for v in refused])

    # -- the write -------------------------------------------------------------------------
    async def append(self, *, principal: Principal, feed: str, body: bytes,
                     result: MessageResult, idempotency_key: str | None,
                     content_type: str, file_name: str | None,
                     traceparent: str | None) -> tuple[str, bool]:
        """Append the body to the source topic; ``(receipt id, replayed)``."""
        digest = hashlib.sha256(body).hexdigest()
        submission = Submission(
            receipt_id=f"{RECEIPT_PREFIX}{uuid.uuid4().hex}", source=principal.source.id,
            feed=feed, idempotency_key=idempotency_key, body_sha256=digest, state="writing",
            submitted_at=now_iso())
        existing = self.store.reserve(submission)
        if existing is not None:
            if existing.body_sha256 != digest or existing.feed != feed:
                raise RequestRefused(422, "idempotency-key-reused", "Idempotency-Key reused",
                                     "this Idempotency-Key was used for another request body; "
                                     "use a new key for a new request", receiptId=None)
            if existing.state != "written":
                raise RequestRefused(409, "idempotency-key-in-use", "Request in progress",
                                     "a request with this Idempotency-Key is still being written; "
                                     "retry shortly", headers={"Retry-After": "1"})
            return existing.receipt_id, True
        headers = [
            ("content-type", content_type.encode()),
            (RECEIPT_ID_HEADER, submission.receipt_id.encode()),
            (SOURCE_HEADER, principal.source.id.encode()),
        ]
        if file_name and feed == "al":
            headers.append(("file-name", file_name.encode("utf-8", "replace")[:255]))
        if traceparent and _TRACEPARENT_RE.fullmatch(traceparent.strip()):
            headers.append(("traceparent", traceparent.strip().encode()))
        topic = self.settings.topic(SOURCE_TOPICS[feed])
        try:
            producer = self.producer
            meta = await asyncio.wait_for(
                producer.send_and_wait(topic, body, key=kafka_key(feed, body, result),
                                       headers=headers),
                PRODUCE_TIMEOUT_SECONDS)
        except RequestRefused:
            self.store.release(submission.receipt_id)
            raise
        except (MessageSizeTooLargeError, RecordTooLargeError) as exc:
            # within the contract's limit, yet refused as too large: the source topic (or
            # the broker) is configured below the contract; a retry cannot fix that
            self.store.release(submission.receipt_id)
            log.error("gateway: Kafka refused %s as too large (%d bytes): %s; apply the "
                      "topic configuration (mchub topics apply)", submission.receipt_id,
                      len(body), exc)
            raise RequestRefused(
                500, "internal", "Source topic misconfigured",
                f"Kafka refused the {len(body)}-byte body as too large although it is within "
                "the feed's limit; nothing was appended (operators: the topic's "
                "max.message.bytes is below the contract's limit)") from exc
        except Exception as exc:
            self.store.release(submission.receipt_id)
            log.error("gateway: Kafka did not acknowledge %s: %s", submission.receipt_id, exc)
            raise RequestRefused(503, "broker-unavailable", "Kafka unavailable",
                                 f"Kafka did not acknowledge the write ({type(exc).__name__}); "
                                 "nothing was appended, retry later",
                                 headers={"Retry-After": str(BROKER_RETRY_AFTER)}) from exc
        self.store.written(submission.receipt_id, meta.topic, meta.partition, meta.offset)
        return submission.receipt_id, False


def kafka_key(feed: str, body: bytes, result: MessageResult) -> bytes | None:
    """The §2 Kafka key, from the normalised events when there are any."""
    for item in result.items:
        if item.event is not None:
            event = item.event
            if feed == "al":
                return event.awarding_body_id.encode()
            return f"{event.awarding_body_id}:{event.learner_id}".encode()
    return routing_key(feed, body)


def prefer_wait(header: str | None, cap: float) -> float:
    """Seconds asked for by ``Prefer: wait=N`` (RFC 7240), capped; 0 without it."""
    if not header:
        return 0.0
    match = _WAIT_RE.search(header)
    return min(float(match.group(1)), cap) if match else 0.0


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
    gateway = Gateway(Settings(), GatewaySettings(), registry,  # type: ignore[arg-type]
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


# ---------------------------------------------------------------------------- running


def _peer_subject(transport: asyncio.BaseTransport) -> str | None:
    """RFC 4514 subject of the TLS client certificate on this connection, if any."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    from cryptography import x509

    return x509.load_der_x509_certificate(der).subject.rfc4514_string()


class TLSClientCertProtocol(ReadTimeoutProtocol):
    """uvicorn's h11 protocol with read deadlines, passing the client certificate subject.

    The subject goes into ``scope["extensions"]["tls"]["client_cert_subject"]`` (the
    ASGI TLS extension's spirit); uvicorn does not expose it by itself.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Wrap the app for this connection when the peer presented a certificate."""
        super().connection_made(transport)
        subject = _peer_subject(transport)
        if subject is None:
            return
        inner = self.app

        async def with_tls(scope: Any, receive: Any, send: Any) -> None:
            scope.setdefault("extensions", {})["tls"] = {"client_cert_subject": subject}
            await inner(scope, receive, send)

        self.app = with_tls


def _config(app: FastAPI, config: GatewaySettings, **kwargs: Any) -> uvicorn.Config:
    tls: dict[str, Any] = {}
    if config.tls_certfile is not None:
        import ssl

        tls = {"ssl_certfile": str(config.tls_certfile),
               "ssl_keyfile": str(config.tls_keyfile) if config.tls_keyfile else None}
        if config.tls_ca_certs is not None:
            tls["ssl_ca_certs"] = str(config.tls_ca_certs)
            tls["ssl_cert_reqs"] = (ssl.CERT_REQUIRED if config.tls_require_client_cert
                                    else ssl.CERT_OPTIONAL)
    protocol = read_timeout_protocol(header_timeout=config.header_timeout_seconds,
                                     body_timeout=config.body_timeout_seconds,
                                     base=TLSClientCertProtocol)
    return uvicorn.Config(app, http=protocol, lifespan="on", timeout_graceful_shutdown=5,
                          timeout_keep_alive=config.keep_alive_seconds,
                          h11_max_incomplete_event_size=config.max_header_bytes,
                          **tls, **kwargs)


@contextmanager
def running_gateway(settings: Settings, registry: RegistryFile | Path, *,
                    config: GatewaySettings | None = None, host: str = "127.0.0.1",
                    port: int = 0) -> Iterator[str]:
    """Run the gateway in a background thread; yields its base URL.

    ``port`` 0 picks a free port. Kafka clients start before the URL is yielded and stop
    when the block ends.
    """
    config = config or GatewaySettings()
    registry_file = registry if isinstance(registry, RegistryFile) else RegistryFile(registry)
    gateway = Gateway(settings, config, registry_file)
    server = uvicorn.Server(_config(create_app(gateway), config, log_level="warning",
                                    access_log=False))
    scheme = "https" if config.tls_certfile is not None else "http"
    with serving_in_thread(server, name="mchub-gateway", host=host, port=port,
                           scheme=scheme, stop_timeout=15) as url:
        yield url


def serve(settings: Settings, config: GatewaySettings, registry: Path) -> None:
    """Run the gateway in the foreground until interrupted (SIGINT/SIGTERM)."""
    gateway = Gateway(settings, config, RegistryFile(registry))
    server = uvicorn.Server(_config(create_app(gateway), config, host=config.host,
                                    port=config.port, log_level="info",
                                    access_log=config.access_log))
    restore = exit_cleanly_on_sigterm()
    try:
        server.run()
    except OSError as exc:
        raise ConfigurationError(
            f"the gateway could not listen on {config.host}:{config.port}: {exc}") from exc
    finally:
        restore()
    if not server.started:
        raise ConfigurationError(
            f"the gateway did not start on {config.host}:{config.port} (see the log above)")



__all__ = [
    "Gateway",
    "create_app",
    "openapi_document",
    "render_openapi",
    "running_gateway",
    "serve",
]

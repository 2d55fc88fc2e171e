"""The gateway's runtime (:class:`Gateway`): issuer registry, submissions store, rate
limiter, Kafka producer and receipts follower, and the checks of a submission, cheapest
first (see :mod:`hub.gateway.app` for the order). A refusal raises
:class:`~hub.errors.RequestRefused` and writes nothing.

No ``from __future__ import annotations``: FastAPI reads the annotations it is handed."""

import asyncio
import hashlib
import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError
from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials

from hub.adapters.kafka import make_producer
from hub.authz import SOURCE_HEADER, RegistryFile
from hub.crypto.attestation import (
    ATTESTATION_HEADER,
    RECEIPT_ID_HEADER,
    attest,
    attestation_secret,
)
from hub.errors import ConfigurationError, RequestRefused
from hub.gateway.auth import Principal, authenticate
from hub.gateway.idempotency import Submission, SubmissionStore, now_iso
from hub.gateway.ratelimit import RateLimiter
from hub.gateway.receipts import RECEIPT_PREFIX, ReceiptFollower
from hub.normalise import MessageResult, normalise
from hub.normalise.common import ENCODING, MALFORMED, MAX_BYTES, PAYLOAD_TOO_LARGE, XML_DOCTYPE
from hub.publish import routing_key
from hub.settings import Settings
from hub.topics import FEEDS, SOURCE_TOPICS, source_record_limit

log = logging.getLogger(__name__)

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

_WAIT_RE: Final = re.compile(r"(?:^|[,;\s])wait\s*=\s*\"?([0-9]+)\"?", re.IGNORECASE)

_TRACEPARENT_RE: Final = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")

# ---------------------------------------------------------------------------- runtime


class Gateway:
    """The gateway's runtime: registry, store, limiter, producer and receipts follower."""

    def __init__(self, settings: Settings, registry: RegistryFile,
                 *, store: SubmissionStore | None = None) -> None:
        self.settings = settings
        self.config = config = settings.gateway
        self.registry = registry
        db = config.db or settings.data_dir / "gateway.db"
        self.store = store or SubmissionStore(db)
        self.limiter = RateLimiter()
        self.follower = ReceiptFollower(
            settings, lookback_seconds=config.receipts_lookback_hours * 3600,
            capacity=config.receipts_cache)
        self._producer: AIOKafkaProducer | None = None
        #: the secret its header attestations are keyed with (ingest checks them)
        self.attestation = attestation_secret(settings)

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
            rule = {"rule": PAYLOAD_TOO_LARGE, "path": "(payload)", "message": message}
            return RequestRefused(413, "payload-too-large", "Payload too large", message,
                                  extra={"rules": [rule]})

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
                                 extra={"rules": [v.as_dict() for v in unreadable]})
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
                                 extra={"rules": [v.as_dict() for v in refused]})

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
                                     "use a new key for a new request", extra={"receiptId": None})
            if existing.state != "written":
                raise RequestRefused(409, "idempotency-key-in-use", "Request in progress",
                                     "a request with this Idempotency-Key is still being written; "
                                     "retry shortly", headers={"Retry-After": "1"})
            return existing.receipt_id, True
        topic = self.settings.topic(SOURCE_TOPICS[feed])
        mark = attest(self.attestation, topic=topic, receipt_id=submission.receipt_id,
                      source=principal.source.id, value=body)
        headers = [
            ("content-type", content_type.encode()),
            (RECEIPT_ID_HEADER, submission.receipt_id.encode()),
            (SOURCE_HEADER, principal.source.id.encode()),
            (ATTESTATION_HEADER, mark),
        ]
        if file_name and feed == "al":
            headers.append(("file-name", file_name.encode("utf-8", "replace")[:255]))
        if traceparent and _TRACEPARENT_RE.fullmatch(traceparent.strip()):
            headers.append(("traceparent", traceparent.strip().encode()))
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

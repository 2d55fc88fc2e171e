"""Stage 1, ``ingest``: source topics -> normalised decide requests, rejections, dead letters.

Stateless and parallel over the source partitions. For every source message it:

- runs the pure sector normaliser (:func:`hub.normalise.normalise`);
- seals the learner's identification of each valid event with the learner's own key
  and names the learner by a keyed pseudonym from here on (:mod:`hub.privacy`;
  docs/privacy.md), so nothing downstream of ingest holds an education ID in clear;
- writes each valid event to ``canon.decide.requests``, keyed by its decision key
  (credential key, or idempotency key for enrolments) so the decide stage sees every
  event of one credential in order; a request carries the canonical bytes once plus a
  small JSON head (:func:`encode_request`), so it is about the size of the event;
- an event whose request would still exceed the hub's largest record
  (``MCHUB_MAX_RECORD_BYTES``) gets a ``reject`` receipt with ``PAYLOAD_TOO_LARGE`` and
  its source record a dead letter, instead of a transaction the broker refuses
  (docs/limits.md);
- writes each rejected event to ``canon.events.rejected`` and a ``reject`` receipt to
  the feed's receipts topic, with rule code, field path and message;
- writes bytes it cannot handle at all (an empty value, a normaliser bug) to
  ``dlq.src.undecodable``, intact, with the origin and the error in headers;
- when an issuer registry is configured (``MCHUB_ISSUERS``, :mod:`hub.authz`), rejects
  every event whose sender may not act for its awarding body with rule
  ``ISSUER_NOT_AUTHORISED`` before the decide stage, so it never reaches the canonical
  log. The sender is what the broker authenticated (docs/security.md): on a source's own
  topic (``src.<feed>.<kind>.<source id>``, which only that source's principal may write)
  the source named by the topic; on a feed's shared topic the source the gateway attested
  (``mchub-source`` with a valid ``mchub-attestation``), else the feed's default source
  in the registry (the only other principal allowed to write there). A header the
  gateway did not attest is never believed.

Nothing is dropped: every input record produces at least one output record, all in the
same transaction as the input offset (see :mod:`hub.stream.kernel`).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import logging
import struct
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord

from hub import __version__, wire
from hub.authz import SOURCE_HEADER, IssuerRegistry, RegistryFile
from hub.contract.build import attach_warnings, build_canonical_event
from hub.contract.codec import AvroCodec
from hub.contract.findings import ContractViolation, Finding
from hub.contract.rules import ValidationContext, validate_event
from hub.core.state import with_digests
from hub.crypto.attestation import (
    RECEIPT_ID_HEADER,
    AttestedHeaders,
    attestation_secret,
    read_attested,
)
from hub.normalise import normalise
from hub.normalise.types import ItemResult, MessageResult, NormalisedEvent, Violation
from hub.privacy.keystore import LearnerKeyStore, open_key_store
from hub.privacy.pseudonym import learner_pseudonym, learner_secret
from hub.privacy.seal import seal_event
from hub.settings import Settings
from hub.stream.chain import EnvelopeReader
from hub.stream.kernel import BaseHandler, Output, Stage, dead_letter
from hub.topics import (
    DECIDE_REQUESTS,
    INGEST_DEAD_LETTERS,
    PAYLOAD_TOO_LARGE,
    REJECTIONS,
    SOURCE_TOPICS,
    parse_source_topic,
    record_size,
    source_receipts,
    source_topics_pattern,
)

log = logging.getLogger(__name__)

EVENT_FIELDS = tuple(f.name for f in dataclasses.fields(NormalisedEvent))
TRACE_HEADER = "traceparent"
TRACE_NAMESPACE = uuid.UUID("6f1d7c2e-3a4b-5c6d-8e9f-0a1b2c3d4e5f")


def decision_key(event: NormalisedEvent) -> str:
    """The key the decide stage partitions and keeps state by."""
    return event.credential_key or event.idempotency_key


#: first bytes of a decide request in the binary format (issue 14): NUL cannot start the
#: JSON of the older format, so both are told apart by their first byte
REQUEST_MAGIC = b"\x00mchub-decide-request/2\n"
_META_LENGTH = struct.Struct(">I")


def decide_fields(event: NormalisedEvent) -> dict[str, Any]:
    """The fields of ``event`` a decide request carries (JSON-ready, shallow).

    ``content`` is left out (decide compares its digest, ``content_sha256``), and so is
    the ``record`` of credentials and enrolments (decide reads only their digest,
    ``elements_sha256``; the record itself travels in the canonical bytes). A revocation
    keeps its small record: decide reads its reason.
    """
    fields = {name: getattr(event, name) for name in EVENT_FIELDS}
    fields.pop("content")
    if event.record_type != "revocation":
        fields.pop("record")
    return fields


def encode_request(meta: dict[str, Any], canonical: bytes) -> bytes:
    """A decide request: magic, 4-byte big-endian length of the JSON ``meta``, the meta,
    then the canonical Avro bytes, once and unencoded."""
    data = wire.dumps(meta)
    return b"".join((REQUEST_MAGIC, _META_LENGTH.pack(len(data)), data, canonical))


def decode_request(value: bytes) -> dict[str, Any]:
    """A decide request as decide reads it: context members, ``event`` (the normalised
    event's fields) and ``canonical`` (base64 text, as the first format carried it).

    Reads both formats: this one and the JSON of hub versions before issue 14 (requests
    still in the topic when decide is upgraded). Raises ``ValueError``/``KeyError`` on
    anything else.
    """
    if not value.startswith(REQUEST_MAGIC):
        request: dict[str, Any] = wire.loads(value)
        return request
    start = len(REQUEST_MAGIC)
    (length,) = _META_LENGTH.unpack_from(value, start)
    start += _META_LENGTH.size
    if start + length > len(value):
        raise ValueError("truncated decide request")
    request = wire.loads(value[start : start + length])
    event = request["event"]
    event.setdefault("content", "")
    event.setdefault("record", {})
    request["canonical"] = base64.b64encode(value[start + length :]).decode()
    return request


def coordinates(record: ConsumerRecord) -> str:
    """The receipt id of a record the gateway did not attest: ``topic:partition:offset``."""
    return f"{record.topic}:{record.partition}:{record.offset}"


def trace_id(record: ConsumerRecord, rid: str) -> str:
    """W3C trace id from ``traceparent`` when given, else a stable one from the receipt id."""
    for name, value in record.headers or ():
        if name == TRACE_HEADER:
            parts = bytes(value).decode("ascii", "replace").split("-")
            if len(parts) >= 2 and len(parts[1]) == 32:
                return parts[1]
    return wire.uuid5_hex(TRACE_NAMESPACE, rid)


def received_at(record: ConsumerRecord) -> str:
    """When the hub received the record: its Kafka timestamp (stable across re-processing)."""
    return datetime.fromtimestamp(record.timestamp / 1000, tz=UTC).isoformat(
        timespec="milliseconds"
    )


class IngestHandler(BaseHandler):
    """Handler of the ingest stage: stateless, one task per source partition."""

    def __init__(
        self,
        settings: Settings,
        *,
        registry: RegistryFile | None = None,
        learner_keys: LearnerKeyStore | None = None,
    ) -> None:
        """``registry``: the issuer registry to enforce; default ``MCHUB_ISSUERS`` if set.
        ``learner_keys``: the learner key store; default the deployment's
        (:func:`~hub.privacy.keystore.open_key_store`, opened on first use)."""
        self.settings = settings
        self._learner_keys = learner_keys
        self._learner_secret: bytes | None = None
        self.registry = registry if registry is not None else RegistryFile.from_environment()
        if self.registry is None:
            log.warning(
                "no issuer registry (MCHUB_ISSUERS): events produced straight to Kafka are "
                "not checked against their awarding body"
            )
        #: full source topic name -> (feed, source id), parsed once per topic
        self._source_topics: dict[str, tuple[str, str | None]] = {}
        self._attestation: bytes | None = None  # read on the first record that needs it
        self._unattested = 0
        self.requests_topic = settings.topic(DECIDE_REQUESTS)
        self.rejections_topic = settings.topic(REJECTIONS)
        self.dead_letters_topic = settings.topic(INGEST_DEAD_LETTERS)
        self.codec = AvroCodec()
        self.envelopes = EnvelopeReader()

    def handle(self, record: ConsumerRecord) -> list[Output]:
        """The output records of one source record."""
        feed = self.topic_feed(record.topic)[0]
        if record.value is None:
            return [self.dead_letter(record, "empty message value (tombstone)")]
        try:
            result = normalise(feed, record.value)
        except Exception as exc:  # a normaliser bug must not stop the worker
            log.exception(
                "normaliser failed on %s:%s:%s", record.topic, record.partition, record.offset
            )
            return [self.dead_letter(record, f"{type(exc).__name__}: {exc}")]
        return self.outputs_for(record, feed, result)

    def topic_feed(self, topic: str) -> tuple[str, str | None]:
        """``(feed, source id)`` of a source topic's full name (source ``None``: shared)."""
        known = self._source_topics.get(topic)
        if known is not None:
            return known
        parsed = parse_source_topic(topic.removeprefix(self.settings.topic_prefix))
        if parsed is None or not topic.startswith(self.settings.topic_prefix):
            raise ValueError(f"{topic} is not a source topic")
        self._source_topics[topic] = parsed
        return parsed

    def outputs_for(self, record: ConsumerRecord, feed: str, result: MessageResult) -> list[Output]:
        """Requests, rejections and receipts for one normalised message."""
        claims = self.claims(record)
        rid = claims.receipt_id if claims.attested and claims.receipt_id else coordinates(record)
        context: dict[str, Any] = {
            "receiptId": rid,
            "feed": feed,
            "source": {
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
            },
            "rawSha256": hashlib.sha256(record.value).hexdigest(),
            "receivedAt": received_at(record),
            "traceId": trace_id(record, rid),
        }
        registry = self.registry.current() if self.registry is not None else None
        sender = self.sender(record, claims, registry)
        if sender is not None:
            context["sender"] = sender
        outputs: list[Output] = []
        too_large = 0  # events whose request could not be written (one dead letter)
        if result.file_violations:
            outputs += self.rejection(context, None, result.file_violations, scope="file")
            return outputs
        for item in result.items:
            if item.accepted and item.event is not None:
                refused = registry.authorise(sender, item.event) if registry else None
                if refused is not None:
                    outputs += self.rejection(context, item, (refused,), scope="event")
                    continue
                canonical, findings = self.canonical(item.event, context)
                errors = [f for f in findings if f.severity == "error"]
                if canonical is None or errors:
                    violations = tuple(Violation(f.rule, f.path, f.message) for f in errors)
                    outputs += self.rejection(context, item, violations, scope="event")
                    continue
                pseudonymous = dataclasses.replace(
                    item.event, learner_id=self.pseudonym(item.event.learner_id))
                request = self.request(context, pseudonymous, canonical)
                if self.fits(request):
                    outputs.append(request)
                else:
                    outputs += self.too_large(
                        record, context, item, request, first=not too_large
                    )
                    too_large += 1
            else:
                outputs += self.rejection(context, item, item.violations, scope="event")
        if feed == "al":
            outputs.append(
                self.receipt(
                    context,
                    {
                        "scope": "file",
                        "outcome": "processed",
                        "rows": len(result.items),
                        "rules": [],
                    },
                )
            )
        return outputs

    def claims(self, record: ConsumerRecord) -> AttestedHeaders:
        """What the record's headers claim (receipt id, source) and whether the gateway
        attested it; an unattested claim is logged (counted) and must not be believed."""
        headers = record.headers or ()
        if not any(name in (RECEIPT_ID_HEADER, SOURCE_HEADER) for name, _ in headers):
            return AttestedHeaders(None, None, attested=False)
        if self._attestation is None:
            self._attestation = attestation_secret(self.settings)
        claims = read_attested(self._attestation, record.topic, record.value, headers)
        if not claims.attested:
            self._unattested += 1
            if self._unattested in (1, 10, 100) or self._unattested % 1000 == 0:
                log.warning(
                    "ingest: %s carries a %s or %s header the gateway did not attest (%d "
                    "such records so far): ignored, the record gets a receipt id of its own "
                    "and the sender its topic names",
                    coordinates(record), RECEIPT_ID_HEADER, SOURCE_HEADER, self._unattested,
                )
        return claims

    def sender(
        self, record: ConsumerRecord, claims: AttestedHeaders, registry: IssuerRegistry | None
    ) -> str | None:
        """Who sent the record, from what the broker authenticated: the source whose own
        topic it is on, the source the gateway attested, or the feed's default source."""
        feed, own = self.topic_feed(record.topic)
        if own is not None:
            return own
        if claims.attested and claims.source:
            return claims.source
        return registry.kafka_default_source(feed) if registry is not None else None

    def canonical(
        self, event: NormalisedEvent, context: dict[str, Any]
    ) -> tuple[bytes | None, list[Finding]]:
        """The event as it will be logged (Avro bytes) and the contract's findings on it.

        Built, validated and encoded once, here in the parallel stage; the decide stage
        only forwards the bytes. Errors reject the event before it can occupy an
        idempotency key; warnings travel in the envelope. Time-dependent rules use the
        receive time, so re-processing gives the same verdict.
        """
        received = datetime.fromisoformat(context["receivedAt"])
        try:
            event_model = build_canonical_event(
                event,
                raw_sha256=context["rawSha256"],
                received_at=received,
                trace_id=context["traceId"],
                hub_version=__version__,
            )
        except ContractViolation as exc:
            return None, list(exc.findings)
        ctx = ValidationContext(
            now=received, clock_skew_seconds=self.settings.issue_clock_skew_seconds
        )
        findings = validate_event(event_model, ctx)
        if any(f.severity == "error" for f in findings):
            return None, findings
        if findings:
            event_model = attach_warnings(event_model, findings)
        pseudonym = self.pseudonym(event.learner_id)
        sealed = seal_event(event_model, pseudonym, lambda: self.learner_keys.current(pseudonym))
        return self.codec.encode(sealed), findings

    @property
    def learner_keys(self) -> LearnerKeyStore:
        """The learner key store (opened on first use)."""
        if self._learner_keys is None:
            self._learner_keys = open_key_store(self.settings)
        return self._learner_keys

    def pseudonym(self, education_id: str) -> str:
        """The learner's keyed pseudonym (:mod:`hub.privacy.pseudonym`)."""
        if self._learner_secret is None:
            self._learner_secret = learner_secret(self.settings)
        return learner_pseudonym(self._learner_secret, education_id)

    def request(self, context: dict[str, Any], event: NormalisedEvent, canonical: bytes) -> Output:
        """A decide request: the event's canonical bytes once, plus what decide reads of
        the normalised event that the bytes do not give it cheaply (:func:`encode_request`)."""
        # digests computed here, in the parallel stage, not again in the one decide task
        event = with_digests(event)
        meta = {
            **context,
            # where decide writes the chain's prevHash: found here, in the parallel stage
            "prevHashAt": self.envelopes.prev_hash_offset(canonical),
            "event": decide_fields(event),
        }
        # one partition (one decide writer): no need to hash the key for it
        key = decision_key(event).encode()
        return Output(
            self.requests_topic, encode_request(meta, canonical), key=key, partition=0
        )

    def fits(self, output: Output) -> bool:
        """True when ``output`` is within what its topic and the producer accept."""
        limit = self.settings.max_record_bytes
        return record_size(output.value, output.key, output.headers) <= limit

    def too_large(
        self,
        record: ConsumerRecord,
        context: dict[str, Any],
        item: ItemResult,
        output: Output,
        *,
        first: bool,
    ) -> list[Output]:
        """An event whose decide request cannot be written: a dead letter of the source
        record (once per record) and a ``reject`` receipt with ``PAYLOAD_TOO_LARGE``; the
        record's other outputs and its offset go on as usual (docs/limits.md)."""
        size = record_size(output.value, output.key, output.headers)
        message = (
            f"the event's decide request is {size} bytes, above the hub's largest record "
            f"({self.settings.max_record_bytes} bytes, MCHUB_MAX_RECORD_BYTES)"
        )
        log.warning(
            "ingest: %s:%s:%s row %s: %s; dead-lettered",
            record.topic, record.partition, record.offset, item.row, message,
        )
        outputs = self.rejection(
            context, item, (Violation(PAYLOAD_TOO_LARGE, "(payload)", message),), scope="event"
        )
        if first:
            outputs.append(self.dead_letter(record, f"{PAYLOAD_TOO_LARGE}: {message}"))
        return outputs

    def rejection(
        self,
        context: dict[str, Any],
        item: ItemResult | None,
        violations: tuple[Violation, ...],
        *,
        scope: str,
    ) -> list[Output]:
        """A rejection record and the matching ``reject`` receipt."""
        detail: dict[str, Any] = {
            "scope": scope,
            "outcome": "reject",
            "rules": [v.as_dict() for v in violations],
            "idempotencyKey": item.idempotency_key if item else None,
            "row": item.row if item else None,
            "sor_azonosito": item.sor_azonosito if item else None,
        }
        key = (detail["idempotencyKey"] or context["receiptId"]).encode()
        return [
            Output(self.rejections_topic, wire.dumps({**context, **detail}), key=key),
            self.receipt(context, detail),
        ]

    def receipt(self, context: dict[str, Any], detail: dict[str, Any]) -> Output:
        """A per-source receipt: the fate of one event (or file) for its sector system."""
        topic = self.settings.topic(source_receipts(context["feed"]))
        return Output(
            topic,
            wire.dumps({**context, **detail, "final": True}),
            key=context["receiptId"].encode(),
        )

    def dead_letter(self, record: ConsumerRecord, error: str) -> Output:
        """The record's bytes, intact, with origin and error headers."""
        return dead_letter(record, self.dead_letters_topic, error)


def ingest_stage(settings: Settings, *, registry: RegistryFile | None = None) -> Stage:
    """The ingest stage: one task per source partition, any number of instances."""
    return Stage(
        settings,
        name="ingest",
        input_topics=[settings.topic(t) for t in SOURCE_TOPICS.values()],
        input_pattern=source_topics_pattern(settings),
        handler=IngestHandler(settings, registry=registry),
    )

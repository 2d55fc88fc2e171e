"""The decide request carries the event once: the canonical bytes, unencoded, plus what
the one decide task reads of the normalised event (digests, keys, where the chain's
prevHash goes). Decide reads both this format and the JSON of earlier versions; an event
whose request would not fit the hub's largest record is dead-lettered with a receipt."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord

from hub import wire
from hub.core.state import content_digest, elements_digest
from hub.normalise import normalise
from hub.normalise.common import MAX_BYTES
from hub.settings import LARGEST_PAYLOAD_BYTES, Settings
from hub.stream.chain import EnvelopeReader
from hub.stream.decide import DecideHandler
from hub.stream.ingest import (
    EVENT_FIELDS,
    REQUEST_MAGIC,
    IngestHandler,
    decide_fields,
    decode_request,
)
from hub.stream.kernel import DLQ_ERROR, Output
from hub.topics import (
    DECIDE_REQUESTS,
    INGEST_DEAD_LETTERS,
    SOURCE_TOPICS,
    declared_topics,
    max_message_bytes,
    payload_limit,
    record_size,
    source_receipts,
    source_record_limit,
)
from tests.integration.limits.payloads import al_file, al_rows, he_event

pytestmark = pytest.mark.unit

SAMPLE = "feeds/samples/he/01_kiallitas_tesztvezerelt_python.json"
REVOCATION = "feeds/samples/he/04_visszavonas_agilis_projektmenedzsment.json"


def _record(
    topic: str, payload: bytes, offset: int = 7, ts: int = 1_767_000_000_000
) -> ConsumerRecord:
    return ConsumerRecord(topic, 0, offset, ts, 0, None, payload, None, -1, len(payload), [])


def _requests(settings: Settings, outputs: list[Output]) -> list[Output]:
    return [o for o in outputs if o.topic == settings.topic(DECIDE_REQUESTS)]


def _decide(settings: Settings) -> DecideHandler:
    return DecideHandler(settings.model_copy(update={"data_dir": Path("/nonexistent")}))


def test_request_carries_digests_and_the_prev_hash_offset() -> None:
    settings = Settings()
    payload = (settings.shared_dir / SAMPLE).read_bytes()
    [request] = _requests(settings, IngestHandler(settings).handle(
        _record(settings.topic(SOURCE_TOPICS["he"]), payload)))
    assert request.value is not None and request.value.startswith(REQUEST_MAGIC)
    body = decode_request(request.value)
    event = body["event"]
    [item] = normalise("he", payload).items
    assert item.event is not None
    assert event["content_sha256"] == content_digest(item.event.content)
    assert event["elements_sha256"] == elements_digest(item.event.record)
    canonical = base64.b64decode(body["canonical"])
    assert body["prevHashAt"] == EnvelopeReader().prev_hash_offset(canonical)
    # the canonical bytes travel once, unencoded: the record and content do not
    assert canonical in request.value
    assert b'"content"' not in request.value and b'"record"' not in request.value

    read = _decide(settings)._read_request(_record(settings.topic(DECIDE_REQUESTS),
                                                   request.value, offset=0))
    assert not isinstance(read, Output), read
    decoded, context, _ = read
    assert decoded.content_sha256 == event["content_sha256"]
    assert decoded.elements_sha256 == event["elements_sha256"]
    assert context["prevHashAt"] == body["prevHashAt"]
    assert base64.b64decode(context["canonical"]) == canonical


def test_revocation_keeps_its_record_for_the_reason() -> None:
    settings = Settings()
    payload = (settings.shared_dir / REVOCATION).read_bytes()
    [item] = normalise("he", payload).items
    assert item.event is not None and item.event.record_type == "revocation"
    fields = decide_fields(item.event)
    assert fields["record"] == item.event.record
    assert "content" not in fields


def test_decide_still_reads_the_json_requests_of_earlier_versions() -> None:
    """Requests written by an older ingest may still be in the topic after an upgrade."""
    settings = Settings()
    payload = (settings.shared_dir / SAMPLE).read_bytes()
    [request] = _requests(settings, IngestHandler(settings).handle(
        _record(settings.topic(SOURCE_TOPICS["he"]), payload)))
    assert request.value is not None
    new = decode_request(request.value)
    [item] = normalise("he", payload).items
    assert item.event is not None
    old = {k: v for k, v in new.items() if k != "event"}
    old["event"] = {name: getattr(item.event, name) for name in EVENT_FIELDS}
    old_value = wire.dumps(old)  # the format before issue 14: one JSON object
    read = _decide(settings)._read_request(_record(settings.topic(DECIDE_REQUESTS), old_value))
    assert not isinstance(read, Output), read
    decoded, context, _ = read
    assert decoded.record == item.event.record
    assert context["canonical"] == new["canonical"]


def test_a_truncated_request_is_dead_lettered_by_decide() -> None:
    settings = Settings()
    value = REQUEST_MAGIC + b"\x00\x00\x10\x00{}"
    read = _decide(settings)._read_request(_record(settings.topic(DECIDE_REQUESTS), value))
    assert isinstance(read, Output)
    assert dict(read.headers)[DLQ_ERROR].startswith(b"unreadable decide request")


def test_a_near_limit_he_event_gives_a_request_no_larger_than_the_event() -> None:
    """Size arithmetic: the request is the canonical bytes plus a small head, so 0.9x the
    contract's limit gives a request well inside the hub's largest record."""
    settings = Settings()
    payload = he_event(int(0.9 * payload_limit("he")))
    assert len(payload) > 0.89 * payload_limit("he")
    now = int(time.time() * 1000)
    [request] = _requests(settings, IngestHandler(settings).handle(
        _record(settings.topic(SOURCE_TOPICS["he"]), payload, ts=now)))
    assert request.value is not None
    size = record_size(request.value, request.key)
    assert size <= 1.1 * len(payload)  # was ~3.3x: base64 Avro + the event as JSON
    assert size <= settings.max_record_bytes


def test_an_al_file_fans_out_to_requests_that_each_fit() -> None:
    settings = Settings()
    payload = al_file(400_000)
    rows = al_rows(payload)
    requests = _requests(settings, IngestHandler(settings).handle(
        _record(settings.topic(SOURCE_TOPICS["al"]), payload, ts=int(time.time() * 1000))))
    assert len(requests) == rows > 10
    assert sum(len(r.value or b"") for r in requests) <= 1.5 * len(payload)


def test_an_event_whose_request_does_not_fit_ends_as_dead_letter_and_receipt() -> None:
    settings = Settings(max_record_bytes=20_000)
    payload = he_event(60_000)
    record = _record(settings.topic(SOURCE_TOPICS["he"]), payload, ts=int(time.time() * 1000))
    outputs = IngestHandler(settings).handle(record)
    assert not _requests(settings, outputs)
    [dead] = [o for o in outputs if o.topic == settings.topic(INGEST_DEAD_LETTERS)]
    assert dead.value == payload  # intact
    assert dict(dead.headers)[DLQ_ERROR].startswith(b"PAYLOAD_TOO_LARGE")
    [receipt] = [json.loads(o.value or b"") for o in outputs
                 if o.topic == settings.topic(source_receipts("he"))]
    assert receipt["outcome"] == "reject" and receipt["final"] is True
    assert receipt["rules"][0]["rule"] == "PAYLOAD_TOO_LARGE"


def test_topic_and_client_sizes_follow_the_contract() -> None:
    settings = Settings()
    sizes = {spec.name: int(spec.configs(settings)["max.message.bytes"])
             for spec in declared_topics()}
    for feed, topic in SOURCE_TOPICS.items():
        assert sizes[topic] == source_record_limit(feed, settings) > payload_limit(feed)
    assert sizes[SOURCE_TOPICS["al"]] >= 8 * 1024 * 1024 + 4096
    internal = {name: size for name, size in sizes.items()
                if name not in (*SOURCE_TOPICS.values(), INGEST_DEAD_LETTERS)}
    assert set(internal.values()) == {settings.max_record_bytes}
    assert settings.max_record_bytes >= 2 * payload_limit("al")
    assert max_message_bytes(DECIDE_REQUESTS, settings) == settings.max_record_bytes
    producer = settings.producer_config()
    assert producer["max_request_size"] == settings.client_record_bytes
    assert producer["compression_type"] == "zstd"
    consumer = settings.consumer_config("g")
    assert consumer["max_partition_fetch_bytes"] >= settings.max_record_bytes
    assert consumer["fetch_max_bytes"] >= consumer["max_partition_fetch_bytes"]
    assert Settings(compression="none").producer_config()["compression_type"] is None


def test_source_records_fit_their_dead_letters_and_the_clients_whatever_the_hub_limit() -> None:
    """A whole source record is dead-lettered intact: its topic and every client take the
    largest one (al's limit, headroom, dlq headers) even with a small hub record limit."""
    small = Settings(max_record_bytes=150_000)
    largest = max(source_record_limit(feed, small) for feed in SOURCE_TOPICS)
    assert max(MAX_BYTES.values()) == LARGEST_PAYLOAD_BYTES
    assert max_message_bytes(INGEST_DEAD_LETTERS, small) == small.client_record_bytes
    assert small.client_record_bytes >= largest + 4000 + 100
    assert small.producer_config()["max_request_size"] == small.client_record_bytes
    assert small.consumer_config("g")["max_partition_fetch_bytes"] == small.client_record_bytes
    assert max_message_bytes(DECIDE_REQUESTS, small) == 150_000


def test_the_largest_single_event_stays_near_its_payload_through_every_stage() -> None:
    """One al row may carry nearly the whole 8 MiB file (outcome texts are capped, their
    number is not): its decide request, canonical log record and register state record
    each stay within 1.1x of the row, so the 16 MiB record limit leaves ~2x headroom."""
    from connectors.fanout.base import decode_canonical
    from connectors.fanout.state import state_value
    from hub.privacy.keystore import MemoryLearnerKeys

    settings = Settings()
    payload = al_file(payload_limit("al") - 100_000, outcomes_per_row=7_000)
    assert al_rows(payload) == 1
    keys = MemoryLearnerKeys()
    [request] = _requests(settings, IngestHandler(settings, learner_keys=keys).handle(
        _record(settings.topic(SOURCE_TOPICS["al"]), payload, ts=int(time.time() * 1000))))
    assert request.value is not None
    canonical = base64.b64decode(decode_request(request.value)["canonical"])
    state = state_value(decode_canonical(canonical, keys), None)
    for size in (len(request.value), len(canonical), len(state)):
        assert size <= 1.1 * len(payload)
    assert 1.1 * payload_limit("al") * 1.1 < settings.max_record_bytes

"""The decide request carries what the ingest stage computed for the one decide task:
the event's digests and where the chain's prevHash goes in the canonical bytes."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord

from hub.audit.chain import EnvelopeReader
from hub.core.state import content_digest, elements_digest
from hub.settings import Settings
from hub.stream.decide import DecideHandler
from hub.stream.ingest import IngestHandler
from hub.stream.kernel import Output
from hub.topics import DECIDE_REQUESTS, SOURCE_TOPICS

pytestmark = pytest.mark.unit

SAMPLE = "feeds/samples/he/01_kiallitas_tesztvezerelt_python.json"


def test_request_carries_digests_and_the_prev_hash_offset() -> None:
    settings = Settings()
    payload = (settings.shared_dir / SAMPLE).read_bytes()
    topic = settings.topic(SOURCE_TOPICS["he"])
    record = ConsumerRecord(topic, 0, 7, 1_767_000_000_000, 0, None, payload, None, -1,
                            len(payload), [])
    [request] = [o for o in IngestHandler(settings).handle(record)
                 if o.topic == settings.topic(DECIDE_REQUESTS)]
    assert request.value is not None
    body = json.loads(request.value)
    event = body["event"]
    assert event["content_sha256"] == content_digest(event["content"])
    assert event["elements_sha256"] == elements_digest(event["record"])
    canonical = base64.b64decode(body["canonical"])
    assert body["prevHashAt"] == EnvelopeReader().prev_hash_offset(canonical)

    # decide reads it back with the digests
    handler = DecideHandler(settings.model_copy(update={"data_dir": Path("/nonexistent")}))
    read = handler._read_request(ConsumerRecord(
        settings.topic(DECIDE_REQUESTS), 0, 0, 0, 0, None, request.value, None, -1,
        len(request.value), []))
    assert not isinstance(read, Output), read
    decoded, context, _ = read
    assert decoded.content_sha256 == event["content_sha256"]
    assert decoded.elements_sha256 == event["elements_sha256"]
    assert context["prevHashAt"] == body["prevHashAt"]

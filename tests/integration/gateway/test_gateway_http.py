"""The gateway over real HTTP on the real broker: samples in, verdicts out, refusals.

Every refusal is checked for its status, its problem type and that nothing was appended
to any source topic.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from hub.adapters.kafka import make_producer
from hub.contract.codec import AvroCodec
from hub.privacy.keystore import open_key_store
from hub.privacy.seal import open_event
from hub.publish import CONTENT_TYPES, publish, sample_messages
from hub.settings import Settings
from hub.stream.runner import core_stages, run_stages
from hub.topics import CANONICAL_LOG, SOURCE_TOPICS, apply_topics, source_topic
from tests.integration.gateway.conftest import Registry
from tests.support import shared_dir
from tests.support_kafka import read_topic

SAMPLES = shared_dir() / "feeds" / "samples"
SENDER = {"he": "fir-central", "vet": "kreta-central", "al": "far-central"}
HE_01 = "01_kiallitas_tesztvezerelt_python.json"  # FI31457
HE_02 = "02_kiallitas_agilis_projektmenedzsment.json"  # FI52804
PROBLEM = "application/problem+json"


def sample(feed: str, name: str) -> bytes:
    return (SAMPLES / feed / name).read_bytes()


def headers(registry: Registry, feed: str, source: str | None = None,
            **extra: str) -> dict[str, str]:
    return {**registry.auth(source or SENDER[feed]), "Content-Type": CONTENT_TYPES[feed],
            **extra}


async def appended(settings: Settings) -> dict[str, int]:
    """Records on each source topic."""
    counts = {}
    for feed, topic in SOURCE_TOPICS.items():
        counts[feed] = len(await read_topic(settings, settings.topic(topic), timeout=2,
                                            settle=0.2))
    return counts


@pytest.fixture
async def client(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway, timeout=60) as http:
        yield http


async def canonical(settings: Settings, at_least: int) -> list[dict[str, Any]]:
    codec = AvroCodec()
    records = await read_topic(settings, settings.topic(CANONICAL_LOG), at_least=at_least,
                               timeout=60)
    keys = open_key_store(settings)  # learner data is sealed: compare the opened events
    return [open_event(codec.decode(r.value), keys.get).event.model_dump() for r in records]


#: envelope fields that depend on the arrival (time, trace, chain position), not the event
ARRIVAL = {"receivedAt", "traceId", "prevHash"}


def comparable(event: dict[str, Any]) -> str:
    envelope = {k: v for k, v in event["envelope"].items() if k not in ARRIVAL}
    # a revocation's sealed education ID has a nonce of its own in each hub
    rest = {k: v for k, v in event.items() if k not in ("envelope", "sealedLearnerId")}
    return json.dumps({"envelope": envelope, **rest}, sort_keys=True, default=str)


@pytest.fixture
def twin(settings: Settings) -> Iterator[Settings]:
    """Settings of a second, isolated hub (own topic prefix) for the Kafka path."""
    yield settings.model_copy(update={"topic_prefix": f"k{settings.topic_prefix}",
                                      "consumer_group": f"{settings.consumer_group}-k",
                                      "client_id": f"{settings.client_id}-k"})


async def test_samples_over_http_come_out_as_they_do_from_kafka(
    stream: Settings, client: httpx.AsyncClient, registry: Registry, twin: Settings
) -> None:
    posted: dict[str, int] = {}
    for message in sample_messages(SAMPLES):
        extra = {"Prefer": "wait=30"}
        if message.feed == "al":
            extra["X-File-Name"] = message.origin.rsplit("/", 1)[-1]
        answer = await client.post(f"/v1/feeds/{message.feed}/events", content=message.value,
                                   headers=headers(registry, message.feed, **extra))
        assert answer.status_code == 200, answer.text
        view = answer.json()
        assert view["status"] == "decided" and answer.headers["Location"].endswith(
            view["receiptId"])
        if message.feed == "al":
            assert {row["outcome"] for row in view["report"]["rows"]} == {"accept"}
            posted["al"] = posted.get("al", 0) + len(view["report"]["rows"])
        else:
            assert view["fate"] == "accepted" and view["report"]["outcome"] == "accept"
            posted[message.feed] = posted.get(message.feed, 0) + 1
    assert posted == {"he": 7, "vet": 7, "al": 11}
    over_http = await canonical(stream, at_least=25)
    # the same samples through Kafka, on a second hub with the same registry
    await apply_topics(twin)
    stop = asyncio.Event()
    stages = core_stages(twin)
    task = asyncio.create_task(run_stages(stages, stop))
    try:
        await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in stages)), 60)
        await publish(twin, sample_messages(SAMPLES))
        over_kafka = await canonical(twin, at_least=25)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
    assert len(over_http) == len(over_kafka) == 25
    assert sorted(map(comparable, over_http)) == sorted(map(comparable, over_kafka))
    # the gateway's records carry the receipt id and the authenticated source
    records = await read_topic(stream, stream.topic(SOURCE_TOPICS["al"]), at_least=2)
    names = [dict(r.headers) for r in records]
    assert {h["mchub-source"] for h in names} == {b"far-central"}
    assert all(h["mchub-receipt-id"].startswith(b"gw-") for h in names)
    assert {h["file-name"] for h in names} == {
        b"FAR_E-2020-000123_20250701_01.csv", b"FAR_E-2021-000457_20250702_01.csv"}


async def test_an_event_sent_by_kafka_and_again_by_http_is_a_duplicate(
    stream: Settings, client: httpx.AsyncClient, registry: Registry
) -> None:
    body = sample("he", HE_01)
    producer = make_producer(stream)
    await producer.start()
    try:
        await producer.send_and_wait(stream.topic(SOURCE_TOPICS["he"]), body)
    finally:
        await producer.stop()
    await canonical(stream, at_least=1)
    answer = await client.post("/v1/feeds/he/events", content=body,
                               headers=headers(registry, "he", Prefer="wait=30"))
    assert answer.status_code == 200
    assert answer.json()["fate"] == "duplicate"
    assert answer.json()["report"]["outcome"] == "duplicate-ignored"
    assert len(await canonical(stream, at_least=1)) == 1


async def test_receipts_pending_then_decided_and_private_to_their_source(
    stream: Settings, client: httpx.AsyncClient, registry: Registry
) -> None:
    doc = json.loads(sample("he", HE_01))
    first = await client.post("/v1/feeds/he/events", content=json.dumps(doc).encode(),
                              headers=headers(registry, "he"))
    assert first.status_code == 202
    rid = first.json()["receiptId"]
    assert first.headers["Location"] == f"/v1/receipts/{rid}"
    for _ in range(150):
        view = await client.get(f"/v1/receipts/{rid}", headers=registry.auth("fir-central"))
        assert view.status_code == 200
        if view.json()["status"] == "decided":
            break
        assert view.headers["Retry-After"] == "1"
        await asyncio.sleep(0.2)
    assert view.json()["fate"] == "accepted"
    other = await client.get(f"/v1/receipts/{rid}", headers=registry.auth("far-central"))
    assert other.status_code == 404 and other.json()["type"] == "urn:mchub:problem:unknown-receipt"
    anonymous = await client.get(f"/v1/receipts/{rid}")
    assert anonymous.status_code == 401
    # the same key (event id) with other content: a conflict, answered 409 as §2 says
    doc["oklevel"]["megnevezes"] = "Egy egészen más cím"
    conflict = await client.post("/v1/feeds/he/events", content=json.dumps(doc).encode(),
                                 headers=headers(registry, "he", Prefer="wait=30"))
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == PROBLEM
    assert conflict.json()["type"] == "urn:mchub:problem:conflict"
    assert conflict.json()["report"]["outcome"] == "conflict"
    # a field-rule rejection is decided by the stream: 400 with the report and rule paths
    doc = json.loads(sample("he", HE_01))
    doc["hallgato"]["oktatasi_azonosito"] = "77721222104"
    rejected = await client.post("/v1/feeds/he/events", content=json.dumps(doc).encode(),
                                 headers=headers(registry, "he", Prefer="wait=30"))
    assert rejected.status_code == 400
    assert rejected.json()["type"] == "urn:mchub:problem:rejected"
    assert any(r["rule"] == "LEARNER_ID_CHECK_DIGIT" and "oktatasi_azonosito" in r["path"]
               for r in rejected.json()["rules"])


async def test_replayed_idempotency_keys(
    applied_settings: Settings, client: httpx.AsyncClient, registry: Registry
) -> None:
    body = sample("he", HE_01)
    first = await client.post("/v1/feeds/he/events", content=body,
                              headers=headers(registry, "he", **{"Idempotency-Key": "k-1"}))
    again = await client.post("/v1/feeds/he/events", content=body,
                              headers=headers(registry, "he", **{"Idempotency-Key": "k-1"}))
    assert first.status_code == again.status_code == 202
    assert first.json()["receiptId"] == again.json()["receiptId"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await appended(applied_settings))["he"] == 1
    other = await client.post("/v1/feeds/he/events", content=body.replace(b"2025", b"2024", 1),
                              headers=headers(registry, "he", **{"Idempotency-Key": "k-1"}))
    assert other.status_code == 422
    assert other.json()["type"] == "urn:mchub:problem:idempotency-key-reused"
    # keys are per source: another source's k-1 is its own
    own = await client.post("/v1/feeds/he/events", content=body,
                             headers=headers(registry, "he", "fi31457-own",
                                             **{"Idempotency-Key": "k-1"}))
    assert own.status_code == 202 and own.json()["receiptId"] != first.json()["receiptId"]
    assert (await appended(applied_settings))["he"] == 2


async def chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    """The body in pieces: sent chunked, without Content-Length."""
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def test_every_refusal_has_its_status_and_problem_type_and_writes_nothing(
    applied_settings: Settings, client: httpx.AsyncClient, registry: Registry
) -> None:
    he = sample("he", HE_01)
    big = b'{"x": "' + b"a" * (1024 * 1024) + b'"}'
    vet_doctype = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]><x>&e;</x>'
    cases: list[tuple[str, str, dict[str, Any], int, str, str | None]] = [
        ("unknown feed", "/v1/feeds/xx/events", {"content": he, "headers": headers(registry, "he")},
         404, "unknown-feed", None),
        ("anonymous", "/v1/feeds/he/events",
         {"content": he, "headers": {"Content-Type": "application/json"}},
         401, "unauthenticated", None),
        ("wrong key", "/v1/feeds/he/events",
         {"content": he, "headers": {"Authorization": "Bearer mchub.fir-central-test.nope",
                                     "Content-Type": "application/json"}},
         401, "unauthenticated", None),
        ("content type", "/v1/feeds/he/events",
         {"content": he, "headers": headers(registry, "he", **{"Content-Type": "text/plain"})},
         415, "unsupported-media-type", None),
        ("latin-1", "/v1/feeds/he/events",
         {"content": he, "headers": headers(
             registry, "he", **{"Content-Type": "application/json; charset=iso-8859-1"})},
         415, "unsupported-media-type", None),
        ("oversized", "/v1/feeds/he/events", {"content": big, "headers": headers(registry, "he")},
         413, "payload-too-large", "PAYLOAD_TOO_LARGE"),
        ("oversized, chunked", "/v1/feeds/he/events",
         {"content": chunks(big), "headers": headers(registry, "he")},
         413, "payload-too-large", "PAYLOAD_TOO_LARGE"),
        ("malformed JSON", "/v1/feeds/he/events",
         {"content": he[:-20], "headers": headers(registry, "he")}, 400, "malformed", "MALFORMED"),
        ("not UTF-8", "/v1/feeds/he/events",
         {"content": he.replace(b"\xc3\xa1", b"\xe1"), "headers": headers(registry, "he")},
         400, "malformed", "ENCODING"),
        ("XML DOCTYPE", "/v1/feeds/vet/events",
         {"content": vet_doctype, "headers": headers(registry, "vet")},
         400, "malformed", "XML_DOCTYPE"),
        ("CSV without BOM", "/v1/feeds/al/events",
         {"content": sample("al", "FAR_E-2021-000457_20250702_01.csv")[3:],
          "headers": headers(registry, "al")}, 400, "malformed", "ENCODING"),
        ("another institution", "/v1/feeds/he/events",
         {"content": sample("he", HE_02), "headers": headers(registry, "he", "fi31457-own")},
         403, "issuer-not-authorised", "ISSUER_NOT_AUTHORISED"),
        ("another sector", "/v1/feeds/vet/events",
         {"content": sample("vet", "01_kiallitas_cnc.xml"),
          "headers": headers(registry, "vet", "fir-central")},
         403, "issuer-not-authorised", "ISSUER_NOT_AUTHORISED"),
        ("bad Idempotency-Key", "/v1/feeds/he/events",
         {"content": he, "headers": headers(registry, "he", **{"Idempotency-Key": "a b"})},
         400, "invalid-request", None),
    ]
    for name, path, request, status, slug, rule in cases:
        answer = await client.post(path, **request)
        assert answer.status_code == status, (name, answer.text)
        assert answer.headers["content-type"] == PROBLEM, name
        problem = answer.json()
        assert problem["type"] == f"urn:mchub:problem:{slug}", name
        assert problem["status"] == status and problem["title"], name
        if rule is not None:
            assert rule in {r["rule"] for r in problem["rules"]}, name
            assert all(r["path"] for r in problem["rules"]), name
        if status == 401:
            assert answer.headers["WWW-Authenticate"].startswith("Bearer"), name
        if name == "another institution":
            assert problem["rules"][0]["path"] == "intezmeny.kod"
    # the rate limit: burst 2, then 429 with Retry-After (malformed bodies: nothing written)
    limited = headers(registry, "he", "slow-sender")
    statuses = [(await client.post("/v1/feeds/he/events", content=b"{", headers=limited))
                for _ in range(3)]
    assert [a.status_code for a in statuses] == [400, 400, 429]
    assert statuses[2].json()["type"] == "urn:mchub:problem:rate-limited"
    assert int(statuses[2].headers["Retry-After"]) >= 1
    assert await appended(applied_settings) == {"he": 0, "vet": 0, "al": 0}


async def test_kafka_producers_are_held_to_the_same_rule(
    stream: Settings, registry: Registry
) -> None:
    from tests.support_kafka import json_values

    producer = make_producer(stream)
    await producer.start()
    try:  # fi31457-own writes its own topic; a header naming fir-central changes nothing
        topic = stream.topic(source_topic("he", "fi31457-own"))
        await producer.send_and_wait(topic, sample("he", HE_02),
                                     headers=[("mchub-source", b"fir-central")])
        await producer.send_and_wait(topic, sample("he", HE_01),
                                     headers=[("mchub-source", b"fir-central")])
    finally:
        await producer.stop()
    receipts = json_values(await read_topic(stream, stream.topic("canon.receipts.he"),
                                            at_least=2))
    by_outcome = {r["outcome"]: r for r in receipts}
    assert set(by_outcome) == {"reject", "accept"}
    assert by_outcome["reject"]["rules"][0]["rule"] == "ISSUER_NOT_AUTHORISED"
    events = await canonical(stream, at_least=1)
    assert [e["envelope"]["credentialKey"] for e in events] == [
        by_outcome["accept"]["credentialKey"]]


async def test_a_kafka_record_cannot_spoil_a_gateway_receipt(
    stream: Settings, client: httpx.AsyncClient, registry: Registry
) -> None:
    """The issue's receipt spoofing: a malformed Kafka record carrying another source's
    gateway receipt id turned that receipt from accepted into rejected."""
    posted = await client.post("/v1/feeds/he/events", content=sample("he", HE_01),
                               headers=headers(registry, "he", Prefer="wait=30"))
    assert posted.status_code == 200, posted.text
    rid = posted.json()["receiptId"]
    producer = make_producer(stream)
    await producer.start()
    try:  # a malformed event under the stolen id, with and without a forged attestation
        for extra in ([], [("mchub-attestation", b"v1.AAAA")]):
            await producer.send_and_wait(
                stream.topic(SOURCE_TOPICS["he"]), b'{"not": "an event"',
                headers=[("mchub-receipt-id", rid.encode()),
                         ("mchub-source", b"fir-central"), *extra])
    finally:
        await producer.stop()
    receipts = [json.loads(r.value) for r in await read_topic(
        stream, stream.topic("canon.receipts.he"), at_least=3, timeout=60)]
    spoofed = [r for r in receipts if r["outcome"] == "reject"]
    assert len(spoofed) == 2
    assert all(r["receiptId"] != rid and r["receiptId"].startswith(
        stream.topic(SOURCE_TOPICS["he"]) + ":") for r in spoofed)
    view = await client.get(f"/v1/receipts/{rid}", headers=registry.auth("fir-central"))
    assert view.status_code == 200 and view.json()["fate"] == "accepted", view.json()

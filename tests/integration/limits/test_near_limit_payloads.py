"""Issue 14: valid payloads at 0.9x the contract's limits are accepted through Kafka and
through the gateway, and the hub keeps processing what follows; an output that cannot be
written ends as a dead letter plus a receipt while the stage keeps running.

Timings are printed (``-s``) and recorded in the final report of issue 14.
"""

from __future__ import annotations

import asyncio
import json
import random
import string
import time
from typing import Any

import httpx
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from hub.adapters.kafka import make_producer
from hub.settings import Settings
from hub.stream.kernel import DLQ_ERROR
from hub.stream.runner import core_stages, run_stages
from hub.topics import (
    CANONICAL_LOG,
    DECIDE_REQUESTS,
    INGEST_DEAD_LETTERS,
    SOURCE_TOPICS,
    apply_topics,
    payload_limit,
    source_receipts,
    source_record_limit,
)
from tests.integration.gateway.conftest import Registry
from tests.integration.limits.payloads import al_file, al_rows, he_event, he_key
from tests.support_kafka import read_topic

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

HE_900K = int(0.9 * payload_limit("he"))
AL_7_5M = int(0.9 * payload_limit("al"))
AL_KEY = b"E/2020/000123"
CONTENT = {"he": "application/json", "al": "text/csv; charset=utf-8"}
SENDER = {"he": "fir-central", "al": "far-central"}


def _n(prefix: str) -> str:
    return f"{prefix}-{time.time_ns() % 10**12}"


async def receipts(settings: Settings, feed: str, at_least: int,
                   timeout: float = 120) -> list[dict[str, Any]]:
    records = await read_topic(settings, settings.topic(source_receipts(feed)),
                               at_least=at_least, timeout=timeout)
    return [json.loads(r.value) for r in records]


def accepted_keys(bodies: list[dict[str, Any]]) -> set[str]:
    return {b["idempotencyKey"] for b in bodies
            if b.get("scope") == "event" and b.get("outcome") == "accept"}


async def produce(settings: Settings, feed: str, value: bytes, key: bytes) -> Any:
    """Produce one source record as a sector system would; its metadata."""
    producer = make_producer(settings, max_request_size=source_record_limit(feed, settings))
    await producer.start()
    try:
        return await producer.send_and_wait(settings.topic(SOURCE_TOPICS[feed]), value, key=key)
    finally:
        await producer.stop()


async def test_near_limit_payloads_straight_to_kafka_then_normal_ones(stream: Settings) -> None:
    settings = stream
    big_he = he_event(HE_900K, credential=_n("BIG"))
    small_he = he_event(3_000, credential=_n("SMALL"))
    big_al = al_file(AL_7_5M)
    small_al = al_file(8_000)
    rows, small_rows = al_rows(big_al), al_rows(small_al)
    assert len(big_he) > 0.89 * payload_limit("he") and len(big_al) > 0.89 * payload_limit("al")

    started = time.monotonic()
    await produce(settings, "he", big_he, he_key(big_he))
    await produce(settings, "he", small_he, he_key(small_he))
    he_bodies = await receipts(settings, "he", at_least=2)
    he_seconds = time.monotonic() - started
    ids = {json.loads(e)["esemeny_azonosito"] for e in (big_he, small_he)}
    assert accepted_keys(he_bodies) == {f"he:{i}" for i in ids}

    started = time.monotonic()
    await produce(settings, "al", big_al, AL_KEY)
    await produce(settings, "al", small_al, AL_KEY)
    al_bodies = await receipts(settings, "al", at_least=rows + small_rows + 2, timeout=240)
    al_seconds = time.monotonic() - started
    assert len(accepted_keys(al_bodies)) == rows + small_rows
    files = [b for b in al_bodies if b.get("scope") == "file"]
    assert [f["outcome"] for f in files] == ["processed", "processed"]

    log = await read_topic(settings, settings.topic(CANONICAL_LOG),
                           at_least=2 + rows + small_rows, timeout=120)
    assert len(log) == 2 + rows + small_rows
    assert max(len(r.value) for r in log) > 0.8 * HE_900K  # the big event, logged whole
    print(f"\nkafka: he {len(big_he)} B + 1 normal: {he_seconds:.1f} s; "
          f"al {len(big_al)} B ({rows} rows) + 1 normal: {al_seconds:.1f} s")


async def _decided(client: httpx.AsyncClient, registry: Registry, feed: str,
                   rid: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        view = await client.get(f"/v1/receipts/{rid}", headers=registry.auth(SENDER[feed]))
        assert view.status_code == 200, view.text
        body: dict[str, Any] = view.json()
        if body["status"] == "decided" or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.5)


async def test_near_limit_payloads_through_the_gateway_then_normal_ones(
    stream: Settings, gateway: str, registry: Registry
) -> None:
    posts = [
        ("he", he_event(HE_900K, credential=_n("GBIG"))),
        ("he", he_event(3_000, credential=_n("GSMALL"))),
        ("al", al_file(AL_7_5M)),
        ("al", al_file(8_000)),
    ]
    async with httpx.AsyncClient(base_url=gateway, timeout=120) as client:
        receipts_ids = []
        for feed, body in posts:
            started = time.monotonic()
            answer = await client.post(
                f"/v1/feeds/{feed}/events", content=body,
                headers={**registry.auth(SENDER[feed]), "Content-Type": CONTENT[feed]})
            assert answer.status_code == 202, (feed, len(body), answer.text)
            receipts_ids.append(answer.json()["receiptId"])
            print(f"\ngateway: {feed} {len(body)} B -> 202 in {time.monotonic() - started:.2f} s")
        started = time.monotonic()
        views = [await _decided(client, registry, feed, rid)
                 for (feed, _), rid in zip(posts, receipts_ids, strict=True)]
        print(f"gateway: all four decided in {time.monotonic() - started:.1f} s")
    for (feed, body), view in zip(posts, views, strict=True):
        assert view["status"] == "decided", view
        if feed == "he":
            assert view["fate"] == "accepted", view
        else:
            assert len(view["report"]["rows"]) == al_rows(body)
            assert {r["outcome"] for r in view["report"]["rows"]} == {"accept"}, view["report"]


async def test_an_output_that_cannot_be_written_is_dead_lettered_and_the_stage_goes_on(
    settings: Settings,
) -> None:
    """The hub's largest record set tiny (topics applied with it, so the broker refuses
    too): the big event ends as a dead letter and a PAYLOAD_TOO_LARGE receipt, the next
    one is accepted, and no stage restarted."""
    settings = settings.model_copy(update={"max_record_bytes": 150_000})
    await apply_topics(settings)
    stop = asyncio.Event()
    stages = core_stages(settings)
    task = asyncio.create_task(run_stages(stages, stop))
    try:
        await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in stages)), 60)
        big = he_event(400_000, credential=_n("TOOBIG"))
        normal = he_event(3_000, credential=_n("NORMAL"))
        await produce(settings, "he", big, he_key(big))
        await produce(settings, "he", normal, he_key(normal))
        bodies = await receipts(settings, "he", at_least=2)
        by_key = {b["idempotencyKey"]: b for b in bodies}
        big_key = f"he:{json.loads(big)['esemeny_azonosito']}"
        normal_key = f"he:{json.loads(normal)['esemeny_azonosito']}"
        assert by_key[big_key]["outcome"] == "reject"
        assert by_key[big_key]["rules"][0]["rule"] == "PAYLOAD_TOO_LARGE"
        assert by_key[normal_key]["outcome"] == "accept"
        dead = await read_topic(settings, settings.topic(INGEST_DEAD_LETTERS), at_least=1)
        assert [d.value for d in dead] == [big]
        assert dict(dead[0].headers)[DLQ_ERROR].startswith(b"PAYLOAD_TOO_LARGE")
        assert all(s.stats.restarts == 0 for s in stages)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


def _incompressible_he(target: int, credential: str) -> bytes:
    """A valid he event whose outcome texts are random letters (zstd cannot shrink it)."""
    doc = json.loads(he_event(target, credential=credential))
    rng = random.Random(14)
    for outcome in doc["oklevel"]["tanulasi_eredmenyek"]:
        outcome["szoveg"] = "".join(rng.choice(string.ascii_letters) for _ in range(999))
    return json.dumps(doc, ensure_ascii=False).encode()


async def test_a_topic_configured_below_the_hub_limit_loses_nothing(
    applied_settings: Settings,
) -> None:
    """An operator lowered canon.decide.requests' max.message.bytes below the hub's record
    limit: the broker refuses the big event's request. Its transaction must abort (aiokafka
    would otherwise commit the rest with the input's offset: the event lost without a
    receipt); once the topic is applied again the same event is accepted."""
    settings = applied_settings
    topic = settings.topic(DECIDE_REQUESTS)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                                  configs={"max.message.bytes": "100000"})])
        stop = asyncio.Event()
        stages = core_stages(settings)
        task = asyncio.create_task(run_stages(stages, stop))
        try:
            await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in stages)), 60)
            big = _incompressible_he(400_000, _n("REFUSED"))
            meta = await produce(settings, "he", big, he_key(big))
            big_key = f"he:{json.loads(big)['esemeny_azonosito']}"
            await asyncio.sleep(8)
            bodies = await receipts(settings, "he", at_least=0, timeout=3)
            assert big_key not in {b["idempotencyKey"] for b in bodies}
            offsets = await admin.list_consumer_group_offsets(settings.group("ingest"))
            committed = offsets.get(TopicPartition(meta.topic, meta.partition))
            assert committed is None or committed.offset <= meta.offset  # not skipped
            assert next(s for s in stages if s.name == "ingest").stats.restarts >= 1

            started = time.monotonic()
            await apply_topics(settings)  # the fix: the declared size again
            bodies = await receipts(settings, "he", at_least=1, timeout=120)
            assert [b["outcome"] for b in bodies if b["idempotencyKey"] == big_key] == ["accept"]
            print(f"\nrefused by a misconfigured topic, nothing committed; accepted "
                  f"{time.monotonic() - started:.1f} s after `topics apply`")
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)
    finally:
        await admin.close()

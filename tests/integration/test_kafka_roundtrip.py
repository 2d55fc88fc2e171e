"""Produce and consume through the real broker with the hub's client settings."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from hub.adapters.kafka import make_consumer, make_producer
from hub.settings import Settings
from hub.topics import (
    CANONICAL_LOG,
    REGISTER_STATE,
    SOURCE_TOPICS,
    apply_topics,
    declared_topics,
)


async def test_effective_client_configuration_is_the_safe_one(settings: Settings) -> None:
    producer = make_producer(settings)
    consumer = make_consumer(settings, group=settings.group("probe"))
    try:
        assert producer._sender._acks == -1  # acks=all
        assert producer._txn_manager is not None  # idempotence on
        assert consumer._isolation_level == "read_committed"
        assert consumer._enable_auto_commit is False
    finally:
        await producer.stop()
        await consumer.stop()


async def test_produce_consume_and_commit_through_the_real_broker(
    applied_settings: Settings,
) -> None:
    settings = applied_settings
    topic = settings.topic(SOURCE_TOPICS["he"])
    producer = make_producer(settings)
    await producer.start()
    try:
        for i in range(20):
            await producer.send(topic, f"event-{i}".encode(), key=b"FI31457:77721222107")
        await producer.flush()
        assert producer._txn_manager.has_pid()  # the broker granted an idempotent producer id
    finally:
        await producer.stop()

    group = settings.group("roundtrip")
    consumer = make_consumer(settings, topic, group=group)
    await consumer.start()
    seen: list[bytes] = []
    try:
        while len(seen) < 20:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
            for records in batch.values():
                seen += [r.value for r in records if r.value is not None]
        await consumer.commit()
        committed = {tp: await consumer.committed(tp) for tp in consumer.assignment()}
    finally:
        await consumer.stop()
    # one key -> one partition -> order kept
    assert seen == [f"event-{i}".encode() for i in range(20)]
    assert sum(v or 0 for v in committed.values()) == 20


async def test_topics_apply_is_idempotent_and_sets_declared_configs(settings: Settings) -> None:
    first = await apply_topics(settings)
    assert {r.action for r in first} == {"created"}
    assert len(first) == len(declared_topics())
    second = await apply_topics(settings)
    assert {r.action for r in second} == {"unchanged"}
    assert {r.topic for r in second} == {settings.topic(s.name) for s in declared_topics()}
    assert {r.topic: r.partitions for r in second}[settings.topic(CANONICAL_LOG)] == 3

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    await admin.start()
    try:
        names = [settings.topic(CANONICAL_LOG), settings.topic(REGISTER_STATE)]
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        )
    finally:
        await admin.close()
    configs = {res[3]: {e[0]: e[1] for e in res[4]} for r in responses for res in r.resources}
    assert configs[names[0]]["retention.ms"] == "-1"  # the canonical log is kept forever
    assert configs[names[0]]["cleanup.policy"] == "delete"
    assert configs[names[1]]["cleanup.policy"] == "compact"


@pytest.mark.parametrize("feed", ["he", "vet", "al"])
def test_source_topics_follow_the_feed_contract(feed: str) -> None:
    assert (
        SOURCE_TOPICS[feed]
        == {"he": "src.he.events", "vet": "src.vet.events", "al": "src.al.batches"}[feed]
    )

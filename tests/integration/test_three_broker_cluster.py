"""A three-broker KRaft cluster keeps accepting acks=all writes with one broker down."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from hub.adapters.kafka import make_consumer, make_producer
from hub.localkafka import LocalKafka
from hub.settings import Settings
from tests.support import free_port_block

pytestmark = pytest.mark.slow


async def _produce(settings: Settings, topic: str, values: list[bytes]) -> None:
    producer = make_producer(settings, request_timeout_ms=20_000)
    await producer.start()
    try:
        for value in values:
            await asyncio.wait_for(producer.send_and_wait(topic, value, key=value), 60)
    finally:
        await producer.stop()


async def _consume_all(settings: Settings, topic: str, expected: int) -> list[bytes]:
    consumer = make_consumer(settings, topic, group=None)
    await consumer.start()
    seen: list[bytes] = []
    try:
        async with asyncio.timeout(60):
            while len(seen) < expected:
                batch = await consumer.getmany(timeout_ms=1000)
                seen += [r.value for rs in batch.values() for r in rs if r.value is not None]
    finally:
        await consumer.stop()
    return seen


def test_rf3_min_isr2_survives_one_broker_down(tmp_path: Path) -> None:
    cluster = LocalKafka(tmp_path / "k3")
    spec, _ = cluster.up(brokers=3, port=free_port_block(6, start=47092))
    try:
        settings = Settings(bootstrap=spec.bootstrap)
        topic = "fault.rf3"

        async def scenario() -> list[bytes]:
            admin = AIOKafkaAdminClient(bootstrap_servers=spec.bootstrap)
            await admin.start()
            try:
                await admin.create_topics(
                    [NewTopic(topic, 3, 3, topic_configs={"min.insync.replicas": "2"})]
                )
                described = await admin.describe_topics([topic])
            finally:
                await admin.close()
            assert all(len(p["replicas"]) == 3 for p in described[0]["partitions"])
            await _produce(settings, topic, [f"before-{i}".encode() for i in range(30)])
            cluster.stop_node(3)
            await _produce(settings, topic, [f"after-{i}".encode() for i in range(30)])
            return await _consume_all(settings, topic, 60)

        seen = asyncio.run(scenario())
        assert sorted(seen) == sorted(
            [f"before-{i}".encode() for i in range(30)] + [f"after-{i}".encode() for i in range(30)]
        )
    finally:
        cluster.down()

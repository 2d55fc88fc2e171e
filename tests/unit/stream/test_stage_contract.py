"""ONE contract suite for the stream kernel, run against the in-memory log and the real
broker: the same stages, handlers and read-to-end helper on both adapters.

The ``memory`` cases are the fast tier (handlers get unit tests); the ``kafka`` cases run
in the integration tier on the broker the harness starts.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord

from hub.adapters.kafka import make_producer
from hub.adapters.memory import MemoryBroker
from hub.bench.pipeline import he_events
from hub.contract.codec import AvroCodec
from hub.publish import SourceMessage, message_from_file, publish
from hub.settings import Settings
from hub.stream.decide import decide_stage
from hub.stream.ingest import ingest_stage
from hub.stream.kernel import Stage
from hub.stream.reading import read_all
from hub.stream.runner import run_stages
from hub.topics import (
    CANONICAL_LOG,
    INGEST_DEAD_LETTERS,
    SOURCE_TOPICS,
    apply_topics,
    source_receipts,
)
from tests.support import memory_settings, shared_dir

HE = shared_dir() / "feeds" / "samples" / "he"
ISSUANCE = HE / "01_kiallitas_tesztvezerelt_python.json"


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.integration)])
def hub_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings of an isolated hub on the in-memory log or on the real broker (a plain
    fixture: the broker fixture starts Kafka outside any event loop)."""
    if request.param == "memory":
        settings = memory_settings(tmp_path)
        asyncio.run(apply_topics(settings))
        yield settings
        MemoryBroker.drop(settings.bootstrap)
    else:
        applied: Settings = request.getfixturevalue("applied_settings")
        yield applied.model_copy(update={"data_dir": tmp_path})


@asynccontextmanager
async def running(stages: Sequence[Stage]) -> AsyncIterator[None]:
    """Run ``stages`` until the block ends (all joined before it starts)."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_stages(stages, stop))
    await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in stages)), 60)
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


async def records(
    settings: Settings, topic: str, count: int, *, timeout: float = 30.0
) -> list[ConsumerRecord]:
    """The committed records of ``topic`` once there are at least ``count`` (then settle)."""
    deadline = time.monotonic() + timeout
    while True:
        found = await read_all(settings, settings.topic(topic))
        if len(found) >= count:
            await asyncio.sleep(0.3)
            return await read_all(settings, settings.topic(topic))
        assert time.monotonic() < deadline, f"{topic}: {len(found)} of {count} records"
        await asyncio.sleep(0.05)


def outcomes(receipts: list[ConsumerRecord]) -> list[str]:
    """The receipts' outcomes in the order the hub received their inputs."""
    docs = sorted((json.loads(r.value) for r in receipts), key=lambda d: d["receivedAt"])
    return [d["outcome"] for d in docs]


async def test_an_issuance_is_logged_once_and_its_resend_is_a_duplicate(
    hub_settings: Settings,
) -> None:
    settings = hub_settings
    message = message_from_file("he", ISSUANCE)
    async with running([ingest_stage(settings), decide_stage(settings)]):
        await publish(settings, [message])
        await records(settings, source_receipts("he"), 1)
        await publish(settings, [message])
        receipts = await records(settings, source_receipts("he"), 2)
    assert outcomes(receipts) == ["accept", "duplicate-ignored"]
    log = await read_all(settings, settings.topic(CANONICAL_LOG))
    assert len(log) == 1
    event = AvroCodec().decode(log[0].value)
    assert event.envelope.idempotency_key == json.loads(receipts[0].value)["idempotencyKey"]


async def test_unreadable_bytes_are_rejected_or_dead_lettered_and_the_stage_goes_on(
    hub_settings: Settings,
) -> None:
    settings = hub_settings
    garbage = SourceMessage("he", b"\xff\x00 not json", b"k", (), "garbage")
    async with running([ingest_stage(settings), decide_stage(settings)]):
        await publish(settings, [garbage])
        producer_topic = settings.topic(SOURCE_TOPICS["he"])
        producer = make_producer(settings)
        await producer.start()
        try:
            await producer.send_and_wait(producer_topic, None, key=b"tombstone")
        finally:
            await producer.stop()
        [dead] = await records(settings, INGEST_DEAD_LETTERS, 1)
        await publish(settings, [message_from_file("he", ISSUANCE)])
        receipts = await records(settings, source_receipts("he"), 2)
    assert dead.value is None and dead.key == b"tombstone"
    assert dict(dead.headers)["mchub-dlq-topic"] == producer_topic.encode()
    assert outcomes(receipts) == ["reject", "accept"]  # the worker went on


async def test_decide_state_survives_a_restart(hub_settings: Settings) -> None:
    settings = hub_settings
    message = message_from_file("he", ISSUANCE)
    async with running([ingest_stage(settings), decide_stage(settings)]):
        await publish(settings, [message])
        await records(settings, source_receipts("he"), 1)
    # new stages, new handlers: the state comes back from the changelog
    async with running([ingest_stage(settings), decide_stage(settings)]):
        await publish(settings, [message])
        receipts = await records(settings, source_receipts("he"), 2)
    assert outcomes(receipts) == ["accept", "duplicate-ignored"]
    assert len(await read_all(settings, settings.topic(CANONICAL_LOG))) == 1


async def test_two_instances_split_the_partitions_and_log_each_input_once(
    hub_settings: Settings,
) -> None:
    settings = hub_settings
    template = json.loads(ISSUANCE.read_text())
    messages = [
        SourceMessage("he", payload, f"key-{n}".encode(), (), f"generated {n}")
        for n, payload in enumerate(he_events(template, 30, seed=7))
    ]
    first, second = ingest_stage(settings), ingest_stage(settings)
    active, standby = decide_stage(settings), decide_stage(settings)
    def split() -> bool:
        owners = [len(first.tasks), len(second.tasks)]
        decide_owners = sorted([len(active.tasks), len(standby.tasks)])
        # 3 topics x 3 partitions split in two; one decide task: one owner, one standby
        return sum(owners) == 9 and min(owners) >= 1 and decide_owners == [0, 1]

    async with running([first, second, active, standby]):
        await publish(settings, messages)
        receipts = await records(settings, source_receipts("he"), len(messages))
        deadline = time.monotonic() + 30  # a rebalance may still be settling
        while not split():
            assert time.monotonic() < deadline, (
                f"ingest {len(first.tasks)}+{len(second.tasks)}, "
                f"decide {len(active.tasks)}+{len(standby.tasks)}"
            )
            await asyncio.sleep(0.1)
    assert len(receipts) == len(messages)
    log = await read_all(settings, settings.topic(CANONICAL_LOG))
    keys = [AvroCodec().decode(r.value).envelope.idempotency_key for r in log]
    assert len(keys) == len(set(keys)) == len({json.loads(r.value)["idempotencyKey"]
                                                for r in receipts})

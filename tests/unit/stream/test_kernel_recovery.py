"""The kernel on the in-memory log: a fenced task logs one line and the stage recovers,
and what it had not committed is processed again exactly once."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from hub.adapters.kafka import make_producer
from hub.adapters.memory import MemoryBroker
from hub.settings import Settings
from hub.stream.kernel import BaseHandler, Output, Stage, transactional_id
from hub.stream.outage import OutageLog
from hub.stream.reading import read_all


class Echo(BaseHandler):
    """Copies every input record to ``out``; counts what it saw."""

    def __init__(self, out: str) -> None:
        self.out = out
        self.seen = 0
        self.assignments: list[list[TopicPartition]] = []

    async def assigned(self, partitions: Sequence[TopicPartition]) -> None:
        self.assignments.append(list(partitions))

    def handle(self, record: ConsumerRecord) -> list[Output]:
        self.seen += 1
        return [Output(self.out, record.value, key=record.key, partition=record.partition)]


@pytest.fixture
def settings() -> Settings:
    tag = uuid.uuid4().hex[:8]
    broker = MemoryBroker.named(f"memory://{tag}")
    broker.create("in", 2)
    broker.create("out", 2)
    return Settings(bootstrap=f"memory://{tag}", consumer_group=tag, client_id=tag)


async def produce(settings: Settings, values: range) -> None:
    producer = make_producer(settings)
    await producer.start()
    for n in values:
        await producer.send("in", str(n).encode(), partition=n % 2)
    await producer.stop()


async def until(predicate: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_a_fenced_task_logs_one_line_and_the_stage_recovers_exactly_once(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    handler = Echo("out")
    stage = Stage(
        settings, name="echo", input_topics=["in"], handler=handler,
        restart_backoff_s=(0.05, 0.1), outages=OutageLog(),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(stage.run(stop))
    await asyncio.wait_for(stage.ready.wait(), 5)
    await produce(settings, range(0, 10))
    await until(lambda: len(MemoryBroker.named(settings.bootstrap).partitions["out"][0]) == 5)

    # a zombie's successor takes partition 0's transactional id: our producer is fenced
    usurper = make_producer(
        settings, transactional_id=transactional_id(settings, "echo", TopicPartition("in", 0))
    )
    with caplog.at_level(logging.INFO):
        await usurper.start()
        await produce(settings, range(10, 20))
        await until(lambda: stage.stats.restarts == 1)
        await until(lambda: len(MemoryBroker.named(settings.bootstrap).partitions["out"][0]) == 10)
    stop.set()
    await asyncio.wait_for(task, 5)

    out = sorted(int(r.value) for r in await read_all(settings, "out"))
    assert out == list(range(20))  # nothing lost, nothing twice
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "echo: ProducerFenced" in warnings[0].getMessage()
    assert "restarting the stage" in warnings[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info]  # no traceback anywhere
    assert len(handler.assignments) == 2  # joined again after the failure


async def test_a_broker_outage_is_one_warning_one_info_and_the_stage_never_exits(
    settings: Settings, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiokafka.errors import KafkaConnectionError

    from hub.adapters.memory import MemoryConsumer

    down = False
    real_getmany, real_start = MemoryConsumer.getmany, MemoryConsumer.start

    async def getmany(self: MemoryConsumer, *args: object, **kwargs: object) -> object:
        if down:
            raise KafkaConnectionError("Unable connect to node with id 1")
        return await real_getmany(self, *args, **kwargs)  # type: ignore[arg-type]

    async def start(self: MemoryConsumer) -> None:
        if down:
            raise KafkaConnectionError("Unable connect to node with id 1")
        await real_start(self)

    monkeypatch.setattr(MemoryConsumer, "getmany", getmany)
    monkeypatch.setattr(MemoryConsumer, "start", start)
    handler = Echo("out")
    stage = Stage(
        settings, name="echo", input_topics=["in"], handler=handler, idle_interval_s=0.05,
        restart_backoff_s=(0.02, 0.08), outages=OutageLog(quiet_s=0.3),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(stage.run(stop))
    await asyncio.wait_for(stage.ready.wait(), 5)
    out = MemoryBroker.named(settings.bootstrap).partitions["out"]
    with caplog.at_level(logging.DEBUG, logger="hub"):
        await produce(settings, range(0, 10))
        await until(lambda: len(out[0]) + len(out[1]) == 10)
        down = True
        await produce(settings, range(10, 20))  # written while the stage cannot read
        await until(lambda: stage.stats.restarts >= 6)  # many attempts, backoff capped
        assert not task.done()
        down = False
        await until(lambda: len(out[0]) + len(out[1]) == 20)
        await until(lambda: not stage.outages.active)  # the quiet period passed: closed
    stop.set()
    await asyncio.wait_for(task, 5)

    assert sorted(int(r.value) for r in await read_all(settings, "out")) == list(range(20))
    shown = [r for r in caplog.records if r.levelno >= logging.INFO and r.name.startswith("hub")]
    warnings = [r for r in shown if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "KafkaConnectionError" in warnings[0].getMessage()
    ends = [r for r in shown if "Kafka works again" in r.getMessage()]
    assert len(ends) == 1 and ends[0].levelno == logging.INFO
    restarts = [r for r in caplog.records if "restarting the stage" in r.getMessage()]
    assert len(restarts) == stage.stats.restarts  # every attempt counted, at DEBUG after the first

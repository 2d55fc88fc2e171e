"""``mchub run`` started during a broker outage waits for Kafka instead of exiting."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiokafka.errors import KafkaConnectionError

from hub.cli import run as run_cli
from hub.settings import Settings
from hub.stream.outage import OutageLog


async def test_topics_are_declared_once_kafka_answers_with_one_warning_meanwhile(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    async def apply_topics(settings: Settings) -> list[object]:
        nonlocal calls
        calls += 1
        if calls <= 5:
            raise KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 1)]")
        return []

    monkeypatch.setattr(run_cli, "apply_topics", apply_topics)
    monkeypatch.setattr(run_cli.outage, "OUTAGES", OutageLog(quiet_s=0))
    with caplog.at_level(logging.INFO):
        ok = await run_cli.apply_topics_when_reachable(
            Settings(bootstrap="127.0.0.1:1"), asyncio.Event(), backoff_s=(0.01, 0.02)
        )
    assert ok and calls == 6
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "not reachable" in warnings[0].getMessage()
    assert any("Kafka works again" in r.getMessage() for r in caplog.records)


async def test_a_stop_while_waiting_ends_without_declaring(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def apply_topics(settings: Settings) -> list[object]:
        raise KafkaConnectionError("down")

    monkeypatch.setattr(run_cli, "apply_topics", apply_topics)
    monkeypatch.setattr(run_cli.outage, "OUTAGES", OutageLog())
    stop = asyncio.Event()
    waiting = asyncio.create_task(
        run_cli.apply_topics_when_reachable(Settings(), stop, backoff_s=(10, 10))
    )
    await asyncio.sleep(0.05)
    stop.set()
    assert await asyncio.wait_for(waiting, 2) is False


async def test_a_configuration_error_is_not_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    async def apply_topics(settings: Settings) -> list[object]:
        raise ValueError("replication factor 3 > 1 broker")

    monkeypatch.setattr(run_cli, "apply_topics", apply_topics)
    with pytest.raises(ValueError):
        await run_cli.apply_topics_when_reachable(Settings(), asyncio.Event())

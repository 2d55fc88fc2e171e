"""Reading topics in tests (read_committed), with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import ConsumerRecord

from hub.adapters.kafka import make_consumer
from hub.settings import Settings
from hub.stream.kernel import Stage


async def read_topic(
    settings: Settings, topic: str, *, at_least: int = 0, timeout: float = 30.0, settle: float = 0.5
) -> list[ConsumerRecord]:
    """Every committed record of ``topic`` (full name): waits until ``at_least`` arrived,
    then keeps reading for ``settle`` seconds so that extra records would be seen too."""
    consumer = make_consumer(settings, topic, group=None)
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        deadline = time.monotonic() + timeout
        quiet_until: float | None = None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=100)
            for rs in batch.values():
                records += rs
            if len(records) >= at_least:
                if quiet_until is None:
                    quiet_until = time.monotonic() + settle
                elif time.monotonic() >= quiet_until:
                    break
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return records


def json_values(records: list[ConsumerRecord]) -> list[dict[str, Any]]:
    """The JSON bodies of records."""
    return [json.loads(r.value) for r in records]


@contextlib.asynccontextmanager
async def core_stream(settings: Settings, *extra: Stage) -> AsyncIterator[Settings]:
    """The core stream (ingest + decide) and the ``extra`` stages (e.g. the register
    projection) running in-process on ``settings``' topics until the block ends; entered
    once every stage has joined its group."""
    from hub.stream.runner import core_stages, run_stages

    stop = asyncio.Event()
    stages = [*core_stages(settings), *extra]
    task = asyncio.create_task(run_stages(stages, stop))
    await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in stages)), 60)
    try:
        yield settings
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)

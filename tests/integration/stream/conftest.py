"""Fixtures for the core stream: workers running in-process against the real broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hub.settings import Settings
from hub.stream.runner import core_stages, run_stages


@pytest.fixture
async def running_stream(applied_settings: Settings) -> AsyncIterator[Settings]:
    """The core stream (ingest + decide) running for the test's isolated topics."""
    stop = asyncio.Event()
    stages = core_stages(applied_settings)
    task = asyncio.create_task(run_stages(stages, stop))
    await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in stages)), 60)
    try:
        yield applied_settings
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)

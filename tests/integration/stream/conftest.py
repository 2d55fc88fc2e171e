"""Fixtures for the core stream: workers running in-process against the real broker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hub.settings import Settings
from tests.support_kafka import core_stream


@pytest.fixture
async def running_stream(applied_settings: Settings) -> AsyncIterator[Settings]:
    """The core stream (ingest + decide) running for the test's isolated topics."""
    async with core_stream(applied_settings) as running:
        yield running

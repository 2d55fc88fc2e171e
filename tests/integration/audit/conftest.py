"""Fixtures for the audit tests: the core stream with frequent checkpoints, and the
register-state projection, running in-process against the real broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from connectors.fanout.state import register_state_stage
from hub.publish import publish, sample_messages
from hub.settings import Settings
from hub.stream.decide import decide_stage
from hub.stream.ingest import ingest_stage
from hub.stream.runner import run_stages
from hub.topics import CANONICAL_LOG
from tests.support import REPO_ROOT, shared_dir
from tests.support_kafka import read_topic

SAMPLES = shared_dir() / "feeds" / "samples"
#: accepted canonical events of the sample feeds
SAMPLE_EVENTS = 25


@pytest.fixture
async def audited(applied_settings: Settings, tmp_path: Path) -> AsyncIterator[Settings]:
    """The core stream and the register projection, with the sample feeds published and
    logged; keys in ``tmp_path``."""
    settings = applied_settings.model_copy(update={"data_dir": tmp_path / "data"})
    stages = [
        ingest_stage(settings),
        decide_stage(settings),
        register_state_stage(settings),
    ]
    stop = asyncio.Event()
    task = asyncio.create_task(run_stages(stages, stop))
    await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in stages)), 60)
    try:
        await publish(settings, sample_messages(SAMPLES))
        logged = await read_topic(settings, settings.topic(CANONICAL_LOG), at_least=SAMPLE_EVENTS)
        assert len(logged) == SAMPLE_EVENTS
        await asyncio.sleep(1.0)  # an idle checkpoint and the register projection catch up
        yield settings
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


def mchub(settings: Settings, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real ``mchub`` CLI against the test's topics."""
    env = {
        **os.environ,
        "MCHUB_BOOTSTRAP": settings.bootstrap,
        "MCHUB_TOPIC_PREFIX": settings.topic_prefix,
        "MCHUB_CONSUMER_GROUP": settings.consumer_group,
        "MCHUB_CLIENT_ID": settings.client_id,
        "MCHUB_PARTITIONS": str(settings.partitions),
        "MCHUB_DATA_DIR": str(settings.data_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )

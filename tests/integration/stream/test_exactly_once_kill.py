"""Exactly-once under SIGKILL: a worker killed mid-stream and restarted loses nothing and
duplicates nothing on the canonical log (read with read_committed)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from hub.adapters.kafka import make_producer
from hub.bench.pipeline import he_events
from hub.contract.codec import AvroCodec
from hub.settings import Settings
from hub.topics import CANONICAL_LOG, SOURCE_TOPICS, source_receipts
from tests.support import shared_dir
from tests.support_kafka import read_topic

pytestmark = pytest.mark.slow

EVENTS = 4000


def start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MCHUB_BOOTSTRAP": settings.bootstrap,
        "MCHUB_TOPIC_PREFIX": settings.topic_prefix,
        "MCHUB_CONSUMER_GROUP": settings.consumer_group,
        "MCHUB_CLIENT_ID": settings.client_id,
        "MCHUB_PARTITIONS": str(settings.partitions),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "hub", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def count_committed(settings: Settings, topic: str) -> int:
    return len(await read_topic(settings, topic, timeout=2, settle=0.2))


async def test_sigkill_mid_stream_then_restart_gives_each_input_exactly_once(
    applied_settings: Settings,
) -> None:
    settings = applied_settings
    template = json.loads(
        (
            shared_dir() / "feeds" / "samples" / "he" / "01_kiallitas_tesztvezerelt_python.json"
        ).read_text()
    )
    payloads = he_events(template, EVENTS, seed=3)
    receipts_topic = settings.topic(source_receipts("he"))

    async def feed() -> None:
        producer = make_producer(settings)
        await producer.start()
        try:
            for i, payload in enumerate(payloads):
                await producer.send(
                    settings.topic(SOURCE_TOPICS["he"]), payload, key=str(i % 50).encode()
                )
                if i % 200 == 199:
                    await producer.flush()
                    await asyncio.sleep(0.05)  # keep the stream busy for a while
            await producer.flush()
        finally:
            await producer.stop()

    feeder = asyncio.create_task(feed())
    worker = start_worker(settings)
    kills = 0
    try:
        for threshold in (300, 1500):  # kill twice, at different depths of the stream
            deadline = time.monotonic() + 120
            while (seen := await count_committed(settings, receipts_topic)) < threshold:
                assert time.monotonic() < deadline, "the worker made no progress"
                assert worker.poll() is None, "the worker died on its own"
            assert seen < EVENTS, "killed too late: the stream had already finished"
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            kills += 1
            worker = start_worker(settings)
        await feeder
        receipts = await read_topic(
            settings, receipts_topic, at_least=EVENTS, timeout=180, settle=2.0
        )
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
    assert kills == 2

    decided = Counter(json.loads(r.value)["idempotencyKey"] for r in receipts)
    assert len(decided) == EVENTS and set(decided.values()) == {1}

    codec = AvroCodec()
    log = await read_topic(
        settings, settings.topic(CANONICAL_LOG), at_least=EVENTS, timeout=60, settle=2.0
    )
    keys = Counter(codec.decode(r.value).envelope.idempotency_key for r in log)
    missing = EVENTS - len(keys)
    duplicated = {k: n for k, n in keys.items() if n > 1}
    assert missing == 0, f"{missing} accepted inputs are missing from the canonical log"
    assert not duplicated, f"inputs logged more than once: {list(duplicated)[:5]}"

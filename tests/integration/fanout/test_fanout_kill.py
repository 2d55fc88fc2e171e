"""SIGKILL between the register's 2xx and the offset commit: redelivered, applied once."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connectors.delivery.ledger import read_ledger
from connectors.fanout.base import decode_canonical
from connectors.fanout.lag import lag, log_end_offsets
from connectors.fanout.register import register_connector
from hub.adapters.kafka import make_producer
from hub.contract import AvroCodec
from hub.settings import Settings
from hub.topics import CANONICAL_LOG
from tests.integration.fanout.fanout_support import fast_options, get_json, register
from tests.support import worker_env
from tests.unit.contract.contract_testdata import (
    build,
    enrolment_normalised,
    issued,
    revocation_normalised,
)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]


async def produce_canonical(settings: Settings) -> list[bytes]:
    """An issuance, its revocation and an enrolment on the canonical log, keyed as decide does."""
    codec = AvroCodec()
    values = [
        codec.encode(issued("he")),
        codec.encode(build(revocation_normalised())),
        codec.encode(build(enrolment_normalised("enrolled"))),
    ]
    producer = make_producer(settings)
    await producer.start()
    try:
        for value in values:
            key = decode_canonical(value).order_key.encode()
            await producer.send_and_wait(settings.topic(CANONICAL_LOG), value, key=key)
    finally:
        await producer.stop()
    return values



async def test_sigkill_after_2xx_before_commit_is_applied_once(
    applied_settings: Settings, tmp_path: Path
) -> None:
    settings = applied_settings
    values = await produce_canonical(settings)
    events = [decode_canonical(v) for v in values]
    ids = [e.event_id for e in events]
    marker = tmp_path / "flushed"
    group = settings.group("deliver-register")
    with register() as (url, store):
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.fanout.kill_worker", url, str(marker)],
            cwd=REPO,
            env=worker_env(settings),
        )
        try:
            deadline = time.monotonic() + 60
            while not marker.exists():
                assert worker.poll() is None, "the worker died on its own"
                assert time.monotonic() < deadline, "the worker delivered nothing"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)  # the batch may span partitions: let the flush finish
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        first = list(store.verdicts)
        assert first and all(v == "applied" for _, v in first)
        ends = await log_end_offsets(settings)
        assert (await lag(settings, [group], ends))[group] > 0  # nothing was committed

        async with register_connector(settings, url, **fast_options()) as runner:
            stop = asyncio.Event()
            task = asyncio.create_task(runner.run(stop))
            deadline = time.monotonic() + 60
            while (await lag(settings, [group], ends))[group]:
                assert not task.done(), task
                assert time.monotonic() < deadline, "the restarted connector is stuck"
                await asyncio.sleep(0.1)
            stop.set()
            await asyncio.wait_for(task, 30)

        again = store.verdicts[len(first) :]
        redelivered = {e for e, _ in first}
        # the same idempotency keys came again and were acknowledged as duplicates
        assert {e for e, v in again if v == "duplicate"} == redelivered
        assert sorted(e for e, v in store.verdicts if v == "applied") == sorted(ids)
        state = await asyncio.to_thread(get_json, f"{url}/credentials/{events[0].credential_id}")
        assert state["status"] == "revoked"
        assert [h["eventId"] for h in state["history"]] == ids[:2]
        doc = await asyncio.to_thread(get_json, f"{url}/learners/77721222107/enrolments")
        assert [e["eventId"] for e in doc["enrolments"]] == [ids[2]]

    ledger = await read_ledger(settings)
    assert sorted((r.event_id, r.state) for r in ledger) == sorted((i, "delivered") for i in ids)

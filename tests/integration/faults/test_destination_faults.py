"""Destination faults (issue 14, items 3 and 5): the register behind a fault proxy.

Each scenario runs the register connector (batches of 200, as deployed) over a real
canonical log while ~1,050 events are produced (700 issuances, 350 revocations each
close behind its issuance, so many revocations' issuances fall into the fault window).
During a window of a few seconds the proxy answers 500 / 404 / hangs / closes / is slow
/ is down / fails only some credentials. After the window, within a bounded time:

- every credential is in the register in its logged state (register = log), lost = 0;
- no event was applied twice (the register's verdicts: one ``applied`` per event id);
- stuck = 0: no key parked in the connector, every event's latest ledger state
  ``delivered`` (parked keys were redriven automatically).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest

from connectors.delivery.ledger import read_ledger
from connectors.delivery.policy import CircuitBreaker, ParkPolicy, RetryPolicy
from connectors.fanout.base import decode_canonical
from connectors.fanout.register import register_connector
from hub.adapters.kafka import make_producer
from hub.contract import AvroCodec
from hub.settings import Settings
from hub.topics import CANONICAL_LOG
from tests.integration.fanout.fanout_support import RecordingStore, register
from tests.integration.faults.fault_proxy import FaultProxy
from tests.integration.faults.fault_table import record_row
from tests.unit.contract import contract_testdata as testdata

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

CREDENTIALS = 700
REVOKE_LAG = 15  # a revocation follows its issuance this many issuances later
FAULT_AT = 1.0  # seconds after production starts
FAULT_FOR = 4.0
PRODUCE_FOR = 7.0
SETTLE_WITHIN = 60.0


def canonical_events() -> tuple[list[bytes], dict[str, str], set[str]]:
    """Encoded canonical events in log order, expected status per credential id, event ids."""
    codec = AvroCodec()
    issued_base = testdata.normalised_credential(testdata.sample("he"))
    revoked_base = testdata.revocation_normalised()
    values: list[bytes] = []
    expected: dict[str, str] = {}
    keys: list[str] = []
    for i in range(CREDENTIALS + REVOKE_LAG):
        if i < CREDENTIALS:
            uid = str(uuid.UUID(int=i + 1))
            key = f"he:FI31457:FAULT-{i:06d}"
            keys.append(key)
            event = dataclasses.replace(
                issued_base, idempotency_key=f"he:{uid}", credential_key=key, source_event_id=uid
            )
            values.append(codec.encode(testdata.build(event)))
        j = i - REVOKE_LAG
        if 0 <= j < CREDENTIALS and j % 2 == 0:
            uid = str(uuid.UUID(int=10**9 + j))
            revocation = dataclasses.replace(
                revoked_base, idempotency_key=f"he:{uid}", credential_key=keys[j],
                source_event_id=uid, record={**revoked_base.record, "credentialKey": keys[j]},
            )
            values.append(codec.encode(testdata.build(revocation)))
    event_ids: set[str] = set()
    for value in values:
        item = decode_canonical(value)
        assert item.credential_id is not None
        event_ids.add(item.event_id)
        expected[item.credential_id] = "revoked" if item.event_type == "revoked" else "active"
    return values, expected, event_ids


async def produce_over(settings: Settings, values: list[bytes], seconds: float) -> None:
    """Produce ``values`` keyed as decide does, spread evenly over ``seconds``."""
    producer = make_producer(settings)
    await producer.start()
    try:
        chunk = 25
        pause = seconds / max(1, len(values) // chunk)
        for start in range(0, len(values), chunk):
            for value in values[start : start + chunk]:
                key = decode_canonical(value).order_key.encode()
                await producer.send(settings.topic(CANONICAL_LOG), value, key=key)
            await producer.flush()
            await asyncio.sleep(pause)
    finally:
        await producer.stop()


async def register_states(url: str, credential_ids: list[str]) -> dict[str, str | None]:
    """Each credential's status in the register (None: unknown), asked directly."""
    found: dict[str, str | None] = {}
    limit = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:

        async def one(cid: str) -> None:
            async with limit:
                answer = await client.get(f"/credentials/{cid}")
            found[cid] = answer.json()["status"] if answer.status_code == 200 else None

        await asyncio.gather(*(one(c) for c in credential_ids))
    return found


def bad_credential(credential_id: str) -> bool:
    """About one credential in eight fails while the ``partial`` fault is on."""
    return hashlib.sha256(credential_id.encode()).digest()[0] % 8 == 0


@pytest.mark.parametrize("mode", ["500", "404", "hang", "close", "slow", "down", "partial"])
async def test_register_recovers_from_a_destination_fault(
    applied_settings: Settings, mode: str
) -> None:
    settings = applied_settings
    values, expected, event_ids = canonical_events()
    started = time.monotonic()
    store = RecordingStore()
    with register(store) as (register_url, _):
        proxy = FaultProxy(register_url, slow_s=0.3, bad=bad_credential)
        await proxy.start()
        runner = register_connector(
            settings, proxy.url,
            batch_size=200,
            concurrency=8,
            timeout=1.0,
            retry=RetryPolicy(base=0.02, cap=0.3, jitter=0.5),
            breaker=CircuitBreaker(failure_threshold=3, reset_timeout=0.2),
            runner_options={
                "poll_timeout_ms": 50,
                "pending_interval": 1.0,
                "park": ParkPolicy(
                    after_attempts=4, redrive_base=0.5, redrive_cap=2.0, redrive_max_attempts=30
                ),
            },
        )
        runner.filtering_sink.inner.health_interval = 0.2
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        try:
            joined = time.monotonic() + 60
            while not runner.tasks:  # the group has its partitions: the fault will bite
                assert time.monotonic() < joined, "the connector got no partitions in 60 s"
                await asyncio.sleep(0.05)
            producing = asyncio.create_task(produce_over(settings, values, PRODUCE_FOR))
            await asyncio.sleep(FAULT_AT)
            await proxy.fault(mode)
            await asyncio.sleep(FAULT_FOR)
            await proxy.fault("pass")
            fault_ended = time.monotonic()
            await producing
            applied: set[str] = set()
            while time.monotonic() - fault_ended < SETTLE_WITHIN:
                applied = {e for e, verdict in store.verdicts if verdict == "applied"}
                if applied >= event_ids and not runner.parking.keys:
                    break
                assert not task.done(), f"the connector ended: {task.exception()!r}"
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)  # let the last batch's ledger transaction commit
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
            await runner.aclose()
            await proxy.aclose()
        states = await register_states(register_url, sorted(expected))
    seconds = time.monotonic() - started

    applied_count = Counter(e for e, verdict in store.verdicts if verdict == "applied")
    duplicated = sum(n - 1 for n in applied_count.values() if n > 1)
    wrong = {c: (states[c], want) for c, want in expected.items() if states[c] != want}
    lost = len(event_ids - set(applied_count))
    ledger = {r.event_id: r for r in await read_ledger(settings) if r.destination == "register"}
    not_delivered = Counter(
        ledger[e].state if e in ledger else "missing" for e in event_ids
        if e not in ledger or ledger[e].state != "delivered"
    )
    stuck = len(runner.parking.keys) + sum(not_delivered.values())

    record_row(f"register {mode}", len(values), lost, duplicated, stuck, seconds)
    assert proxy.faulted > 0 or mode == "slow" or mode == "down", "the fault never bit"
    assert lost == 0, f"{lost} events never applied"
    assert duplicated == 0, f"{duplicated} duplicate effects"
    assert not wrong, f"{len(wrong)} credentials differ from the log, e.g. {_first(wrong)}"
    assert stuck == 0, f"stuck: parked keys {len(runner.parking.keys)}, ledger {not_delivered}"
    assert runner.stats.failed == 0  # nothing in this scenario is refused for good
    if mode == "partial":  # the healthy register served the others; the bad keys parked
        assert runner.stats.parked > 0 and runner.stats.released > 0, runner.stats


def _first(mapping: dict[str, Any]) -> Any:
    return next(iter(mapping.items()))

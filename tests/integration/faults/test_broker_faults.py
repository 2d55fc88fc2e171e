"""Fault suite, broker and worker scenarios (issue 14, items 4 and 5).

Each scenario runs real ``mchub run`` processes (the scale-out test's :class:`Fleet`)
delivering to a reference register (SQLite, in this process), injects one kind of fault
while events flow, and then counts, for the ``N`` inputs:

- **lost**: inputs without a receipt or without a canonical log record;
- **duplicated**: receipts, log records or register-state records beyond one per input;
- **stuck**: log records whose credential is not in the register (rows), or whose
  state record is missing — and asserts the register equal to the log.

Broker faults use a cluster of their own (:class:`hub.localkafka.LocalKafka` on free
ports) so the session broker of the other tests is never touched. The worker must not
exit during a broker outage and must log at most :data:`LINES_PER_OUTAGE` WARNING/ERROR
lines per outage. Each scenario appends its row with
:func:`tests.integration.faults.fault_table.record_row`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from connectors.fanout.base import decode_canonical
from hub.bench.pipeline import he_events
from hub.contract.codec import AvroCodec
from hub.localkafka import LocalKafka, pid_alive
from hub.settings import Settings
from hub.topics import CANONICAL_LOG, REGISTER_STATE, apply_topics, source_receipts
from mchub_reference.register.service import running_register
from tests.integration.faults.fault_table import record_row
from tests.integration.stream.test_scale_out import (
    DECIDE_STARTED,
    REGISTER_TOKEN,
    TEMPLATE,
    Fleet,
    Instance,
    feed,
    wait_for,
)
from tests.support import free_port_block
from tests.support_kafka import read_topic

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

#: WARNING/ERROR lines a worker may write for one broker outage (was ~6,000 per 10 s)
LINES_PER_OUTAGE = 5
#: a broker stays down this long in the outage scenarios
OUTAGE_S = 10.0


@dataclass
class Counts:
    inputs: int
    lost: int
    duplicated: int
    stuck: int


def generations(log: str) -> dict[str, int]:
    """Per consumer group, the generation a worker last joined (from aiokafka's INFO)."""
    return {
        m[1]: int(m[2]) for m in re.finditer(r"Joined group '([^']+)' \(generation (\d+)\)", log)
    }


def problem_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if " WARNING " in line or " ERROR " in line]


def register_rows(db: Path) -> set[str]:
    if not db.exists():
        return set()
    with contextlib.closing(sqlite3.connect(db)) as conn:
        try:
            return {row[0] for row in conn.execute("SELECT credential_id FROM credentials")}
        except sqlite3.OperationalError:  # not created yet
            return set()


async def receipts_count(settings: Settings) -> int:
    topic = settings.topic(source_receipts("he"))
    return len(await read_topic(settings, topic, timeout=2, settle=0.2))


async def account(settings: Settings, events: int, db: Path, fleet: Fleet) -> Counts:
    """Count receipts, canonical log, register-state records and register rows."""
    receipts = await read_topic(
        settings, settings.topic(source_receipts("he")), at_least=events, timeout=60
    )
    receipted = Counter(json.loads(r.value)["idempotencyKey"] for r in receipts)
    codec = AvroCodec()
    log = await read_topic(settings, settings.topic(CANONICAL_LOG), at_least=events, timeout=60)
    logged = Counter(codec.decode(r.value).envelope.idempotency_key for r in log)
    credentials = {decode_canonical(r.value, fleet.keys).credential_id for r in log}
    # the register catches up with the log (delivery runs behind the projection)
    await wait_for(
        lambda: len(register_rows(db)) >= len(credentials), "the register rows", fleet, 60
    )
    rows = register_rows(db)
    states = await read_topic(settings, settings.topic(REGISTER_STATE), at_least=events)
    per_key = Counter(bytes(r.key).decode() for r in states)
    lost = max(events - len(receipted), events - len(logged))
    duplicated = (
        sum(n - 1 for n in receipted.values())
        + sum(n - 1 for n in logged.values())
        + sum(n - 1 for n in per_key.values())
    )
    stuck = len(credentials - rows) + len(credentials - set(per_key))
    assert rows <= credentials, f"register rows not in the log: {list(rows - credentials)[:5]}"
    return Counts(events, lost, duplicated, stuck)


def kill_node(cluster: LocalKafka, node_id: int) -> None:
    """SIGKILL one broker (no clean shutdown) and wait until it is gone."""
    spec = cluster.load()
    assert spec is not None
    [pid] = [n.pid for n in spec.nodes if n.node_id == node_id]
    assert pid is not None and pid_alive(pid)
    os.kill(pid, signal.SIGKILL)
    while pid_alive(pid):
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)


async def partition_leaders(bootstrap: str, topic: str) -> set[int]:
    """The nodes leading a partition of ``topic``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return {int(p["leader"]) for p in described["partitions"]}


def active_controller(cluster: LocalKafka) -> int:
    """The KRaft node that most recently became the quorum leader (the active controller),
    from the nodes' logs (aiokafka has no DescribeQuorum)."""
    found = re.compile(
        r"^\[([^\]]+)\] INFO \[RaftManager id=(\d+)\] Completed transition to Leader"
    )
    latest: tuple[str, int] | None = None
    for path in cluster.data_dir.glob("node-*.log"):
        for line in path.read_text(errors="replace").splitlines():
            match = found.match(line)
            if match and (latest is None or match[1] > latest[0]):
                latest = (match[1], int(match[2]))
    assert latest is not None, "no KRaft leader in the node logs"
    return latest[1]


@contextlib.asynccontextmanager
async def own_cluster(
    root: Path, brokers: int, start: int
) -> AsyncIterator[tuple[LocalKafka, str]]:
    """A cluster of the scenario's own (its brokers are killed; others' are not)."""
    cluster = LocalKafka(root)
    port = free_port_block(2 * brokers, start=start)
    spec, _ = await asyncio.to_thread(cluster.up, brokers=brokers, port=port)
    try:
        yield cluster, spec.bootstrap
    finally:
        # SIGKILL after 5 s: a degraded cluster's controlled shutdown takes 30 s
        await asyncio.to_thread(cluster.down, timeout=5)


def isolated(bootstrap: str, **extra: int) -> Settings:
    tag = uuid.uuid4().hex[:10]
    return Settings(
        bootstrap=bootstrap,
        topic_prefix=f"t{tag}.",
        consumer_group=f"test-{tag}",
        client_id=f"test-{tag}",
        partitions=3,
        **extra,  # type: ignore[arg-type]
    )


async def until_receipts(settings: Settings, count: int, fleet: Fleet, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while (seen := await receipts_count(settings)) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"{seen} of {count} receipts after {timeout:.0f} s\n{fleet.tails()}")
        assert all(i.alive() for i in fleet.running), fleet.tails()
    return seen


async def outage(cluster: LocalKafka, node_id: int, worker: Instance) -> None:
    """Kill broker ``node_id`` for :data:`OUTAGE_S` (the worker must stay up), then start
    it again."""
    kill_node(cluster, node_id)
    await asyncio.sleep(OUTAGE_S)
    assert worker.alive(), f"the worker exited during the outage:\n{worker.log()[-3000:]}"
    await asyncio.to_thread(cluster.start_nodes, [node_id])


async def test_single_broker_killed_and_restarted_while_events_flow(tmp_path: Path) -> None:
    t0 = time.monotonic()
    events = 400
    payloads = he_events(json.loads(TEMPLATE.read_text()), events, seed=21)
    db = tmp_path / "register.db"
    async with contextlib.AsyncExitStack() as stack:
        cluster, bootstrap = await stack.enter_async_context(own_cluster(tmp_path / "k1", 1, 53092))
        url = stack.enter_context(running_register(f"sqlite:///{db}", token=REGISTER_TOKEN))
        settings = isolated(bootstrap)
        await apply_topics(settings)
        fleet = Fleet(settings, tmp_path, register_url=url)
        try:
            worker = fleet.start()
            await wait_for(lambda: DECIDE_STARTED in worker.log(), "the worker", fleet, 60)
            await feed(settings, payloads[:200], chunk=20, pause=0.2)
            await until_receipts(settings, 40, fleet, 60)
            mark = len(worker.log())
            await outage(cluster, 1, worker)  # while the first half is processed
            await feed(settings, payloads[200:], chunk=20, pause=0.1)
            await until_receipts(settings, events, fleet, 90)
            await asyncio.sleep(4)  # the episode closes; the projection and delivery catch up
            lines = problem_lines(worker.log()[mark:])
            counts = await account(settings, events, db, fleet)
            assert worker.alive(), fleet.tails()
        finally:
            fleet.cleanup()
    record_row("single broker killed 10 s and restarted", events, counts.lost,
               counts.duplicated, counts.stuck, time.monotonic() - t0)
    assert (counts.lost, counts.duplicated, counts.stuck) == (0, 0, 0), counts
    assert len(lines) <= LINES_PER_OUTAGE, "\n".join(lines)
    assert "Kafka works again" in worker.log(), worker.log()[-3000:]


async def test_three_brokers_lose_a_follower_then_the_controller(tmp_path: Path) -> None:
    t0 = time.monotonic()
    events = 450
    payloads = he_events(json.loads(TEMPLATE.read_text()), events, seed=22)
    db = tmp_path / "register.db"
    async with contextlib.AsyncExitStack() as stack:
        cluster, bootstrap = await stack.enter_async_context(own_cluster(tmp_path / "k3", 3, 55092))
        url = stack.enter_context(running_register(f"sqlite:///{db}", token=REGISTER_TOKEN))
        settings = isolated(bootstrap, replication_factor=3, min_insync_replicas=2)
        await apply_topics(settings)
        fleet = Fleet(settings, tmp_path, register_url=url)
        try:
            worker = fleet.start()
            await wait_for(lambda: DECIDE_STARTED in worker.log(), "the worker", fleet, 60)
            controller = active_controller(cluster)
            leaders = await partition_leaders(bootstrap, settings.topic(CANONICAL_LOG))
            # a follower: neither the controller nor, if possible, a leader of the log
            follower = min(
                (n for n in (1, 2, 3) if n != controller), key=lambda n: (n in leaders, n)
            )
            await feed(settings, payloads[:150], chunk=15, pause=0.2)
            await until_receipts(settings, 30, fleet, 60)
            mark = len(worker.log())
            await outage(cluster, follower, worker)
            await feed(settings, payloads[150:300], chunk=15, pause=0.1)
            await until_receipts(settings, 300, fleet, 90)
            # the active controller (it also leads partitions); it stays down: 2 of 3
            # voters keep the quorum, 2 replicas keep min.insync.replicas
            kill_node(cluster, controller)
            await asyncio.sleep(OUTAGE_S)
            assert worker.alive(), f"the worker exited:\n{worker.log()[-3000:]}"
            await feed(settings, payloads[300:], chunk=15, pause=0.1)
            await until_receipts(settings, events, fleet, 90)
            await asyncio.sleep(4)  # the episode closes
            all_lines = problem_lines(worker.log()[mark:])
            counts = await account(settings, events, db, fleet)
            assert worker.alive(), fleet.tails()
        finally:
            fleet.cleanup()
    record_row("3 brokers: a follower killed 10 s, then the controller", events,
               counts.lost, counts.duplicated, counts.stuck, time.monotonic() - t0)
    assert (counts.lost, counts.duplicated, counts.stuck) == (0, 0, 0), counts
    assert len(all_lines) <= 2 * LINES_PER_OUTAGE, "\n".join(all_lines)


async def test_worker_sigkill_and_restart_with_static_membership_takes_over_fast(
    applied_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SIGKILL of test_exactly_once_kill.py, restarted as the same instance
    (MCHUB_INSTANCE_ID): its partitions come back without waiting for the 6 s session."""
    t0 = time.monotonic()
    settings = applied_settings
    events = 400
    payloads = he_events(json.loads(TEMPLATE.read_text()), events, seed=23)
    db = tmp_path / "register.db"
    monkeypatch.setenv("MCHUB_INSTANCE_ID", "worker-a")
    with running_register(f"sqlite:///{db}", token=REGISTER_TOKEN) as url:
        fleet = Fleet(settings, tmp_path, register_url=url)
        try:
            first = fleet.start()
            await wait_for(lambda: DECIDE_STARTED in first.log(), "the worker", fleet, 60)
            feeding = asyncio.create_task(
                feed(settings, payloads, chunk=10, pause=0.1)
            )
            await until_receipts(settings, 60, fleet, 60)
            first.kill()
            restarted_at = time.monotonic()
            second = fleet.start()
            await wait_for(lambda: DECIDE_STARTED in second.log(), "the restart", fleet, 60)
            took = time.monotonic() - restarted_at
            print(f"\nstatic membership: partitions back {took:.2f} s after the restart")
            before, after = generations(first.log()), generations(second.log())
            assert await feeding == events
            await until_receipts(settings, events, fleet, 90)
            counts = await account(settings, events, db, fleet)
        finally:
            fleet.cleanup()
    record_row("worker SIGKILL, restarted as the same instance", events, counts.lost,
               counts.duplicated, counts.stuck, time.monotonic() - t0)
    assert (counts.lost, counts.duplicated, counts.stuck) == (0, 0, 0), counts
    # the same member again: every stage's group kept its generation (no rebalance; with
    # dynamic membership the restart waits ~4-6 s for the dead member's session instead)
    assert after == before, (before, after)
    assert took < settings.session_timeout_ms / 1000, f"{took:.2f} s"

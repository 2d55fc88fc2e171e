"""Scale-out across ``mchub run`` processes: exactly once while instances come, go and die.

Every instance runs ingest, decide and the register-state projection with the same
settings, so they share consumer groups and transactional ids: the partitions split
between them and a new owner of a partition fences its old owner. The decide stage reads
a one-partition topic: one instance owns it, the others stand by and take over after the
group's session timeout (MCHUB_SESSION_TIMEOUT_MS, 6 s) when the owner dies.

The first test also delivers to a reference register (one per test, in this process), so
the delivery ledger is checked too. Each instance has its own data dir (as on separate
hosts: decide keeps a local state store there); all of them seal audit checkpoints with
one configured key
(MCHUB_AUDIT_KEY/CERT), so ``mchub audit verify`` checks one trust anchor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest
from aiokafka import ConsumerRecord

from connectors.delivery.ledger import LedgerRecord
from connectors.fanout.base import decode_canonical
from hub.adapters.groups import stage_groups
from hub.adapters.kafka import make_consumer, make_producer
from hub.bench.pipeline import he_events
from hub.contract.codec import AvroCodec
from hub.crypto.devca import generate_dev_keys
from hub.privacy.keystore import SqliteLearnerKeys
from hub.settings import Settings
from hub.topics import (
    CANONICAL_LOG,
    DELIVERY_RECEIPTS,
    REGISTER_STATE,
    SOURCE_TOPICS,
    source_receipts,
)
from mchub_reference.register.service import running_register
from tests.support import REPO_ROOT, shared_dir
from tests.support_kafka import read_topic

pytestmark = pytest.mark.slow

TEMPLATE = shared_dir() / "feeds" / "samples" / "he" / "01_kiallitas_tesztvezerelt_python.json"
#: the log line of a stage that took over the decide partition
DECIDE_STARTED = "decide: 1 task(s) started"
#: the log line of an instance whose ingest stage joined the group and got partitions
INGEST_STARTED = re.compile(r"ingest: \d+ task\(s\) started")
#: a stage's group notices a SIGKILLed member after the session timeout (6 s); the standby
#: must be deciding again well within this
TAKEOVER_LIMIT_S = 10.0
REGISTER_TOKEN = "scale-out-register-token"


@dataclass
class Instance:
    """One ``mchub run`` process, its output in files."""

    name: str
    proc: subprocess.Popen[bytes]
    stderr_path: Path
    files: list[IO[bytes]] = field(default_factory=list)

    def log(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 30) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def close(self) -> None:
        for f in self.files:
            f.close()


class Fleet:
    """The instances a test started (all of them are killed at the end)."""

    def __init__(self, settings: Settings, root: Path, *, register_url: str | None = None) -> None:
        self.settings = settings
        self.root = root
        self.register_url = register_url
        self.seal = generate_dev_keys(root / "seal")
        self.started: list[Instance] = []
        # one learner key store and pseudonym secret for every instance, as in production
        self.learner_env = {
            "MCHUB_LEARNER_KEY_STORE": str(root / "learners.db"),
            "MCHUB_LEARNER_SECRET": "fleet-learner-secret-0123456789",
            "MCHUB_LEARNER_KEK": "fleet-learner-kek-0123456789abcdef",
        }
        kek = self.learner_env["MCHUB_LEARNER_KEK"].encode()
        self.keys = SqliteLearnerKeys(root / "learners.db", kek)

    def env(self, data_dir: Path) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("MCHUB_REGISTER_URL", "MCHUB_WALLET_URL", "MCHUB_EDC_URL")
        }
        return {
            **env,
            "MCHUB_BOOTSTRAP": self.settings.bootstrap,
            "MCHUB_TOPIC_PREFIX": self.settings.topic_prefix,
            "MCHUB_CONSUMER_GROUP": self.settings.consumer_group,
            "MCHUB_CLIENT_ID": self.settings.client_id,
            "MCHUB_PARTITIONS": str(self.settings.partitions),
            "MCHUB_DATA_DIR": str(data_dir),
            # one seal for every instance, and its CA for `mchub audit verify`
            "MCHUB_AUDIT_KEY": str(self.seal.key),
            "MCHUB_AUDIT_CERT": str(self.seal.chain),
            "MCHUB_AUDIT_TRUST": str(self.seal.ca_cert),
            **self.learner_env,
            **(
                {"MCHUB_REGISTER_URL": self.register_url, "MCHUB_REGISTER_TOKEN": REGISTER_TOKEN}
                if self.register_url
                else {}
            ),
        }

    def start(self) -> Instance:
        name = f"i{len(self.started) + 1}"
        out = (self.root / f"{name}.stdout").open("wb")
        err_path = self.root / f"{name}.stderr"
        err = err_path.open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "run"],
            cwd=REPO_ROOT,
            env=self.env(self.root / f"{name}.data"),
            stdout=out,
            stderr=err,
        )
        instance = Instance(name, proc, err_path, [out, err])
        self.started.append(instance)
        return instance

    @property
    def running(self) -> list[Instance]:
        return [i for i in self.started if i.alive()]

    def cleanup(self) -> None:
        for instance in self.started:
            with contextlib.suppress(Exception):
                instance.kill()
            instance.close()

    def tails(self, lines: int = 15) -> str:
        """The last stderr lines of every instance (for assertion messages)."""
        parts = []
        for instance in self.started:
            text = instance.log().splitlines()[-lines:]
            parts.append(f"--- {instance.name} (rc={instance.proc.poll()}):\n" + "\n".join(text))
        return "\n".join(parts)


class Tail:
    """Reads a topic (read_committed) from the beginning in the background; records the
    monotonic time each record arrived."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.settings = settings
        self.topic = topic
        self.records: list[tuple[float, ConsumerRecord]] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Tail:
        consumer = make_consumer(self.settings, self.topic, group=None)
        await consumer.start()

        async def run() -> None:
            try:
                while True:
                    batch = await consumer.getmany(timeout_ms=50)
                    now = time.monotonic()
                    for records in batch.values():
                        self.records += [(now, r) for r in records]
            finally:
                await consumer.stop()

        self._task = asyncio.create_task(run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def __len__(self) -> int:
        return len(self.records)


class Quota:
    """How many events a feed may have sent so far: released phase by phase, so that
    every phase of a scenario sees events flowing however slowly the machine runs."""

    def __init__(self) -> None:
        self.limit = 0
        self._changed = asyncio.Event()

    def release(self, count: int) -> None:
        self.limit += count
        self._changed.set()

    async def beyond(self, sent: int) -> None:
        while self.limit <= sent:
            self._changed.clear()
            await self._changed.wait()


async def feed(
    settings: Settings,
    payloads: list[bytes],
    *,
    chunk: int,
    pause: float,
    stop: asyncio.Event | None = None,
    quota: Quota | None = None,
) -> int:
    """Send ``payloads`` to the ``he`` source topic, ``chunk`` at a time every ``pause`` s
    (within ``quota``, until ``stop`` is set); returns how many were sent."""
    producer = make_producer(settings)
    await producer.start()
    sent = 0
    try:
        while sent < len(payloads) and not (stop is not None and stop.is_set()):
            end = min(sent + chunk, len(payloads))
            if quota is not None:
                await quota.beyond(sent)
                end = min(end, quota.limit)
            for i in range(sent, end):
                await producer.send(
                    settings.topic(SOURCE_TOPICS["he"]), payloads[i], key=str(i % 50).encode()
                )
            sent = end
            await producer.flush()
            await asyncio.sleep(pause)
    finally:
        await producer.stop()
    return sent


async def wait_for(
    condition: Callable[[], object], what: str, fleet: Fleet, timeout: float
) -> None:
    """Poll ``condition()`` until true; fail with the instances' logs after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{fleet.tails()}")
        await asyncio.sleep(0.1)


async def stop_feeding(feeder: asyncio.Task[int] | None) -> None:
    """Cancel a feed still running (a test failed while feeding)."""
    if feeder is not None and not feeder.done():
        feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await feeder


def mchub_cli(fleet: Fleet, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real ``mchub`` CLI with the instances' settings."""
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        cwd=REPO_ROOT,
        env=fleet.env(fleet.root / "cli.data"),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def decide_owner(instances: list[Instance]) -> Instance | None:
    """The instance that most recently took over the decide partition (by its log)."""
    latest: tuple[str, Instance] | None = None
    for instance in instances:
        for line in instance.log().splitlines():
            if DECIDE_STARTED in line:
                stamp = line[:23]  # asctime: "2025-06-11 10:00:00,123"
                if latest is None or stamp > latest[0]:
                    latest = (stamp, instance)
    return latest[1] if latest else None


async def group_members(settings: Settings, stage: str) -> tuple[str, int]:
    """State and member count of a stage's consumer group (as ``mchub status`` reads it)."""
    [group] = await stage_groups(settings, [stage])
    return group.kafka_state, len(group.members)


async def test_three_instances_with_random_kills_and_scaling_give_each_input_exactly_once(
    applied_settings: Settings, tmp_path: Path
) -> None:
    settings = applied_settings
    events = 3000
    payloads = he_events(json.loads(TEMPLATE.read_text()), events, seed=11)
    rng = random.Random(20240611)
    register = contextlib.ExitStack()
    register_url = register.enter_context(
        running_register(f"sqlite:///{tmp_path / 'register.db'}", token=REGISTER_TOKEN)
    )
    fleet = Fleet(settings, tmp_path, register_url=register_url)
    receipts_topic = settings.topic(source_receipts("he"))
    actions: list[str] = []
    t0 = time.monotonic()

    def note(action: str) -> None:
        actions.append(f"{time.monotonic() - t0:5.1f}s {action}")

    feeder: asyncio.Task[int] | None = None
    try:
        async with Tail(settings, receipts_topic) as receipts:
            first = fleet.start()
            note(f"start {first.name}")
            await wait_for(lambda: DECIDE_STARTED in first.log(), "the first instance", fleet, 60)
            # 600 events per phase, 60 a second: every kill meets a flowing stream
            quota = Quota()
            feeder = asyncio.create_task(
                feed(settings, payloads, chunk=20, pause=1 / 3, quota=quota)
            )
            quota.release(600)
            await asyncio.sleep(2)
            for _ in range(2):  # scale out to three
                note(f"start {fleet.start().name}")
            killed_owner = False
            for round_ in range(3):  # SIGKILL a random instance and replace it, three times
                await wait_for(
                    lambda: all(INGEST_STARTED.search(i.log()) for i in fleet.running),
                    "every instance to join",
                    fleet,
                    60,
                )
                quota.release(600)
                await asyncio.sleep(rng.uniform(2, 4))
                assert len(fleet.running) == 3, fleet.tails()
                owner = decide_owner(fleet.started)
                victim = rng.choice(fleet.running)
                if round_ == 2 and not killed_owner and owner in fleet.running:
                    victim = owner  # the decide owner dies at least once
                killed_owner |= victim is owner
                assert len(receipts) < quota.limit, "killed too late: the stream was idle"
                victim.kill()
                role = " (decide owner)" if victim is owner else ""
                note(f"SIGKILL {victim.name}{role} at {len(receipts)} receipts")
                note(f"start {fleet.start().name}")
            assert killed_owner
            await wait_for(
                lambda: all(INGEST_STARTED.search(i.log()) for i in fleet.running),
                "every instance to join",
                fleet,
                60,
            )
            quota.release(300)
            await asyncio.sleep(2)
            survivor = rng.choice(fleet.running)
            for instance in fleet.running:  # scale back to one
                if instance is not survivor:
                    instance.terminate()
                    note(f"SIGTERM {instance.name} (rc={instance.proc.returncode})")
            quota.release(events - quota.limit)
            assert await feeder == events
            note("feed done")
            await wait_for(
                lambda: len(receipts) >= events or not survivor.alive(),
                f"{events} receipts (actions: {actions})",
                fleet,
                120,
            )
            assert survivor.alive(), fleet.tails()
            note(f"{len(receipts)} receipts")
            await asyncio.sleep(2.5)  # the idle checkpoint and the projection catch up
        survivor.terminate()
        note(f"SIGTERM {survivor.name} (rc={survivor.proc.returncode})")

        received = await read_topic(settings, receipts_topic, at_least=events, timeout=30)
        decided = Counter(json.loads(r.value)["idempotencyKey"] for r in received)
        twice = {k: n for k, n in decided.items() if n > 1}
        assert not twice, f"inputs with more than one receipt: {list(twice.items())[:5]} {actions}"
        assert len(decided) == events, f"{events - len(decided)} inputs without receipt {actions}"

        codec = AvroCodec()
        log = await read_topic(settings, settings.topic(CANONICAL_LOG), at_least=events)
        keys = Counter(codec.decode(r.value).envelope.idempotency_key for r in log)
        duplicated = {k: n for k, n in keys.items() if n > 1}
        assert not duplicated, f"inputs logged more than once: {list(duplicated)[:5]} {actions}"
        assert set(keys) == set(decided), f"{events - len(keys)} inputs missing from the log"

        credentials = {decode_canonical(r.value, fleet.keys).credential_id for r in log}
        assert len(credentials) == events and None not in credentials
        states = await read_topic(settings, settings.topic(REGISTER_STATE), at_least=events)
        per_key = Counter(bytes(r.key).decode() for r in states)
        assert set(per_key) == credentials, "register state and canonical log disagree"
        again = {k: n for k, n in per_key.items() if n > 1}
        assert not again, f"credentials with more than one state record: {list(again)[:5]}"

        # every instance also delivered to the register: one "delivered" ledger record per
        # event, whatever was killed between a 2xx and its commit
        ledger = await read_topic(settings, settings.topic(DELIVERY_RECEIPTS), at_least=events)
        delivered = Counter(
            LedgerRecord.from_json(r.value).event_id
            for r in ledger
            if LedgerRecord.from_json(r.value).state == "delivered"
        )
        event_ids = {codec.decode(r.value).envelope.event_id for r in log}
        assert set(delivered) == event_ids, f"{len(event_ids - set(delivered))} not delivered"
        twice = {k: n for k, n in delivered.items() if n > 1}
        assert not twice, f"delivered ledger records more than once: {list(twice.items())[:5]}"

        done = mchub_cli(fleet, "audit", "verify", "--json")
        assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        report = json.loads(done.stdout)
        assert report["ok"] is True and report["records"] == events
        assert report["checkpoints"] >= 2, report["checkpoints"]
        assert report["checkpointsValid"] == report["checkpoints"]
        print(f"\nscale-out: {len(fleet.started)} instances; " + "; ".join(actions))
    finally:
        await stop_feeding(feeder)
        fleet.cleanup()
        register.close()


async def test_decide_standby_takes_over_within_10_seconds(
    applied_settings: Settings, tmp_path: Path
) -> None:
    settings = applied_settings
    payloads = he_events(json.loads(TEMPLATE.read_text()), 3000, seed=12)
    fleet = Fleet(settings, tmp_path)
    stop_feed = asyncio.Event()
    feeder: asyncio.Task[int] | None = None
    try:
        async with Tail(settings, settings.topic(source_receipts("he"))) as receipts:
            first = fleet.start()
            await wait_for(lambda: DECIDE_STARTED in first.log(), "the first instance", fleet, 60)
            fleet.start()
            # 40 events a second while the test runs
            feeder = asyncio.create_task(
                feed(settings, payloads, chunk=10, pause=0.25, stop=stop_feed)
            )
            deadline = time.monotonic() + 60
            while (await group_members(settings, "decide")) != ("Stable", 2):
                assert time.monotonic() < deadline, f"no stable 2-member group\n{fleet.tails()}"
                await asyncio.sleep(0.5)
            await asyncio.sleep(2)  # receipts flow with both instances in the group
            owner = decide_owner(fleet.running)
            assert owner is not None, fleet.tails()
            standby = next(i for i in fleet.running if i is not owner)
            flowing = len(receipts)
            await wait_for(lambda: len(receipts) > flowing + 20, "receipts", fleet, 20)

            takeovers = standby.log().count(DECIDE_STARTED)
            killed_ms = time.time() * 1000
            killed = time.monotonic()
            owner.kill()

            def resumed() -> float | None:
                # a receipt created after the kill comes from the standby
                for arrived, record in receipts.records:
                    if record.timestamp > killed_ms:
                        return arrived
                return None

            await wait_for(lambda: resumed() is not None, "receipts after the kill", fleet, 60)
            took = (resumed() or 0.0) - killed
            print(f"\ndecide takeover: receipts again {took:.2f} s after SIGKILL of the owner")
            assert standby.log().count(DECIDE_STARTED) > takeovers, fleet.tails()
            assert took <= TAKEOVER_LIMIT_S, (
                f"the standby took {took:.2f} s (> {TAKEOVER_LIMIT_S} s) to decide again\n"
                f"{fleet.tails()}"
            )
            stop_feed.set()
            sent = await feeder
            await wait_for(lambda: len(receipts) >= sent, f"{sent} receipts", fleet, 60)
            await asyncio.sleep(1)
        keys = Counter(json.loads(r.value)["idempotencyKey"] for _, r in receipts.records)
        assert len(keys) == sent and set(keys.values()) == {1}, (
            f"decide takeover after {took:.2f} s; {sent} sent, {len(keys)} receipted, "
            f"{sum(n > 1 for n in keys.values())} twice"
        )
    finally:
        stop_feed.set()
        await stop_feeding(feeder)
        fleet.cleanup()

"""``mchub bench normalise``: the core stream against a plain relay, on the real broker.

Measured in one run, on the same pre-loaded higher-education events:

- ``stream``: sustained events/s of the hub's core stream (ingest + decide stages, with
  transactions) from the source topic to the canonical log, in this process;
- ``processes``: the same with 1 and with 2 ``mchub run --stages ingest,decide`` worker
  processes sharing the partitions (each run on its own topics, timed from the first
  event produced to the last receipt, the workers started and joined beforehand);
- ``relay``: a plain aiokafka consume-and-produce relay of the same bytes (acks=all,
  idempotent producer, offsets committed per batch) — the ceiling of any Kafka stage here;
- ``pure``: the pure normalise function without Kafka;
- ingest-to-log latency p50/p99 at a paced 1,000 events/s, and peak RSS.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import time
import uuid
from pathlib import Path
from typing import Any

from hub import vocab
from hub.adapters.kafka import make_admin, make_consumer, make_producer
from hub.bench import machine_info
from hub.settings import Settings
from hub.topics import SOURCE_TOPICS, apply_topics, source_receipts


def education_id(rng: random.Random) -> str:
    """A random valid Hungarian education ID (first digit 7, correct check digit)."""
    while True:
        first_ten = "7" + "".join(str(rng.randrange(10)) for _ in range(9))
        check = vocab.education_id_check_digit(first_ten)
        if check is not None:
            return first_ten + str(check)


def he_events(template: dict[str, Any], count: int, seed: int = 7) -> list[bytes]:
    """``count`` distinct valid ``he`` issuance events derived from a sample."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        doc = json.loads(json.dumps(template))
        doc["esemeny_azonosito"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        doc["hallgato"]["oktatasi_azonosito"] = education_id(rng)
        doc["oklevel"]["azonosito"] = f"BENCH-{i:08d}"
        out.append(json.dumps(doc, ensure_ascii=False).encode())
    return out


async def preload(settings: Settings, topic: str, payloads: list[bytes]) -> None:
    """Write the payloads to ``topic`` (keys spread over partitions)."""
    producer = make_producer(settings, linger_ms=20)
    await producer.start()
    try:
        for i, payload in enumerate(payloads):
            await producer.send(topic, payload, key=str(i % 64).encode())
        await producer.flush()
    finally:
        await producer.stop()


async def relay_rate(settings: Settings, source: str, target: str, count: int) -> float:
    """Events/s of a plain consume-and-produce relay of ``count`` records."""
    consumer = make_consumer(
        settings, source, group=settings.group("bench-relay"), max_poll_records=1000
    )
    producer = make_producer(settings)
    await producer.start()
    await consumer.start()
    seen = 0
    started = time.perf_counter()
    try:
        while seen < count:
            batch = await consumer.getmany(timeout_ms=100, max_records=1000)
            for records in batch.values():
                for record in records:
                    await producer.send(target, record.value, key=record.key)
                seen += len(records)
            if batch:
                await producer.flush()
                await consumer.commit()
        return count / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await producer.stop()


async def count_receipts(settings: Settings, count: int, *, timeout: float) -> float:
    """Wait until ``count`` receipts are visible (read_committed); return when, in seconds."""
    consumer = make_consumer(settings, settings.topic(source_receipts("he")), group=None)
    await consumer.start()
    seen = 0
    started = time.perf_counter()
    try:
        while seen < count and time.perf_counter() - started < timeout:
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            seen += sum(len(r) for r in batch.values())
        return time.perf_counter() - started
    finally:
        await consumer.stop()


async def stream_rate(settings: Settings, count: int) -> float:
    """Events/s of the core stream over ``count`` pre-loaded events."""
    from hub.stream.runner import core_stages, run_stages

    stop = asyncio.Event()
    stages = core_stages(settings)
    runner = asyncio.create_task(run_stages(stages, stop))
    try:
        elapsed = await count_receipts(settings, count, timeout=600)
    finally:
        stop.set()
        await runner
    return count / elapsed


async def stable_members(settings: Settings, stage: str) -> int:
    """Members of a stage's consumer group once it is stable (0 while it rebalances or
    does not exist), as ``mchub status`` reads them."""
    from hub.adapters.groups import stage_groups

    [group] = await stage_groups(settings, [stage])
    return len(group.members) if group.kafka_state == "Stable" else 0


def isolated(settings: Settings, tag: str) -> Settings:
    """``settings`` with a topic, group and client prefix of their own."""
    return settings.model_copy(
        update={
            "topic_prefix": f"bench-{tag}.",
            "consumer_group": f"bench-{tag}",
            "client_id": f"bench-{tag}",
        }
    )


async def process_rate(settings: Settings, payloads: list[bytes], workers: int) -> float:
    """Events/s of ``workers`` core-stream processes over ``payloads`` (own topics)."""
    import os
    import subprocess
    import sys

    bench = isolated(settings, f"{uuid.uuid4().hex[:8]}-p{workers}")
    await apply_topics(bench)
    env = {
        **os.environ,
        "MCHUB_BOOTSTRAP": bench.bootstrap,
        "MCHUB_TOPIC_PREFIX": bench.topic_prefix,
        "MCHUB_CONSUMER_GROUP": bench.consumer_group,
        "MCHUB_CLIENT_ID": bench.client_id,
        "MCHUB_PARTITIONS": str(bench.partitions),
        "MCHUB_DATA_DIR": str(bench.data_dir),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "hub", "run", "--stages", "ingest,decide"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    try:
        deadline = time.monotonic() + 120
        while (
            await stable_members(bench, "ingest") < workers
            or await stable_members(bench, "decide") < workers
        ):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError("the worker processes did not join their groups")
            await asyncio.sleep(0.5)
        started = time.perf_counter()
        await preload(bench, bench.topic(SOURCE_TOPICS["he"]), payloads)
        await count_receipts(bench, len(payloads), timeout=600)
        return len(payloads) / (time.perf_counter() - started)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


async def decide_rate(settings: Settings, payloads: list[bytes]) -> float:
    """Events/s of the decide stage alone (its ceiling: one partition, one task), over
    decide requests that the ingest stage wrote beforehand."""
    from connectors.fanout.lag import log_end_offsets, wait_caught_up
    from hub.stream.decide import decide_stage
    from hub.stream.ingest import ingest_stage
    from hub.stream.runner import run_stages

    bench = isolated(settings, f"{uuid.uuid4().hex[:8]}-decide")
    await apply_topics(bench)
    source = bench.topic(SOURCE_TOPICS["he"])
    await preload(bench, source, payloads)
    stop = asyncio.Event()
    ingest = asyncio.create_task(run_stages([ingest_stage(bench)], stop))
    try:
        ends = await log_end_offsets(bench, source)
        behind = await wait_caught_up(bench, [bench.group("ingest")], ends, timeout=600)
        if any(behind.values()):
            raise RuntimeError(f"ingest did not catch up: {behind}")
    finally:
        stop.set()
        await ingest
    stop = asyncio.Event()
    stage = decide_stage(bench)
    decide = asyncio.create_task(run_stages([stage], stop))
    await stage.ready.wait()  # joined, fenced and restored: timing starts here
    started = time.perf_counter()
    try:
        await count_receipts(bench, len(payloads), timeout=600)
        return len(payloads) / (time.perf_counter() - started)
    finally:
        stop.set()
        await decide


async def latency_at(settings: Settings, payloads: list[bytes], rate: float) -> dict[str, float]:
    """p50/p99 milliseconds from producing to a source topic to the decision being visible."""
    from hub.stream.runner import core_stages, run_stages

    stop = asyncio.Event()
    stages = core_stages(settings)
    runner = asyncio.create_task(run_stages(stages, stop))
    await asyncio.gather(*(s.ready.wait() for s in stages))
    receipts = make_consumer(
        settings, settings.topic(source_receipts("he")), group=None, auto_offset_reset="latest"
    )
    await receipts.start()
    await receipts.seek_to_end()
    sent: dict[str, float] = {}
    arrived: dict[str, float] = {}
    producer = make_producer(settings, linger_ms=0)
    await producer.start()

    async def collect() -> None:
        while len(arrived) < len(payloads):
            batch = await receipts.getmany(timeout_ms=100)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    body = json.loads(record.value)
                    arrived.setdefault(body.get("idempotencyKey") or "", now)

    collector = asyncio.create_task(collect())
    try:
        started = time.perf_counter()
        topic = settings.topic(SOURCE_TOPICS["he"])
        for i, payload in enumerate(payloads):
            due = started + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            key = "he:" + json.loads(payload)["esemeny_azonosito"]
            sent[key] = time.perf_counter()
            await producer.send(topic, payload, key=str(i % 64).encode())
        await asyncio.wait_for(collector, 120)
    finally:
        collector.cancel()
        await producer.stop()
        await receipts.stop()
        stop.set()
        await runner
    latencies = sorted((arrived[k] - sent[k]) * 1000 for k in sent if k in arrived)
    return {
        "p50_ms": round(_percentile(latencies, 50), 2),
        "p99_ms": round(_percentile(latencies, 99), 2),
        "samples": len(latencies),
    }


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, round(pct / 100 * len(values)) - 1))
    return values[index]


async def run(
    settings: Settings, *, events: int, samples_dir: Path, latency_seconds: float = 10.0
) -> dict[str, Any]:
    """Run every measurement in one go and return the JSON-ready result."""
    from hub.normalise.bench import normalise_rate

    template = json.loads(
        (samples_dir / "he" / "01_kiallitas_tesztvezerelt_python.json").read_text()
    )
    payloads = he_events(template, events)
    bench = isolated(settings, uuid.uuid4().hex[:8])
    await apply_topics(bench)
    source = bench.topic(SOURCE_TOPICS["he"])
    await preload(bench, source, payloads)
    relay_target = bench.topic("bench.relay.out")
    from aiokafka.admin import NewTopic

    admin = make_admin(bench)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(relay_target, bench.partitions, 1)])
    finally:
        await admin.close()
    relay = await relay_rate(bench, source, relay_target, events)
    stream = await stream_rate(bench, events)
    pure = normalise_rate("he", payloads[:2000], seconds=2.0)
    paced_count = int(1000 * latency_seconds)
    paced = he_events(template, paced_count, seed=11)
    latency = await latency_at(bench, paced, rate=1000.0)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    one = await process_rate(settings, payloads, 1)
    two = await process_rate(settings, payloads, 2)
    decide_only = await decide_rate(settings, payloads)
    return {
        "benchmark": "normalise",
        "events": events,
        "stream_events_per_s": round(stream, 1),
        "relay_events_per_s": round(relay, 1),
        "stream_to_relay_ratio": round(stream / relay, 3),
        "processes": {
            "1": {"events_per_s": round(one, 1)},
            "2": {"events_per_s": round(two, 1), "per_process": round(two / 2, 1)},
            "note": "worker processes, the broker and this load generator share the cores",
        },
        "decide_alone_events_per_s": round(decide_only, 1),
        "pure_normalise_events_per_s": round(pure, 1),
        "latency_at_1000_per_s": latency,
        "peak_rss_mib": round(rss_mib, 1),
        "goals": {
            "stream_events_per_s": 10_000,
            "stream_to_relay_ratio": 0.5,
            "p99_ms_at_1000_per_s": 50,
        },
        "machine": machine_info(),
    }

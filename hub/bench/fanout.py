"""``mchub bench fanout``: the fan-out against a plain consume-and-PUT loop, on the real broker.

Measured in one run, against real local servers (:mod:`mchub_reference.local`: the
reference register over a SQLite file, and — when installed — the wallet host and the
EDC endpoint), each in a child process of its own as real destinations run elsewhere,
with the wallet host's status check and the EDC endpoint's seal check off (their cost is
the destination's, not the hub's); on a canonical log the core stream built from
generated ``he`` issuances:

- ``all_destinations``: events/s one worker process delivers to every available
  destination at once (one connector each, all reading the canonical log, each with its
  own consumer group, HTTP, ledger and offsets in one transaction per batch);
- ``register_only``: events/s of the register connector alone;
- ``baseline_register``: a plain aiokafka consumer + httpx ``PUT`` of the same requests
  to the same register, offsets committed per batch, no ledger, no transactions, no
  retries — the ceiling the delivery runtime is compared with;
- ``destination_ceiling``: requests/s each local destination answers when a plain httpx
  client sends it the same requests, built beforehand (no Kafka, no rendering or
  signing timed) at the same concurrency — what the destinations themselves allow here;
- ``latency_at_500_per_s``: p50/p99 milliseconds from producing a source event to the
  register's 2xx for it arriving at the connector, with the whole hub running in this
  process (ingest, decide, projection, register connector) and the register in a child
  process, events paced at 500/s.
"""

from __future__ import annotations

import asyncio
import json
import resource
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from connectors.fanout.base import decode_canonical
from connectors.fanout.lag import committed_records, log_end_offsets, wait_caught_up
from connectors.fanout.register import RegisterDestination
from connectors.fanout.workers import fanout_workers
from hub.adapters.kafka import make_consumer, make_producer
from hub.bench import machine_info
from hub.bench.pipeline import _percentile, count_receipts, he_events, preload
from hub.settings import Settings
from hub.stream.runner import core_stages, run_stages
from hub.topics import CANONICAL_LOG, SOURCE_TOPICS, apply_topics
from mchub_reference.local import local_destinations


class StampingTransport(httpx.AsyncBaseTransport):
    """The connector's HTTP transport, noting when the register's 2xx arrives per credential.

    The moment is taken when the answer's status line is in (the register has applied
    the changes); ``applied`` maps each pushed change's ``credentialKey`` to it.
    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.applied: dict[str, float] = {}
        self._clock = clock

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send, then stamp every change of a 2xx answered push."""
        response = await self.inner.handle_async_request(request)
        if 200 <= response.status_code < 300 and request.method in ("PUT", "POST"):
            now = self._clock()
            body = json.loads(request.content or b"{}")
            for change in body.get("changes", [body]):
                key = change.get("credentialKey")
                if isinstance(key, str):
                    self.applied.setdefault(key, now)
        return response

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self.inner.aclose()


def _isolated(settings: Settings, name: str) -> Settings:
    tag = uuid.uuid4().hex[:8]
    return settings.model_copy(
        update={
            "topic_prefix": f"bench-{name}-{tag}.",
            "consumer_group": f"bench-{name}-{tag}",
            "client_id": f"bench-{name}-{tag}",
        }
    )


async def build_log(settings: Settings, payloads: list[bytes]) -> None:
    """Run the core stream over ``payloads`` until each has its receipt (not timed)."""
    await preload(settings, settings.topic(SOURCE_TOPICS["he"]), payloads)
    stop = asyncio.Event()
    runner = asyncio.create_task(run_stages(core_stages(settings), stop))
    try:
        await count_receipts(settings, len(payloads), timeout=600)
    finally:
        stop.set()
        await runner


async def deliver_rate(
    settings: Settings, urls: dict[str, str], destinations: dict[str, Any], events: int
) -> float:
    """Events/s until every connector in ``urls`` committed the whole canonical log."""
    ends = await log_end_offsets(settings)
    stop = asyncio.Event()
    async with fanout_workers(
        settings, urls=urls, destinations=destinations, projection=False
    ) as workers:
        task = asyncio.create_task(run_stages(workers, stop))
        try:
            await asyncio.wait_for(asyncio.gather(*(w.ready.wait() for w in workers)), 60)
            started = time.perf_counter()  # from the partition assignment on
            behind = await wait_caught_up(
                settings,
                [settings.group(f"deliver-{n}") for n in urls],
                ends,
                timeout=600,
                interval=0.05,
            )
            elapsed = time.perf_counter() - started
        finally:
            stop.set()
            await task
    if any(behind.values()):
        raise RuntimeError(f"the connectors did not catch up: {behind}")
    return events / elapsed


async def baseline_rate(settings: Settings, url: str, events: int, concurrency: int) -> float:
    """Events/s of a plain consume + httpx PUT loop to the register (no delivery runtime)."""
    destination = RegisterDestination()
    consumer = make_consumer(
        settings,
        settings.topic(CANONICAL_LOG),
        group=settings.group("bench-baseline"),
        max_poll_records=200,
    )
    limits = httpx.Limits(max_connections=concurrency)
    seen = 0
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        slots = asyncio.Semaphore(concurrency)

        async def put(value: bytes) -> None:
            item = decode_canonical(value)
            spec = destination.build_request(item)
            async with slots:
                response = await client.request(
                    spec.method,
                    spec.path,
                    json=spec.json,
                    headers={"Idempotency-Key": item.event_id},
                )
            response.raise_for_status()

        await consumer.start()
        started: float | None = None
        try:
            while seen < events:
                batch = await consumer.getmany(timeout_ms=100, max_records=200)
                if started is None and consumer.assignment():
                    started = time.perf_counter()  # from the partition assignment on
                values = [r.value for rs in batch.values() for r in rs if r.value is not None]
                await asyncio.gather(*(put(v) for v in values))
                seen += len(values)
                if batch:
                    await consumer.commit()
            assert started is not None
            return events / (time.perf_counter() - started)
        finally:
            await consumer.stop()


async def destination_ceilings(
    settings: Settings, urls: dict[str, str], destinations: dict[str, Any], concurrency: int
) -> dict[str, float]:
    """Requests/s each destination answers to a plain httpx client (requests pre-built)."""
    items = [
        decode_canonical(r.value)
        async for batch in committed_records(settings, settings.topic(CANONICAL_LOG))
        for r in batch
        if r.value is not None
    ]
    rates: dict[str, float] = {}
    for name, url in urls.items():
        destination = destinations.get(name) or RegisterDestination()
        specs = [(i.event_id, destination.build_request(i)) for i in items if destination.wants(i)]
        rates[name] = await _post_all(url, specs, concurrency)
    return rates


async def _post_all(url: str, specs: list[tuple[str, Any]], concurrency: int) -> float:
    """Send pre-built requests ``concurrency`` at a time; requests/s (every answer 2xx)."""
    limits = httpx.Limits(max_connections=concurrency)
    slots = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def send(event_id: str, spec: Any) -> None:
            async with slots:
                response = await client.request(
                    spec.method, spec.path, json=spec.json, content=spec.content,
                    headers={**spec.headers, "Idempotency-Key": event_id},
                )
            if response.status_code >= 300:
                raise RuntimeError(f"{url}{spec.path} answered {response.status_code}")

        started = time.perf_counter()
        await asyncio.gather(*(send(e, spec) for e, spec in specs))
        return round(len(specs) / (time.perf_counter() - started), 1)


async def latency_at(
    settings: Settings, payloads: list[bytes], rate: float, data_dir: Path,
    *, warmup: int = 0,
) -> dict[str, float]:
    """p50/p99 ms from producing a source event to the register's 2xx for it, paced.

    The hub runs in this process (ingest, decide, projection, register connector); the
    register runs in a child process, as it would in a deployment. The first ``warmup``
    payloads are sent at the same pace but not counted (connections, metadata, first
    transactions).
    """
    stamps = StampingTransport()
    sent: dict[str, float] = {}
    with local_destinations(data_dir, wallet=False, edc=False, separate_process=True) as local:
        async with fanout_workers(
            settings, urls={"register": local.urls["register"]},
            transport=stamps,
        ) as fan:
            workers = [*core_stages(settings), *fan]
            stop = asyncio.Event()
            task = asyncio.create_task(run_stages(workers, stop))
            producer = make_producer(settings, linger_ms=0)
            try:
                await asyncio.wait_for(asyncio.gather(*(w.ready.wait() for w in workers)), 60)
                await producer.start()
                topic = settings.topic(SOURCE_TOPICS["he"])
                started = time.perf_counter()
                for i, payload in enumerate(payloads):
                    delay = started + i / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    doc = json.loads(payload)
                    key = f"he:{doc['intezmeny']['kod']}:{doc['oklevel']['azonosito']}"
                    sent[key] = time.perf_counter()
                    await producer.send(topic, payload, key=str(i % 64).encode())
                deadline = time.perf_counter() + 120
                while len(stamps.applied) < len(sent) and time.perf_counter() < deadline:
                    await asyncio.sleep(0.1)
            finally:
                await producer.stop()
                stop.set()
                await task
    counted = list(sent.items())[warmup:]
    latencies = sorted((stamps.applied[k] - at) * 1000 for k, at in counted if k in stamps.applied)
    return {
        "p50_ms": round(_percentile(latencies, 50), 2),
        "p99_ms": round(_percentile(latencies, 99), 2),
        "max_ms": round(latencies[-1], 2) if latencies else 0.0,
        "samples": len(latencies),
        "sent": len(counted),
        "warmup_events": warmup,
    }


async def run(
    settings: Settings, *, events: int, samples_dir: Path, latency_seconds: float = 10.0
) -> dict[str, Any]:
    """Run every measurement in one go and return the JSON-ready result."""
    template = json.loads(
        (samples_dir / "he" / "01_kiallitas_tesztvezerelt_python.json").read_text()
    )
    concurrency = settings.fanout.fanout_concurrency
    with tempfile.TemporaryDirectory(prefix="mchub-bench-fanout-") as tmp:
        work = Path(tmp)
        bench = _isolated(settings, "fanout")
        await apply_topics(bench)
        await build_log(bench, he_events(template, events))

        apart: dict[str, Any] = {"separate_process": True, "verify": False}
        with local_destinations(work / "all", **apart) as local:
            everywhere = await deliver_rate(bench, local.urls, local.destinations, events)
            names, missing = list(local.urls), dict(local.missing)
        with local_destinations(work / "one", wallet=False, edc=False, **apart) as one:
            only = await deliver_rate(
                _regroup(bench, "one"), {"register": one.urls["register"]}, {}, events
            )
        with local_destinations(work / "base", wallet=False, edc=False, **apart) as b:
            baseline = await baseline_rate(bench, b.urls["register"], events, concurrency)
        with local_destinations(work / "ceiling", **apart) as c:
            ceiling = await destination_ceilings(bench, c.urls, c.destinations, concurrency)

        paced = _isolated(settings, "latency")
        await apply_topics(paced)
        warmup = 1500  # 3 s at 500/s, not counted
        latency = await latency_at(
            paced, he_events(template, warmup + int(500 * latency_seconds), seed=11), 500.0,
            work / "lat", warmup=warmup,
        )
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "benchmark": "fanout",
        "events": events,
        "destinations": names,
        "destinations_missing": missing,
        "workers": 1,
        "concurrency_per_destination": concurrency,
        "all_destinations_events_per_s": round(everywhere, 1),
        "register_only_events_per_s": round(only, 1),
        "baseline_register_events_per_s": round(baseline, 1),
        "register_to_baseline_ratio": round(only / baseline, 3),
        "destination_ceiling_requests_per_s": ceiling,
        "latency_source_to_register_2xx_at_500_per_s": latency,
        "peak_rss_mib": round(rss_mib, 1),
        "machine": machine_info(),
    }


def _regroup(settings: Settings, name: str) -> Settings:
    """Same topics, fresh consumer groups and transactional ids (another reading of the log)."""
    return settings.model_copy(
        update={
            "consumer_group": f"{settings.consumer_group}-{name}",
            "client_id": f"{settings.client_id}-{name}",
        }
    )

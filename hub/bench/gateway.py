"""``mchub bench gateway``: accepted requests/s and latency of the HTTP gateway.

The gateway runs as its own process (``mchub gateway serve``, access log off) against the
broker, with a throw-away topic prefix and a registry with fresh keys. A load generator
in this process keeps ``concurrency`` requests in flight and measures, per workload:

- ``single``: one ``he`` event per request (a sample issuance);
- ``csv_1000``: one ``al`` CSV file of 1,000 valid rows per request.

Every request must be answered ``202`` (appended after acks=all). The baseline is the
same payloads sent by a plain aiokafka producer (acks=all, idempotent, ``send_and_wait``)
at the same concurrency: what Kafka alone costs on this machine. The client shares the
CPU with the gateway and the broker, so figures are low-side.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from hub.adapters.kafka import make_producer
from hub.authz import example_registry_path
from hub.bench import machine_info
from hub.bench.pipeline import _percentile, education_id
from hub.errors import ConfigurationError
from hub.gateway.auth import generate_key
from hub.normalise import normalise
from hub.settings import Settings
from hub.topics import SOURCE_TOPICS, apply_topics

EXAMPLE_REGISTRY = example_registry_path()


def csv_batch(template: bytes, rows: int, seed: int = 11) -> bytes:
    """An ``al`` file of ``rows`` distinct valid issuance rows derived from a sample."""
    text = template.decode("utf-8-sig")
    reader = list(csv.reader(io.StringIO(text), delimiter=";"))
    header, issued = reader[0], next(r for r in reader[1:] if r[1] == "KIALLITVA")
    column = {name: i for i, name in enumerate(header)}
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    for i in range(rows):
        row = list(issued)
        row[column["sor_azonosito"]] = f"B-{i:06d}"
        row[column["tanusitvany_szam"]] = f"BENCH/{i:06d}"
        row[column["oktatasi_azonosito"]] = education_id(rng)
        writer.writerow(row)
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _registry(path: Path) -> dict[str, str]:
    doc = json.loads(EXAMPLE_REGISTRY.read_text(encoding="utf-8"))
    keys = {}
    for source in doc["sources"]:
        presented, hashed = generate_key(f"{source['id']}-bench")
        source["apiKeys"] = [{"id": f"{source['id']}-bench", "hash": hashed}]
        source["rateLimit"] = {"requestsPerSecond": 1e6, "burst": 1_000_000}
        keys[source["id"]] = presented
    path.write_text(json.dumps(doc), encoding="utf-8")
    return keys


async def _load(client: Any, path: str, body: bytes, headers: dict[str, str],
                count: int, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue = iter(range(count))

    async def worker() -> None:
        for _ in queue:
            start = time.perf_counter()
            async with client.post(path, data=body, headers=headers) as answer:
                await answer.read()
            latencies.append(time.perf_counter() - start)
            statuses[answer.status] = statuses.get(answer.status, 0) + 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    accepted = statuses.get(202, 0)
    return {
        "requests": count,
        "accepted": accepted,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "concurrency": concurrency,
        "accepted_per_s": round(accepted / elapsed, 1),
        "p50_ms": round(_percentile(latencies, 50) * 1000, 1),
        "p99_ms": round(_percentile(latencies, 99) * 1000, 1),
    }


async def _baseline(settings: Settings, topic: str, body: bytes, count: int,
                    concurrency: int) -> dict[str, Any]:
    producer = make_producer(settings)
    await producer.start()
    latencies: list[float] = []
    queue = iter(range(count))

    async def worker() -> None:
        for _ in queue:
            start = time.perf_counter()
            await producer.send_and_wait(topic, body)
            latencies.append(time.perf_counter() - start)

    try:
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    finally:
        await producer.stop()
    latencies.sort()
    return {"requests": count, "per_s": round(count / elapsed, 1),
            "p50_ms": round(_percentile(latencies, 50) * 1000, 1),
            "p99_ms": round(_percentile(latencies, 99) * 1000, 1)}


async def run(settings: Settings, *, samples_dir: Path, single: int = 3000,
              batches: int = 40, concurrency: int = 32,
              batch_concurrency: int = 4) -> dict[str, Any]:
    """Run both workloads and their baselines; one JSON-ready dict."""
    try:
        import aiohttp  # the load generator: a much lighter client than httpx
    except ImportError as exc:  # pragma: no cover - a dev dependency
        raise ConfigurationError(
            "mchub bench gateway needs aiohttp: pip install -e '.[dev]'") from exc
    settings = settings.model_copy(update={"topic_prefix": f"bench-gw-{uuid.uuid4().hex[:8]}."})
    await apply_topics(settings)
    he_body = (samples_dir / "he" / "01_kiallitas_tesztvezerelt_python.json").read_bytes()
    al_body = csv_batch((samples_dir / "al" / "FAR_E-2020-000123_20250701_01.csv").read_bytes(),
                        1000)
    checked = normalise("al", al_body)
    if len(checked.items) != 1000 or not all(i.accepted for i in checked.items):
        raise ConfigurationError("the generated 1,000-row CSV batch does not normalise cleanly")
    with tempfile.TemporaryDirectory(prefix="mchub-bench-gw-") as tmp:
        keys = _registry(Path(tmp) / "issuers.json")
        port = _free_port()
        env = {**os.environ, "MCHUB_BOOTSTRAP": settings.bootstrap,
               "MCHUB_TOPIC_PREFIX": settings.topic_prefix,
               "MCHUB_GATEWAY_PORT": str(port), "MCHUB_GATEWAY_DB": str(Path(tmp) / "gw.db"),
               "MCHUB_GATEWAY_ACCESS_LOG": "false",
               "MCHUB_ISSUERS": str(Path(tmp) / "issuers.json")}
        server = subprocess.Popen(
            [sys.executable, "-m", "hub.cli.main", "gateway", "serve"], env=env,
            stdout=subprocess.DEVNULL, stderr=open(Path(tmp) / "gateway.log", "wb"))  # noqa: SIM115
        try:
            base = f"http://127.0.0.1:{port}"
            connector = aiohttp.TCPConnector(limit=concurrency)
            async with aiohttp.ClientSession(base_url=base, connector=connector,
                                             timeout=aiohttp.ClientTimeout(total=60)) as client:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        async with client.get("/healthz") as health:
                            if health.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    if server.poll() is not None or time.monotonic() > deadline:
                        log = (Path(tmp) / "gateway.log").read_text(errors="replace")[-2000:]
                        raise ConfigurationError(f"the gateway did not start:\n{log}")
                    await asyncio.sleep(0.2)
                he_headers = {"Authorization": f"Bearer {keys['fir-central']}",
                              "Content-Type": "application/json"}
                al_headers = {"Authorization": f"Bearer {keys['far-central']}",
                              "Content-Type": "text/csv; charset=utf-8"}
                await _load(client, "/v1/feeds/he/events", he_body, he_headers, 200, concurrency)
                single_result = await _load(client, "/v1/feeds/he/events", he_body, he_headers,
                                            single, concurrency)
                batch_result = await _load(client, "/v1/feeds/al/events", al_body, al_headers,
                                           batches, batch_concurrency)
        finally:
            server.terminate()
            server.wait(30)
    he_topic = settings.topic(SOURCE_TOPICS["he"])
    al_topic = settings.topic(SOURCE_TOPICS["al"])
    return {
        "benchmark": "gateway",
        "machine": machine_info(),
        "single": {**single_result, "body_bytes": len(he_body)},
        "csv_1000": {**batch_result, "body_bytes": len(al_body),
                     "rows_per_s": round(batch_result["accepted_per_s"] * 1000, 1)},
        "baseline_kafka_producer": {
            "single": await _baseline(settings, he_topic, he_body, single, concurrency),
            "csv_1000": await _baseline(settings, al_topic, al_body, batches, batch_concurrency),
        },
    }

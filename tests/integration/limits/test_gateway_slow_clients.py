"""The real gateway (its TLS-capable protocol, FastAPI app, Kafka producer) closes
slowloris connections after its head deadline while a normal submission is served."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from hub.gateway.server import running_gateway
from hub.settings import Settings
from tests.integration.gateway.conftest import Registry
from tests.integration.limits.payloads import he_event

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CONNECTIONS = 200
HEADER_TIMEOUT = 2.0
BOUND = 30.0  # generous: the deadline plus scheduling on a busy 2-core box


async def _slowloris(host: str, port: int, started: float) -> tuple[float, bytes]:
    """Open a connection and send a request head one byte every 100 ms (never finishing
    in time); when the server closed it and what it answered."""
    head = b"POST /v1/feeds/he/events HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 4000
    reader, writer = await asyncio.open_connection(host, port)
    answer = b""
    try:
        for byte in head:
            writer.write(bytes([byte]))
            try:
                await writer.drain()
                chunk = await asyncio.wait_for(reader.read(1024), 0.1)
            except TimeoutError:
                continue
            except ConnectionError:
                break
            answer += chunk
            if not chunk:
                break
    finally:
        writer.close()
    return time.monotonic() - started, answer


async def test_slowloris_connections_are_closed_and_normal_requests_served(
    applied_settings: Settings, registry: Registry, tmp_path: Path
) -> None:
    settings = applied_settings.with_section(
        "gateway", db=tmp_path / "gw.db", header_timeout_seconds=HEADER_TIMEOUT, access_log=False)
    with running_gateway(settings, registry.path) as url:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        started = time.monotonic()
        slow = [asyncio.create_task(_slowloris(host, int(port), started))
                for _ in range(CONNECTIONS)]
        await asyncio.sleep(0.5)
        async with httpx.AsyncClient(base_url=url, timeout=20) as client:
            answer = await client.post(
                "/v1/feeds/he/events", content=he_event(3_000),
                headers={**registry.auth("fir-central"), "Content-Type": "application/json"})
            normal_seconds = time.monotonic() - started
        assert answer.status_code == 202, answer.text
        results = await asyncio.wait_for(asyncio.gather(*slow), BOUND + 10)
    closed_after = [seconds for seconds, _ in results]
    print(f"\nslowloris: {CONNECTIONS} connections closed after "
          f"{min(closed_after):.1f}-{max(closed_after):.1f} s (deadline {HEADER_TIMEOUT} s); "
          f"a normal submission answered meanwhile at {normal_seconds:.1f} s")
    assert all(a.startswith(b"HTTP/1.1 408") for _, a in results)
    assert max(closed_after) < BOUND

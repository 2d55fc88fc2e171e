"""Helpers of the fan-out integration tests: the hub in-process, a recording register."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web

from connectors.delivery.http_sink import HttpRequest
from connectors.delivery.policy import CircuitBreaker, RetryPolicy
from connectors.fanout.base import CanonicalItem, Destination
from connectors.fanout.lag import log_end_offsets, wait_caught_up
from connectors.fanout.workers import fanout_workers
from connectors.register.models import ApplyResult, Change
from hub.adapters.kafka import make_consumer
from hub.publish import Published, publish, sample_messages
from hub.receipts import ReceiptBook, read_receipts
from hub.settings import Settings
from hub.stream.runner import Worker, core_stages, run_stages
from hub.topics import CANONICAL_LOG, DECIDE_CHANGELOG, REGISTER_STATE
from mchub_reference.register.service import running_register
from mchub_reference.register.sqlite_store import SqliteRegisterStore
from tests.support import shared_dir

FAST_RETRY = RetryPolicy(base=0.02, cap=0.2, jitter=0.5)


class RecordingStore(SqliteRegisterStore):
    """An in-memory register store that records every change it is asked to apply."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.verdicts: list[tuple[str, str]] = []

    def apply_change(self, change: Change, *, snapshot: bool = False) -> ApplyResult:
        """Apply as usual; remember (event id, verdict)."""
        result = super().apply_change(change, snapshot=snapshot)
        self.verdicts.append((change.event_id, result.status))
        return result


@contextmanager
def register(store: RecordingStore | None = None) -> Iterator[tuple[str, RecordingStore]]:
    """The reference register on a free port, backed by a recording in-memory store."""
    store = store or RecordingStore()
    try:
        with running_register(store) as url:
            yield url, store
    finally:
        store.close()


def fast_options() -> dict[str, Any]:
    """Test-sized retry timings and short polls for the connectors."""
    return {
        "retry": FAST_RETRY,
        "breaker": CircuitBreaker(failure_threshold=3, reset_timeout=0.2),
        "timeout": 5.0,
        "runner_options": {"poll_timeout_ms": 50, "pending_interval": 0.5},
    }


@asynccontextmanager
async def hub_running(
    settings: Settings,
    urls: Mapping[str, str],
    *,
    destinations: Mapping[str, Destination] | None = None,
    core: bool = True,
    **options: Any,
) -> AsyncIterator[list[Worker]]:
    """The core stream (unless ``core`` is false) and the fan-out, running in this loop."""
    merged = {**fast_options(), **options}
    await topics_visible(settings)
    async with fanout_workers(
        settings, urls=urls, destinations=destinations, **merged
    ) as fanout:
        workers: list[Worker] = [*(core_stages(settings) if core else []), *fanout]
        stop = asyncio.Event()
        task = asyncio.create_task(run_stages(workers, stop))
        try:
            await asyncio.wait_for(asyncio.gather(*(w.ready.wait() for w in workers)), 60)
            yield workers
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)


async def topics_visible(settings: Settings, timeout: float = 20.0) -> None:
    """Wait until the broker's metadata lists the topics the workers start on."""
    wanted = {settings.topic(t) for t in (CANONICAL_LOG, DECIDE_CHANGELOG, REGISTER_STATE)}
    consumer = make_consumer(settings, group=None)
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        while not wanted <= await consumer.topics():
            assert time.monotonic() < deadline, "topics not visible in the metadata"
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
    finally:
        await consumer.stop()


async def publish_samples(settings: Settings) -> list[Published]:
    """Publish every sample feed message and wait until each has its final outcome."""
    published = await publish(settings, sample_messages(shared_dir() / "feeds" / "samples"))
    book = await read_receipts(
        settings, ReceiptBook(), until_complete=[p.receipt_id for p in published], timeout=90
    )
    assert book.complete(p.receipt_id for p in published)
    return published


async def caught_up(settings: Settings, names: list[str], timeout: float = 60.0) -> None:
    """Wait until the named workers' groups committed the whole canonical log."""
    ends = await log_end_offsets(settings)
    behind = await wait_caught_up(
        settings, [settings.group(n) for n in names], ends, timeout=timeout
    )
    assert not any(behind.values()), f"still behind: {behind}"


def get_json(url: str) -> Any:
    """GET a JSON document (raises on a non-2xx answer)."""
    response = httpx.get(url, timeout=10)
    response.raise_for_status()
    return response.json()


@dataclass
class Seen:
    """One request a collector received."""

    key: str
    path: str
    body: dict[str, Any]
    at: float


@dataclass
class Collector:
    """A real HTTP server on 127.0.0.1 that answers 201 to every request and records it."""

    port: int = 0
    seen: list[Seen] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    async def up(self) -> None:
        """Start listening (on a free port the first time)."""
        if not self.port:
            self.port = free_port()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def down(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        key = request.headers.get("Idempotency-Key", "")
        self.seen.append(Seen(key, request.path, body, time.monotonic()))
        return web.json_response({"id": f"c-{key}"}, status=201)


@dataclass
class IssuancesOnly:
    """A wallet-like test destination: issuances only, POSTed as JSON."""

    name: str = "wallet"

    def wants(self, item: CanonicalItem) -> bool:
        """Only issuances."""
        return item.event_type == "issued"

    def build_request(self, item: CanonicalItem) -> HttpRequest:
        """POST the §1.2 record."""
        return HttpRequest(
            "POST", "/offers", json={"id": item.credential_id, **(item.elements or {})}
        )


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dumps(value: Any) -> str:
    """Compact JSON for assertion messages."""
    return json.dumps(value, ensure_ascii=False)[:300]

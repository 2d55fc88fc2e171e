"""Helpers of the delivery integration tests: a scripted HTTP destination, Kafka probes."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from connectors.delivery.http_sink import HttpSink
from connectors.delivery.policy import CircuitBreaker, RetryPolicy
from connectors.delivery.runner import DeliveryRunner, decode_json_item
from hub.adapters.kafka import make_consumer, make_producer
from hub.settings import Settings
from hub.topics import TopicSpec, apply_topics

#: test-sized retry timings (tens of milliseconds)
FAST_RETRY = RetryPolicy(base=0.02, cap=0.1, jitter=0.5)


@dataclass(frozen=True)
class Answer:
    """One scripted answer of the destination."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Seen:
    """One request the destination received."""

    key: str
    method: str
    path: str
    body: dict[str, Any]
    at: float
    status: int


class Destination:
    """A real HTTP server on 127.0.0.1 answering from a per-event script (default 200).

    ``plan[event_id]`` is a list of answers used in turn; once exhausted, ``default``.
    ``down()`` closes the listener and every connection (connection refused), ``up()``
    listens again on the same port. 2xx answers carry ``{"id": "resp-<key>"}``.
    """

    def __init__(self) -> None:
        self.port = _free_port()
        self.plan: dict[str, list[Answer]] = {}
        self.default = Answer(200)
        self.delay = 0.0
        self.seen: list[Seen] = []
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    async def up(self) -> None:
        """Start listening (again) on the same port."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def down(self) -> None:
        """Stop listening and drop open connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key", "")
        body = await request.json()
        if self.delay:
            await asyncio.sleep(self.delay)
        script = self.plan.get(key)
        answer = script.pop(0) if script else self.default
        self.seen.append(
            Seen(key, request.method, request.path, body, time.monotonic(), answer.status)
        )
        if 200 <= answer.status < 300 and not answer.body:
            return web.json_response(
                {"id": f"resp-{key}"}, status=answer.status, headers=answer.headers
            )
        return web.Response(status=answer.status, headers=answer.headers, body=answer.body)

    def keys(self) -> list[str]:
        """Idempotency keys of every request, in arrival order."""
        return [s.key for s in self.seen]

    def accepted(self) -> list[Seen]:
        """Requests answered 2xx, in arrival order."""
        return [s for s in self.seen if 200 <= s.status < 300]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def item_json(event_id: str, key: str, **payload: Any) -> bytes:
    """A delivery item in the tests' JSON form (see ``decode_json_item``)."""
    return json.dumps(
        {"eventId": event_id, "key": key, "payload": {"event": event_id, **payload}}
    ).encode()


async def produce(settings: Settings, topic: str, items: list[tuple[str, str]]) -> None:
    """Write ``(event id, credential id)`` items, keyed by credential id."""
    producer = make_producer(settings)
    await producer.start()
    try:
        for event_id, credential in items:
            await producer.send(
                topic,
                item_json(event_id, credential, credential=credential),
                key=credential.encode(),
            )
        await producer.flush()
    finally:
        await producer.stop()


async def produce_raw(settings: Settings, topic: str, value: bytes, *, key: bytes) -> None:
    """Write one record with arbitrary bytes."""
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def committed_offsets(settings: Settings, group: str) -> dict[TopicPartition, int]:
    """The group's committed offsets, read by an admin client (not by the runner)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
    finally:
        await admin.close()


async def end_offsets(settings: Settings, topic: str) -> dict[TopicPartition, int]:
    """End offsets (last stable offsets) of every partition of ``topic``."""
    consumer = make_consumer(settings, topic, group=None)  # every partition is assigned
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(list(consumer.assignment())))
    finally:
        await consumer.stop()


async def read_all(
    settings: Settings, topic: str, *, expect: int, timeout: float = 20.0
) -> list[Any]:
    """At least ``expect`` committed records of ``topic`` (all partitions), from the start."""
    consumer = make_consumer(settings, topic, group=None)
    await consumer.start()
    out: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        while len(out) < expect and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                out += records
        # a short extra read to catch records beyond the expected count
        for records in (await consumer.getmany(timeout_ms=300)).values():
            out += records
        return out
    finally:
        await consumer.stop()


def http_sink(destination: Destination, name: str, **kwargs: Any) -> HttpSink:
    """An HttpSink to the scripted destination with test-sized retry timings."""
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("breaker", CircuitBreaker(failure_threshold=3, reset_timeout=0.2))
    kwargs.setdefault("timeout", 5.0)
    return HttpSink(destination.url, destination=name, **kwargs)


#: the input topic of the runner under test (keyed by ordering key, like the canonical log)
ITEMS = TopicSpec("test.delivery.items", "delivery items in the tests' JSON form")


async def items_topic(settings: Settings) -> str:
    """Create the runner's input topic under the test's prefix; its full name."""
    await apply_topics(settings, [ITEMS])
    return settings.topic(ITEMS.name)


def runner_for(settings: Settings, name: str, sink: HttpSink, **kwargs: Any) -> DeliveryRunner:
    """A DeliveryRunner over :data:`ITEMS` with the JSON decoder and short polls."""
    kwargs.setdefault("poll_timeout_ms", 50)
    kwargs.setdefault("pending_interval", 0.5)
    kwargs.setdefault("topic", settings.topic(ITEMS.name))
    return DeliveryRunner(settings, destination=name, sink=sink, decode=decode_json_item, **kwargs)


@asynccontextmanager
async def running(runner: DeliveryRunner) -> AsyncIterator[asyncio.Task[None]]:
    """Run the connector in the background; stop it (and surface its error) on exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        yield task
    finally:
        stop.set()
        if not task.done():
            await asyncio.wait_for(asyncio.shield(task), 15)


async def wait_until(
    predicate: Callable[[], bool], *, timeout: float = 20.0, task: asyncio.Task[None] | None = None
) -> None:
    """Poll ``predicate`` every 20 ms; fail on timeout or if ``task`` ended early."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if task is not None and task.done():
            task.result()  # raises the runner's error
            raise AssertionError("the runner stopped before the condition held")
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def wait_for_commit(
    settings: Settings, group: str, wanted: dict[TopicPartition, int], *, timeout: float = 20.0
) -> dict[TopicPartition, int]:
    """Poll the group's committed offsets until they reach ``wanted`` (nonzero partitions)."""
    deadline = time.monotonic() + timeout
    while True:
        have = await committed_offsets(settings, group)
        if all(have.get(tp, 0) >= off for tp, off in wanted.items() if off > 0):
            return have
        if time.monotonic() > deadline:
            raise AssertionError(f"group {group} committed {have}, wanted {wanted}")
        await asyncio.sleep(0.1)

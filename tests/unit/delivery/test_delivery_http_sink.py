"""HttpSink on an injected httpx.MockTransport: headers, retries, order per key, errors."""

from __future__ import annotations

import asyncio
import json
import random
from collections import defaultdict

import httpx
import pytest

from connectors.delivery.http_sink import HttpRequest, HttpSink, default_response_id
from connectors.delivery.policy import CircuitBreaker, RetryPolicy, body_digest
from connectors.delivery.sink import DeliveryItem, RetryNotice
from hub.errors import DestinationUnauthorised, DestinationUnavailable

FAST = RetryPolicy(base=0.001, cap=0.004)


def item(event_id: str, key: str = "cred-1", **payload: object) -> DeliveryItem:
    return DeliveryItem(event_id=event_id, key=key, payload={"event": event_id, **payload})


class Recorder:
    """Sleeps recorded instead of waited."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0)


async def test_each_item_is_posted_with_its_event_id_as_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "r-" + request.headers["idempotency-key"]})

    async with HttpSink(
        "http://dest.test", transport=httpx.MockTransport(handler), retry=FAST
    ) as sink:
        sink.add(item("e1"))
        sink.add(item("e2", key="cred-2"))
        results = await sink.flush()
    assert [r.item.event_id for r in results] == ["e1", "e2"]
    assert all(r.delivered and r.status == 201 and r.attempts == 1 for r in results)
    assert [r.response_id for r in results] == ["r-e1", "r-e2"]
    assert sorted(r.headers["idempotency-key"] for r in seen) == ["e1", "e2"]
    assert json.loads(seen[0].content)["event"] in {"e1", "e2"}


async def test_request_builder_decides_method_path_body_and_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204, headers={"Location": "/credentials/c9"})

    def build(it: DeliveryItem) -> HttpRequest:
        return HttpRequest(
            "PUT",
            f"/credentials/{it.key}",
            content=b"<xml/>",
            headers={"Content-Type": "application/xml", "idempotency-key": "ignored"},
        )

    async with HttpSink(
        "http://dest.test/v1",
        build_request=build,
        transport=httpx.MockTransport(handler),
        headers={"Authorization": "Bearer t"},
    ) as sink:
        sink.add(item("e1", key="c9"))
        [result] = await sink.flush()
    [request] = seen
    assert request.method == "PUT"
    assert request.url == "http://dest.test/v1/credentials/c9"
    assert request.content == b"<xml/>"
    assert request.headers["authorization"] == "Bearer t"
    assert request.headers.get_list("idempotency-key") == ["e1"]  # the sink's key wins
    assert result.response_id == "/credentials/c9"


async def test_retries_keep_the_key_and_count_attempts() -> None:
    answers = iter([500, 503, 408, 200])
    keys: list[str] = []
    notices: list[RetryNotice] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["idempotency-key"])
        return httpx.Response(next(answers))

    async def on_retry(notice: RetryNotice) -> None:
        notices.append(notice)

    sleep = Recorder()
    async with HttpSink(
        "http://d.test",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(base=0.01, cap=0.04, jitter=0.0),
        sleep=sleep,
        on_retry=on_retry,
        rng=random.Random(0),
    ) as sink:
        sink.add(item("e1"))
        [result] = await sink.flush()
    assert keys == ["e1"] * 4
    assert result.delivered and result.attempts == 4 and result.status == 200
    assert sleep.sleeps == [0.01, 0.02, 0.04]
    assert [(n.attempt, n.status) for n in notices] == [(1, 500), (2, 503), (3, 408)]
    assert result.first_attempt_at <= result.last_attempt_at


async def test_retry_after_is_honoured() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200)])
    sleep = Recorder()
    async with HttpSink(
        "http://d.test",
        transport=httpx.MockTransport(lambda _: next(answers)),
        retry=FAST,
        sleep=sleep,
    ) as sink:
        sink.add(item("e1"))
        [result] = await sink.flush()
    assert sleep.sleeps == [7.0]
    assert result.attempts == 2


async def test_rejection_is_a_failed_result_later_items_of_its_key_park_others_continue(
) -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["idempotency-key"])
        if request.headers["idempotency-key"] == "e2":
            return httpx.Response(422, content=b"bad field")
        return httpx.Response(200)

    async with HttpSink("http://d.test", transport=httpx.MockTransport(handler)) as sink:
        for event in ("e1", "e2", "e3"):
            sink.add(item(event))
        sink.add(item("e4", key="cred-2"))
        results = await sink.flush()
    assert [r.state for r in results] == ["delivered", "failed", "parked", "delivered"]
    assert "e3" not in sent  # an item never overtakes a refused one of its key
    assert results[2].attempts == 0 and results[2].reason == "parked behind e2 (failed)"
    failed = results[1]
    assert failed.status == 422
    assert failed.body_digest == body_digest(b"bad field")
    assert failed.reason is not None and "422" in failed.reason


async def test_order_per_key_with_concurrency_across_keys() -> None:
    in_flight = 0
    peak = 0
    order: dict[str, list[str]] = defaultdict(list)

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        body = json.loads(request.content)
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.002 * (hash(body["event"]) % 3))
        order[body["key"]].append(body["event"])
        in_flight -= 1
        return httpx.Response(200)

    async with HttpSink(
        "http://d.test", transport=httpx.MockTransport(handler), concurrency=3
    ) as sink:
        expected: dict[str, list[str]] = defaultdict(list)
        for n in range(40):
            key = f"cred-{n % 6}"
            sink.add(DeliveryItem(f"e{n}", key, {"event": f"e{n}", "key": key}))
            expected[key].append(f"e{n}")
        results = await sink.flush()
    assert [r.item.event_id for r in results] == [f"e{n}" for n in range(40)]
    assert dict(order) == dict(expected)
    assert 1 < peak <= 3


async def test_unauthorised_stops_the_flush_and_cancels_other_keys() -> None:
    cancelled = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["idempotency-key"] == "bad":
            await asyncio.sleep(0.01)
            return httpx.Response(401)
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return httpx.Response(200)

    async with HttpSink("http://d.test", transport=httpx.MockTransport(handler)) as sink:
        sink.add(item("slow", key="a"))
        sink.add(item("bad", key="b"))
        with pytest.raises(DestinationUnauthorised, match="401"):
            await asyncio.wait_for(sink.flush(), 5)
        assert cancelled.is_set()
        sink.add(item("next", key="a"))  # the buffer was emptied; the sink is reusable


async def test_exhausted_retries_raise_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with HttpSink(
        "http://d.test",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(base=0.001, cap=0.001, max_attempts=3),
        breaker=CircuitBreaker(failure_threshold=100),
    ) as sink:
        sink.add(item("e1"))
        with pytest.raises(DestinationUnavailable, match="did not answer"):
            await sink.flush()


async def test_open_breaker_makes_calls_wait_instead_of_failing() -> None:
    answers = iter([500, 500, 200, 200])
    sleep = Recorder()

    async with HttpSink(
        "http://d.test",
        transport=httpx.MockTransport(lambda _: httpx.Response(next(answers))),
        retry=RetryPolicy(base=0.001, cap=0.001, jitter=0.0),
        breaker=CircuitBreaker(failure_threshold=2, reset_timeout=0.05),
        sleep=sleep,
    ) as sink:
        sink.add(item("e1"))
        sink.add(item("e2"))
        results = await sink.flush()
    assert [r.attempts for r in results] == [3, 1]
    assert sink.breaker.stats.transitions == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]
    assert any(s > 0.001 for s in sleep.sleeps)  # waited for the breaker, not just backoff


def test_default_response_id() -> None:
    assert default_response_id(httpx.Response(201, json={"id": 42})) == "42"
    assert default_response_id(httpx.Response(201, headers={"X-Request-Id": "q"})) == "q"
    assert default_response_id(httpx.Response(200, text="ok")) is None

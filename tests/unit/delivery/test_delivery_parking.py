"""Parking: the pure decisions (ParkBook, decide, ParkPolicy) and the HTTP sink's budget."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from connectors.delivery.http_sink import HttpSink
from connectors.delivery.parking import ParkBook, decide
from connectors.delivery.policy import CircuitBreaker, ParkPolicy, RetryPolicy
from connectors.delivery.sink import DeliveryItem, DeliveryResult, DeliveryState

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = ParkPolicy(after_attempts=3, redrive_base=1.0, redrive_cap=8.0, redrive_max_attempts=3)


def item(event_id: str, key: str = "cred-1") -> DeliveryItem:
    return DeliveryItem(event_id=event_id, key=key, payload={"event": event_id})


def result(event_id: str, state: DeliveryState, key: str = "cred-1", attempts: int = 1
           ) -> DeliveryResult:
    return DeliveryResult(item(event_id, key), state, attempts, T0, T0)


async def no_sleep(seconds: float) -> None:
    await asyncio.sleep(0)


# -- the pure parts ---------------------------------------------------------------------


def test_an_unparked_key_is_delivered_a_parked_one_parks() -> None:
    book = ParkBook(POLICY)
    assert decide(book, item("e1")) == "deliver"
    book.hold(result("e1", "failed"), now=0.0)
    assert decide(book, item("e2")) == "park"
    assert decide(book, item("e9", key="cred-2")) == "deliver"  # other keys keep flowing


def test_held_items_queue_behind_the_head_in_order_once_each() -> None:
    book = ParkBook(POLICY)
    book.hold(result("e1", "parked"), now=0.0)
    book.hold(result("e2", "parked", attempts=0), now=0.0)
    book.hold(result("e2", "parked", attempts=0), now=0.0)  # a redelivery of the same item
    parked = book.get("cred-1")
    assert parked is not None
    assert [i.event_id for i in parked.items] == ["e1", "e2"]
    assert parked.head.event_id == "e1" and parked.head_state == "parked"


def test_delivered_results_cannot_hold_a_key() -> None:
    with pytest.raises(AssertionError):
        ParkBook(POLICY).hold(result("e1", "delivered"), now=0.0)


def test_redrive_is_due_after_the_backoff_and_releases_a_delivered_key() -> None:
    book = ParkBook(POLICY)
    book.hold(result("e1", "failed"), now=10.0)
    book.hold(result("e2", "parked", attempts=0), now=10.0)
    assert book.due(10.5) == []
    assert [p.key for p in book.due(11.0)] == ["cred-1"]
    released = book.redriven(
        "cred-1", [result("e1", "delivered"), result("e2", "delivered")], now=11.0
    )
    assert released and "cred-1" not in book and len(book) == 0


def test_a_partly_successful_redrive_keeps_the_rest_with_a_longer_backoff() -> None:
    book = ParkBook(POLICY)
    book.hold(result("e1", "parked"), now=0.0)
    book.hold(result("e2", "parked", attempts=0), now=0.0)
    book.hold(result("e3", "parked", attempts=0), now=0.0)
    released = book.redriven(
        "cred-1",
        [result("e1", "delivered"), result("e2", "failed", attempts=1),
         result("e3", "parked", attempts=0)],
        now=1.0,
    )
    parked = book.get("cred-1")
    assert not released and parked is not None
    assert [i.event_id for i in parked.items] == ["e2", "e3"]
    assert parked.head_state == "failed" and parked.attempts == 1
    assert parked.next_at == pytest.approx(1.0 + 2.0)  # base * 2 after the first attempt
    assert book.due(2.9) == [] and book.due(3.0) == [parked]


def test_automatic_redrives_stop_at_the_limit_then_a_new_change_tries_first() -> None:
    book = ParkBook(POLICY)
    book.hold(result("e1", "failed"), now=0.0)
    now = 0.0
    for _ in range(POLICY.redrive_max_attempts):
        now += 100.0
        assert book.due(now)
        book.redriven("cred-1", [result("e1", "failed")], now=now)
    assert book.due(now + 1000.0) == []  # no more automatic attempts
    assert book.stuck() == ["cred-1"]
    assert decide(book, item("e2")) == "redrive-first"


def test_forget_drops_the_keys_of_moved_partitions() -> None:
    from connectors.delivery.sink import SourcePosition

    book = ParkBook(POLICY)
    for key, partition in (("a", 0), ("b", 1)):
        held = DeliveryItem("e-" + key, key, {}, source=SourcePosition("log", partition, 5))
        book.hold(DeliveryResult(held, "failed", 1, T0, T0), now=0.0)
    book.forget([("log", 0)])
    assert "a" not in book and "b" in book


def test_park_policy_bounds() -> None:
    assert not ParkPolicy(after_attempts=None).may_park(10**6)
    assert ParkPolicy(after_attempts=3).may_park(3)
    assert not ParkPolicy(after_attempts=3).may_park(2)
    assert [POLICY.redrive_delay(n) for n in (0, 1, 2, 3, 4, 5)] == [0.0, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert POLICY.redrive_delay(10**6) == 8.0
    for bad in ({"after_attempts": 0}, {"redrive_base": 0}, {"redrive_cap": 0.5},
                {"redrive_max_attempts": 0}):
        with pytest.raises(ValueError):
            ParkPolicy(**bad)


# -- the HTTP sink's park budget ----------------------------------------------------------


def failing_for(bad: set[str], *, healthy: bool = True) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/healthz":
            return httpx.Response(200 if healthy else 503)
        if request.headers["idempotency-key"] in bad:
            return httpx.Response(500)
        return httpx.Response(200)

    return httpx.MockTransport(handler)


async def test_an_item_failing_while_the_destination_is_healthy_is_parked() -> None:
    async with HttpSink(
        "http://d.test", transport=failing_for({"e1"}), retry=RetryPolicy(base=0.001, cap=0.002),
        park=ParkPolicy(after_attempts=3), health_path="/healthz", health_interval=0.0,
        sleep=no_sleep,
    ) as sink:
        sink.add(item("e1"))
        sink.add(item("e2"))  # same key: parked behind e1, never sent
        sink.add(item("e3", key="cred-2"))
        results = await sink.flush()
    assert [(r.item.event_id, r.state) for r in results] == [
        ("e1", "parked"), ("e2", "parked"), ("e3", "delivered")]
    assert results[0].attempts == 4  # the budget, then one more attempt confirming it
    assert results[0].status == 500 and (results[0].reason or "").startswith("parked: ")
    assert results[1].reason == "parked behind e1 (parked)"


async def test_nothing_is_parked_while_the_destination_is_down() -> None:
    async with HttpSink(
        "http://d.test", transport=failing_for({"e1"}, healthy=False),
        retry=RetryPolicy(base=0.001, cap=0.002, max_attempts=20),
        breaker=CircuitBreaker(failure_threshold=1000),
        park=ParkPolicy(after_attempts=3), health_path="/healthz", health_interval=0.0,
        sleep=no_sleep,
    ) as sink:
        sink.add(item("e1"))
        with pytest.raises(Exception, match="answered 500"):
            await sink.flush()  # kept retrying to max_attempts instead of parking


async def test_without_a_health_path_other_deliveries_show_the_destination_is_up() -> None:
    delivered_first = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["idempotency-key"] == "e1":
            await delivered_first.wait()
            return httpx.Response(500)
        delivered_first.set()
        return httpx.Response(200)

    async with HttpSink(
        "http://d.test", transport=httpx.MockTransport(handler),
        retry=RetryPolicy(base=0.001, cap=0.002), park=ParkPolicy(after_attempts=2),
        sleep=no_sleep,
    ) as sink:
        sink.add(item("e1"))
        sink.add(item("e2", key="cred-2"))
        results = await sink.flush()
    assert [r.state for r in results] == ["parked", "delivered"]


async def test_a_batch_that_outlasts_the_budget_goes_one_by_one() -> None:
    from connectors.delivery.http_sink import BatchContract, HttpRequest

    singles: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/healthz":
            return httpx.Response(200)
        if request.url.path == "/changes":
            return httpx.Response(500)  # one bad change fails the whole batch
        key = request.headers["idempotency-key"]
        singles.append(key)
        return httpx.Response(500 if key == "e1" else 200)

    contract = BatchContract(
        build=lambda items: HttpRequest("POST", "/changes", json=[i.event_id for i in items]),
        read=lambda response, items: [(200, None)] * len(items),
    )
    async with HttpSink(
        "http://d.test", transport=httpx.MockTransport(handler), batch=contract,
        retry=RetryPolicy(base=0.001, cap=0.002), park=ParkPolicy(after_attempts=2),
        health_path="/healthz", health_interval=0.0, sleep=no_sleep,
    ) as sink:
        for event_id, key in (("e1", "a"), ("e2", "a"), ("e3", "b")):
            sink.add(item(event_id, key))
        results = await sink.flush()
    assert [(r.item.event_id, r.state) for r in results] == [
        ("e1", "parked"), ("e2", "parked"), ("e3", "delivered")]
    assert "e2" not in singles

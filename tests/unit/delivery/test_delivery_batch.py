"""HttpSink with a BatchContract: one request per chunk, the rest one by one, in order."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from connectors.delivery.http_sink import BatchAnswer, BatchContract, HttpRequest, HttpSink
from connectors.delivery.policy import RetryPolicy
from connectors.delivery.sink import DeliveryItem, RetryNotice
from hub.errors import DestinationUnauthorised

FAST = RetryPolicy(base=0.001, cap=0.004, max_attempts=5)


def item(event_id: str, key: str) -> DeliveryItem:
    return DeliveryItem(event_id=event_id, key=key, payload={"event": event_id})


def build_batch(items: list[DeliveryItem]) -> HttpRequest:
    return HttpRequest("POST", "/changes", json={"ids": [i.event_id for i in items]})


def read_batch(response: httpx.Response, items: list[DeliveryItem]) -> BatchAnswer:
    return [(int(s), None) for s in response.json()["statuses"]]


def single(it: DeliveryItem) -> HttpRequest:
    return HttpRequest("PUT", f"/one/{it.event_id}", json=dict(it.payload))


def sink(handler: Callable[[httpx.Request], httpx.Response], max_items: int = 10) -> HttpSink:
    return HttpSink(
        "http://dest.test",
        transport=httpx.MockTransport(handler),
        retry=FAST,
        build_request=single,
        batch=BatchContract(build_batch, read_batch, max_items=max_items),
        sleep=_no_sleep,
    )


async def _no_sleep(_: float) -> None:
    return None


async def test_a_batch_carries_every_item_in_one_request() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        ids = json.loads(request.content)["ids"]
        return httpx.Response(200, json={"statuses": [201] * len(ids)})

    async with sink(handler, max_items=3) as s:
        for n in range(7):
            s.add(item(f"e{n}", key=f"k{n % 2}"))
        results = await s.flush()
    assert [r.item.event_id for r in results] == [f"e{n}" for n in range(7)]
    assert all(r.delivered and r.status == 201 for r in results)
    assert [json.loads(r.content)["ids"] for r in seen] == [
        ["e0", "e1", "e2"], ["e3", "e4", "e5"], ["e6"]]


async def test_a_transient_failure_retries_the_whole_batch_and_notes_pending() -> None:
    answers = iter([503, 500, 200])
    notices: list[RetryNotice] = []

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        if status != 200:
            return httpx.Response(status)
        return httpx.Response(200, json={"statuses": [200, 200]})

    async def note(notice: RetryNotice) -> None:
        notices.append(notice)

    async with sink(handler) as s:
        s.on_retry = note
        s.add(item("e1", "k1"))
        s.add(item("e2", "k2"))
        results = await s.flush()
    assert [(r.state, r.attempts) for r in results] == [("delivered", 3), ("delivered", 3)]
    assert sorted(n.item.event_id for n in notices) == ["e1", "e1", "e2", "e2"]


async def test_items_the_batch_did_not_take_go_one_by_one_in_key_order() -> None:
    singles: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/changes":
            # e1 applied, e2 refused (409), e3 same key as e2: not attempted (424)
            return httpx.Response(200, json={"statuses": [201, 409, 424, 200]})
        singles.append(request.url.path.rsplit("/", 1)[1])
        return httpx.Response(400 if request.url.path.endswith("e2") else 200)

    async with sink(handler) as s:
        for event_id, key in (("e1", "a"), ("e2", "b"), ("e3", "b"), ("e4", "c")):
            s.add(item(event_id, key))
        results = await s.flush()
    assert singles == ["e2"]  # e3 waits behind its key's refused e2: parked, not sent
    assert [(r.item.event_id, r.state, r.status) for r in results] == [
        ("e1", "delivered", 201), ("e2", "failed", 400), ("e3", "parked", None),
        ("e4", "delivered", 200)]


@pytest.mark.parametrize("answer", [
    httpx.Response(405, json={"title": "no batch endpoint"}),
    httpx.Response(200, json={"statuses": [200]}),  # one answer for two items
    httpx.Response(200, text="not json"),
])
async def test_a_refused_or_unreadable_batch_falls_back_to_single_requests(
    answer: httpx.Response,
) -> None:
    singles: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/changes":
            return answer
        singles.append(request.url.path)
        return httpx.Response(201)

    async with sink(handler) as s:
        s.add(item("e1", "a"))
        s.add(item("e2", "a"))
        results = await s.flush()
    assert singles == ["/one/e1", "/one/e2"]
    assert all(r.delivered for r in results)


async def test_unauthorised_batches_stop_the_connector() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401)

    async with sink(handler) as s:
        s.add(item("e1", "a"))
        with pytest.raises(DestinationUnauthorised):
            await s.flush()

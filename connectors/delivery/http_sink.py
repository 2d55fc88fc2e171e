"""An HTTP sink on ``httpx.AsyncClient``: one request per item, idempotent by event id.

Each item becomes the request its connector's :data:`RequestBuilder` describes (method,
path, body, headers) plus ``Idempotency-Key: <event id>``, the same on every attempt.
Items with the same key go one after the other; different keys go concurrently, at most
``concurrency`` requests at a time. Transient failures are retried with the
:class:`~connectors.delivery.policy.RetryPolicy` behind a shared
:class:`~connectors.delivery.policy.CircuitBreaker`; the transport is injectable
(``httpx.MockTransport`` in unit tests).

A destination that takes several items in one request gives a :class:`BatchContract`:
:meth:`HttpSink.flush` then sends the buffer in batch requests (in order, one after the
other; a transient failure retries the whole batch — the items keep their idempotency
keys inside it) and delivers one by one, through the single-item path and its rules
(retry, dead letter, order per key), every item the batch answer did not accept.

Nothing waits for ever on one item while the destination is healthy: with a
:class:`~connectors.delivery.policy.ParkPolicy`, an item (or batch) whose transient
failures reach ``after_attempts`` asks :meth:`HttpSink.healthy` (``GET health_path``, or
without one: the breaker is closed and something else was delivered since) — healthy
before and after one more failed attempt means the trouble is this item's, and it comes
back ``parked``; a batch then goes one by one. Unhealthy means the destination is down,
and the item keeps waiting like all others.
:func:`deliver_per_key` returns every later item of a key whose item ended ``failed`` or
``parked`` as ``parked``, unsent.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from connectors.delivery.policy import (
    CircuitBreaker,
    ParkPolicy,
    RetryPolicy,
    classify_status,
    classify_transport_error,
)
from connectors.delivery.sink import Closing, DeliveryItem, DeliveryResult, RetryHook, RetryNotice
from hub.errors import (
    DestinationRejected,
    DestinationUnauthorised,
    MchubError,
    RetriableError,
)

IDEMPOTENCY_HEADER = "Idempotency-Key"

#: per item of a batch, in request order: (HTTP-like status, response id); None when the
#: answer cannot be read (every item is then delivered one by one)
BatchAnswer = list[tuple[int, str | None]] | None


@dataclass(frozen=True)
class BatchContract:
    """How a destination takes several items in one request (see the module docstring)."""

    #: the one request carrying these items (each with its event id inside)
    build: Callable[[list[DeliveryItem]], HttpRequest]
    #: the 2xx answer read back, one entry per item
    read: Callable[[httpx.Response, list[DeliveryItem]], BatchAnswer]
    #: most items per request
    max_items: int = 200


@dataclass(frozen=True)
class HttpRequest:
    """What to send for one item: method, path (relative to the base URL), body, headers.

    Give ``json`` (serialised by httpx) or ``content`` (raw bytes), not both.
    ``accept_status`` lists non-2xx answers that also mean "delivered" — e.g. EDC's
    ``409`` for a credential id the wallet already holds, the answer to a redelivery.
    """

    method: str = "POST"
    path: str = "/"
    json: Any = None
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    accept_status: frozenset[int] = frozenset()


RequestBuilder = Callable[[DeliveryItem], HttpRequest]
ResponseIdReader = Callable[[httpx.Response], str | None]


def json_post(path: str = "/") -> RequestBuilder:
    """A request builder that POSTs the item's payload as JSON to ``path``."""

    def build(item: DeliveryItem) -> HttpRequest:
        return HttpRequest("POST", path, json=dict(item.payload))

    return build


def default_response_id(response: httpx.Response) -> str | None:
    """The destination's id for what it stored: JSON ``id``, else ``Location``/``X-Request-Id``."""
    if "json" in response.headers.get("content-type", ""):
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if isinstance(body, dict) and isinstance(body.get("id"), str | int):
            return str(body["id"])
    found = response.headers.get("location") or response.headers.get("x-request-id")
    return str(found) if found else None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class HttpSink(Closing):
    """The :class:`~connectors.delivery.sink.Sink` of an HTTP destination.

    Use as ``async with HttpSink(...) as sink`` (or call :meth:`aclose`). ``sleep``,
    ``rng`` and ``now`` are injectable for tests; ``retry_4xx_with_retry_after`` makes a
    4xx with ``Retry-After`` retriable (see :func:`~connectors.delivery.policy.classify_status`).
    ``park`` bounds the retries of one item while the destination is healthy (``None``:
    never park; a :class:`~connectors.delivery.runner.DeliveryRunner` fills in its own);
    ``health_path`` is the destination's health endpoint (``GET``, 2xx = healthy), asked
    at most every ``health_interval`` seconds.
    """

    def __init__(
        self,
        base_url: str,
        *,
        destination: str = "destination",
        build_request: RequestBuilder | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        concurrency: int = 8,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        response_id: ResponseIdReader = default_response_id,
        on_retry: RetryHook | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        now: Callable[[], datetime] = _utcnow,
        retry_4xx_with_retry_after: bool = False,
        batch: BatchContract | None = None,
        park: ParkPolicy | None = None,
        health_path: str | None = None,
        health_interval: float = 1.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.destination = destination
        self.build_request = build_request or json_post()
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        self.response_id = response_id
        self.on_retry = on_retry
        self.concurrency = concurrency
        self.retry_4xx_with_retry_after = retry_4xx_with_retry_after
        self.batch = batch
        self.park = park
        self.health_path = health_path
        self.health_interval = health_interval
        self._health: tuple[float, bool] | None = None  # (monotonic time asked, answer)
        self._delivered = 0  # items delivered by this sink (the probe-less health signal)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._now = now
        self._client = httpx.AsyncClient(
            base_url=base_url,
            transport=transport,
            headers=dict(headers or {}),
            timeout=timeout,
            limits=httpx.Limits(max_connections=concurrency),
        )
        self._buffer: list[DeliveryItem] = []
        self._slots = asyncio.Semaphore(concurrency)

    async def aclose(self) -> None:
        """Close the HTTP client (its connections)."""
        await self._client.aclose()

    def add(self, item: DeliveryItem) -> None:
        """Buffer one item for the next :meth:`flush`."""
        self._buffer.append(item)

    async def flush(self) -> list[DeliveryResult]:
        """Deliver the buffered items (per key in order, keys concurrently); see the port.

        Raises :class:`~hub.errors.DestinationUnauthorised` on 401/403 (the other keys'
        requests are cancelled) and :class:`~hub.errors.DestinationUnavailable` when the
        retry policy's ``max_attempts`` is exhausted. The buffer is emptied either way.
        """
        items, self._buffer = self._buffer, []
        if self.batch is not None:
            return await self.deliver_batched(items)
        return await deliver_per_key(items, self.deliver)

    async def deliver_batched(self, items: list[DeliveryItem]) -> list[DeliveryResult]:
        """Deliver ``items`` through the :class:`BatchContract` (see the module docstring).

        Raises like :meth:`flush`. Results come back in the order of ``items``.
        """
        assert self.batch is not None
        results: list[DeliveryResult] = []
        size = max(1, self.batch.max_items)
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            answer, attempts, first, last = await self._send_batch(chunk)
            if answer is not None:
                self._delivered += sum(1 for status, _ in answer if 200 <= status < 300)
            by_position: dict[int, DeliveryResult] = {}
            one_by_one: list[int] = []
            for position, item in enumerate(chunk):
                status, response_id = answer[position] if answer else (None, None)
                if status is not None and 200 <= status < 300:
                    by_position[position] = DeliveryResult(
                        item, "delivered", attempts, first, last,
                        status=status, response_id=response_id,
                    )
                else:
                    one_by_one.append(position)
            singles = await deliver_per_key([chunk[p] for p in one_by_one], self.deliver)
            by_position.update(zip(one_by_one, singles, strict=True))
            results += [by_position[p] for p in range(len(chunk))]
        return results

    async def _send_batch(
        self, chunk: list[DeliveryItem]
    ) -> tuple[BatchAnswer, int, datetime, datetime]:
        """POST one batch with retries: (answer, attempts, first, last attempt time).

        The answer is None when the destination refused the batch as such (a 4xx other
        than 401/403), answered something unreadable, or the batch outlasted the park
        budget while the destination is healthy: its items then go one by one.
        """
        assert self.batch is not None
        spec = self.batch.build(chunk)
        done = await self._exchange(spec, dict(spec.headers), chunk, retry_4xx=False)
        if done.rejected is not None or done.parked is not None or done.response is None:
            return None, done.attempts, done.first, done.last
        answer = _read_batch(self.batch, done.response, chunk)
        return answer, done.attempts, done.first, done.last

    async def deliver(self, item: DeliveryItem) -> DeliveryResult:
        """Deliver one item now, retrying transient failures; see :meth:`flush` for errors."""
        spec = self.build_request(item)
        headers = {k: v for k, v in spec.headers.items() if k.lower() != "idempotency-key"}
        headers[IDEMPOTENCY_HEADER] = item.event_id
        done = await self._exchange(
            spec, headers, [item], retry_4xx=self.retry_4xx_with_retry_after
        )
        if done.parked is not None:
            return DeliveryResult(
                item, "parked", done.attempts, done.first, done.last,
                status=done.status, reason=f"parked: {done.parked}",
            )
        if done.rejected is None:
            assert done.response is not None
            self._delivered += 1
            return DeliveryResult(
                item, "delivered", done.attempts, done.first, done.last,
                status=done.response.status_code, response_id=self.response_id(done.response),
            )
        return DeliveryResult(
            item, "failed", done.attempts, done.first, done.last,
            status=done.rejected.status, reason=str(done.rejected),
            body_digest=done.rejected.body_digest,
        )

    async def _exchange(
        self,
        spec: HttpRequest,
        headers: dict[str, str],
        items: list[DeliveryItem],
        *,
        retry_4xx: bool,
    ) -> _Exchange:
        """Send ``spec`` until it is answered for good, behind the circuit breaker.

        Transient failures are retried per the retry policy (each retry noted for every
        one of ``items``); raises ``DestinationUnauthorised`` at once and
        ``DestinationUnavailable`` when the attempts are exhausted. Returns the accepted
        answer, or the refusal (``rejected``) of a permanent 4xx.
        """
        attempts = 0
        first: datetime | None = None
        delivered_before = self._delivered
        confirmed = False  # the destination was healthy while this kept failing
        while True:
            wait = self.breaker.permit()
            while wait > 0:
                await self._sleep(wait)
                wait = self.breaker.permit()
            attempts += 1
            last = self._now()
            first = first or last
            status: int | None = None
            error: MchubError | None
            try:
                async with self._slots:
                    response = await self._client.request(
                        spec.method, spec.path, json=spec.json, content=spec.content,
                        headers=headers,
                    )
            except httpx.TransportError as exc:
                error = classify_transport_error(exc, destination=self.destination)
            except BaseException:
                self.breaker.record_abandoned()
                raise
            else:
                status = response.status_code
                error = (
                    None
                    if status in spec.accept_status
                    else classify_status(
                        status,
                        body=response.content,
                        retry_after=response.headers.get("retry-after"),
                        destination=self.destination,
                        retry_4xx_with_retry_after=retry_4xx,
                        content_type=response.headers.get("content-type"),
                    )
                )
            if isinstance(error, RetriableError):  # the tree's transient half: retry it
                self.breaker.record_failure()
                if self.retry.exhausted(attempts):
                    raise error
                if self.park is not None and self.park.may_park(attempts):
                    # healthy twice in a row around a failure of this item: its own trouble
                    if not await self.healthy(delivered_since=delivered_before):
                        confirmed = False
                    elif confirmed:
                        return _Exchange(None, None, attempts, first, last, parked=error,
                                         status=status)
                    else:
                        confirmed = True
                delay = self.retry.delay(attempts, error, self._rng)
                if self.on_retry is not None:
                    for item in items:
                        await self.on_retry(
                            RetryNotice(item, attempts, error, delay, first, last, status)
                        )
                await self._sleep(delay)
                continue
            self.breaker.record_success()
            if error is None or isinstance(error, DestinationRejected):
                return _Exchange(response, error, attempts, first, last, status=status)
            raise error

    async def healthy(self, *, delivered_since: int | None = None) -> bool:
        """Is the destination up as a whole (so a failing item's trouble is its own)?

        With ``health_path``: ``GET`` answers 2xx (asked at most every
        ``health_interval`` s; the answer is remembered in between). Without: the breaker
        is closed and items were delivered since ``delivered_since`` (a count of this
        sink's deliveries; ``None``: any time).
        """
        if self.health_path is None:
            if self.breaker.state != "closed":
                return False
            return self._delivered > (delivered_since if delivered_since is not None else -1)
        now = asyncio.get_running_loop().time()
        if self._health is not None and now - self._health[0] < self.health_interval:
            return self._health[1]
        try:
            response = await self._client.get(
                self.health_path, timeout=min(5.0, self._client.timeout.read or 5.0)
            )
            answer = 200 <= response.status_code < 300
        except httpx.HTTPError:
            answer = False
        self._health = (asyncio.get_running_loop().time(), answer)
        return answer


@dataclass(frozen=True)
class _Exchange:
    """How a request ended: the final answer, the refusal if permanent, the transient
    error it was parked with (no answer kept then), the attempts."""

    response: httpx.Response | None
    rejected: DestinationRejected | None
    attempts: int
    first: datetime
    last: datetime
    parked: RetriableError | None = None
    status: int | None = None


def _read_batch(
    contract: BatchContract, response: httpx.Response, chunk: list[DeliveryItem]
) -> BatchAnswer:
    """The contract's reading of a 2xx batch answer; None unless one entry per item."""
    try:
        answer = contract.read(response, chunk)
    except (ValueError, KeyError, TypeError):
        return None
    return answer if answer is not None and len(answer) == len(chunk) else None


async def deliver_per_key(
    items: list[DeliveryItem],
    deliver: Callable[[DeliveryItem], Awaitable[DeliveryResult]],
) -> list[DeliveryResult]:
    """Run ``deliver`` over ``items``: one key's items in order, different keys concurrently.

    Results come back in the order of ``items``. After an item of a key ends ``failed``
    or ``parked``, the key's later items are ``parked`` results, not sent (see
    :func:`parked_behind`). When any delivery raises, the other keys' tasks are cancelled
    and the most telling error is raised: unauthorised first, then hub errors (see
    :func:`most_telling`).
    """
    by_key: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        by_key.setdefault(item.key, []).append(index)
    results: list[DeliveryResult | None] = [None] * len(items)

    async def in_order(indices: list[int]) -> None:
        holder: DeliveryResult | None = None
        for index in indices:
            if holder is not None:
                results[index] = parked_behind(items[index], holder)
                continue
            result = await deliver(items[index])
            results[index] = result
            if result.holds_key:
                holder = result

    try:
        async with asyncio.TaskGroup() as group:
            for indices in by_key.values():
                group.create_task(in_order(indices))
    except BaseExceptionGroup as errors:
        raise most_telling(errors) from None
    return [r for r in results if r is not None]


def parked_behind(item: DeliveryItem, holder: DeliveryResult) -> DeliveryResult:
    """The ``parked`` result of ``item``, held back by ``holder`` (an earlier item of its
    key that ended ``failed`` or ``parked``); nothing was sent."""
    now = _utcnow()
    return DeliveryResult(
        item, "parked", 0, now, now,
        reason=f"parked behind {holder.item.event_id} ({holder.state})",
    )


def most_telling(errors: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error to surface from a failed flush: unauthorised first, then hub errors."""
    flat: list[BaseException] = []

    def walk(group: BaseExceptionGroup[BaseException]) -> None:
        for exc in group.exceptions:
            if isinstance(exc, BaseExceptionGroup):
                walk(exc)
            else:
                flat.append(exc)

    walk(errors)
    for kind in (DestinationUnauthorised, MchubError):
        for exc in flat:
            if isinstance(exc, kind):
                return exc
    return flat[0]

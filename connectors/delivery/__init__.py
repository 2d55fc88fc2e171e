"""Fan-out delivery: one connector per destination, each with its own consumer group.

- :mod:`connectors.delivery.sink`      the Sink port (``add``/``flush``) and item/result types
- :mod:`connectors.delivery.policy`    pure status classification, backoff, circuit breaker,
                                       park budget and redrive schedule
- :mod:`connectors.delivery.parking`   parked keys: what waits behind a refused/parked item
- :mod:`connectors.delivery.http_sink` the httpx-based sink (Idempotency-Key, order per key)
- :mod:`connectors.delivery.runner`    the connector loop (consume → flush → ledger → commit)
- :mod:`connectors.delivery.ledger`    the delivery ledger records and their reader

A destination connector is a decoder, a request builder and a runner::

    def build(item: DeliveryItem) -> HttpRequest:
        return HttpRequest("PUT", f"/credentials/{item.key}", json=render(item.payload))

    async with HttpSink(base_url, destination="register", build_request=build) as sink:
        runner = DeliveryRunner(settings, destination="register", sink=sink, decode=decode,
                                topic=settings.topic(CANONICAL_LOG))
        await runner.run(stop)  # raises DestinationUnauthorised on 401/403
"""

from connectors.delivery.http_sink import HttpRequest, HttpSink, RequestBuilder, json_post
from connectors.delivery.ledger import LedgerRecord, read_ledger
from connectors.delivery.parking import ParkBook, decide
from connectors.delivery.policy import CircuitBreaker, ParkPolicy, RetryPolicy, classify_status
from connectors.delivery.runner import Decoder, DeliveryRunner, decode_json_item
from connectors.delivery.sink import (
    DeliveryItem,
    DeliveryResult,
    RetryNotice,
    Sink,
    SourcePosition,
)

__all__ = [
    "CircuitBreaker",
    "Decoder",
    "DeliveryItem",
    "DeliveryResult",
    "DeliveryRunner",
    "HttpRequest",
    "HttpSink",
    "LedgerRecord",
    "ParkBook",
    "ParkPolicy",
    "RequestBuilder",
    "RetryNotice",
    "RetryPolicy",
    "Sink",
    "SourcePosition",
    "classify_status",
    "decide",
    "decode_json_item",
    "json_post",
    "read_ledger",
]

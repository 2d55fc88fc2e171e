"""The gateway's answers match reality for sizes (issue 14 item 2): 413 only above the
feed's contract limit, the whole body taken at the limit; 503 only for what a retry can
fix (Kafka not acknowledging), 500 when Kafka refuses a body within the limit as too
large (a misconfigured topic: a retry cannot help); the producer is sized for al."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from fastapi import Request

from hub.authz import RegistryFile, SourceEntry, example_registry_path
from hub.errors import RequestRefused
from hub.gateway.auth import Principal
from hub.gateway.runtime import Gateway
from hub.normalise import normalise
from hub.settings import Settings
from hub.topics import payload_limit, source_record_limit
from tests.support import shared_dir

EXAMPLE = example_registry_path()
HE = shared_dir() / "feeds" / "samples" / "he" / "01_kiallitas_tesztvezerelt_python.json"


def _request(body: bytes, *, declared: int | None = None, chunk: int = 65536) -> Request:
    headers = [] if declared is None else [(b"content-length", str(declared).encode())]
    chunks = [body[i:i + chunk] for i in range(0, len(body), chunk)] or [b""]
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                for i, c in enumerate(chunks)]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    return Request(scope, receive)


@pytest.mark.parametrize("feed", ["he", "vet", "al"])
async def test_413_only_above_the_contract_limit(feed: str) -> None:
    limit = payload_limit(feed)
    at_limit = b"x" * limit
    assert await Gateway.read_body(_request(at_limit, declared=limit), feed) == at_limit
    for declared in (limit + 1, None):
        with pytest.raises(RequestRefused) as refused:
            await Gateway.read_body(_request(at_limit + b"y", declared=declared), feed)
        assert refused.value.status == 413


class _Producer:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def send_and_wait(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    settings = Settings(data_dir=tmp_path).with_section("gateway", db=tmp_path / "gw.db")
    gw = Gateway(settings, RegistryFile(EXAMPLE))
    yield gw
    gw.store.close()


@pytest.mark.parametrize(("error", "status"), [
    (KafkaTimeoutError(), 503),
    (ConnectionError("broker gone"), 503),
    (MessageSizeTooLargeError("too large"), 500),
])
async def test_503_only_for_what_a_retry_can_fix(
    gateway: Gateway, error: Exception, status: int
) -> None:
    body = HE.read_bytes()
    gateway._producer = _Producer(error)  # type: ignore[assignment]
    principal = Principal(SourceEntry(id="fir-central", name="x"), key_id="k", certificate=None)
    with pytest.raises(RequestRefused) as refused:
        await gateway.append(principal=principal, feed="he", body=body,
                             result=normalise("he", body), idempotency_key="same",
                             content_type="application/json", file_name=None, traceparent=None)
    assert refused.value.status == status
    assert ("Retry-After" in (refused.value.headers or {})) == (status == 503)
    # nothing was written: the idempotency key is free again
    gateway._producer = _Producer(KafkaTimeoutError())  # type: ignore[assignment]
    with pytest.raises(RequestRefused) as again:
        await gateway.append(principal=principal, feed="he", body=body,
                             result=normalise("he", body), idempotency_key="same",
                             content_type="application/json", file_name=None, traceparent=None)
    assert again.value.status == 503  # not 409 "in use": the first attempt released it


def test_the_gateway_producer_takes_an_al_file_with_headroom(gateway: Gateway) -> None:
    options = gateway.producer_options()
    assert options["max_request_size"] == source_record_limit("al", gateway.settings)
    assert options["max_request_size"] >= payload_limit("al") + 4096

"""Unit tests of the fan-out interface: decoding canonical records and skipping."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
import pytest

from connectors.delivery.http_sink import HttpRequest, HttpSink
from connectors.fanout.base import (
    CanonicalItem,
    Destination,
    FilteringSink,
    PreparingDestination,
    canonical_of,
    decode_canonical,
    decode_delivery_item,
)
from hub.contract import AvroCodec, credential_id
from hub.errors import UndecodableInput
from hub.privacy.pseudonym import learner_log_key
from tests.unit.contract.contract_testdata import (
    build,
    enrolment_normalised,
    issued,
    revocation_normalised,
)

CODEC = AvroCodec()


def test_issuance_decodes_with_elements_and_credential_id() -> None:
    event = issued("he")
    item = decode_canonical(CODEC.encode(event))
    assert item.event_type == "issued"
    assert item.event_id == event.envelope.event_id
    assert item.credential_key == "he:FI31457:TME-MK-2025-0117"
    assert item.credential_id == credential_id("he:FI31457:TME-MK-2025-0117")
    assert item.learner_id == event.credential.learner_identification.education_id
    assert item.elements is not None and item.elements["title"]["hu"]
    assert item.event["envelope"]["eventId"] == item.event_id
    assert item.event["credential"]["learnerIdentification"]["educationId"] == item.learner_id
    assert item.order_key == item.credential_id
    assert item.source_system == "FIR"


def test_revocation_and_enrolment_decode() -> None:
    revoked = decode_canonical(CODEC.encode(build(revocation_normalised())))
    assert (revoked.event_type, revoked.elements) == ("revoked", None)
    assert revoked.credential_id == credential_id("he:FI31457:TME-MK-2025-0117")
    assert revoked.learner_id == "77721222107"
    enrolled = decode_canonical(CODEC.encode(build(enrolment_normalised("withdrawn"))))
    assert enrolled.event_type == "withdrawn"
    assert enrolled.credential_id is None
    assert enrolled.order_key == learner_log_key("77721222107")
    delivery = decode_delivery_item(CODEC.encode(build(enrolment_normalised("enrolled"))))
    assert delivery.key == delivery.credential == learner_log_key("77721222107")


def test_garbage_is_undecodable() -> None:
    with pytest.raises(UndecodableInput):
        decode_canonical(b"\xc3\x01not avro")


@dataclass
class OnlyIssuances:
    name: str = "wallet"
    seen: list[str] = field(default_factory=list)

    def wants(self, item: CanonicalItem) -> bool:
        return item.event_type == "issued"

    def build_request(self, item: CanonicalItem) -> HttpRequest:
        self.seen.append(item.event_id)
        return HttpRequest("POST", "/offers", json={"id": item.event_id})


async def test_unwanted_items_are_skipped_in_order_and_never_sent() -> None:
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["Idempotency-Key"])
        return httpx.Response(201, json={"id": "x"})

    destination = OnlyIssuances()
    http = HttpSink(
        "http://wallet.test",
        destination="wallet",
        transport=httpx.MockTransport(answer),
        build_request=lambda item: destination.build_request(canonical_of(item)),
    )
    sink = FilteringSink(destination, http)
    items = [
        decode_delivery_item(CODEC.encode(build(enrolment_normalised("enrolled")))),
        decode_delivery_item(CODEC.encode(issued("he"))),
        decode_delivery_item(CODEC.encode(build(revocation_normalised()))),
    ]
    for item in items:
        sink.add(item)
    async with http:
        results = await sink.flush()
    assert [r.state for r in results] == ["skipped", "delivered", "skipped"]
    assert [r.item.event_id for r in results] == [i.event_id for i in items]
    assert sent == [items[1].event_id]
    assert results[0].attempts == 0


@dataclass
class RevokesWhatItSent:
    """Like the wallet: takes a revocation only when it delivered the issuance."""

    name: str = "wallet"
    sent: set[str] = field(default_factory=set)

    def wants(self, item: CanonicalItem) -> bool:
        return item.event_type == "issued" or item.credential_id in self.sent

    def build_request(self, item: CanonicalItem) -> HttpRequest:
        if item.credential_id is not None:
            self.sent.add(item.credential_id)
        return HttpRequest("POST", "/offers", json={"id": item.event_id})


def accepting_sink(destination: Destination) -> HttpSink:
    """An HTTP sink answering 201 to every request the destination builds."""
    return HttpSink(
        "http://wallet.test",
        destination="wallet",
        transport=httpx.MockTransport(lambda request: httpx.Response(201)),
        build_request=lambda item: destination.build_request(canonical_of(item)),
    )


async def test_wants_is_asked_in_order_after_the_previous_delivery_of_the_key() -> None:
    destination = RevokesWhatItSent()
    http = accepting_sink(destination)
    sink = FilteringSink(destination, http)
    sink.add(decode_delivery_item(CODEC.encode(issued("he"))))
    sink.add(decode_delivery_item(CODEC.encode(build(revocation_normalised()))))
    async with http:
        results = await sink.flush()
    assert [r.state for r in results] == ["delivered", "delivered"]


@dataclass
class Preparing(OnlyIssuances):
    """Records what it was prepared with, and when (before any request was built)."""

    prepared: list[list[str]] = field(default_factory=list)

    def prepare(self, items: list[CanonicalItem]) -> None:
        assert not self.seen, "prepared after a request was built"
        self.prepared.append([i.event_id for i in items])


async def test_a_preparing_destination_is_prepared_once_per_batch_before_any_request() -> None:
    destination = Preparing()
    assert isinstance(destination, PreparingDestination)
    assert not isinstance(OnlyIssuances(), PreparingDestination)
    http = accepting_sink(destination)
    sink = FilteringSink(destination, http)
    items = [
        decode_delivery_item(CODEC.encode(issued("he"))),
        decode_delivery_item(CODEC.encode(issued("vet"))),
        decode_delivery_item(CODEC.encode(build(enrolment_normalised("enrolled")))),
    ]
    for item in items:
        sink.add(item)
    async with http:
        results = await sink.flush()
        assert await sink.flush() == []  # an empty batch: nothing to prepare
    assert [r.state for r in results] == ["delivered", "delivered", "skipped"]
    assert destination.prepared == [[i.event_id for i in items]]

"""Ledger records (JSON form, from results and retries), the book, the JSON decoder."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from connectors.delivery.ledger import LedgerBook, LedgerRecord, ledger_key
from connectors.delivery.runner import decode_json_item
from connectors.delivery.sink import DeliveryItem, DeliveryResult, RetryNotice, SourcePosition
from hub.cli.deliveries import format_table
from hub.errors import DestinationUnavailable, UndecodableInput

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ITEM = DeliveryItem(
    "ev-1", "key-1", {"a": 1}, credential_id="cred-1", source=SourcePosition("t", 2, 41)
)


def test_delivered_record_from_a_result_round_trips_as_camel_case_json() -> None:
    result = DeliveryResult(
        ITEM, "delivered", 4, T0, T0 + timedelta(seconds=2), status=201, response_id="r-1"
    )
    record = LedgerRecord.from_result(result, "register", now=T0 + timedelta(seconds=3))
    doc = json.loads(record.to_json())
    assert doc["eventId"] == "ev-1" and doc["credentialId"] == "cred-1"
    assert doc["state"] == "delivered" and doc["status"] == 201 and doc["attempts"] == 4
    assert doc["responseId"] == "r-1"
    assert (doc["sourceTopic"], doc["sourcePartition"], doc["sourceOffset"]) == ("t", 2, 41)
    assert "reason" not in doc  # absent fields are left out
    assert LedgerRecord.from_json(record.to_json()) == record
    assert record.key == ledger_key("ev-1", "register") == b"ev-1/register"


def test_failed_and_pending_records() -> None:
    failed = LedgerRecord.from_result(
        DeliveryResult(ITEM, "failed", 1, T0, T0, status=400, reason="no", body_digest="sha256:x"),
        "wallet",
    )
    assert (failed.state, failed.status, failed.body_digest) == ("failed", 400, "sha256:x")
    notice = RetryNotice(ITEM, 2, DestinationUnavailable("edc answered 503"), 0.1, T0, T0, 503)
    pending = LedgerRecord.pending(notice, "edc")
    assert (pending.state, pending.attempts, pending.status) == ("pending", 2, 503)
    assert pending.reason == "edc answered 503"


def test_credential_defaults_to_the_ordering_key() -> None:
    assert DeliveryItem("e", "k", {}).credential == "k"


def test_book_keeps_the_latest_record_per_delivery() -> None:
    def rec(event: str, dest: str, state: str, cred: str = "c") -> LedgerRecord:
        return LedgerRecord.model_validate(
            {
                "eventId": event,
                "destination": dest,
                "credentialId": cred,
                "state": state,
                "attempts": 1,
                "recordedAt": T0.isoformat(),
            }
        )

    book = LedgerBook()
    for r in [
        rec("e1", "register", "pending"),
        rec("e1", "wallet", "failed"),
        rec("e1", "register", "delivered"),
        rec("e2", "edc", "delivered", "other"),
    ]:
        book.add(r)
    states = {(r.event_id, r.destination): r.state for r in book.records(credential_id="c")}
    assert states == {("e1", "register"): "delivered", ("e1", "wallet"): "failed"}
    assert len(book.records()) == 3
    table = format_table(book.records())
    assert table.splitlines()[0].startswith("EVENT")
    assert len(table.splitlines()) == 4


def test_json_decoder() -> None:
    raw = b'{"eventId": "e1", "key": "c1", "payload": {"x": 1}, "credentialId": "cr"}'
    item = decode_json_item(raw)
    assert (item.event_id, item.key, item.credential, dict(item.payload)) == (
        "e1",
        "c1",
        "cr",
        {"x": 1},
    )


@pytest.mark.parametrize(
    "raw", [b"\xff", b"[]", b'{"eventId": "e"}', b'{"key": "k", "payload": {}}', b"not json"]
)
def test_json_decoder_refuses_other_bytes(raw: bytes) -> None:
    with pytest.raises(UndecodableInput):
        decode_json_item(raw)


def test_parked_records_name_what_holds_them_and_the_table_says_they_are_redriven() -> None:
    from connectors.delivery.http_sink import parked_behind

    head = DeliveryResult(ITEM, "failed", 1, T0, T0, status=422, reason="register answered 422")
    later = DeliveryItem("ev-2", "key-1", {}, credential_id="cred-1",
                         source=SourcePosition("t", 2, 42))
    record = LedgerRecord.from_result(parked_behind(later, head), "register", now=T0)
    doc = json.loads(record.to_json())
    assert (doc["state"], doc["attempts"], doc["reason"]) == (
        "parked", 0, "parked behind ev-1 (failed)")
    assert doc["orderKey"] == "key-1"  # the connector's key, kept to restore parked keys
    assert LedgerRecord.from_json(record.to_json()) == record
    table = format_table([record])
    assert "parked" in table and "parked behind ev-1 (failed); redriven automatically" in table

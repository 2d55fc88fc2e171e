"""Unit tests of the register destination's mapping and the register-state projection."""

from __future__ import annotations

import json

import httpx
from aiokafka import ConsumerRecord

from connectors.fanout.base import decode_canonical
from connectors.fanout.register import RegisterDestination
from connectors.fanout.state import RegisterStateProjection
from connectors.register.models import (
    ChangeBatch,
    CredentialChange,
    CredentialPush,
    EnrolmentChange,
    EnrolmentPush,
)
from connectors.register.table import TABLE_TOPICS
from hub.contract import AvroCodec
from hub.settings import Settings
from hub.topics import REGISTER_STATE, destination_dead_letters
from mchub_reference.register.consumer import decode_state_record
from tests.unit.contract.contract_testdata import (
    build,
    enrolment_normalised,
    issued,
    revocation_normalised,
)

CODEC = AvroCodec()
ISSUED = CODEC.encode(issued("he"))
REVOKED = CODEC.encode(build(revocation_normalised()))
WITHDRAWN = CODEC.encode(build(enrolment_normalised("withdrawn")))


def test_issuance_is_a_put_of_the_active_credential_with_its_record() -> None:
    item = decode_canonical(ISSUED)
    request = RegisterDestination().build_request(item)
    assert (request.method, request.path) == ("PUT", f"/credentials/{item.credential_id}")
    push = CredentialPush.model_validate(request.json)
    assert (push.event_id, push.event_type, push.status) == (item.event_id, "issued", "active")
    assert push.credential is not None
    assert push.credential.wire()["title"] == item.elements["title"]  # type: ignore[index]
    assert push.learner.education_id == item.learner_id
    assert push.source_system == "FIR"


def test_revocation_is_a_put_of_the_revoked_state() -> None:
    item = decode_canonical(REVOKED)
    request = RegisterDestination().build_request(item)
    assert request.path == f"/credentials/{item.credential_id}"
    push = CredentialPush.model_validate(request.json)
    assert (push.event_type, push.status) == ("revoked", "revoked")
    assert push.revocation is not None and push.revocation.reason == "DATA_ERROR"


def test_enrolment_is_a_put_under_the_learner() -> None:
    item = decode_canonical(WITHDRAWN)
    destination = RegisterDestination()
    assert destination.wants(item)
    request = destination.build_request(item)
    assert request.path == f"/learners/77721222107/enrolments/{item.event_id}"
    push = EnrolmentPush.model_validate(request.json)
    assert (push.status, push.programme.id) == ("withdrawn", "TME-PTI-BSC")
    assert push.withdrawal_reason


def test_a_batch_carries_each_change_as_the_register_applies_it() -> None:
    items = [decode_canonical(v) for v in (ISSUED, REVOKED, WITHDRAWN)]
    destination = RegisterDestination()
    request = destination.build_batch(items)
    assert (request.method, request.path) == ("POST", "/changes")
    body = ChangeBatch.model_validate(request.json)
    issued_change = CredentialChange.model_validate(body.changes[0])
    assert (issued_change.credential_id, issued_change.event_id) == (
        items[0].credential_id, items[0].event_id)
    assert CredentialChange.model_validate(body.changes[1]).event_type == "revoked"
    enrolment = EnrolmentChange.model_validate(body.changes[2])
    assert (enrolment.event_id, enrolment.education_id) == (items[2].event_id, items[2].learner_id)
    # each change is the PUT body plus its ids, so both paths apply the same thing
    single = destination.build_request(items[0]).json
    assert {k: v for k, v in body.changes[0].items() if k != "credentialId"} == single

    answer = {"results": [{"eventId": i.event_id, "status": 201} for i in items]}
    assert destination.read_batch(httpx.Response(200, json=answer), items) == [
        (201, None)] * 3
    shuffled = {"results": list(reversed(answer["results"]))}
    assert destination.read_batch(httpx.Response(200, json=shuffled), items) is None


def record(value: bytes | None, offset: int = 0, key: bytes = b"k") -> ConsumerRecord:
    return ConsumerRecord(
        "canon.events.log", 0, offset, 0, 0, key, value, None, 1, len(value or b""), []
    )


def test_projection_keeps_the_record_in_the_revoked_state() -> None:
    projection = RegisterStateProjection(Settings())
    issued_out, *issued_rows = projection.handle(record(ISSUED))
    revoked_out, *revoked_rows = projection.handle(record(REVOKED, 1))
    # the typed tables (connectors.register.table) in the same transaction, same keys
    assert issued_rows and [o.key for o in issued_rows] == [o.key for o in revoked_rows]
    assert {o.topic for o in issued_rows} == set(TABLE_TOPICS)
    assert issued_out.topic == revoked_out.topic == REGISTER_STATE
    assert issued_out.key == revoked_out.key
    first = decode_state_record(issued_out.key, issued_out.value)
    last = decode_state_record(revoked_out.key, revoked_out.value)
    assert first is not None and last is not None
    assert (first.status, last.status) == ("active", "revoked")
    assert last.credential == first.credential  # compaction keeps the full record
    assert projection.handle(record(WITHDRAWN, 2)) == []  # enrolments: HTTP only
    assert projection.state_size() == 1  # one credential in memory (metrics)


def test_projection_restores_from_its_own_records_and_dead_letters_garbage() -> None:
    first = RegisterStateProjection(Settings())
    out, *_ = first.handle(record(ISSUED))
    again = RegisterStateProjection(Settings())
    again._load(record(out.value, key=out.key or b""))
    revoked, *_ = again.handle(record(REVOKED, 1))
    assert json.loads(revoked.value or b"")["credential"] is not None
    [dead] = again.handle(record(b"\x00garbage", 2))
    assert dead.topic == destination_dead_letters("register")
    assert dead.value == b"\x00garbage"
    assert dict(dead.headers)["mchub-dlq-offset"] == b"2"

"""Decoding and applying records of the compacted state topic (no broker)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.errors import UndecodableInput
from mchub_reference.register.consumer import apply_state_record, decode_state_record
from mchub_reference.register.sqlite_store import SqliteRegisterStore
from tests.unit.register.register_support import HE_01, elements, issued, revoked


def _value(change_json: dict[str, object]) -> bytes:
    return json.dumps(change_json).encode()


def test_decode_takes_the_id_from_the_key_when_missing() -> None:
    body = issued("cred-1", "ev-1").wire()
    del body["credentialId"]
    change = decode_state_record(b"cred-1", _value(body))
    assert change is not None and change.credential_id == "cred-1"
    assert decode_state_record(b"cred-1", None) is None  # tombstone


@pytest.mark.parametrize(("key", "value", "message"), [
    (b"cred-1", b"\xff\xfe", "UTF-8 JSON"),
    (b"cred-1", b"[1, 2]", "not a JSON object"),
    (b"cred-1", b'{"eventId": "x"}', "push contract"),
    (b"cred-2", json.dumps(issued("cred-1", "ev-1").wire()).encode(), "differs"),
])
def test_decode_refuses_bad_records(key: bytes, value: bytes, message: str) -> None:
    with pytest.raises(UndecodableInput, match=message):
        decode_state_record(key, value)


def test_apply_state_records(tmp_path: Path) -> None:
    store = SqliteRegisterStore(tmp_path / "register.db")
    try:
        revoked_state = revoked("cred-1", "ev-2").model_copy(
            update={"credential": issued().credential})
        applied = apply_state_record(store, b"cred-1", _value(revoked_state.wire()))
        assert applied is not None and applied.status == "applied"
        assert apply_state_record(store, b"cred-1", b"garbage") is None
        assert apply_state_record(store, b"cred-1", None) is None
        again = apply_state_record(store, b"cred-1", _value(revoked_state.wire()))
        assert again is not None and again.status == "duplicate"
        state = store.get_credential("cred-1")
        assert state is not None
        assert (state.status, state.credential) == ("revoked", elements(HE_01))
    finally:
        store.close()

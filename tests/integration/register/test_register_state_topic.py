"""The register applies the compacted state topic through the real broker."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from hub.adapters.kafka import make_producer
from hub.settings import Settings
from hub.topics import REGISTER_STATE, apply_topics, declared_topics
from mchub_reference.register.consumer import consume_state
from mchub_reference.register.sqlite_store import SqliteRegisterStore
from tests.unit.register.register_support import issued, revoked


async def _produce(settings: Settings,
                   records: list[tuple[bytes, dict[str, Any] | None]]) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(settings.topic(REGISTER_STATE),
                                         json.dumps(value).encode() if value else None, key=key)
    finally:
        await producer.stop()


async def test_state_topic_is_applied_once_and_survives_a_restart(
        settings: Settings, tmp_path: Path) -> None:
    await apply_topics(settings, [t for t in declared_topics() if t.name == REGISTER_STATE])
    revoked_state = revoked("cred-1", "ev-2").model_copy(
        update={"credential": issued().credential})
    records: list[tuple[bytes, dict[str, Any] | None]] = [
        (b"cred-1", issued("cred-1", "ev-1").wire()),
        (b"cred-2", issued("cred-2", "ev-3").wire()),
        (b"cred-1", revoked_state.wire()),
        (b"cred-1", revoked_state.wire()),  # redelivered
        (b"cred-3", None),                  # tombstone
    ]
    await _produce(settings, records)

    store = SqliteRegisterStore(tmp_path / "register.db")
    try:
        stop = asyncio.Event()
        seen: list[object] = []

        def on_result(result: object) -> None:
            seen.append(result)
            if len(seen) == len(records):
                stop.set()

        counts = await asyncio.wait_for(
            consume_state(settings, store, stop, on_result=on_result, poll_ms=200), 60)
        assert counts == {"applied": 3, "duplicate": 1, "skipped": 1}
        assert store.verify("cred-1").status == "revoked"
        assert store.verify("cred-2").status == "active"

        # committed offsets: a restarted consumer reads only what came later
        await _produce(settings, [(b"cred-4", issued("cred-4", "ev-4").wire())])
        stop = asyncio.Event()
        counts = await asyncio.wait_for(
            consume_state(settings, store, stop, on_result=lambda _: stop.set(), poll_ms=200),
            60)
        assert counts == {"applied": 1}
        assert store.verify("cred-4").valid
    finally:
        store.close()

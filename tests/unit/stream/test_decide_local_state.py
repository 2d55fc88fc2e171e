"""The decide task's local store on the in-memory log: tail reads, checkpoints on commit,
discarded writes, and the cases where the local file is dropped."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka import TopicPartition

from hub.adapters.kafka import make_producer
from hub.adapters.memory import MemoryBroker
from hub.core import CredentialEntry, Status
from hub.settings import Settings
from hub.stream import decide as decide_module
from hub.stream.decide import DecideHandler
from hub.stream.store import SqliteStore, store_path
from hub.topics import DECIDE_CHANGELOG, DECIDE_REQUESTS, apply_topics
from tests.support import memory_settings

pytestmark = pytest.mark.unit


@pytest.fixture
async def settings(tmp_path: Path) -> Settings:
    settings = memory_settings(tmp_path)
    await apply_topics(settings)
    return settings


def state(i: int, status: Status = "active") -> CredentialEntry:
    return CredentialEntry(credential_key=f"he:FI1:C{i}", status=status, keys={f"he:E{i}": "d"})


async def append(settings: Settings, *states: CredentialEntry) -> None:
    """Changelog records written by someone else (another instance)."""
    producer = make_producer(settings)
    await producer.start()
    for s in states:
        await producer.send(
            settings.topic(DECIDE_CHANGELOG), s.to_json(), key=s.changelog_key.encode()
        )
    await producer.stop()


async def start(settings: Settings) -> DecideHandler:
    handler = DecideHandler(settings)
    await handler.assigned([task(settings)])
    return handler


def task(settings: Settings) -> TopicPartition:
    return TopicPartition(settings.topic(DECIDE_REQUESTS), 0)


def checkpoint(settings: Settings) -> int | None:
    path = store_path(settings.data_dir, "decide", settings.topic(DECIDE_REQUESTS), 0)
    store = SqliteStore(path)
    try:
        return store.checkpoint
    finally:
        store.close()


async def test_restarts_read_only_the_tail_after_the_checkpoint(settings: Settings) -> None:
    await append(settings, state(1), state(2), state(3))
    one = await start(settings)
    assert (one.restored_from, one.restored) == (None, 3)
    assert one.store is not None and one.store.kind == "sqlite"
    await one.revoked([task(settings)])
    assert checkpoint(settings) == 3

    await append(settings, state(2, "revoked"), state(4))  # another owner meanwhile
    again = await start(settings)
    assert (again.restored_from, again.restored) == (3, 2)
    assert again.tables.credentials["he:FI1:C2"].status == "revoked"
    assert sorted(again.tables.credentials) == ["he:FI1:C1", "he:FI1:C2", "he:FI1:C3", "he:FI1:C4"]
    await again.revoked([task(settings)])

    quiet = await start(settings)
    assert (quiet.restored_from, quiet.restored) == (5, 0)
    await quiet.revoked([task(settings)])


async def test_committed_checkpoints_and_revoked_discards(settings: Settings) -> None:
    handler = await start(settings)
    changelog = TopicPartition(settings.topic(DECIDE_CHANGELOG), 0)
    handler.tables.put_credential(state(7))
    handler.committed(task(settings), {changelog: 1})  # its transaction wrote offset 0
    handler.committed(task(settings), {})  # nothing to the changelog: checkpoint kept
    handler.tables.put_credential(state(8))  # its transaction fails: never committed
    await handler.revoked([task(settings)])
    assert checkpoint(settings) == 1
    reopened = SqliteStore(
        store_path(settings.data_dir, "decide", settings.topic(DECIDE_REQUESTS), 0)
    )
    try:
        assert [k for k, _ in reopened.items("cred|")] == ["cred|he:FI1:C7"]
    finally:
        reopened.close()


async def test_a_recreated_changelog_drops_the_local_file(settings: Settings) -> None:
    await append(settings, state(1), state(2), state(3))
    handler = await start(settings)
    await handler.revoked([task(settings)])
    broker = MemoryBroker.named(settings.bootstrap)
    del broker.partitions[settings.topic(DECIDE_CHANGELOG)]
    broker.create(settings.topic(DECIDE_CHANGELOG), 1)
    await append(settings, state(9))
    again = await start(settings)
    assert (again.restored_from, again.restored) == (None, 1)
    assert list(again.tables.credentials) == ["he:FI1:C9"]
    await again.revoked([task(settings)])


async def test_a_changelog_starting_after_the_checkpoint_drops_the_local_file(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await append(settings, state(1), state(2))
    handler = await start(settings)
    await handler.revoked([task(settings)])
    real = decide_module.changelog_bounds

    async def truncated(settings: Settings, tp: TopicPartition) -> tuple[int, int]:
        _, end = await real(settings, tp)
        return 3, end + 2  # records before 3 deleted; the changelog went on

    monkeypatch.setattr(decide_module, "changelog_bounds", truncated)
    await append(settings, state(3), state(4))
    again = await start(settings)
    assert again.restored_from is None and again.restored == 4
    await again.revoked([task(settings)])


async def test_the_memory_store_reads_the_whole_changelog_every_time(settings: Settings) -> None:
    memory = settings.model_copy(update={"state_store": "memory"})
    await append(memory, state(1), state(2))
    for _ in range(2):
        handler = await start(memory)
        assert handler.store is not None and handler.store.kind == "memory"
        assert (handler.restored_from, handler.restored) == (None, 2)
        await handler.revoked([task(memory)])
    assert not store_path(memory.data_dir, "decide", memory.topic(DECIDE_REQUESTS), 0).exists()

"""Restarting the decide stage reads only the changelog's tail after its local checkpoint,
also when another instance owned the task meanwhile; an untrusted local file is dropped."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from hub.settings import Settings
from hub.stream import decide as decide_module
from hub.stream.decide import DecideHandler
from hub.stream.reading import read_all
from hub.stream.runner import core_stages, run_stages
from hub.stream.store import SqliteStore, store_path
from hub.topics import DECIDE_CHANGELOG, DECIDE_REQUESTS
from tests.integration.stream.test_core_stream import he, receipts, send_raw
from tests.support import shared_audit_key

ISSUE_1 = "01_kiallitas_tesztvezerelt_python.json"
ISSUE_2 = "02_kiallitas_agilis_projektmenedzsment.json"
REVOKE_2 = "04_visszavonas_agilis_projektmenedzsment.json"
ISSUE_3 = "03_kiallitas_haccp_elelmiszer.json"


async def run_core(
    settings: Settings, work: Callable[[], Awaitable[None]] | None = None
) -> tuple[int | None, int]:
    """Run ingest + decide until ``work`` is done; (restored from, records restored)."""
    stop = asyncio.Event()
    stages = core_stages(settings)
    task = asyncio.create_task(run_stages(stages, stop))
    try:
        await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in stages)), 60)
        handler = stages[1].handler
        assert isinstance(handler, DecideHandler) and handler.task is not None
        restored = (handler.restored_from, handler.restored)
        if work is not None:
            await work()
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
    return restored


def local_checkpoint(settings: Settings) -> int:
    path = store_path(settings.data_dir, "decide", settings.topic(DECIDE_REQUESTS), 0)
    store = SqliteStore(path)
    try:
        assert store.checkpoint is not None
        return store.checkpoint
    finally:
        store.close()


async def changelog_records(settings: Settings, start: int | None = None) -> int:
    options = {} if start is None else {"start": {0: start}}
    return len(await read_all(settings, settings.topic(DECIDE_CHANGELOG), **options))


async def test_a_restart_reads_only_the_changelog_tail(
    applied_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = shared_audit_key(applied_settings, tmp_path / "seal")
    one = shared.model_copy(update={"data_dir": tmp_path / "one"})
    other = shared.model_copy(update={"data_dir": tmp_path / "other"})

    async def send(name: str, receipts_total: int) -> None:
        await send_raw(one, "he", [he(name)])
        await receipts(one, "he", at_least=receipts_total)

    # instance one: first start (nothing local), decides an issuance
    assert await run_core(one, lambda: send(ISSUE_1, 1)) == (None, 0)
    checkpoint = local_checkpoint(one)
    assert checkpoint >= await changelog_records(one) > 0

    # instance two owns the task meanwhile: no local file, the whole changelog
    whole = await changelog_records(one)

    async def two_more() -> None:
        await send(ISSUE_2, 2)
        await send(REVOKE_2, 3)

    assert await run_core(other, two_more) == (None, whole)

    # instance one again: only what instance two wrote after one's checkpoint
    tail = await changelog_records(one, start=checkpoint)
    assert tail > 0

    async def resend() -> None:
        await send(ISSUE_2, 4)  # instance two's state is in the tail: a duplicate

    assert await run_core(one, resend) == (checkpoint, tail)
    got = await receipts(one, "he", at_least=4)
    # receipts sit on several partitions: compare the outcomes, not their read order
    assert sorted(r["outcome"] for r in got) == [
        "accept", "accept", "accept", "duplicate-ignored"
    ]

    # and a restart with nothing new reads nothing
    checkpoint = local_checkpoint(one)
    assert await run_core(one) == (checkpoint, 0)

    # a local file older than the changelog's delete.retention.ms, with records after
    # it, is dropped: tombstones among them may be gone
    checkpoint = local_checkpoint(other)
    tail = await changelog_records(one, start=checkpoint)
    assert await run_core(other, lambda: send(ISSUE_3, 5)) == (checkpoint, tail)

    async def no_retention(settings: Settings, topic: str) -> int:
        return 0

    monkeypatch.setattr(decide_module, "delete_retention_ms", no_retention)
    whole = await changelog_records(one)
    assert await run_core(one) == (None, whole)

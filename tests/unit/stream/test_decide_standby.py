"""A decide standby keeps its local store warm: when the owner leaves, the takeover reads
only the changelog records of the last moments (in-memory log, SQLite stores)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from hub.adapters.memory import MemoryBroker
from hub.publish import message_from_file, publish
from hub.settings import Settings
from hub.stream.decide import DecideHandler, decide_stage
from hub.stream.ingest import ingest_stage
from hub.stream.reading import read_all
from hub.stream.runner import run_stages
from hub.topics import DECIDE_CHANGELOG, apply_topics, source_receipts
from tests.support import shared_audit_key, shared_dir

HE = shared_dir() / "feeds" / "samples" / "he"


async def until(predicate: Callable[[], object], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_the_standby_follows_the_changelog_and_takes_over_from_its_tail(
    tmp_path: Path,
) -> None:
    tag = uuid.uuid4().hex[:8]
    base = Settings(
        bootstrap=f"memory://{tag}", topic_prefix=f"t{tag}.", consumer_group=tag,
        client_id=tag, partitions=2, state_store="sqlite",
    )
    await apply_topics(base)
    base = shared_audit_key(base, tmp_path / "seal")
    one = base.model_copy(update={"data_dir": tmp_path / "one"})
    two = base.model_copy(update={"data_dir": tmp_path / "two"})
    active, standby = decide_stage(one), decide_stage(two)
    for stage in (active, standby):
        assert isinstance(stage.handler, DecideHandler)
        stage.handler.standby_interval_s = 0.05
    standby_handler = standby.handler
    assert isinstance(standby_handler, DecideHandler)
    stop_active, stop_rest = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(run_stages([ingest_stage(one), active], stop_active))
    await asyncio.wait_for(active.ready.wait(), 10)
    rest = asyncio.create_task(run_stages([ingest_stage(two), standby], stop_rest))
    try:
        await asyncio.wait_for(standby.ready.wait(), 10)
        messages = [message_from_file("he", path) for path in sorted(HE.glob("0[123]_*.json"))]
        await publish(one, messages)
        receipts_topic = one.topic(source_receipts("he"))
        await until(lambda: len(active.tasks) == 1 and not standby.tasks, "one owner")
        changelog = one.topic(DECIDE_CHANGELOG)
        broker = MemoryBroker.named(base.bootstrap)

        def standby_caught_up() -> bool:
            store = standby_handler.store
            end = len(broker.partitions[changelog][0])
            return store is not None and end > 0 and store.checkpoint == end

        def receipts() -> int:
            return sum(len(p) for p in broker.partitions[receipts_topic])

        await until(lambda: receipts() == 3, "3 receipts")
        await until(standby_caught_up, "the standby to follow the changelog")

        stop_active.set()  # the owner leaves: the standby takes over
        await asyncio.wait_for(first, 10)
        await until(lambda: standby_handler.task is not None, "the takeover")
        assert standby_handler.restored_from is not None  # from its local checkpoint
        assert standby_handler.restored == 0  # nothing after it: it was caught up

        # the new owner decides with the state it followed: a resend is a duplicate
        await publish(two, [messages[0]])
        await until(lambda: receipts() == 4, "the resend's receipt")
        outcomes = sorted(json.loads(r.value)["outcome"] for r in await read_all(
            two, receipts_topic))
        assert outcomes == ["accept", "accept", "accept", "duplicate-ignored"]
    finally:
        stop_active.set()
        stop_rest.set()
        await asyncio.wait_for(asyncio.gather(first, rest, return_exceptions=True), 10)

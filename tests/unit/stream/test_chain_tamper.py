"""A writer of the topics other than the hub: a record appended to the canonical log with a
correct ``prevHash``, a chain head written to the decide changelog, checkpoints dropped.
Each is detected (in-memory log, the real stages and the real verifier)."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.adapters.kafka import make_producer
from hub.adapters.memory import MemoryBroker
from hub.audit.verify import VerifyReport, verify_topics
from hub.crypto.devca import dev_signer
from hub.publish import message_from_file, publish
from hub.settings import Settings
from hub.stream.chain import CHAIN_HEAD_KEY, ChainHead, EnvelopeReader, record_hash
from hub.stream.checkpoints import (
    Checkpoint,
    latest_checkpoint,
    sign_checkpoint,
    trust_anchors,
)
from hub.stream.decide import decide_stage
from hub.stream.ingest import ingest_stage
from hub.stream.runner import run_stages
from hub.topics import (
    AUDIT_CHECKPOINTS,
    CANONICAL_LOG,
    DECIDE_CHANGELOG,
    apply_topics,
    source_receipts,
)
from tests.support import memory_settings, shared_dir

HE = sorted((shared_dir() / "feeds" / "samples" / "he").glob("0*.json"))


async def run_core(settings: Settings, files: list[Path]) -> None:
    """Ingest and decide until every file has its receipt, then stop."""
    broker = MemoryBroker.named(settings.bootstrap)
    topic = settings.topic(source_receipts("he"))
    before = sum(len(p) for p in broker.partitions.get(topic, []))
    stages = [ingest_stage(settings), decide_stage(settings)]
    stop = asyncio.Event()
    task = asyncio.create_task(run_stages(stages, stop))
    try:
        await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in stages)), 10)
        await publish(settings, [message_from_file("he", f) for f in files])
        for _ in range(1000):
            if sum(len(p) for p in broker.partitions[topic]) >= before + len(files):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("receipts did not arrive")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def verify(settings: Settings, anchor: bytes | None = None) -> VerifyReport:
    return await verify_topics(
        settings,
        settings.topic(CANONICAL_LOG),
        settings.topic(AUDIT_CHECKPOINTS),
        trust_anchors(settings),
        anchor=anchor,
    )


def log_records(settings: Settings) -> dict[int, list[bytes]]:
    broker = MemoryBroker.named(settings.bootstrap)
    return {
        p: [bytes(r.value) for r in records]
        for p, records in enumerate(broker.partitions[settings.topic(CANONICAL_LOG)])
    }


async def send(settings: Settings, topic: str, value: bytes, *, key: bytes, partition: int) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key, partition=partition)
    finally:
        await producer.stop()


@pytest.fixture
async def hub_log(tmp_path: Path) -> Settings:
    settings = memory_settings(tmp_path / "data")
    await apply_topics(settings)
    await run_core(settings, HE[:3])
    report = await verify(settings)
    assert report.ok, [f.line() for f in report.findings]
    assert sum(p.seq for p in report.partitions) == 3
    return settings


async def forge_append(settings: Settings) -> int:
    """Append a copy of a logged record, relinked to its partition's head (another
    producer, correct prevHash); returns its partition."""
    records = log_records(settings)
    partition = max(records, key=lambda p: len(records[p]))
    reader = EnvelopeReader()
    forged = reader.with_prev_hash(records[partition][0], record_hash(records[partition][-1]))
    await send(settings, settings.topic(CANONICAL_LOG), forged, key=b"forged", partition=partition)
    return partition


async def test_every_transaction_that_appends_is_checkpointed(hub_log: Settings) -> None:
    report = await verify(hub_log)
    assert all(p.covered == p.seq for p in report.partitions)
    found = await latest_checkpoint(hub_log, trust_anchors(hub_log))
    assert found is not None
    assert {h.partition: h.seq for h in found[1].heads if h.seq} == {
        p.partition: p.seq for p in report.partitions if p.seq
    }


async def test_a_forged_append_with_a_correct_prev_hash_is_uncovered(hub_log: Settings) -> None:
    partition = await forge_append(hub_log)
    report = await verify(hub_log)
    assert [(f.kind, f.partition) for f in report.findings] == [("uncovered", partition)]
    # and the hub's later transactions never cover it: they chain on their signed head
    await run_core(hub_log, HE[3:7])
    report = await verify(hub_log)
    kinds = {f.kind for f in report.findings if f.partition == partition}
    assert kinds & {"uncovered", "broken-link", "checkpoint-mismatch"}


async def test_a_forged_chain_head_in_the_changelog_is_refused(
    hub_log: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    partition = await forge_append(hub_log)
    records = log_records(hub_log)
    forged_heads = tuple(
        ChainHead(p, len(values), record_hash(values[-1]) if values else None)
        for p, values in records.items()
    )
    forger = dev_signer(tmp_path / "forger")  # a valid JWS, by a key the hub does not trust
    head = sign_checkpoint(Checkpoint(99, datetime.now(UTC), forged_heads), forger)
    changelog = hub_log.topic(DECIDE_CHANGELOG)
    await send(hub_log, changelog, head, key=CHAIN_HEAD_KEY.encode(), partition=0)
    # an earlier version's unsigned form of a head is no way in either
    legacy = json.dumps(forged_heads[partition].to_json()).encode()
    await send(hub_log, changelog, legacy, key=f"chain|{partition}".encode(), partition=0)

    with caplog.at_level(logging.ERROR, logger="hub.stream.decide"):
        await run_core(hub_log, HE[3:4])
    refused = [r for r in caplog.records if "not signed by the hub" in r.getMessage()]
    assert len(refused) == 1
    report = await verify(hub_log)
    # the hub continued from its own head: the forged record is not covered by its
    # checkpoint, the record after it does not link to it
    assert not report.ok
    kinds = {f.kind for f in report.findings if f.partition == partition}
    assert kinds & {"broken-link", "checkpoint-mismatch", "uncovered"}
    assert not [f for f in report.findings if f.kind == "checkpoint-invalid"]


async def test_a_cut_tail_is_caught_by_the_anchor(hub_log: Settings) -> None:
    anchor_before = await latest_checkpoint(hub_log, trust_anchors(hub_log))
    assert anchor_before is not None
    await run_core(hub_log, HE[3:5])
    anchor = await latest_checkpoint(hub_log, trust_anchors(hub_log))
    assert anchor is not None and anchor[1].n > anchor_before[1].n
    assert (await verify(hub_log, anchor[0])).ok

    # cut: the newest transactions' records and their checkpoints removed
    broker = MemoryBroker.named(hub_log.bootstrap)
    keep = {h.partition: h.seq for h in anchor_before[1].heads}
    for p, records in enumerate(broker.partitions[hub_log.topic(CANONICAL_LOG)]):
        del records[keep.get(p, 0) :]
    checkpoints = broker.partitions[hub_log.topic(AUDIT_CHECKPOINTS)][0]
    del checkpoints[anchor_before[1].n :]
    assert (await verify(hub_log)).ok  # a shorter log is consistent on its own
    report = await verify(hub_log, anchor[0])
    kinds = [f.kind for f in report.findings]
    assert "anchor-beyond-end" in kinds and "checkpoint-beyond-end" in kinds


async def test_dropping_the_newest_checkpoint_leaves_its_records_uncovered(
    hub_log: Settings,
) -> None:
    await run_core(hub_log, HE[3:5])
    broker = MemoryBroker.named(hub_log.bootstrap)
    broker.partitions[hub_log.topic(AUDIT_CHECKPOINTS)][0].pop()
    report = await verify(hub_log)
    assert report.findings and {f.kind for f in report.findings} == {"uncovered"}


def test_the_anchor_is_served_kept_and_checked_by_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mchub audit anchor --out`, `GET /v1/audit/anchor` and `mchub audit verify
    --anchor FILE|URL` (in-process: the in-memory log lives in this process)."""
    import httpx
    from typer.testing import CliRunner

    from connectors.status import SqliteStatusStore, running_status_server
    from hub.cli.main import app
    from hub.stream.checkpoints import anchor_source

    settings = memory_settings(tmp_path / "data")

    async def build() -> None:
        await apply_topics(settings)
        await run_core(settings, HE[:3])

    asyncio.run(build())
    for name, value in (
        ("MCHUB_BOOTSTRAP", settings.bootstrap),
        ("MCHUB_TOPIC_PREFIX", settings.topic_prefix),
        ("MCHUB_PARTITIONS", str(settings.partitions)),
        ("MCHUB_DATA_DIR", str(settings.data_dir)),
    ):
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    kept = tmp_path / "anchor.json"
    done = runner.invoke(app, ["audit", "anchor", "--out", str(kept)])
    assert done.exit_code == 0, done.output
    doc = json.loads(kept.read_text())
    assert doc["checkpoint"] >= 1 and doc["jws"].count(".") == 2

    with SqliteStatusStore(tmp_path / "status.db") as store, running_status_server(
        store, anchor=anchor_source(settings, ttl_s=0)
    ) as base:
        served = httpx.get(f"{base}/v1/audit/anchor", timeout=10)
        assert served.status_code == 200 and served.json()["jws"] == doc["jws"]
        for source in (str(kept), f"{base}/v1/audit/anchor"):
            done = runner.invoke(app, ["audit", "verify", "--anchor", source])
            assert done.exit_code == 0, done.output

    # the log cut back before the anchor: verify --anchor fails, plain verify does not
    broker = MemoryBroker.named(settings.bootstrap)
    for records in broker.partitions[settings.topic(CANONICAL_LOG)]:
        records.clear()
    broker.partitions[settings.topic(AUDIT_CHECKPOINTS)][0].clear()
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0
    done = runner.invoke(app, ["audit", "verify", "--anchor", str(kept), "--json"])
    assert done.exit_code == 1
    kinds = [f["kind"] for f in json.loads(done.stdout)["findings"]]
    assert "anchor-beyond-end" in kinds

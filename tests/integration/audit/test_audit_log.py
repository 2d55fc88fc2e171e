"""Tamper evidence, replay and credential history on the real broker and the real CLI."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from hub.adapters.kafka import make_producer
from hub.audit.replay import (
    latest_by_key,
    live_credential_state,
    load_rows,
    replay_register_state,
    replay_to_directory,
)
from hub.audit.verify import verify_topics
from hub.crypto.keys import load_certificates
from hub.settings import Settings
from hub.stream.chain import EnvelopeReader, genesis, partition_for, record_hash
from hub.stream.checkpoints import trust_anchors
from hub.stream.reading import read_all
from hub.topics import AUDIT_CHECKPOINTS, CANONICAL_LOG, REGISTER_STATE
from tests.integration.audit.conftest import SAMPLE_EVENTS, mchub


async def test_the_live_log_is_chained_per_partition_and_checkpointed(audited: Settings) -> None:
    settings = audited
    reader = EnvelopeReader()
    records = await read_all(settings, settings.topic(CANONICAL_LOG))
    heads: dict[int, str] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        assert record.partition == partition_for(bytes(record.key), settings.partitions)
        expected = heads.get(record.partition, genesis(record.partition))
        assert reader.prev_hash(record.value) == expected
        heads[record.partition] = record_hash(record.value)
    anchors = trust_anchors(settings)
    report = await verify_topics(
        settings, settings.topic(CANONICAL_LOG), settings.topic(AUDIT_CHECKPOINTS), anchors
    )
    assert report.ok, [f.line() for f in report.findings]
    assert report.checkpoints >= 1 and report.checkpoints_valid == report.checkpoints
    # the last checkpoint covers every record
    assert sum(p.seq for p in report.partitions) == SAMPLE_EVENTS
    assert {p.partition: p.head for p in report.partitions if p.seq} == heads

    done = mchub(settings, "audit", "verify", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True


async def _copy(
    settings: Settings, name: str, log: dict[int, list[bytes]], checkpoints: list[bytes]
) -> tuple[str, str]:
    """Write a (tampered) copy of the log and its checkpoints to fresh scratch topics."""
    log_topic = settings.topic(f"copy.{name}.{CANONICAL_LOG}")
    cp_topic = settings.topic(f"copy.{name}.{AUDIT_CHECKPOINTS}")
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(log_topic, settings.partitions, 1), NewTopic(cp_topic, 1, 1)]
        )
    finally:
        await admin.close()
    producer = make_producer(settings)
    await producer.start()
    try:
        for partition, values in log.items():
            for value in values:
                await producer.send(log_topic, value, key=b"copy", partition=partition)
        for value in checkpoints:
            await producer.send(cp_topic, value, partition=0)
        await producer.flush()
    finally:
        await producer.stop()
    return log_topic, cp_topic


async def test_forged_dropped_and_reordered_copies_are_detected_by_audit_verify(
    audited: Settings,
) -> None:
    settings = audited
    records = await read_all(settings, settings.topic(CANONICAL_LOG))
    log: dict[int, list[bytes]] = {p: [] for p in range(settings.partitions)}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        log[record.partition].append(bytes(record.value))
    checkpoints = [
        bytes(r.value) for r in await read_all(settings, settings.topic(AUDIT_CHECKPOINTS))
    ]
    busiest = max(log, key=lambda p: len(log[p]))
    assert len(log[busiest]) >= 4

    forged = {p: list(v) for p, v in log.items()}
    victim = bytearray(forged[busiest][1])
    at = victim.find(b"FIR")
    victim[at : at + 3] = b"FAR"  # the source system rewritten, same length
    forged[busiest][1] = bytes(victim)
    dropped = {p: list(v) for p, v in log.items()}
    del dropped[busiest][1]
    reordered = {p: list(v) for p, v in log.items()}
    reordered[busiest][1], reordered[busiest][2] = reordered[busiest][2], reordered[busiest][1]

    intact_topics = await _copy(settings, "intact", log, checkpoints)
    done = mchub(
        settings,
        "audit",
        "verify",
        "--log-topic",
        intact_topics[0],
        "--checkpoint-topic",
        intact_topics[1],
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK: every chain and checkpoint verified" in done.stdout

    # a checkpoint per transaction: an altered record is often caught at itself, by the
    # checkpoint of its own transaction, before the next record's prevHash
    for name, copy, kinds in (
        ("forged", forged, {"broken-link", "checkpoint-mismatch"}),
        ("dropped", dropped, {"broken-link"}),
        ("reordered", reordered, {"reordered"}),
    ):
        log_topic, cp_topic = await _copy(settings, name, copy, checkpoints)
        done = mchub(
            settings,
            "audit",
            "verify",
            "--log-topic",
            log_topic,
            "--checkpoint-topic",
            cp_topic,
            "--json",
        )
        assert done.returncode == 1, (name, done.stderr)
        doc = json.loads(done.stdout)
        first = doc["findings"][0]
        assert first["kind"] in kinds and first["partition"] == busiest, (name, first)
        assert first["offset"] is not None and first["expected"] != first["found"]

    # the newest record of a partition removed: only the signed checkpoint can tell
    truncated = {p: list(v) for p, v in log.items()}
    truncated[busiest].pop()
    log_topic, cp_topic = await _copy(settings, "truncated", truncated, checkpoints)
    done = mchub(
        settings,
        "audit",
        "verify",
        "--log-topic",
        log_topic,
        "--checkpoint-topic",
        cp_topic,
        "--json",
    )
    assert done.returncode == 1
    assert json.loads(done.stdout)["findings"][0]["kind"] == "checkpoint-beyond-end"


async def test_replay_into_fresh_targets_equals_the_live_projections(
    audited: Settings, tmp_path: Path
) -> None:
    settings = audited
    live = await live_credential_state(settings)
    assert len(live) == 10 and sum(r["status"] == "revoked" for r in live) == 3

    # interrupted after the first batch, then resumed from the cursor
    target = tmp_path / "credential-state.replay-test"

    class Interrupt(Exception):
        pass

    calls = {"n": 0}

    def interrupt(progress: object) -> None:
        calls["n"] += 1
        if calls["n"] == 1 and getattr(progress, "done", 0) > 0:
            raise Interrupt

    with contextlib.suppress(Interrupt):
        await replay_to_directory(
            settings, "credential-state", target, progress=interrupt, max_records=4
        )
    cursor = json.loads((target / "cursor.json").read_text())
    assert cursor["complete"] is False and 0 < cursor["records"] < SAMPLE_EVENTS
    resumed = await replay_to_directory(settings, "credential-state", target)
    assert resumed.resumed and resumed.records == SAMPLE_EVENTS
    assert list(load_rows(target / "state.jsonl")) == live

    done = mchub(
        settings,
        "replay",
        "--projection",
        "learner-index",
        "--to",
        str(tmp_path / "learners"),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    learners = list(load_rows(tmp_path / "learners" / "state.jsonl"))
    assert sum(len(r["credentials"]) for r in learners) == 10
    assert sum(len(r["enrolmentEvents"]) for r in learners) == SAMPLE_EVENTS - 13

    # the register topic, rebuilt by the projection's own code into a fresh topic
    fresh = settings.topic("register.credentials.state.replay-test")
    result = await replay_register_state(settings, fresh)
    assert result.records == SAMPLE_EVENTS
    live_register = await latest_by_key(settings, settings.topic(REGISTER_STATE))
    assert len(live_register) == 10
    assert await latest_by_key(settings, fresh) == live_register

    # switching a directory projection makes it the live one
    done = mchub(
        settings, "replay", "--projection", "credential-state", "--to", str(target), "--switch"
    )
    assert done.returncode == 0, done.stderr
    link = settings.data_dir / "projections" / "credential-state"
    assert link.resolve() == target.resolve()


async def test_credential_history_with_provenance_and_as_of(audited: Settings) -> None:
    settings = audited
    live = await live_credential_state(settings)
    revoked = next(r for r in live if r["status"] == "revoked")
    done = mchub(settings, "audit", "credential", revoked["credentialId"], "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["credentialKey"] == revoked["credentialKey"]
    assert [e["eventType"] for e in doc["events"]] == ["issued", "revoked"]
    assert doc["state"]["status"] == "revoked"
    for event in doc["events"]:
        p = event["provenance"]
        assert p["sourceSystem"] in ("FIR", "KRETA", "FAR") and len(p["rawSha256"]) == 64
        assert p["receivedAt"] and p["normalisedAt"] and p["mappingVersion"] and p["hubVersion"]
        assert event["chain"]["prevHash"] is not None
    first_logged = doc["events"][0]["loggedAt"]

    before = mchub(
        settings, "audit", "credential", revoked["credentialKey"], "--json", "--as-of", first_logged
    )
    assert before.returncode == 0, before.stderr
    then = json.loads(before.stdout)
    assert then["credentialId"] == revoked["credentialId"]
    assert [e["eventType"] for e in then["events"]][:1] == ["issued"]

    text = mchub(settings, "audit", "credential", revoked["credentialId"])
    assert "state: revoked" in text.stdout and "from " in text.stdout

    unknown = mchub(settings, "audit", "credential", "00000000-0000-0000-0000-000000000000")
    assert unknown.returncode == 1

    anchors = load_certificates(settings.data_dir / "keys" / "ca.cert.pem")
    assert anchors


async def test_chain_heads_survive_a_restart_of_the_decide_stage(
    applied_settings: Settings, tmp_path: Path
) -> None:
    import asyncio

    from hub.publish import publish, sample_messages
    from hub.stream.decide import decide_stage
    from hub.stream.runner import core_stages, run_stages
    from tests.integration.audit.conftest import SAMPLES
    from tests.support_kafka import read_topic

    settings = applied_settings.model_copy(update={"data_dir": tmp_path / "data"})
    messages = list(sample_messages(SAMPLES))
    he = [m for m in messages if m.feed == "he"]
    rest = [m for m in messages if m.feed != "he"]
    logged = 0
    for batch, expected in ((he, 7), (rest, SAMPLE_EVENTS)):
        stages = [core_stages(settings)[0], decide_stage(settings)]
        stop = asyncio.Event()
        task = asyncio.create_task(run_stages(stages, stop))
        await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in stages)), 60)
        await publish(settings, batch)
        logged = len(await read_topic(settings, settings.topic(CANONICAL_LOG), at_least=expected))
        await asyncio.sleep(0.8)
        stop.set()
        await asyncio.wait_for(task, 60)
    assert logged == SAMPLE_EVENTS
    report = await verify_topics(
        settings,
        settings.topic(CANONICAL_LOG),
        settings.topic(AUDIT_CHECKPOINTS),
        trust_anchors(settings),
    )
    assert report.ok, [f.line() for f in report.findings]
    assert sum(p.seq for p in report.partitions) == SAMPLE_EVENTS
    assert sum(p.unchained for p in report.partitions) == 0

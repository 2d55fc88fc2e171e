"""``mchub bench restart``: restore time and RSS of the decide stage with N credentials.

1. Writes a synthetic decide changelog to fresh bench topics on the broker: per
   credential its state (``cred|…``, an accepted issuance) and its idempotency index
   entry (``idem|…``), plus chain heads and the checkpoint counter. Values are made by
   substituting a fixed-width number in JSON encoded once from the real models.
2. Restores the decide task, each time in a child process of its own (restore time from
   ``assigned`` to its end, i.e. what a restart costs before the stage consumes; RSS
   after it and the peak during it, from ``/proc/self/status``):

   a. **before** this change: the whole changelog decoded into dicts of models (the
      old ``StateTables``);
   b. the memory store (``MCHUB_STATE_STORE=memory``): the whole changelog, as bytes;
   c. **after**, first start with SQLite: the whole changelog into a new local file;
   d. **after**, restart with SQLite, once ``tail`` more records were written to the
      changelog: only the tail after the file's checkpoint is read.

Prints one JSON object; the bench topics and the local files are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import gc
import json
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import TopicPartition
from aiokafka.admin import NewTopic

from hub.adapters.kafka import make_admin, make_producer
from hub.bench import machine_info
from hub.core import CredentialEntry, IdempotencyState
from hub.settings import Settings
from hub.stream.chain import CHAIN_HEAD_KEY, ChainHead
from hub.stream.checkpoints import Checkpoint, audit_signer, sign_checkpoint
from hub.topics import CANONICAL_LOG, DECIDE_CHANGELOG, DECIDE_REQUESTS

PLACEHOLDER = b"999999999"


def proc_status() -> dict[str, float]:
    """VmRSS and VmHWM (peak) of this process, MiB."""
    out: dict[str, float] = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            name = line.split(":", 1)[0]
            if name in ("VmRSS", "VmHWM"):
                out[name] = int(line.split()[1]) / 1024
    return out


def changelog_templates() -> tuple[bytes, bytes, bytes, bytes]:
    """(cred key, cred value, idem key, idem value) with :data:`PLACEHOLDER` as identity."""
    n = PLACEHOLDER.decode()
    credential_key = f"he:FI31457:BENCH-{n}"
    idempotency_key = f"he:issue-{n}"
    digest = "5f2c" * 16
    state = CredentialEntry(
        credential_key=credential_key,
        status="active",
        learner_id=f"7{n}0",
        elements_digest="e1" * 32,
        issued_by=idempotency_key,
        keys={idempotency_key: digest},
    )
    entry = IdempotencyState(
        idempotency_key=idempotency_key,
        content_digest=digest,
        record_type="credential",
        credential_key=credential_key,
        outcome="accept",
    )
    return (
        state.changelog_key.encode(),
        state.to_json(),
        entry.changelog_key.encode(),
        entry.to_json(),
    )


def revoked(value: bytes) -> bytes:
    """A credential state value turned into its revoked state (a tail record)."""
    state = CredentialEntry.from_json(value)
    return state.model_copy(
        update={"status": "revoked", "revoked_by": "he:revoke-bench", "revocation_reason": "X"}
    ).to_json()


async def create_topics(settings: Settings) -> None:
    """The bench's changelog (compacted, one partition, like the real one) and log."""
    admin = make_admin(settings)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(
                    settings.topic(DECIDE_CHANGELOG),
                    1,
                    settings.replication_factor,
                    topic_configs={"cleanup.policy": "compact", "retention.ms": "-1"},
                ),
                NewTopic(
                    settings.topic(CANONICAL_LOG), settings.partitions, settings.replication_factor
                ),
            ]
        )
    finally:
        await admin.close()


async def delete_topics(settings: Settings) -> None:
    admin = make_admin(settings)
    await admin.start()
    try:
        await admin.delete_topics(
            [settings.topic(DECIDE_CHANGELOG), settings.topic(CANONICAL_LOG)]
        )
    finally:
        await admin.close()


async def write_changelog(
    settings: Settings, credentials: int, *, first: int = 0, tail: bool = False
) -> dict[str, Any]:
    """Write credentials ``first`` .. ``first + credentials`` (state + index entry), or
    with ``tail`` revoke them (one state record each)."""
    ck, cv, ik, iv = changelog_templates()
    if tail:
        cv = revoked(cv)
    topic = settings.topic(DECIDE_CHANGELOG)
    producer = make_producer(settings, linger_ms=50, max_batch_size=1024 * 1024)
    await producer.start()
    started = time.perf_counter()
    records = size = 0
    try:
        for i in range(first, first + credentials):
            n = b"%09d" % i
            pairs = [(ck.replace(PLACEHOLDER, n), cv.replace(PLACEHOLDER, n))]
            if not tail:
                pairs.append((ik.replace(PLACEHOLDER, n), iv.replace(PLACEHOLDER, n)))
            for key, value in pairs:
                await producer.send(topic, value, key=key, partition=0)
                records += 1
                size += len(key) + len(value)
        if not tail:  # the chain state: one signed head, as decide writes it
            heads = tuple(
                ChainHead(p, credentials // settings.partitions, "ab" * 32)
                for p in range(settings.partitions)
            )
            checkpoint = Checkpoint(n=7, at=datetime.now(UTC), heads=heads)
            signed = sign_checkpoint(checkpoint, audit_signer(settings))
            await producer.send(topic, signed, key=CHAIN_HEAD_KEY.encode(), partition=0)
            records += 1
        await producer.flush()
    finally:
        await producer.stop()
    return {
        "records": records,
        "bytes": size,
        "seconds": round(time.perf_counter() - started, 2),
    }


# -- the child process: one restore ---------------------------------------------------
async def restore_once(settings: Settings, mode: str) -> dict[str, Any]:
    """One restore of the decide task in this process (``mode``: models/memory/sqlite)."""
    from hub.stream.decide import DecideHandler
    from hub.stream.reading import read_topic

    gc.collect()
    idle = proc_status()["VmRSS"]
    started = time.perf_counter()
    result: dict[str, Any] = {}
    if mode == "models":
        # the decide stage before durable local state: every entry decoded into dicts
        credentials: dict[str, CredentialEntry] = {}
        index: dict[str, IdempotencyState] = {}
        records = 0
        async for batch in read_topic(settings, settings.topic(DECIDE_CHANGELOG), partitions=[0]):
            for record in batch:
                table, _, name = bytes(record.key).decode().partition("|")
                if table == "cred" and record.value is not None:
                    credentials[name] = CredentialEntry.from_json(record.value)
                elif table == "idem" and record.value is not None:
                    index[name] = IdempotencyState.from_json(record.value)
            records += len(batch)
        result.update(records_read=records, from_offset=None, credentials=len(credentials))
    else:
        handler = DecideHandler(settings, store="memory" if mode == "memory" else "sqlite")
        await handler.assigned([TopicPartition(settings.topic(DECIDE_REQUESTS), 0)])
        result.update(records_read=handler.restored, from_offset=handler.restored_from)
    seconds = time.perf_counter() - started
    gc.collect()
    status = proc_status()
    result.update(
        restore_seconds=round(seconds, 2),
        rss_mb=round(status["VmRSS"], 1),
        peak_rss_mb=round(status["VmHWM"], 1),
        idle_rss_mb=round(idle, 1),
    )
    return result


def restore_in_child(settings: Settings, mode: str) -> dict[str, Any]:
    """:func:`restore_once` in a fresh Python process (its own RSS)."""
    done = subprocess.run(
        [sys.executable, "-m", "hub.bench.restart", mode, settings.model_dump_json()],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"restore ({mode}) failed: {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


async def run(
    settings: Settings, *, credentials: int, tail: int = 10_000, keep: bool = False
) -> dict[str, Any]:
    """The benchmark (see the module docstring); returns the JSON document."""
    from hub.stream.checkpoints import audit_signer

    tag = uuid.uuid4().hex[:8]
    data_dir = settings.data_dir / "bench" / f"restart-{tag}"
    bench = settings.model_copy(
        update={
            "topic_prefix": f"bench-{tag}.",
            "data_dir": data_dir,
            "client_id": f"bench-{tag}",
        }
    )
    audit_signer(bench)  # the dev keys exist before any restore is timed
    tail = min(tail, credentials)
    await create_topics(bench)
    try:
        generated = await write_changelog(bench, credentials)
        before = await asyncio.to_thread(restore_in_child, bench, "models")
        memory = await asyncio.to_thread(restore_in_child, bench, "memory")
        first = await asyncio.to_thread(restore_in_child, bench, "sqlite")
        files = list((data_dir / "state").rglob("*.sqlite"))
        first["file_mb"] = round(sum(f.stat().st_size for f in files) / 2**20, 1)
        written = await write_changelog(bench, tail, tail=True)
        restart = await asyncio.to_thread(restore_in_child, bench, "sqlite")
    finally:
        if not keep:
            await delete_topics(bench)
            shutil.rmtree(data_dir, ignore_errors=True)
    restart["tail_written"] = written["records"]
    return {
        "benchmark": "restart",
        "credentials": credentials,
        "changelog": {**generated, "tail": written["records"]},
        "before": {"state": "dicts of decoded models (before this change)", **before},
        "memory_store": {"state": "MCHUB_STATE_STORE=memory: bytes in a dict", **memory},
        "after_first_start": {"state": "SQLite, no local file: whole changelog", **first},
        "after_restart": {"state": "SQLite file + checkpoint: changelog tail only", **restart},
        "ratio_restart_seconds": round(
            before["restore_seconds"] / max(restart["restore_seconds"], 0.001), 1
        ),
        "goals": {
            "restart_seconds_max": 5,
            "restart_met": restart["restore_seconds"] <= 5,
            "rss_mb_max": 300,
            "rss_met": restart["peak_rss_mb"] <= 300,
        },
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
    }


def _child(argv: list[str]) -> None:
    mode, settings_json = argv[0], argv[1]
    settings = Settings.model_validate_json(settings_json)
    print(json.dumps(asyncio.run(restore_once(settings, mode))))


if __name__ == "__main__":
    _child(sys.argv[1:])


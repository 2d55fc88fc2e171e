"""``mchub topics describe`` and ``mchub tail`` on the real broker (issue 12 item 5):
records the test wrote come back decoded, from an offset, a time or the last N."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from hub.adapters.kafka import make_producer
from hub.contract import AvroCodec
from hub.settings import Settings
from hub.topics import CANONICAL_LOG, INGEST_DEAD_LETTERS, source_receipts
from tests.support import worker_env
from tests.unit.contract.contract_testdata import build, enrolment_normalised, issued

pytestmark = pytest.mark.integration


def mchub(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", *args], env=worker_env(settings),
        capture_output=True, text=True, check=False, timeout=120,
    )


async def test_tail_decodes_each_format_and_describe_counts_them(
    applied_settings: Settings,
) -> None:
    settings = applied_settings
    codec = AvroCodec()
    events = [issued("he"), build(enrolment_normalised("enrolled"))]
    receipt = {"receiptId": "r-1", "outcome": "accept", "final": True}
    poison = b"\xff\xfe not utf-8"
    producer = make_producer(settings)
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                settings.topic(CANONICAL_LOG), codec.encode(event), key=b"k", partition=0)
        await producer.send_and_wait(settings.topic(source_receipts("he")),
                                     json.dumps(receipt).encode(), key=b"r-1", partition=1)
        await producer.send_and_wait(settings.topic(INGEST_DEAD_LETTERS), poison,
                                     headers=[("mchub-dlq-error", b"bad")], partition=0)
    finally:
        await producer.stop()
    before = datetime.now(UTC) - timedelta(minutes=5)

    done = await asyncio.to_thread(mchub, settings, "tail", CANONICAL_LOG)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [d["offset"] for d in lines] == [0, 1] and {d["partition"] for d in lines} == {0}
    assert [d["format"] for d in lines] == ["avro:CredentialIssued", "avro:EnrolmentRecorded"]
    for doc, event in zip(lines, events, strict=True):
        expected = json.loads(json.dumps(event.model_dump(mode="json", by_alias=True)))
        assert doc["value"]["envelope"]["eventId"] == expected["envelope"]["eventId"]
        assert doc["key"] == "k"
    issued_value = lines[0]["value"]["credential"]
    assert issued_value["title"] == events[0].model_dump(mode="json", by_alias=True)[
        "credential"]["title"]

    last = await asyncio.to_thread(mchub, settings, "tail", CANONICAL_LOG, "--last", "1")
    assert [json.loads(x)["offset"] for x in last.stdout.splitlines()] == [1]
    later = await asyncio.to_thread(mchub, settings, "tail", CANONICAL_LOG, "--from-offset", "1")
    assert [json.loads(x)["offset"] for x in later.stdout.splitlines()] == [1]
    timed = await asyncio.to_thread(
        mchub, settings, "tail", CANONICAL_LOG, "--from-time", before.isoformat())
    assert len(timed.stdout.splitlines()) == 2
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    none = await asyncio.to_thread(mchub, settings, "tail", CANONICAL_LOG, "--from-time", future)
    assert none.stdout == "" and "0 record(s)" in none.stderr

    receipts = await asyncio.to_thread(mchub, settings, "tail", source_receipts("he"))
    [doc] = [json.loads(x) for x in receipts.stdout.splitlines()]
    assert (doc["format"], doc["value"], doc["partition"]) == ("json", receipt, 1)
    dead = await asyncio.to_thread(mchub, settings, "tail", INGEST_DEAD_LETTERS)
    [doc] = [json.loads(x) for x in dead.stdout.splitlines()]
    assert doc["format"] == "base64" and doc["headers"] == {"mchub-dlq-error": "bad"}
    import base64

    assert base64.b64decode(doc["value"]) == poison

    described = await asyncio.to_thread(
        mchub, settings, "topics", "describe", CANONICAL_LOG, source_receipts("he"), "--json")
    assert described.returncode == 0, described.stderr
    log, rec = json.loads(described.stdout)
    assert (log["format"], log["records"], rec["format"], rec["records"]) == (
        "avro-single-object", 2, "json", 1)
    assert log["configs"]["retention.ms"] == "-1"
    assert [p["end"] for p in log["partitions"]] == [2, 0, 0]
    assert all(p["leader"] in p["isr"] for p in log["partitions"])
    text = await asyncio.to_thread(mchub, settings, "topics", "describe", "no.such.topic")
    assert "missing" in text.stdout

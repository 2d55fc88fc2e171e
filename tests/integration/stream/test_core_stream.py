"""The core stream end to end on the real broker: every input ends in exactly one state."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from hub.contract.codec import AvroCodec
from hub.publish import message_from_file, publish, sample_messages
from hub.settings import Settings
from hub.topics import (
    CANONICAL_LOG,
    INGEST_DEAD_LETTERS,
    REJECTIONS,
    SOURCE_TOPICS,
    source_receipts,
)
from tests.support import shared_dir
from tests.support_kafka import json_values, read_topic

SAMPLES = shared_dir() / "feeds" / "samples"


def he(name: str) -> bytes:
    return (SAMPLES / "he" / name).read_bytes()


async def send_raw(settings: Settings, feed: str, values: list[bytes | None]) -> None:
    from hub.adapters.kafka import make_producer

    producer = make_producer(settings)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(
                settings.topic(SOURCE_TOPICS[feed]), value, key=b"same-partition"
            )
    finally:
        await producer.stop()


async def receipts(settings: Settings, feed: str, at_least: int) -> list[dict[str, Any]]:
    return json_values(
        await read_topic(settings, settings.topic(source_receipts(feed)), at_least=at_least)
    )


async def canonical(settings: Settings, at_least: int) -> list[dict[str, Any]]:
    codec = AvroCodec()
    records = await read_topic(settings, settings.topic(CANONICAL_LOG), at_least=at_least)
    return [codec.decode(r.value).model_dump() for r in records]


async def test_every_sample_is_accepted_and_logged_once(running_stream: Settings) -> None:
    settings = running_stream
    await publish(settings, sample_messages(SAMPLES))
    events = await canonical(settings, at_least=25)
    keys = Counter(e["envelope"]["idempotencyKey"] for e in events)
    assert len(keys) == 25 and set(keys.values()) == {1}
    by_feed = Counter(e["envelope"]["feed"] for e in events)
    assert by_feed == {"he": 7, "vet": 7, "al": 11}
    kinds = Counter(e["envelope"]["eventType"] for e in events)
    assert kinds["issued"] == 10 and kinds["revoked"] == 3
    outcomes: Counter[str] = Counter()
    for feed in ("he", "vet", "al"):
        outcomes.update(
            r["outcome"] for r in await receipts(settings, feed, 1) if r["scope"] == "event"
        )
    assert outcomes == {"accept": 25}


async def test_resend_and_reserialised_resend_are_duplicates(running_stream: Settings) -> None:
    settings = running_stream
    original = he("01_kiallitas_tesztvezerelt_python.json")
    doc = json.loads(original)
    reserialised = json.dumps(dict(reversed(list(doc.items()))), indent=4).encode()
    await send_raw(settings, "he", [original, original, reserialised])
    got = await receipts(settings, "he", at_least=3)
    assert [r["outcome"] for r in got] == ["accept", "duplicate-ignored", "duplicate-ignored"]
    assert len(await canonical(settings, at_least=1)) == 1


async def test_same_key_different_content_is_a_flagged_conflict(running_stream: Settings) -> None:
    settings = running_stream
    original = he("01_kiallitas_tesztvezerelt_python.json")
    doc = json.loads(original)
    doc["oklevel"]["megnevezes"] = "Egy egészen más cím"
    await send_raw(settings, "he", [original, json.dumps(doc).encode()])
    got = await receipts(settings, "he", at_least=2)
    assert [r["outcome"] for r in got] == ["accept", "conflict"]
    flagged = json_values(await read_topic(settings, settings.topic(REJECTIONS), at_least=1))
    assert [f["outcome"] for f in flagged] == ["conflict"]
    events = await canonical(settings, at_least=1)
    assert len(events) == 1  # the first version stays
    assert events[0]["credential"]["title"]["hu"] != "Egy egészen más cím"


async def test_revocation_before_issuance_is_held_then_released_in_order(
    running_stream: Settings,
) -> None:
    settings = running_stream
    revocation = he("04_visszavonas_agilis_projektmenedzsment.json")
    issuance = he("02_kiallitas_agilis_projektmenedzsment.json")
    await send_raw(settings, "he", [revocation])
    first = await receipts(settings, "he", at_least=1)
    assert [(r["outcome"], r["final"]) for r in first] == [("hold", False)]
    await send_raw(settings, "he", [issuance])
    got = await receipts(settings, "he", at_least=3)
    revocation_key = first[0]["idempotencyKey"]
    final = [r for r in got if r["idempotencyKey"] == revocation_key and r["final"]]
    assert [r["outcome"] for r in final] == ["accept"]
    events = await canonical(settings, at_least=2)
    assert [e["envelope"]["eventType"] for e in events] == ["issued", "revoked"]
    assert events[0]["envelope"]["credentialId"] == events[1]["envelope"]["credentialId"]


async def test_invalid_input_is_rejected_with_rule_path_and_message(
    running_stream: Settings,
) -> None:
    settings = running_stream
    doc = json.loads(he("01_kiallitas_tesztvezerelt_python.json"))
    doc["hallgato"]["oktatasi_azonosito"] = "77721222104"  # wrong check digit
    await send_raw(settings, "he", [json.dumps(doc).encode()])
    rejected = json_values(await read_topic(settings, settings.topic(REJECTIONS), at_least=1))
    assert len(rejected) == 1
    rules = rejected[0]["rules"]
    assert any(
        r["rule"] == "LEARNER_ID_CHECK_DIGIT" and "oktatasi_azonosito" in r["path"] and r["message"]
        for r in rules
    )
    got = await receipts(settings, "he", at_least=1)
    assert [r["outcome"] for r in got] == ["reject"]
    assert await read_topic(settings, settings.topic(CANONICAL_LOG), timeout=1) == []


async def test_poison_bytes_go_to_the_dead_letter_topic_intact_and_work_continues(
    running_stream: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = running_stream
    import hub.stream.ingest as ingest

    real = ingest.normalise
    poison = b'{"sema_verzio": "1.0", "poison": true}'

    def exploding(feed: str, payload: bytes) -> Any:
        if payload == poison:
            raise RuntimeError("simulated normaliser bug")
        return real(feed, payload)

    monkeypatch.setattr(ingest, "normalise", exploding)
    valid = he("01_kiallitas_tesztvezerelt_python.json")
    await send_raw(settings, "he", [None, poison, valid])
    dead = await read_topic(settings, settings.topic(INGEST_DEAD_LETTERS), at_least=2)
    assert [d.value for d in dead] == [None, poison]  # bytes intact, in order
    headers = dict(dead[1].headers)
    assert headers["mchub-dlq-topic"] == settings.topic("src.he.events").encode()
    assert headers["mchub-dlq-offset"] == b"1"
    assert b"simulated normaliser bug" in headers["mchub-dlq-error"]
    assert len(await canonical(settings, at_least=1)) == 1  # the worker kept going


@pytest.fixture
def short_hold(applied_settings: Settings) -> Settings:
    return applied_settings.model_copy(update={"held_revocation_ttl_days": 1.5 / 86400})


async def test_a_hold_that_finds_no_issuance_expires_as_unknown_credential(
    short_hold: Settings,
) -> None:
    from hub.stream.runner import core_stages, run_stages

    settings = short_hold
    stop = asyncio.Event()
    stages = core_stages(settings)
    task = asyncio.create_task(run_stages(stages, stop))
    try:
        await asyncio.gather(*(s.ready.wait() for s in stages))
        await send_raw(settings, "he", [he("04_visszavonas_agilis_projektmenedzsment.json")])
        got = await receipts(settings, "he", at_least=2)
    finally:
        stop.set()
        await task
    assert [(r["outcome"], r["final"]) for r in got] == [("hold", False), ("reject", True)]
    assert got[1]["rules"][0]["rule"] == "REVOCATION_UNKNOWN_CREDENTIAL"


async def test_al_file_level_rejection_rejects_the_whole_file(running_stream: Settings) -> None:
    settings = running_stream
    path = sorted((SAMPLES / "al").glob("*.csv"))[0]
    without_bom = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    message = message_from_file("al", path)
    await send_raw(settings, "al", [without_bom, message.value])
    got = await receipts(settings, "al", at_least=2)
    assert got[0]["scope"] == "file" and got[0]["outcome"] == "reject"
    assert got[0]["rules"][0]["rule"] == "ENCODING"
    rows = [r for r in got[1:] if r["scope"] == "event"]
    assert len(rows) == 8 and {r["outcome"] for r in rows} == {"accept"}


def test_samples_exist() -> None:
    assert Path(SAMPLES / "he").is_dir(), f"shared samples not found at {SAMPLES}"

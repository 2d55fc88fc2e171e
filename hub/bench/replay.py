"""``mchub bench replay``: rebuilding the credential-state projection from the log.

1. Generates ``events`` canonical records (9 in 10 issuances of distinct credentials,
   1 in 10 revocations of earlier ones), hash-chained like the decide stage writes them,
   into a fresh bench topic on the local broker. Records are made by substituting
   fixed-width identities (credential key and id, event id, learner, trace id) in
   records encoded once from the sample feeds, so generation is not what is measured.
2. Rebuilds the credential-state projection with :class:`hub.audit.replay.CredentialStateFold`
   over :func:`hub.stream.reading.read_topic` (what ``mchub replay`` runs), and measures
   events/s and the process RSS before and after (the state's footprint).
3. Reads the same topic with a plain aiokafka consumer (same fetch settings, records only
   counted) in the same run: the baseline.

Prints one JSON object; the bench topic is deleted afterwards.
"""

from __future__ import annotations

import gc
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import TopicPartition
from aiokafka.admin import NewTopic

from hub.adapters.kafka import make_admin, make_consumer, make_producer
from hub.audit.replay import CredentialStateFold
from hub.audit.synthetic import credential_key_for, issuance, learner_for, revocation, templates
from hub.bench import machine_info
from hub.contract.build import credential_id, event_id
from hub.contract.codec import AvroCodec
from hub.settings import Settings
from hub.stream.chain import ChainHead, EnvelopeReader, partition_for
from hub.stream.reading import BULK_READ, read_topic
from hub.topics import CANONICAL_LOG

PLACEHOLDER = 999_999_999  # the identity number the templates are encoded with


def deep_size(state: dict[bytes, bytes]) -> int:
    """Bytes held by the state dict, its keys and values (``sys.getsizeof``)."""
    return sys.getsizeof(state) + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in state.items())


def rss_mb() -> float:
    """Resident set size of this process in MiB (``VmRSS``)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Generator:
    """Distinct canonical records by substituting fixed-width identities in templates."""

    def __init__(self, settings: Settings) -> None:
        received = datetime.now(UTC)
        t = templates(settings.samples_dir, received_at=received)
        codec = AvroCodec()
        self.issued = codec.encode_dict(*issuance(t, PLACEHOLDER, received))
        self.revoked = codec.encode_dict(*revocation(t, PLACEHOLDER, received))

    @staticmethod
    def identities(i: int, kind: str) -> list[tuple[bytes, bytes]]:
        """(placeholder, value) byte pairs for record ``i`` of ``kind`` (issue/revoke)."""
        ph_key, key = credential_key_for(PLACEHOLDER), credential_key_for(i)
        ph_idem, idem = f"he:{kind}-{PLACEHOLDER:09d}", f"he:{kind}-{i:09d}"
        pairs = [
            (event_id(ph_idem), event_id(idem)),
            (uuid.uuid5(uuid.NAMESPACE_URL, ph_idem).hex, uuid.uuid5(uuid.NAMESPACE_URL, idem).hex),
            (f"{kind}-{PLACEHOLDER:09d}", f"{kind}-{i:09d}"),
            (credential_id(ph_key), credential_id(key)),
            (ph_key, key),
            (learner_for(PLACEHOLDER), learner_for(i)),
        ]
        return [(a.encode(), b.encode()) for a, b in pairs]

    def record(self, i: int, revoke: bool) -> tuple[bytes, bytes]:
        """(key, unchained value) of synthetic record ``i``."""
        value = self.revoked if revoke else self.issued
        for old, new in self.identities(i, "revoke" if revoke else "issue"):
            value = value.replace(old, new)
        return credential_id(credential_key_for(i)).encode(), value


async def generate(settings: Settings, topic: str, events: int, partitions: int) -> dict[str, Any]:
    """Create ``topic`` and write ``events`` chained canonical records to it."""
    admin = make_admin(settings)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, settings.replication_factor)])
    finally:
        await admin.close()
    gen = Generator(settings)
    reader = EnvelopeReader()
    heads = {p: ChainHead(p) for p in range(partitions)}
    producer = make_producer(settings, linger_ms=50, max_batch_size=1024 * 1024)
    await producer.start()
    started = time.perf_counter()
    issued = 0
    size = 0
    try:
        for n in range(events):
            revoke = n % 10 == 9 and issued > 0
            if revoke:
                key, value = gen.record((n * 7919) % issued, True)
            else:
                key, value = gen.record(issued, False)
                issued += 1
            p = partition_for(key, partitions)
            chained = reader.with_prev_hash(value, heads[p].link())
            heads[p].advance(chained)
            size += len(chained)
            await producer.send(topic, chained, key=key, partition=p)
        await producer.flush()
    finally:
        await producer.stop()
    return {
        "credentials": issued,
        "revocations": events - issued,
        "bytes": size,
        "seconds": round(time.perf_counter() - started, 2),
    }


async def plain_read(settings: Settings, topic: str, partitions: int) -> tuple[int, float]:
    """(records, seconds) of a plain aiokafka read of the whole topic, same fetch settings."""
    consumer = make_consumer(settings, group=None, **dict(BULK_READ))
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        started = time.perf_counter()
        count = 0
        remaining = {tp for tp in tps if end[tp] > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=500)
            for records in batch.values():
                count += len(records)
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        return count, time.perf_counter() - started
    finally:
        await consumer.stop()


async def run(settings: Settings, *, events: int, keep: bool = False) -> dict[str, Any]:
    """The benchmark (see the module docstring); returns the JSON document."""
    partitions = settings.partitions
    topic = f"bench-{uuid.uuid4().hex[:8]}.{CANONICAL_LOG}"
    generated = await generate(settings, topic, events, partitions)
    try:
        gc.collect()
        rss_before = rss_mb()
        fold = CredentialStateFold()
        started = time.perf_counter()
        async for batch in read_topic(settings, topic):
            for record in batch:
                fold.add(record.value)
        replay_s = time.perf_counter() - started
        gc.collect()
        rss_after = rss_mb()
        revoked = sum(1 for v in fold.state.values() if v[:1] == b"r")
        state_bytes = deep_size(fold.state)
        credentials = len(fold.state)
        plain_count, plain_s = await plain_read(settings, topic, partitions)
    finally:
        if not keep:
            admin = make_admin(settings)
            await admin.start()
            try:
                await admin.delete_topics([topic])
            finally:
                await admin.close()
    replay_rate = fold.records / replay_s
    state_mb = rss_after - rss_before
    return {
        "benchmark": "replay",
        "events": events,
        "partitions": partitions,
        "generated": generated,
        "replay": {
            "projection": "credential-state",
            "records": fold.records,
            "seconds": round(replay_s, 2),
            "events_per_s": round(replay_rate),
            "credentials": credentials,
            "revoked": revoked,
        },
        "plain_aiokafka_read": {
            "records": plain_count,
            "seconds": round(plain_s, 2),
            "events_per_s": round(plain_count / plain_s),
        },
        "ratio": round(replay_rate / (plain_count / plain_s), 2),
        "rss_mb": {
            "before_replay": round(rss_before, 1),
            "after_replay": round(rss_after, 1),
            "state": round(state_mb, 1),
            "state_objects": round(state_bytes / 2**20, 1),
            "state_per_1m_credentials": round(state_mb / max(credentials, 1) * 1_000_000, 1),
        },
        "goals": {
            "events_per_s_min": 50_000,
            "events_per_s_met": replay_rate >= 50_000,
            "state_mb_per_1m_max": 500,
            "state_met": state_mb / max(credentials, 1) * 1_000_000 <= 500,
        },
        "machine": machine_info(),
    }

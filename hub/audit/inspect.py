"""``mchub topics describe`` and ``mchub tail``: the hub's topics as an operator reads them.

:func:`describe_topics` reports, per topic, the partitions (leader, replicas, in-sync
replicas), the committed offsets, the configs the hub sets and the wire format of the
values (:func:`wire_format`). :func:`decode_record` turns one record into one JSON-ready
dict — key, headers, timestamp and the value decoded by its topic's format: canonical
Avro to its JSON form (learner data stays as stored: sealed), decide requests to their
head plus the canonical event, JSON topics to JSON, source payloads and dead letters to
text (or base64 when not UTF-8). :func:`tail` reads a topic from an offset, a time or the
last N records per partition to its end, decoded.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from aiokafka import ConsumerRecord

from hub.contract.codec import AvroCodec
from hub.errors import ConfigurationError, UndecodableInput
from hub.settings import Settings
from hub.stream.ingest import decode_request
from hub.stream.reading import partitions_of, read_topic, to_millis
from hub.topics import (
    AUDIT_CHECKPOINTS,
    CANONICAL_LOG,
    DECIDE_CHANGELOG,
    DECIDE_REQUESTS,
    SOURCE_TOPICS,
    declared_topics,
)

#: wire formats of record values
AVRO = "avro-single-object"
AVRO_REGISTRY = "avro-registry"
REQUEST = "decide-request"
JSON = "json"
JWS = "jws"
RAW = "raw"

_CONFIGS = ("cleanup.policy", "retention.ms", "max.message.bytes", "min.insync.replicas")


def wire_format(logical: str, settings: Settings | None = None) -> str:
    """The wire format of the values of the logical topic ``logical`` (the canonical
    log's framing is ``settings.wire_format``; either is decoded)."""
    if logical == CANONICAL_LOG:
        registry = settings is not None and settings.wire_format == "registry"
        return AVRO_REGISTRY if registry else AVRO
    if logical == DECIDE_REQUESTS:
        return REQUEST
    if logical == AUDIT_CHECKPOINTS:
        return JWS
    if logical in SOURCE_TOPICS.values() or logical.startswith("dlq."):
        return RAW
    if logical == DECIDE_CHANGELOG:
        return JSON  # state entries; the chain head is a JWS (read as text)
    return JSON


def logical_name(settings: Settings, topic: str) -> str:
    """``topic`` without the deployment's prefix."""
    prefix = settings.topic_prefix
    return topic[len(prefix) :] if prefix and topic.startswith(prefix) else topic


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _text_or_base64(value: bytes) -> tuple[str, Any]:
    try:
        return "text", value.decode("utf-8")
    except UnicodeDecodeError:
        return "base64", base64.b64encode(value).decode("ascii")


def decode_value(fmt: str, value: bytes, codec: AvroCodec) -> tuple[str, Any]:
    """``(how it was read, the value)`` of one record value of wire format ``fmt``; a value
    that does not read as its format is shown as text or base64 with ``undecodable``."""
    try:
        if fmt in (AVRO, AVRO_REGISTRY):
            name, record = codec.decode_dict(value)
            return f"avro:{name}", _jsonable(record)
        if fmt == REQUEST:
            request = decode_request(value)
            canonical = base64.b64decode(request.pop("canonical"))
            name, record = codec.decode_dict(canonical)
            return REQUEST, {**_jsonable(request), "canonical": _jsonable(record)}
        if fmt == JSON:
            return JSON, json.loads(value)
    except (UndecodableInput, ValueError, KeyError, TypeError, binascii.Error):
        kind, shown = _text_or_base64(value)
        return f"undecodable-{kind}", shown
    return _text_or_base64(value)


def decode_record(settings: Settings, record: ConsumerRecord, codec: AvroCodec) -> dict[str, Any]:
    """One record as a JSON-ready dict (see the module docstring)."""
    fmt = wire_format(logical_name(settings, record.topic), settings)
    headers = {}
    for name, raw in record.headers or ():
        headers[name] = _text_or_base64(bytes(raw))[1]
    key = None if record.key is None else _text_or_base64(bytes(record.key))[1]
    doc: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": datetime.fromtimestamp(record.timestamp / 1000, tz=UTC).isoformat(
            timespec="milliseconds"
        ),
        "key": key,
        "headers": headers,
    }
    if record.value is None:
        doc["format"], doc["value"] = "tombstone", None
    else:
        doc["format"], doc["value"] = decode_value(fmt, bytes(record.value), codec)
    return doc


async def tail(
    settings: Settings,
    topic: str,
    *,
    from_offset: int | None = None,
    since: datetime | None = None,
    last: int | None = None,
    partitions: Sequence[int] | None = None,
    limit: int | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """The records of ``topic`` (full name) to its end, decoded, partition by partition
    in offset order; ``from_offset`` applies to every partition read."""
    if sum(x is not None for x in (from_offset, since, last)) > 1:
        raise ConfigurationError("give one of --from-offset, --from-time and --last")
    wanted = list(partitions) if partitions is not None else await partitions_of(settings, topic)
    start = None if from_offset is None else dict.fromkeys(wanted, from_offset)
    codec = AvroCodec()
    emitted = 0
    async for batch in read_topic(
        settings, topic, since_ms=to_millis(since), start=start, last=last, partitions=wanted
    ):
        for record in batch:
            yield decode_record(settings, record, codec)
            emitted += 1
            if limit is not None and emitted >= limit:
                return


@dataclass(frozen=True)
class PartitionView:
    """One partition of a described topic."""

    partition: int
    leader: int
    replicas: list[int]
    isr: list[int]
    earliest: int
    end: int


async def describe_topics(settings: Settings, names: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Partitions, offsets, configs and wire format of the named topics (full names;
    default: every declared topic)."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
    from aiokafka.structs import TopicPartition

    from hub.adapters.kafka import make_admin, make_consumer

    topics = list(names) or [settings.topic(spec.name) for spec in declared_topics()]
    admin = make_admin(settings)
    await admin.start()
    consumer = make_consumer(settings, group=None)
    await consumer.start()
    try:
        described = {d["topic"]: d for d in await admin.describe_topics(topics)}
        configs: dict[str, dict[str, str]] = {}
        resources = [
            ConfigResource(ConfigResourceType.TOPIC, t)
            for t in topics
            if not described.get(t, {}).get("error_code")
        ]
        if resources:
            for response in await admin.describe_configs(resources):
                for resource in response.resources:
                    configs[resource[3]] = {
                        entry[0]: entry[1] for entry in resource[4] if entry[0] in _CONFIGS
                    }
        views = []
        for topic in topics:
            info = described.get(topic)
            if info is None or info.get("error_code"):
                views.append({"topic": topic, "exists": False})
                continue
            tps = [TopicPartition(topic, int(p["partition"])) for p in info["partitions"]]
            begin = await consumer.beginning_offsets(tps)
            end = await consumer.end_offsets(tps)
            parts = [
                PartitionView(
                    int(p["partition"]),
                    int(p["leader"]),
                    list(p["replicas"]),
                    list(p["isr"]),
                    begin[TopicPartition(topic, int(p["partition"]))],
                    end[TopicPartition(topic, int(p["partition"]))],
                )
                for p in sorted(info["partitions"], key=lambda p: int(p["partition"]))
            ]
            views.append(
                {
                    "topic": topic,
                    "exists": True,
                    "format": wire_format(logical_name(settings, topic), settings),
                    "configs": configs.get(topic, {}),
                    "records": sum(p.end - p.earliest for p in parts),
                    "partitions": [p.__dict__ for p in parts],
                }
            )
        return views
    finally:
        await consumer.stop()
        await admin.close()

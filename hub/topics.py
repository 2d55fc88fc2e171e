"""The hub's Kafka topics, declared once and applied idempotently.

Naming scheme (documented in docs/naming.md): ``<stage>.<subject>.<kind>``, lowercase,
dot-separated, every name behind the configurable ``MCHUB_TOPIC_PREFIX``.

=========  ===========================================================================
stage      meaning
=========  ===========================================================================
``src``    what sector systems publish, in their own formats (one topic per feed)
``canon``  the canonical, event-sourced log and the hub's verdicts on inputs
``out``    fan-out: the delivery ledger and the destinations' dead letters
``dlq``    dead letters: bytes or deliveries that could not be processed, kept intact
``register`` the national register's compacted current-state topic
``audit``  tamper-evidence checkpoints
=========  ===========================================================================
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from hub.authz import ID_RE
from hub.normalise.common import MAX_BYTES
from hub.normalise.common import PAYLOAD_TOO_LARGE as _PAYLOAD_TOO_LARGE
from hub.settings import Settings

FOREVER = -1
DAY_MS = 24 * 3600 * 1000
FEEDS: tuple[str, ...] = ("he", "vet", "al")
DESTINATIONS: tuple[str, ...] = ("register", "wallet", "edc")


@dataclass(frozen=True)
class TopicSpec:
    """One topic: logical name, purpose, retention and cleanup policy."""

    name: str
    purpose: str
    retention_ms: int = 7 * DAY_MS
    cleanup_policy: Literal["delete", "compact"] = "delete"
    partitions: int | None = None  # None: the settings' partition count
    #: further topic configs (e.g. how soon compaction must drop an overwritten value)
    extra: tuple[tuple[str, str], ...] = ()

    def configs(self, settings: Settings) -> dict[str, str]:
        """Topic-level configuration applied on creation and on every ``apply``."""
        return {
            "retention.ms": str(self.retention_ms),
            "cleanup.policy": self.cleanup_policy,
            "min.insync.replicas": str(settings.min_insync_replicas),
            "max.message.bytes": str(max_message_bytes(self.name, settings)),
            **dict(self.extra),
        }


# -- sizes (issue 14; docs/limits.md) ---------------------------------------------------
#: the feed contract's payload limits (§2 "Max payload"), checked on the raw bytes
PAYLOAD_LIMITS = MAX_BYTES
#: the rule of a payload (or of an output derived from it) above what the hub accepts
PAYLOAD_TOO_LARGE = _PAYLOAD_TOO_LARGE


def payload_limit(feed: str) -> int:
    """The contract's limit on one ``feed`` message value, in bytes."""
    return PAYLOAD_LIMITS[feed]


def source_record_limit(feed: str, settings: Settings) -> int:
    """Largest record a source topic accepts: the payload limit plus headroom for the key,
    headers and the record batch around it (the gateway's producer is sized the same)."""
    return payload_limit(feed) + settings.source_headroom_bytes


def max_message_bytes(name: str, settings: Settings) -> int:
    """``max.message.bytes`` of the logical topic ``name``: a source topic (shared or a
    source's own) takes its feed's limit plus headroom; ``dlq.src.undecodable`` any source
    record with its dead-letter headers; every other topic the hub's largest record."""
    parsed = parse_source_topic(name)
    if parsed is not None:
        return source_record_limit(parsed[0], settings)
    if name == INGEST_DEAD_LETTERS:  # whole source records, intact, plus dlq headers
        return settings.client_record_bytes
    return settings.max_record_bytes


def record_size(value: bytes | None, key: bytes | None = None,
                headers: Iterable[tuple[str, bytes]] = ()) -> int:
    """The bytes one record occupies in a batch, as the producer estimates it (uncompressed:
    what ``max_request_size`` is checked against)."""
    from aiokafka.record.default_records import DefaultRecordBatchBuilder

    size: int = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, list(headers))
    return size


SOURCE_TOPICS: dict[str, str] = {
    "he": "src.he.events",
    "vet": "src.vet.events",
    "al": "src.al.batches",
}
CANONICAL_LOG = "canon.events.log"
REJECTIONS = "canon.events.rejected"
DECIDE_REQUESTS = "canon.decide.requests"
DECIDE_CHANGELOG = "canon.decide.changelog"
INGEST_DEAD_LETTERS = "dlq.src.undecodable"
DELIVERY_RECEIPTS = "out.deliveries.receipts"
REGISTER_STATE = "register.credentials.state"
#: the register's state as typed tables for stock sinks (connectors.register.table)
REGISTER_CREDENTIALS_TABLE = "register.credentials.table"
REGISTER_TITLES = "register.titles.table"
REGISTER_ISSUER_COUNTRIES = "register.countries.table"
REGISTER_AWARDING_BODIES = "register.bodies.table"
REGISTER_LEARNING_OUTCOMES = "register.outcomes.table"
REGISTER_ASSESSMENT_TYPES = "register.assessments.table"
REGISTER_QUALITY_ASSURANCE = "register.accreditations.table"
REGISTER_TABLES: dict[str, str] = {
    REGISTER_CREDENTIALS_TABLE: "one typed row per credential: its current state, flat",
    REGISTER_TITLES: "a credential's title per language",
    REGISTER_ISSUER_COUNTRIES: "a credential's issuer countries",
    REGISTER_AWARDING_BODIES: "a credential's awarding bodies (position 0: the primary)",
    REGISTER_LEARNING_OUTCOMES: "a credential's learning outcomes",
    REGISTER_ASSESSMENT_TYPES: "a credential's assessment types",
    REGISTER_QUALITY_ASSURANCE: "a credential's quality assurance (accreditations)",
}
AUDIT_CHECKPOINTS = "audit.checkpoints.log"
LEARNER_ERASURES = "canon.learners.erasures"


def source_topic(feed: str, source_id: str) -> str:
    """The topic only ``source_id``'s Kafka principal may write for ``feed``
    (``src.<feed>.<kind>.<source id>``): ingest takes the sender from its name."""
    if not ID_RE.fullmatch(source_id):
        raise ValueError(f"not a source id: {source_id!r}")
    return f"{SOURCE_TOPICS[feed]}.{source_id}"


def parse_source_topic(logical: str) -> tuple[str, str | None] | None:
    """``(feed, source id)`` of a source topic's logical name (source id ``None`` for the
    feed's shared topic), ``None`` for any other topic."""
    for feed, shared in SOURCE_TOPICS.items():
        if logical == shared:
            return feed, None
        rest = logical.removeprefix(shared + ".")
        if rest != logical and ID_RE.fullmatch(rest):
            return feed, rest
    return None


def source_topics_pattern(settings: Settings) -> str:
    """The regular expression of every source topic, shared and per source (full names)."""
    shared = "|".join(re.escape(t) for t in SOURCE_TOPICS.values())
    return f"^{re.escape(settings.topic_prefix)}({shared})(\\.{ID_RE.pattern})?$"


def source_topic_spec(feed: str, source_id: str) -> TopicSpec:
    """The declaration of one source's own topic for ``feed`` (as the shared one)."""
    shared = next(s for s in declared_topics() if s.name == SOURCE_TOPICS[feed])
    return dataclasses.replace(
        shared, name=source_topic(feed, source_id),
        purpose=f"{shared.purpose}; written only by source {source_id}")


def source_receipts(feed: str) -> str:
    """Per-source receipts: the fate of each event a sector system sent."""
    return f"canon.receipts.{feed}"


def destination_dead_letters(destination: str) -> str:
    """Deliveries a destination refused for good (4xx)."""
    return f"dlq.out.{destination}"


def declared_topics() -> list[TopicSpec]:
    """Every topic the hub uses, in one declarative list."""
    specs = [
        TopicSpec(
            SOURCE_TOPICS["he"],
            "higher-education events (JSON), as FIR-like systems send them",
            30 * DAY_MS,
        ),
        TopicSpec(
            SOURCE_TOPICS["vet"], "VET events (XML), as KRÉTA-like systems send them", 30 * DAY_MS
        ),
        TopicSpec(
            SOURCE_TOPICS["al"],
            "adult-learning CSV batches, as FAR-like systems send them",
            30 * DAY_MS,
        ),
        TopicSpec(
            DECIDE_REQUESTS,
            "normalised events awaiting the lifecycle decision (one partition: one writer)",
            7 * DAY_MS,
            partitions=1,
        ),
        TopicSpec(
            DECIDE_CHANGELOG,
            "lifecycle state per credential / idempotency key (rebuildable from the log)",
            FOREVER,
            "compact",
            partitions=1,
        ),
        TopicSpec(
            CANONICAL_LOG,
            "the canonical event log (Avro single-object): the source of truth",
            FOREVER,
        ),
        TopicSpec(REJECTIONS, "inputs rejected with rule, field path and message", FOREVER),
        TopicSpec(
            INGEST_DEAD_LETTERS,
            "undecodable source bytes, intact, with origin headers",
            90 * DAY_MS,
        ),
        TopicSpec(
            DELIVERY_RECEIPTS,
            "delivery ledger: delivered / failed / pending per destination",
            FOREVER,
        ),
        TopicSpec(
            REGISTER_STATE,
            "current credential state for the national register (compacted)",
            FOREVER,
            "compact",
            # personal data in clear: an overwritten or tombstoned value (an erasure) is
            # compacted away within 7 days, the tombstone kept 1 day (docs/privacy.md)
            extra=(
                ("segment.ms", str(DAY_MS)),
                ("max.compaction.lag.ms", str(7 * DAY_MS)),
                ("delete.retention.ms", str(DAY_MS)),
            ),
        ),
        *(
            TopicSpec(
                topic,
                f"{about} (Kafka Connect JSON with schema, compacted; tombstone on erasure)",
                FOREVER,
                "compact",
                extra=(  # personal data in clear, as register.credentials.state
                    ("segment.ms", str(DAY_MS)),
                    ("max.compaction.lag.ms", str(7 * DAY_MS)),
                    ("delete.retention.ms", str(DAY_MS)),
                ),
            )
            for topic, about in REGISTER_TABLES.items()
        ),
        TopicSpec(
            LEARNER_ERASURES,
            "learner erasures (GDPR Art. 17): pseudonym, time, reason, credentials concerned",
            FOREVER,
        ),
        TopicSpec(
            AUDIT_CHECKPOINTS,
            "signed hash-chain checkpoints for tamper evidence",
            FOREVER,
            partitions=1,
        ),
    ]
    specs += [
        TopicSpec(
            source_receipts(feed), f"outcome of every {feed} event for its sector system", FOREVER
        )
        for feed in FEEDS
    ]
    specs += [
        TopicSpec(
            # bounded: the destination's error text may quote personal data (docs/privacy.md)
            destination_dead_letters(dest), f"deliveries the {dest} destination refused",
            90 * DAY_MS,
        )
        for dest in DESTINATIONS
    ]
    return specs


@dataclass(frozen=True)
class TopicApplied:
    """What ``apply_topics`` did to one topic."""

    topic: str
    action: Literal["created", "updated", "unchanged"]
    partitions: int


async def apply_topics(
    settings: Settings, specs: Iterable[TopicSpec] | None = None
) -> list[TopicApplied]:
    """Create missing topics and align the configs of existing ones (idempotent).

    Partition counts are never reduced (Kafka cannot); an existing topic keeps its count.
    """
    from aiokafka.admin import NewTopic
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    from hub.adapters.kafka import make_admin
    from hub.adapters.memory import MemoryBroker, is_memory

    wanted = list(specs if specs is not None else declared_topics())
    if is_memory(settings.bootstrap):
        broker = MemoryBroker.named(settings.bootstrap, default_partitions=settings.partitions)
        created = []
        for spec in wanted:
            full, count = settings.topic(spec.name), spec.partitions or settings.partitions
            action: Literal["created", "unchanged"] = (
                "unchanged" if full in broker.partitions else "created"
            )
            broker.create(full, count)
            created.append(TopicApplied(full, action, len(broker.partitions[full])))
        return created
    admin = make_admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        results: list[TopicApplied] = []
        to_create = []
        for spec in wanted:
            full = settings.topic(spec.name)
            partitions = spec.partitions or settings.partitions
            if full not in existing:
                to_create.append(
                    NewTopic(
                        full,
                        partitions,
                        settings.replication_factor,
                        topic_configs=spec.configs(settings),
                    )
                )
                results.append(TopicApplied(full, "created", partitions))
        if to_create:
            await admin.create_topics(to_create)
        present = [s for s in wanted if settings.topic(s.name) in existing]
        if present:
            resources = [
                ConfigResource(ConfigResourceType.TOPIC, settings.topic(s.name)) for s in present
            ]
            described = await admin.describe_configs(resources)
            current = _configs_by_topic(described)
            changes = []
            for spec in present:
                full = settings.topic(spec.name)
                wanted_cfg = spec.configs(settings)
                have = current.get(full, {})
                changed = any(have.get(k) != v for k, v in wanted_cfg.items())
                if changed:
                    changes.append(
                        ConfigResource(ConfigResourceType.TOPIC, full, configs=wanted_cfg)
                    )
                meta = await admin.describe_topics([full])
                count = len(meta[0]["partitions"]) if meta else 0
                results.append(TopicApplied(full, "updated" if changed else "unchanged", count))
            if changes:
                await admin.alter_configs(changes)
        return results
    finally:
        await admin.close()


async def topic_configs(settings: Settings, topic: str) -> dict[str, str]:
    """The broker's configuration of ``topic`` (full name), every entry as text."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    from hub.adapters.kafka import make_admin

    admin = make_admin(settings)
    await admin.start()
    try:
        described = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)]
        )
    finally:
        await admin.close()
    return _configs_by_topic(described).get(topic, {})


def _configs_by_topic(responses: list[object]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in getattr(response, "resources", []):
            # (error_code, error_message, resource_type, resource_name, config_entries)
            name, entries = resource[3], resource[4]
            out[name] = {entry[0]: entry[1] for entry in entries}
    return out

"""Who may do what on the hub's Kafka cluster: principals and their ACLs (docs/security.md).

Pure: the plan is computed from the settings and the issuer registry; the local broker
applies it with Kafka's own Admin client (:mod:`hub.localkafka.security`), and
``mchub kafka acls`` prints or applies it on any cluster.

- ``mchub-admin`` is a super user: it creates topics, principals and ACLs (operators).
- ``mchub`` (the hub's stages) is the only writer of ``canon.*``, ``out.*``,
  ``register.*``, ``audit.*`` and ``dlq.*``, and reads every source topic.
- ``mchub-gateway`` writes the feeds' shared source topics (it authenticates each sender
  over HTTP and attests the source) and reads the receipts.
- a sector system's principal is its source id: it writes only its own topics
  (``src.<feed>.<kind>.<source id>``, one per sector it is entitled in) and, when it is
  the feed's default source in the registry, the feed's shared topic. It reads nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from hub.authz import IssuerRegistry
from hub.settings import ADMIN_PRINCIPAL, GATEWAY_PRINCIPAL, HUB_PRINCIPAL, Settings
from hub.topics import SOURCE_TOPICS, source_receipts, source_topic

ResourceType = Literal["TOPIC", "GROUP", "TRANSACTIONAL_ID", "CLUSTER"]
PatternType = Literal["LITERAL", "PREFIXED"]

#: the prefixes of the topics only the hub's stages write
HUB_WRITES: Final = ("canon.", "out.", "register.", "audit.", "dlq.")
#: principal names a source may not take
RESERVED: Final = (ADMIN_PRINCIPAL, HUB_PRINCIPAL, GATEWAY_PRINCIPAL)


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW entry: ``principal`` may do ``operation`` on the resource."""

    principal: str
    resource: ResourceType
    pattern: PatternType
    name: str
    operation: str

    def line(self) -> str:
        """The entry as the security tool reads it (``acl User:x TOPIC LITERAL name OP``)."""
        return f"acl User:{self.principal} {self.resource} {self.pattern} {self.name} " \
               f"{self.operation}"


def _grant(principal: str, resource: ResourceType, pattern: PatternType, name: str,
           *operations: str) -> list[Acl]:
    return [Acl(principal, resource, pattern, name, op) for op in operations]


def hub_acls(settings: Settings) -> list[Acl]:
    """The stages' and the gateway's entries."""
    p = settings.topic_prefix
    acls: list[Acl] = []
    for prefix in HUB_WRITES:
        acls += _grant(HUB_PRINCIPAL, "TOPIC", "PREFIXED", p + prefix,
                       "READ", "WRITE", "CREATE", "DESCRIBE", "DESCRIBE_CONFIGS")
    acls += _grant(HUB_PRINCIPAL, "TOPIC", "PREFIXED", p + "src.",
                   "READ", "DESCRIBE", "DESCRIBE_CONFIGS")
    acls += _grant(HUB_PRINCIPAL, "GROUP", "PREFIXED", settings.consumer_group + ".",
                   "READ", "DESCRIBE")
    acls += _grant(HUB_PRINCIPAL, "TRANSACTIONAL_ID", "PREFIXED", settings.client_id + ".",
                   "WRITE", "DESCRIBE")
    acls += _grant(HUB_PRINCIPAL, "CLUSTER", "LITERAL", "kafka-cluster",
                   "IDEMPOTENT_WRITE", "DESCRIBE")
    for topic in SOURCE_TOPICS.values():
        acls += _grant(GATEWAY_PRINCIPAL, "TOPIC", "LITERAL", p + topic, "WRITE", "DESCRIBE")
    for feed in SOURCE_TOPICS:
        acls += _grant(GATEWAY_PRINCIPAL, "TOPIC", "LITERAL", p + source_receipts(feed),
                       "READ", "DESCRIBE")
    acls += _grant(GATEWAY_PRINCIPAL, "CLUSTER", "LITERAL", "kafka-cluster", "IDEMPOTENT_WRITE")
    return acls


def source_feeds(registry: IssuerRegistry, source_id: str) -> list[str]:
    """The feeds a source has entitlements in (its own topics)."""
    entry = registry.source(source_id)
    if entry is None:
        return []
    return sorted({e.sector for e in entry.entitlements})


def source_acls(settings: Settings, registry: IssuerRegistry, source_id: str) -> list[Acl]:
    """A sector system's entries: write its own topics (and the shared one of a feed it is
    the default source of)."""
    p = settings.topic_prefix
    acls: list[Acl] = []
    for feed in source_feeds(registry, source_id):
        acls += _grant(source_id, "TOPIC", "LITERAL", p + source_topic(feed, source_id),
                       "WRITE", "DESCRIBE")
        if registry.kafka_default_source(feed) == source_id:
            acls += _grant(source_id, "TOPIC", "LITERAL", p + SOURCE_TOPICS[feed],
                           "WRITE", "DESCRIBE")
    if acls:
        acls += _grant(source_id, "CLUSTER", "LITERAL", "kafka-cluster", "IDEMPOTENT_WRITE")
    return acls


def registry_sources(registry: IssuerRegistry) -> list[str]:
    """The source ids of the registry that get a Kafka principal (those with
    entitlements)."""
    return [s.id for s in registry.document.sources if s.entitlements]


def acl_plan(settings: Settings, registry: IssuerRegistry | None,
             sources: Iterable[str] | None = None) -> list[Acl]:
    """Every entry the cluster should have: the hub's, and each source's (default: every
    source of the registry)."""
    acls = hub_acls(settings)
    if registry is not None:
        for source_id in sources if sources is not None else registry_sources(registry):
            acls += source_acls(settings, registry, source_id)
    return sorted(set(acls))


def check_source_id(source_id: str) -> None:
    """A ValueError when ``source_id`` would take one of the hub's own principals."""
    if source_id in RESERVED or source_id.startswith("mchub"):
        raise ValueError(f"{source_id!r} is reserved for the hub's own principals")

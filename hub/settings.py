"""Configuration of the hub, read from ``MCHUB_*`` environment variables.

Kafka client defaults are set explicitly and safely here, never left to the client
library: aiokafka's own defaults are ``acks=1`` without idempotence and auto-commit on,
which can lose or duplicate events. Producers use ``acks=all`` with idempotence;
consumers read only committed data and commit offsets themselves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.errors import ConfigurationError

#: the Apache Kafka release the local broker runs (resolved from Maven Central)
KAFKA_VERSION = "4.1.1"


REPO_ROOT = Path(__file__).resolve().parent.parent

#: the feed contract's largest payload (al: 8 MiB per file; hub.normalise.common.MAX_BYTES)
LARGEST_PAYLOAD_BYTES = 8 * 1024 * 1024
#: what a dead letter adds to a source record: its ``mchub-dlq-*`` headers (error ≤ 4000 B)
DEAD_LETTER_HEADROOM = 8 * 1024


def default_shared_dir() -> Path:
    """The project's read-only ``shared/`` folder: beside the repository checkout."""
    return (REPO_ROOT.parent / "shared").resolve()


def default_cache_dir() -> Path:
    """Where downloaded broker jars live: outside the repository, shared by checkouts."""
    return Path.home() / ".cache" / "mchub"


class Settings(BaseSettings):
    """All hub settings; each field maps to ``MCHUB_<FIELD>`` (case-insensitive)."""

    model_config = SettingsConfigDict(env_prefix="MCHUB_", extra="ignore")

    bootstrap: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated host:port"
    )
    topic_prefix: str = Field(
        "", description="prefix put before every topic name (isolates tenants and tests)"
    )
    partitions: int = Field(6, ge=1, description="partitions of the hub's topics")
    replication_factor: int = Field(1, ge=1, description="replication factor of the topics")
    min_insync_replicas: int = Field(1, ge=1, description="min.insync.replicas of the topics")
    client_id: str = Field("mchub", description="Kafka client id prefix")
    consumer_group: str = Field("mchub", description="consumer group id prefix")
    data_dir: Path = Field(Path("var"), description="local state: broker data, SQLite, keys")
    cache_dir: Path = Field(default_factory=default_cache_dir, description="jar cache")
    shared_dir: Path = Field(
        default_factory=default_shared_dir, description="shared/ folder (feeds, reference)"
    )
    kafka_port: int = Field(9092, ge=1, le=65535, description="port of the local broker")
    transaction_retry_ms: float = Field(
        2, gt=0, le=100,
        description="wait before asking again when a new transaction meets the previous "
        "one's commit markers still being written (CONCURRENT_TRANSACTIONS)",
    )
    fetch_max_wait_ms: int = Field(
        50, ge=0, le=500,
        description="longest a consumer's fetch waits at the broker for new data; aiokafka "
        "does not fetch a drained partition again until its node's fetch returns",
    )
    session_timeout_ms: int = Field(
        6_000, ge=6_000, le=300_000,
        description="how long a stage's group waits for a silent member before its "
        "partitions move to the others (takeover time after a crash; broker minimum 6 s)",
    )
    heartbeat_interval_ms: int = Field(
        1_000, ge=100, le=10_000,
        description="how often stage consumers heartbeat (also how fast they notice a "
        "rebalance); at most a third of the session timeout",
    )
    # -- issue 14, item 4 (workers ride out broker outages): fast take-over ------------
    instance_id: str = Field(
        "",
        description="static group membership (KIP-345) of `mchub run`'s stages: a name "
        "unique among the running instances and kept across restarts (a StatefulSet pod "
        "name, a host name); a restarted instance gets its partitions back at once instead "
        "of after the session timeout. Trade-off: a stopped instance's partitions move to "
        "the others only after the session timeout. Empty: dynamic membership",
    )
    metrics_port: int = Field(
        0, ge=0, le=65535,
        description="port of `mchub run`'s /metrics, /healthz and /readyz server; 0: no server",
    )
    metrics_host: str = Field(
        "127.0.0.1", description="address the metrics server listens on (0.0.0.0: all)"
    )
    state_store: Literal["sqlite", "memory"] = Field(
        "sqlite",
        description="where stateful stages keep their state: a SQLite file per task under "
        "<data dir>/state (a restart reads only the changelog's tail) or memory (a restart "
        "reads the whole changelog)",
    )
    held_revocation_ttl_days: float = Field(
        7, gt=0, description="days a held revocation waits for its issuance (§10)"
    )
    issue_clock_skew_seconds: int = Field(
        300, ge=0, description="how far in the future an issue date may be (clock skew)"
    )

    # -- issue 14 item 1/2 ("sizes"): record sizes and compression, set explicitly ----
    # The contract's limits (he/vet 1 MiB per event, al 8 MiB per file) are constants
    # (hub.normalise.common.MAX_BYTES); these settings size everything around them
    # (hub/topics.py applies them to the topics; docs/limits.md explains the arithmetic).
    source_headroom_bytes: int = Field(
        64 * 1024, ge=4 * 1024, le=1024 * 1024,
        description="bytes a source topic (and the gateway's producer) accept above the "
        "contract's payload limit: key, headers and record-batch overhead",
    )
    max_record_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024,
        description="largest record the hub writes to its own topics (twice the largest "
        "payload; an 8 MiB al row's canonical event measures ~1.0x the row): "
        "max.message.bytes of every non-source topic, the producers' max_request_size, the "
        "consumers' fetch sizes; an event above it is dead-lettered with a "
        "PAYLOAD_TOO_LARGE receipt",
    )
    compression: Literal["zstd", "gzip", "lz4", "snappy", "none"] = Field(
        "zstd",
        description="compression of every hub producer's record batches (zstd, lz4 and "
        "snappy need the cramjam package, a dependency of the hub)",
    )

    # -- issue 14 item 3 ("parking"): delivery that cannot wedge (README "Delivery failures")
    delivery_park_after_attempts: int = Field(
        6, ge=0, le=1000,
        description="transient failures of one item before it is parked (its key held, "
        "others flowing) when the destination is otherwise healthy; 0: never park",
    )
    delivery_redrive_base_s: float = Field(
        5.0, gt=0, description="first automatic redrive of a parked key after this many "
        "seconds; doubling per failed attempt",
    )
    delivery_redrive_cap_s: float = Field(
        300.0, gt=0, description="longest wait between automatic redrives of a parked key",
    )
    delivery_redrive_max_attempts: int = Field(
        10, ge=1, description="automatic redrives of a parked key before they stop (then a "
        "new change of the key, or `mchub redrive`, tries again)",
    )

    @property
    def samples_dir(self) -> Path:
        """The feed contracts' sample events (``<shared>/feeds/samples``)."""
        return self.shared_dir / "feeds" / "samples"

    @property
    def client_record_bytes(self) -> int:
        """Largest record a hub client sends or fetches: the hub's own largest record, or
        a whole source record (the largest payload, al's 8 MiB, plus headroom) kept intact
        in a dead letter with its ``mchub-dlq-*`` headers, whichever is larger."""
        source = LARGEST_PAYLOAD_BYTES + self.source_headroom_bytes + DEAD_LETTER_HEADROOM
        return max(self.max_record_bytes, source)

    def topic(self, name: str) -> str:
        """The full topic name for a logical topic name (prefix applied)."""
        return f"{self.topic_prefix}{name}"

    def group(self, name: str) -> str:
        """The consumer group id for a logical consumer name."""
        return f"{self.consumer_group}.{name}"

    def producer_config(self, *, transactional_id: str | None = None) -> dict[str, Any]:
        """aiokafka producer keyword arguments: durable and idempotent, set explicitly."""
        config: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "client_id": f"{self.client_id}-producer",
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 5,
            "max_batch_size": 256 * 1024,
            "request_timeout_ms": 30_000,
            # issue 14: sized for the largest record, compressed (docs/limits.md)
            "max_request_size": self.client_record_bytes,
            "compression_type": None if self.compression == "none" else self.compression,
        }
        if transactional_id is not None:
            config["transactional_id"] = transactional_id
            # a new transaction often meets CONCURRENT_TRANSACTIONS while the previous
            # one's markers are written; retry after 20 ms (as the Java client), not 100
            config["retry_backoff_ms"] = 20
        return config

    def consumer_config(
        self, group: str | None, *, offset_reset: Literal["earliest", "latest"] = "earliest"
    ) -> dict[str, Any]:
        """aiokafka consumer keyword arguments: read_committed, manual commits."""
        return {
            "bootstrap_servers": self.bootstrap,
            "client_id": f"{self.client_id}-consumer",
            "group_id": group,
            "isolation_level": "read_committed",
            "enable_auto_commit": False,
            "auto_offset_reset": offset_reset,
            # aiokafka keeps one fetch in flight per broker; a partition drained while it
            # waits is fetched again only when it returns, so its wait bounds the latency
            # of the other partitions (500 ms by default: p99 spikes of ~0.5-0.8 s)
            "fetch_max_wait_ms": self.fetch_max_wait_ms,
            "session_timeout_ms": self.session_timeout_ms,
            "heartbeat_interval_ms": self.heartbeat_interval_ms,
            # issue 14: one record of the largest allowed size fits in one fetch
            "max_partition_fetch_bytes": self.client_record_bytes,
            "fetch_max_bytes": max(50 * 1024 * 1024, self.client_record_bytes),
        }


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with explicit overrides (CLI options) on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def read_json_config(path: Path, what: str) -> dict[str, Any]:
    """An operator's JSON configuration file (``what``: e.g. "the wallet registry"), which
    must hold one object; a ConfigurationError that names the file otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read {what} {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"{what} {path} must be a JSON object")
    return data

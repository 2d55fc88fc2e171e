"""Configuration of the hub, read from ``MCHUB_*`` environment variables.

Kafka client defaults are set explicitly and safely here, never left to the client
library: aiokafka's own defaults are ``acks=1`` without idempotence and auto-commit on,
which can lose or duplicate events. Producers use ``acks=all`` with idempotence;
consumers read only committed data and commit offsets themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: the Apache Kafka release the local broker runs (resolved from Maven Central)
KAFKA_VERSION = "4.1.1"


REPO_ROOT = Path(__file__).resolve().parent.parent


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
        }


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with explicit overrides (CLI options) on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})

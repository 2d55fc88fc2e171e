"""Configuration of the hub, read from ``MCHUB_*`` environment variables.

Kafka client defaults are set explicitly and safely here, never left to the client
library: aiokafka's own defaults are ``acks=1`` without idempotence and auto-commit on,
which can lose or duplicate events. Producers use ``acks=all`` with idempotence;
consumers read only committed data and commit offsets themselves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import Field, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from hub.errors import ConfigurationError

#: the Apache Kafka release the local broker runs (resolved from Maven Central)
KAFKA_VERSION = "4.1.1"


REPO_ROOT = Path(__file__).resolve().parent.parent

#: the issuer server's address on a development machine (``mchub demo`` sets the real one)
DEV_PUBLIC_BASE_URL: Final = "http://localhost:8080"

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


# -- sections: each reads its own variables (its env_prefix), so ``Settings()`` reads all --


class GatewaySection(BaseSettings):
    """The HTTP gateway (``MCHUB_GATEWAY_<FIELD>``); the issuer registry is ``MCHUB_ISSUERS``."""

    model_config = SettingsConfigDict(env_prefix="MCHUB_GATEWAY_", extra="ignore")

    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8082, ge=0, le=65535, description="port to listen on")
    db: Path | None = Field(None, description="SQLite file of submissions and idempotency keys; "
                                              "default <MCHUB_DATA_DIR>/gateway.db")
    max_wait_seconds: float = Field(30.0, ge=0, description="cap of `Prefer: wait=N`")
    attestation_secret: SecretStr | None = Field(
        None, description="secret the gateway MACs the receipt id and source headers of its "
        "writes with (ingest checks it; default: <data dir>/keys/gateway-attestation.secret, "
        "made on first use)")
    rate_per_second: float = Field(50.0, gt=0, description="default sustained requests/s per "
                                                           "source (registry may override)")
    rate_burst: int = Field(100, ge=1, description="default burst per source")
    idempotency_ttl_hours: float = Field(72.0, gt=0, description="how long keys are remembered")
    receipts_lookback_hours: float = Field(
        24.0, gt=0, description="receipts read back on start (older ones answer 'pending')")
    receipts_cache: int = Field(200_000, ge=1000, description="receipt ids kept in memory")
    access_log: bool = Field(True, description="log every request (uvicorn access log)")
    tls_certfile: Path | None = Field(None, description="server certificate (PEM): enables TLS")
    tls_keyfile: Path | None = Field(None, description="server private key (PEM)")
    tls_ca_certs: Path | None = Field(
        None, description="CA bundle for client certificates: enables mutual TLS")
    tls_require_client_cert: bool = Field(
        False, description="refuse TLS handshakes without a client certificate")
    # slow clients (issue 14 item 6; docs/gateway.md "Timeouts")
    header_timeout_seconds: float = Field(
        10.0, gt=0, le=300,
        description="a request head (request line and headers) must arrive within this "
        "many seconds of its first byte; otherwise 408 and the connection is closed")
    body_timeout_seconds: float = Field(
        120.0, gt=0, le=3600,
        description="a request body must arrive within this many seconds of its head "
        "(8 MiB in 120 s needs ~70 KB/s); otherwise the connection is closed")
    keep_alive_seconds: int = Field(
        5, ge=1, le=300, description="an idle kept-alive connection is closed after this")
    max_header_bytes: int = Field(
        16 * 1024, ge=4096, le=1024 * 1024,
        description="largest request head accepted (h11_max_incomplete_event_size)")


class AuditSection(BaseSettings):
    """Signed checkpoints of the canonical log (``MCHUB_<FIELD>``; hub.stream.checkpoints)."""

    model_config = SettingsConfigDict(env_prefix="MCHUB_", extra="ignore")

    audit_key: Path | None = Field(None, description="PEM private key signing checkpoints")
    audit_cert: Path | None = Field(None, description="PEM chain (leaf first) of audit_key")
    audit_trust: Path | None = Field(
        None, description="PEM trust anchors for verifying checkpoints (default: dev CA)"
    )


#: the Kafka principals of the hub itself (docs/security.md); a source's principal is its id
ADMIN_PRINCIPAL: Final = "mchub-admin"
HUB_PRINCIPAL: Final = "mchub"
GATEWAY_PRINCIPAL: Final = "mchub-gateway"
#: the local broker's controller listener (PLAIN, known only to the broker itself)
CONTROLLER_PRINCIPAL: Final = "mchub-controller"


class KafkaSection(BaseSettings):
    """How the hub's Kafka clients authenticate (``MCHUB_KAFKA_<FIELD>``; docs/security.md).

    ``auto``: SASL/SCRAM-SHA-512 with the password of ``user`` from the local broker's
    credentials file when that file names this bootstrap (``mchub kafka up`` writes it),
    else PLAINTEXT without authentication.
    """

    model_config = SettingsConfigDict(env_prefix="MCHUB_KAFKA_", extra="ignore")

    security_protocol: Literal["auto", "PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "auto", description="auto, PLAINTEXT, SASL_PLAINTEXT or SASL_SSL")
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism of the hub's clients")
    user: str | None = Field(
        None, description="Kafka principal of this process (default: mchub for the stages, "
        "mchub-gateway for the gateway, mchub-admin for topic and ACL administration)")
    password: SecretStr | None = Field(
        None, description="password of the principal (default: from the credentials file)")
    ssl_cafile: Path | None = Field(None, description="CA bundle of the brokers (SASL_SSL)")
    credentials_file: Path | None = Field(
        None, description="the local broker's principals and passwords (default "
        "<data dir>/kafka/credentials.json, written by `mchub kafka up`)")


class PrivacySection(BaseSettings):
    """Learner personal data (``MCHUB_LEARNER_<FIELD>``; hub.privacy, docs/privacy.md)."""

    model_config = SettingsConfigDict(env_prefix="MCHUB_LEARNER_", extra="ignore")

    secret: SecretStr | None = Field(
        None, description="secret of the keyed learner pseudonyms (HMAC-SHA-256; every stage "
        "must have the same one; default: <data dir>/keys/learner-pseudonym.secret, made on "
        "first use)")
    kek: SecretStr | None = Field(
        None, description="key-encryption key wrapping the per-learner data keys in the key "
        "store (default: <data dir>/keys/learner-kek.secret, made on first use)")
    key_store: str | None = Field(
        None, description="the per-learner data keys: a SQLite file (default <data dir>/keys/"
        "learners.db) or a postgresql:// URL (instances on several machines); every stage "
        "that seals or opens learner data must use the same one")


class FanoutSection(BaseSettings):
    """Where the fan-out delivers, and how (``MCHUB_<FIELD>``).

    A destination's connector runs in ``mchub run`` only when its URL is set.
    ``MCHUB_REGISTER_TOKEN`` is also what the register service reads, so a hub and a
    register configured from one environment agree on the bearer token.
    """

    model_config = SettingsConfigDict(env_prefix="MCHUB_", extra="ignore")

    register_url: str | None = Field(
        None, description="base URL of the national register; unset: no register connector"
    )
    register_token: SecretStr | None = Field(
        None, description="bearer token the register requires (the register reads it too)"
    )
    wallet_url: str | None = Field(
        None, description="base URL of the default wallet (Open Badges) host; unset: no "
        "wallet connector"
    )
    wallet_token: SecretStr | None = Field(None, description="bearer token for the wallet host")
    edc_url: str | None = Field(
        None, description="base URL of the EDC-style deposit endpoint; unset: no EDC connector"
    )
    edc_token: SecretStr | None = Field(None, description="bearer token for the EDC endpoint")
    fanout_concurrency: int = Field(
        8, ge=1, le=256, description="concurrent HTTP requests per destination connector"
    )
    fanout_batch: int = Field(
        200, ge=1, description="canonical records per delivery batch (one transaction)"
    )
    register_batch: int = Field(
        200, ge=1, le=1000,
        description="changes per register request (POST /changes); 1: one PUT per change",
    )

    def urls(self) -> dict[str, str]:
        """The configured destinations: name -> base URL (only those that are set)."""
        found = {"register": self.register_url, "wallet": self.wallet_url, "edc": self.edc_url}
        return {name: url for name, url in found.items() if url}

    def token(self, name: str) -> str | None:
        """The bearer token of destination ``name``, if one is set."""
        secret: SecretStr | None = getattr(self, f"{name}_token", None)
        return secret.get_secret_value() if secret is not None else None


class WalletSection(BaseSettings):
    """The wallet destination (``MCHUB_WALLET_<FIELD>``; its URL and token: ``fanout``)."""

    model_config = SettingsConfigDict(env_prefix="MCHUB_WALLET_", extra="ignore")

    registry: Path | None = Field(
        None, description="JSON wallet registry (education ID -> host); see "
        "connectors/wallet/registry.py"
    )
    db: Path | None = Field(
        None, description="SQLite file of the signed credentials sent (default "
        "<data_dir>/wallet/issued.db)"
    )


class EdcSection(BaseSettings):
    """The EDC destination (``MCHUB_EDC_<FIELD>``; its URL and token: ``fanout``)."""

    model_config = SettingsConfigDict(env_prefix="MCHUB_EDC_", extra="ignore")

    registry: Path | None = Field(
        None, description="JSON registry: education ID -> EDC wallet userId or email"
    )


class IssuingSection(BaseSettings):
    """The seal, the status lists and their public URL (``MCHUB_<FIELD>``)."""

    model_config = SettingsConfigDict(env_prefix="MCHUB_", extra="ignore", populate_by_name=True)

    public_base_url: str = Field(
        DEV_PUBLIC_BASE_URL,
        description="public URL of the hub's issuer server (status lists, issuer profiles "
        "and keys, CA certificate and CRL); written into every credential, so in production "
        "an https address verifiers can reach",
    )
    status_base_url_override: str | None = Field(
        None,
        alias="MCHUB_STATUS_BASE_URL",
        description="status lists' URL prefix when not <public_base_url>/v1/status",
    )
    status_db: Path | None = Field(
        None, description="SQLite file of the status lists (default <data_dir>/status/status.db)"
    )
    seal_key: Path | None = Field(None, description="PEM private key of the seal (production)")
    seal_cert: Path | None = Field(None, description="PEM chain of the seal, leaf first")
    seal_key_password: SecretStr | None = Field(None, description="password of the seal key")

    @property
    def status_base_url(self) -> str:
        """Prefix of the status list URLs: ``<public_base_url>/v1/status`` unless overridden."""
        if self.status_base_url_override:
            return self.status_base_url_override
        return self.public_base_url.rstrip("/") + "/v1/status"


#: the sections of :class:`Settings`, by field name
SECTIONS: Final[dict[str, type[BaseSettings]]] = {
    "kafka": KafkaSection,
    "gateway": GatewaySection,
    "audit": AuditSection,
    "privacy": PrivacySection,
    "fanout": FanoutSection,
    "wallet": WalletSection,
    "edc": EdcSection,
    "issuing": IssuingSection,
}


class _TopLevelEnv(EnvSettingsSource):
    """The environment for the top-level fields only: a section reads its own variables
    (so no ``MCHUB_<SECTION>`` variable holds a whole section)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if field_name in SECTIONS:
            return None, field_name, False
        return super().get_field_value(field, field_name)


class Settings(BaseSettings):
    """All hub settings: each top-level field maps to ``MCHUB_<FIELD>`` (case-insensitive),
    each section (``kafka``, ``gateway``, ``audit``, ``privacy``, ``fanout``, ``wallet``,
    ``edc``, ``issuing``) reads its own variables; :func:`environment_variables` lists them all."""

    model_config = SettingsConfigDict(env_prefix="MCHUB_", extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _TopLevelEnv(settings_cls), dotenv_settings, file_secret_settings

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

    # -- issue 12 (the Kafka ecosystem can read the hub): registry and wire format ------
    wire_format: Literal["single-object", "registry"] = Field(
        "single-object",
        description="framing of canonical Avro records on canon.events.log: Avro "
        "single-object (C3 01 + schema fingerprint; decodable with the published schemas "
        "alone) or registry (00 + 4-byte schema id, for Confluent-compatible serdes, "
        "Connect converters, ksqlDB, Flink; needs MCHUB_SCHEMA_REGISTRY_URL). The hash "
        "chain and `mchub audit verify` are the same in both (docs/schema-registry.md)",
    )
    schema_registry_url: str = Field(
        "",
        description="Confluent-compatible schema registry where the hub registers its "
        "schemas on start (e.g. http://127.0.0.1:8085/apis/ccompat/v7, what `mchub "
        "schema-registry up` starts); empty: none",
    )
    schema_registry_port: int = Field(
        8085, ge=1, le=65535,
        description="port of the local schema registry (`mchub schema-registry up`; 8081, "
        "the Confluent default, is the reference register's)",
    )

    kafka: KafkaSection = Field(default_factory=KafkaSection)
    gateway: GatewaySection = Field(default_factory=GatewaySection)
    audit: AuditSection = Field(default_factory=AuditSection)
    privacy: PrivacySection = Field(default_factory=PrivacySection)
    fanout: FanoutSection = Field(default_factory=FanoutSection)
    wallet: WalletSection = Field(default_factory=WalletSection)
    edc: EdcSection = Field(default_factory=EdcSection)
    issuing: IssuingSection = Field(default_factory=IssuingSection)

    def with_section(self, name: str, **changes: Any) -> Settings:
        """A copy whose section ``name`` has ``changes`` (validated) on top of its values."""
        section: BaseSettings = getattr(self, name)
        changed = SECTIONS[name].model_validate({**section.model_dump(), **changes})
        return self.model_copy(update={name: changed})

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

    def credentials_file(self) -> Path:
        """The local broker's credentials file (``MCHUB_KAFKA_CREDENTIALS_FILE``)."""
        return self.kafka.credentials_file or self.data_dir / "kafka" / "credentials.json"

    def as_principal(self, user: str, *, unless_set: bool = False) -> Settings:
        """A copy whose Kafka clients authenticate as ``user`` (password from the
        credentials file); ``unless_set``: keep an explicitly configured MCHUB_KAFKA_USER."""
        if unless_set and self.kafka.user is not None:
            return self
        return self.with_section("kafka", user=user, password=None)

    def kafka_security(self) -> dict[str, Any]:
        """aiokafka keyword arguments that authenticate this process (none for PLAINTEXT);
        a ConfigurationError says what to set when a password is missing."""
        section = self.kafka
        protocol = section.security_protocol
        user = section.user or HUB_PRINCIPAL
        password = section.password.get_secret_value() if section.password else None
        if protocol == "auto":
            known = local_kafka_passwords(self.credentials_file(), self.bootstrap)
            if password is None and known is not None:
                password = known.get(user)
                if password is None:
                    raise ConfigurationError(
                        f"the local broker at {self.bootstrap} has no principal {user!r} "
                        f"(see {self.credentials_file()}; `mchub sources add` creates one)")
            protocol = "SASL_PLAINTEXT" if password is not None else "PLAINTEXT"
        if protocol == "PLAINTEXT":
            return {"security_protocol": "PLAINTEXT"}
        if password is None:
            raise ConfigurationError(
                f"Kafka principal {user!r} needs a password: set MCHUB_KAFKA_PASSWORD")
        config: dict[str, Any] = {
            "security_protocol": protocol,
            "sasl_mechanism": section.sasl_mechanism,
            "sasl_plain_username": user,
            "sasl_plain_password": password,
        }
        if protocol == "SASL_SSL":
            import ssl

            cafile = None if section.ssl_cafile is None else str(section.ssl_cafile)
            config["ssl_context"] = ssl.create_default_context(cafile=cafile)
        return config

    def admin_config(self) -> dict[str, Any]:
        """aiokafka admin client keyword arguments (authenticated like the other clients)."""
        return {
            "bootstrap_servers": self.bootstrap,
            "client_id": f"{self.client_id}-admin",
            **self.kafka_security(),
        }

    def producer_config(self, *, transactional_id: str | None = None) -> dict[str, Any]:
        """aiokafka producer keyword arguments: durable and idempotent, set explicitly."""
        config: dict[str, Any] = {
            **self.kafka_security(),
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
            **self.kafka_security(),
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


def read_kafka_credentials(path: Path) -> dict[str, Any]:
    """The local broker's credentials file (``{}`` when there is none)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read the Kafka credentials file {path}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def local_kafka_passwords(path: Path, bootstrap: str) -> dict[str, str] | None:
    """The passwords of the local broker's principals when ``path`` exists and names
    ``bootstrap`` (a file of another cluster is ignored)."""
    data = read_kafka_credentials(path)
    if data.get("bootstrap") != bootstrap:
        return None
    passwords = data.get("passwords")
    return {str(k): str(v) for k, v in passwords.items()} if isinstance(passwords, dict) else {}


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with explicit overrides (CLI options) on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def environment_variables() -> list[tuple[str, str]]:
    """Every variable :class:`Settings` reads, with its field (``section.field`` in a
    section), in field order; a name appearing twice would be read by two fields."""
    found: list[tuple[str, str]] = []

    def walk(model: type[BaseSettings], path: str) -> None:
        prefix = str(model.model_config.get("env_prefix", ""))
        for name, info in model.model_fields.items():
            if model is Settings and name in SECTIONS:
                walk(SECTIONS[name], f"{name}.")
                continue
            alias = info.validation_alias or info.alias
            env = alias if isinstance(alias, str) else f"{prefix}{name}"
            found.append((env.upper(), f"{path}{name}"))

    walk(Settings, "")
    return found


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

"""Gateway settings from ``MCHUB_GATEWAY_*`` environment variables (plus ``MCHUB_ISSUERS``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    """Settings of the HTTP gateway; the hub's own settings (Kafka, topics) come separately."""

    model_config = SettingsConfigDict(env_prefix="MCHUB_GATEWAY_", extra="ignore")

    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8082, ge=0, le=65535, description="port to listen on")
    db: Path | None = Field(None, description="SQLite file of submissions and idempotency keys; "
                                              "default <MCHUB_DATA_DIR>/gateway.db")
    max_wait_seconds: float = Field(30.0, ge=0, description="cap of `Prefer: wait=N`")
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

"""How the gateway runs: uvicorn with read timeouts (slow clients are closed), TLS client
certificates as an authentication method, in a background thread (:func:`running_gateway`:
tests, benchmarks) or in the foreground (:func:`serve`: ``mchub gateway serve``), ending
with exit code 0 on SIGTERM."""

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from hub.adapters.http_server import (
    ReadTimeoutProtocol,
    exit_cleanly_on_sigterm,
    read_timeout_protocol,
    serving_in_thread,
)
from hub.authz import RegistryFile
from hub.errors import ConfigurationError
from hub.gateway.app import (
    create_app,
)
from hub.gateway.runtime import (
    Gateway,
)
from hub.settings import GatewaySection, Settings

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------- running


def _peer_subject(transport: asyncio.BaseTransport) -> str | None:
    """RFC 4514 subject of the TLS client certificate on this connection, if any."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    from cryptography import x509

    return x509.load_der_x509_certificate(der).subject.rfc4514_string()


class TLSClientCertProtocol(ReadTimeoutProtocol):
    """uvicorn's h11 protocol with read deadlines, passing the client certificate subject.

    The subject goes into ``scope["extensions"]["tls"]["client_cert_subject"]`` (the
    ASGI TLS extension's spirit); uvicorn does not expose it by itself.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Wrap the app for this connection when the peer presented a certificate."""
        super().connection_made(transport)
        subject = _peer_subject(transport)
        if subject is None:
            return
        inner = self.app

        async def with_tls(scope: Any, receive: Any, send: Any) -> None:
            scope.setdefault("extensions", {})["tls"] = {"client_cert_subject": subject}
            await inner(scope, receive, send)

        self.app = with_tls


def _config(app: FastAPI, config: GatewaySection, **kwargs: Any) -> uvicorn.Config:
    tls: dict[str, Any] = {}
    if config.tls_certfile is not None:
        import ssl

        tls = {"ssl_certfile": str(config.tls_certfile),
               "ssl_keyfile": str(config.tls_keyfile) if config.tls_keyfile else None}
        if config.tls_ca_certs is not None:
            tls["ssl_ca_certs"] = str(config.tls_ca_certs)
            tls["ssl_cert_reqs"] = (ssl.CERT_REQUIRED if config.tls_require_client_cert
                                    else ssl.CERT_OPTIONAL)
    protocol = read_timeout_protocol(header_timeout=config.header_timeout_seconds,
                                     body_timeout=config.body_timeout_seconds,
                                     base=TLSClientCertProtocol)
    return uvicorn.Config(app, http=protocol, lifespan="on", timeout_graceful_shutdown=5,
                          timeout_keep_alive=config.keep_alive_seconds,
                          h11_max_incomplete_event_size=config.max_header_bytes,
                          **tls, **kwargs)


@contextmanager
def running_gateway(settings: Settings, registry: RegistryFile | Path, *,
                    host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run the gateway (``settings.gateway``) in a background thread; yields its base URL.

    ``host``/``port`` (0: a free port) replace the section's. Kafka clients start before
    the URL is yielded and stop when the block ends.
    """
    config = settings.gateway
    registry_file = registry if isinstance(registry, RegistryFile) else RegistryFile(registry)
    gateway = Gateway(settings, registry_file)
    server = uvicorn.Server(_config(create_app(gateway), config, log_level="warning",
                                    access_log=False))
    scheme = "https" if config.tls_certfile is not None else "http"
    with serving_in_thread(server, name="mchub-gateway", host=host, port=port,
                           scheme=scheme, stop_timeout=15) as url:
        yield url


def serve(settings: Settings, registry: Path) -> None:
    """Run the gateway (``settings.gateway``) in the foreground until interrupted."""
    config = settings.gateway
    gateway = Gateway(settings, RegistryFile(registry))
    server = uvicorn.Server(_config(create_app(gateway), config, host=config.host,
                                    port=config.port, log_level="info",
                                    access_log=config.access_log))
    restore = exit_cleanly_on_sigterm()
    try:
        server.run()
    except OSError as exc:
        raise ConfigurationError(
            f"the gateway could not listen on {config.host}:{config.port}: {exc}") from exc
    finally:
        restore()
    if not server.started:
        raise ConfigurationError(
            f"the gateway did not start on {config.host}:{config.port} (see the log above)")

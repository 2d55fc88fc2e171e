"""Running an ASGI server (uvicorn) in a background thread on a pre-bound socket.

Used by every in-process server of the hub — the gateway, the reference register, the
status server and the local test destinations — in tests, the demo and the benchmarks.
The listening socket is created with ``IPPROTO_TCP`` on purpose: asyncio only sets
``TCP_NODELAY`` on accepted connections whose socket says so, and without it every
second request on a kept-alive connection waits ~40 ms for a delayed ACK (uvicorn writes
the response head and body separately).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from hub.errors import ConfigurationError


def listening_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A bound TCP socket (``port`` 0: a free one) whose connections get ``TCP_NODELAY``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def quiet_server(app: Any) -> uvicorn.Server:
    """A uvicorn server for an in-process ASGI app: warnings only, no access log, no
    lifespan events, 5 s graceful shutdown."""
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=5
    )
    return uvicorn.Server(config)


@contextmanager
def serving_in_thread(
    server: uvicorn.Server,
    *,
    name: str,
    host: str = "127.0.0.1",
    port: int = 0,
    scheme: str = "http",
    stop_timeout: float = 10.0,
) -> Iterator[str]:
    """Run ``server`` in a daemon thread named ``name``; yields ``scheme://host:port``.

    Raises :class:`~hub.errors.ConfigurationError` when the server does not start. The
    server is asked to exit (and joined for ``stop_timeout`` s) when the block ends.
    """
    sock = listening_socket(host, port)
    try:
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True
        )
        thread.start()
        while not server.started:
            if not thread.is_alive():
                raise ConfigurationError(f"the {name} server did not start (see the log)")
            thread.join(0.02)
        bound_host, bound_port = sock.getsockname()[:2]
        try:
            yield f"{scheme}://{bound_host}:{bound_port}"
        finally:
            server.should_exit = True
            thread.join(stop_timeout)
    finally:
        sock.close()

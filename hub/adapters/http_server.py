"""Running an ASGI server (uvicorn) in a background thread on a pre-bound socket.

Used by every in-process server of the hub — the gateway, the reference register, the
status server and the local test destinations — in tests, the demo and the benchmarks.
The listening socket is created with ``IPPROTO_TCP`` on purpose: asyncio only sets
``TCP_NODELAY`` on accepted connections whose socket says so, and without it every
second request on a kept-alive connection waits ~40 ms for a delayed ACK (uvicorn writes
the response head and body separately).
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

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


class ReadTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol with deadlines for reading a request (slow-client defence).

    uvicorn closes idle kept-alive connections (``timeout_keep_alive``) but has no
    deadline for a request that is still arriving: a client sending its headers byte by
    byte (slowloris) or a body at a trickle holds its connection for ever. Here the request
    head must be complete within :attr:`header_timeout` seconds of its first byte (or of
    the connection), and the body within :attr:`body_timeout` seconds of the head;
    otherwise the connection is answered ``408`` (when no response has started) and
    closed. Configure with :func:`read_timeout_protocol`.
    """

    header_timeout: float = 10.0
    body_timeout: float = 120.0

    _read_deadline: asyncio.TimerHandle | None = None
    _reading: str = ""  # "", "head" or "body": what the armed deadline is for

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the head deadline with the connection."""
        super().connection_made(transport)
        self._arm("head", self.header_timeout)

    def data_received(self, data: bytes) -> None:
        """Feed h11, then move the deadline to what is being read now."""
        super().data_received(data)
        self._track()

    def on_response_complete(self) -> None:
        """A response went out: the next request's head deadline starts with its first byte
        (until then uvicorn's keep-alive timeout applies)."""
        self._disarm()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        """No deadline outlives its connection."""
        self._disarm()
        super().connection_lost(exc)

    def _track(self) -> None:
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            if self._reading != "body":
                self._arm("body", self.body_timeout)
        elif state is h11.IDLE:
            if self._reading != "head" and not self.transport.is_closing():
                self._arm("head", self.header_timeout)  # the first bytes of a new request
        else:
            self._disarm()  # the request is read (or the connection is ending)

    def _arm(self, what: str, seconds: float) -> None:
        self._disarm()
        self._reading = what
        self._read_deadline = self.loop.call_later(seconds, self._timed_out)

    def _disarm(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
        self._read_deadline = None
        self._reading = ""

    def _timed_out(self) -> None:
        what, self._read_deadline, self._reading = self._reading, None, ""
        if self.transport.is_closing():
            return
        self.logger.info(
            "closing a connection from %s: the request %s did not arrive in time",
            f"{self.client[0]}:{self.client[1]}" if self.client else "?", what,
        )
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(REQUEST_TIMEOUT_RESPONSE)
        self.transport.close()


REQUEST_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
)


def read_timeout_protocol(
    *, header_timeout: float, body_timeout: float, base: type[H11Protocol] = ReadTimeoutProtocol
) -> type[H11Protocol]:
    """A :class:`ReadTimeoutProtocol` (subclass of ``base``) with these deadlines, for
    ``uvicorn.Config(http=...)``."""
    if not issubclass(base, ReadTimeoutProtocol):
        raise TypeError("base must be a ReadTimeoutProtocol")
    attrs = {"header_timeout": header_timeout, "body_timeout": body_timeout}
    return type(f"{base.__name__}WithDeadlines", (base,), attrs)


def openapi_text(document: dict[str, Any]) -> str:
    """An OpenAPI document as the repository commits it: 2-space JSON, UTF-8, final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def exit_cleanly_on_sigterm() -> Callable[[], None]:
    """Make SIGTERM end the process with exit code 0 after cleanup; returns the undo.

    uvicorn handles SIGTERM itself (graceful shutdown) and then raises the signal again
    against the previous handler; this handler turns that into ``SystemExit(0)``, so the
    server's ``finally`` blocks close its stores instead of the process dying mid-way.
    Outside the main thread (servers in test threads) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def _terminate(signum: int, _frame: object) -> None:
        raise SystemExit(0)

    previous = signal.signal(signal.SIGTERM, _terminate)

    def _restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return _restore

"""The in-thread ASGI runner: loopback sockets whose connections get TCP_NODELAY."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
import uvicorn

from hub.adapters.http_server import listening_socket, serving_in_thread
from hub.errors import ConfigurationError


async def _nodelay_of_accepted_connection(sock: socket.socket) -> int:
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw = writer.get_extra_info("socket")
        seen.set_result(raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(handle, sock=sock)
    async with server:
        host, port = sock.getsockname()[:2]
        _, writer = await asyncio.open_connection(host, port)
        try:
            return await asyncio.wait_for(seen, 5)
        finally:
            writer.close()


def test_accepted_connections_get_tcp_nodelay() -> None:
    # a plain socket.socket(AF_INET, SOCK_STREAM) has proto 0 and asyncio then leaves
    # Nagle on: every second keep-alive request waited ~40 ms for a delayed ACK
    assert asyncio.run(_nodelay_of_accepted_connection(listening_socket())) != 0


async def _hello(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"hello"})  # type: ignore[operator]


def test_serving_in_thread_yields_a_working_url_and_stops() -> None:
    server = uvicorn.Server(uvicorn.Config(_hello, lifespan="off", log_level="warning"))
    with serving_in_thread(server, name="test-hello") as url, httpx.Client() as client:
        assert [client.get(url).text for _ in range(3)] == ["hello"] * 3
    assert server.should_exit
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=1)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_server_that_cannot_start_is_reported() -> None:
    server = uvicorn.Server(
        uvicorn.Config("no.such.module:app", lifespan="off", log_level="critical")
    )
    with (
        pytest.raises(ConfigurationError, match="did not start"),
        serving_in_thread(server, name="test-broken"),
    ):
        pass

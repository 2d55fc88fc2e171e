"""Slow clients (issue 14 item 6): a request head sent byte by byte (slowloris) or a body
at a trickle is answered 408 and closed after the configured deadline, while a normal
request on another connection is served meanwhile; the gateway's uvicorn configuration
uses this protocol with its keep-alive and header-size settings."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
import uvicorn

from hub.adapters.http_server import ReadTimeoutProtocol, read_timeout_protocol, serving_in_thread
from hub.gateway.server import TLSClientCertProtocol, _config
from hub.settings import GatewaySection

HEADER_TIMEOUT = 0.5
BODY_TIMEOUT = 1.0
#: generous bound for "closed": the deadline plus scheduling slack on a busy 2-core CI box
BOUND = 15.0


async def echo(scope: Any, receive: Any, send: Any) -> None:
    """A tiny ASGI app: reads the whole body, answers its length."""
    if scope["type"] != "http":
        return
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(size).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _server() -> uvicorn.Server:
    protocol = read_timeout_protocol(header_timeout=HEADER_TIMEOUT, body_timeout=BODY_TIMEOUT)
    config = uvicorn.Config(echo, http=protocol, lifespan="off", log_level="warning",
                            access_log=False, timeout_keep_alive=5)
    return uvicorn.Server(config)


async def _trickle(host: str, port: int, data: bytes, closed: list[float],
                   started: float) -> bytes:
    """Send ``data`` one byte every 50 ms until the server closes; what the server said."""
    reader, writer = await asyncio.open_connection(host, port)
    answer = b""
    try:
        for byte in data:
            if reader.at_eof():
                break
            writer.write(bytes([byte]))
            try:
                await writer.drain()
            except ConnectionError:
                break
            try:
                chunk = await asyncio.wait_for(reader.read(1024), 0.05)
            except TimeoutError:
                continue
            except ConnectionError:
                break
            if not chunk:
                break
            answer += chunk
        with_rest = await asyncio.wait_for(reader.read(), BOUND)
        answer += with_rest
    except (ConnectionError, TimeoutError):
        pass
    finally:
        closed.append(time.monotonic() - started)
        writer.close()
    return answer


async def test_slowloris_headers_and_slow_bodies_are_closed_normal_requests_served() -> None:
    head = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(
        f"X-Slow-{i}: {'a' * 40}\r\n".encode() for i in range(40))
    body_head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
    with serving_in_thread(_server(), name="slow-test") as url:
        host, port = url.removeprefix("http://").split(":")
        closed: list[float] = []
        started = time.monotonic()
        heads = [asyncio.create_task(_trickle(host, int(port), head, closed, started))
                 for _ in range(40)]
        # the body connection sends its head at once, then the body byte by byte
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(body_head)
        await writer.drain()
        body = asyncio.create_task(_trickle_body(reader, writer))
        await asyncio.sleep(0.2)
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:
            normal = await client.post("/", content=b"x" * 1000)
        assert normal.status_code == 200 and normal.text == "1000"
        answers = await asyncio.wait_for(asyncio.gather(*heads), BOUND + 5)
        body_answer = await asyncio.wait_for(body, BOUND + 5)
    assert len(closed) == 40 and max(closed) < BOUND
    # each slow head was cut before it was complete, with a 408
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers[:2]
    assert body_answer.startswith(b"HTTP/1.1 408")


async def _trickle_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    answer = b""
    try:
        for _ in range(int(BOUND / 0.05)):
            writer.write(b"y")
            await writer.drain()
            try:
                chunk = await asyncio.wait_for(reader.read(1024), 0.05)
            except TimeoutError:
                continue
            if not chunk:
                break
            answer += chunk
    except ConnectionError:
        pass
    finally:
        writer.close()
    return answer


def test_a_complete_request_is_not_cut_by_the_deadlines() -> None:
    """A keep-alive client that sends whole requests, with pauses between them longer than
    the head deadline, is served every time (the deadline starts with a request's first
    byte, not with the connection)."""
    with (serving_in_thread(_server(), name="slow-test-2") as url,
          httpx.Client(base_url=url, timeout=5) as client):
        for _ in range(3):
            assert client.post("/", content=b"abc").text == "3"
            time.sleep(HEADER_TIMEOUT * 1.5)


def test_the_gateway_serves_with_the_deadlines_and_sizes() -> None:
    settings = GatewaySection(header_timeout_seconds=7, body_timeout_seconds=90,
                              keep_alive_seconds=4, max_header_bytes=8192)
    config = _config(echo, settings)  # type: ignore[arg-type]
    protocol = config.http
    assert isinstance(protocol, type)
    assert issubclass(protocol, TLSClientCertProtocol)
    assert issubclass(protocol, ReadTimeoutProtocol)
    assert protocol.header_timeout == 7 and protocol.body_timeout == 90
    assert config.timeout_keep_alive == 4
    assert config.h11_max_incomplete_event_size == 8192


def test_deadline_protocols_need_the_deadline_base() -> None:
    with pytest.raises(TypeError):
        read_timeout_protocol(header_timeout=1, body_timeout=1,
                              base=uvicorn.protocols.http.h11_impl.H11Protocol)



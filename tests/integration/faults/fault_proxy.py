"""A small real HTTP fault proxy for the destination scenarios (issue 14, item 5).

:class:`FaultProxy` listens on 127.0.0.1 (aiohttp, in the test's event loop) and forwards
every request to an upstream (the reference register). Its ``mode`` says what it does
instead while a fault is on:

=========== ===========================================================================
``pass``    forward (no fault)
``500``     answer 500 to everything (health checks too)
``404``     answer a bare 404 (text/plain) to everything (a proxy that lost its route)
``hang``    accept the request and never answer (the client's timeout fires)
``close``   close the connection without an answer
``slow``    forward after ``slow_s`` seconds
``down``    stop listening (connection refused); listening again when the fault ends
``partial`` answer 500 to requests touching a "bad" credential (``bad(credential id)``),
            forward the rest and the health checks (the destination is healthy; a few
            keys are not)
=========== ===========================================================================
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from typing import Any

import httpx
from aiohttp import web

MODES = ("pass", "500", "404", "hang", "close", "slow", "down", "partial")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FaultProxy:
    """Forward to ``upstream`` unless a fault is on (see the module docstring)."""

    def __init__(
        self,
        upstream: str,
        *,
        slow_s: float = 0.3,
        bad: Callable[[str], bool] = lambda credential_id: False,
    ) -> None:
        self.upstream = upstream
        self.port = _free_port()
        self.mode = "pass"
        self.slow_s = slow_s
        self.bad = bad
        self.faulted = 0  # requests answered with a fault
        self.forwarded = 0
        self._runner: web.AppRunner | None = None
        self._client = httpx.AsyncClient(base_url=upstream, timeout=30.0)

    @property
    def url(self) -> str:
        """The proxy's base URL."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen (again) on the proxy's port."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        """Stop listening and drop open connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def aclose(self) -> None:
        """Stop and close the upstream client."""
        await self.stop()
        await self._client.aclose()

    async def fault(self, mode: str) -> None:
        """Turn a fault on (``pass``: off); ``down`` stops the listener, leaving it starts it."""
        assert mode in MODES, mode
        if self.mode == "down" and mode != "down":
            self.mode = mode
            await self.start()
            return
        self.mode = mode
        if mode == "down":
            await self.stop()

    def _touches_bad(self, request_path: str, body: bytes) -> bool:
        if request_path.startswith("/credentials/"):
            return self.bad(request_path.rsplit("/", 1)[-1])
        if request_path == "/changes":
            try:
                changes = json.loads(body)["changes"]
            except (ValueError, KeyError, TypeError):
                return False
            return any(self.bad(str(c.get("credentialId"))) for c in changes)
        return False

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        mode = self.mode
        if mode == "500":
            self.faulted += 1
            return web.json_response({"title": "fault 500"}, status=500)
        if mode == "404":  # what an ingress answers for a route it does not have (yet)
            self.faulted += 1
            return web.Response(status=404, text="404 page not found")
        if mode == "hang":
            self.faulted += 1
            await asyncio.sleep(3600)  # cancelled when the client gives up
        if mode == "close":
            self.faulted += 1
            if request.transport is not None:
                request.transport.abort()
            raise ConnectionResetError("fault proxy closed the connection")
        if mode == "partial" and self._touches_bad(request.path, body):
            self.faulted += 1
            return web.json_response({"title": "fault partial"}, status=500)
        if mode == "slow":
            await asyncio.sleep(self.slow_s)
        return await self._forward(request, body)

    async def _forward(self, request: web.Request, body: bytes) -> web.Response:
        headers = {
            k: v for k, v in request.headers.items()
            if k.lower() not in ("host", "content-length", "transfer-encoding", "connection")
        }
        answer = await self._client.request(
            request.method, request.path_qs, content=body, headers=headers
        )
        self.forwarded += 1
        kept: dict[str, Any] = {
            k: v for k, v in answer.headers.items()
            if k.lower() not in ("content-length", "transfer-encoding", "connection",
                                 "content-encoding", "date", "server")
        }
        return web.Response(status=answer.status_code, body=answer.content, headers=kept)

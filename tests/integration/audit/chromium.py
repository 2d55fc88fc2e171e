"""Headless Chromium driven over the DevTools protocol: open a page, collect console
errors and uncaught exceptions, evaluate expressions, take a screenshot.

The browser comes from Debian (``deploy/local/install-chromium.sh``, run by the test's
fixture); if it cannot be installed the test fails with the script's message.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.support import REPO_ROOT

INSTALL = REPO_ROOT / "deploy" / "local" / "install-chromium.sh"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
    "--window-size=1280,1600",
)


def ensure_chromium() -> str:
    """The browser's path, installing it with the project's script when missing.

    Raises ``RuntimeError`` with the script's output when that is impossible.
    """
    done = subprocess.run(
        ["bash", str(INSTALL)], capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"Chromium is required and could not be installed ({INSTALL}): "
            f"{done.stderr.strip() or done.stdout.strip()}"
        )
    return done.stdout.strip().splitlines()[-1]


@dataclass
class PageResult:
    """What the browser saw."""

    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    screenshot: bytes = b""


async def render(browser: str, page: Path, expressions: dict[str, str]) -> PageResult:
    """Load ``page`` (a file) in headless Chromium; evaluate ``expressions``; screenshot."""
    # chromium's helper processes may still write to the profile after it exits
    with tempfile.TemporaryDirectory(
        prefix="mchub-chromium-", ignore_cleanup_errors=True
    ) as profile:
        proc = await asyncio.create_subprocess_exec(
            browser,
            *FLAGS,
            f"--user-data-dir={profile}",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            port = await _devtools_port(Path(profile) / "DevToolsActivePort", proc)
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/json/list") as response:
                    targets = await response.json()
                url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
                async with http.ws_connect(url, max_msg_size=64 * 1024 * 1024) as ws:
                    return await _drive(ws, page, expressions)
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


async def _devtools_port(path: Path, proc: asyncio.subprocess.Process) -> int:
    for _ in range(300):
        if path.exists():
            text = path.read_text().strip()
            if text:
                return int(text.splitlines()[0])
        if proc.returncode is not None:
            raise RuntimeError(f"chromium exited with {proc.returncode} before DevTools was up")
        await asyncio.sleep(0.1)
    raise RuntimeError("chromium did not open its DevTools port within 30 s")


async def _drive(
    ws: aiohttp.ClientWebSocketResponse, page: Path, expressions: dict[str, str]
) -> PageResult:
    result = PageResult()
    ids = itertools.count(1)
    waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
    loaded = asyncio.Event()

    async def listen() -> None:
        async for message in ws:
            data = message.json()
            if "id" in data and data["id"] in waiting:
                waiting.pop(data["id"]).set_result(data)
                continue
            method = data.get("method")
            params = data.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                result.console_errors.append(
                    " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
                )
            elif method == "Runtime.exceptionThrown":
                result.exceptions.append(str(params["exceptionDetails"].get("text")))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                result.console_errors.append(str(params["entry"].get("text")))
            elif method == "Page.loadEventFired":
                loaded.set()

    async def call(method: str, **params: Any) -> dict[str, Any]:
        n = next(ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        waiting[n] = future
        await ws.send_json({"id": n, "method": method, "params": params})
        answer = await asyncio.wait_for(future, 30)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return dict(answer.get("result", {}))

    listener = asyncio.create_task(listen())
    try:
        for domain in ("Runtime", "Log", "Page"):
            await call(f"{domain}.enable")
        await call("Page.navigate", url=page.resolve().as_uri())
        await asyncio.wait_for(loaded.wait(), 30)
        await asyncio.sleep(0.3)  # late console messages
        for name, expression in expressions.items():
            answer = await call("Runtime.evaluate", expression=expression, returnByValue=True)
            result.values[name] = answer["result"].get("value")
        shot = await call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        result.screenshot = base64.b64decode(shot["data"])
    finally:
        listener.cancel()
    return result

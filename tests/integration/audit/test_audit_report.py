"""The period report (JSON + HTML rendered in headless Chromium) and the redrive."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from connectors.delivery.http_sink import HttpRequest
from connectors.fanout.base import CanonicalItem
from hub.audit.history import ledger_records
from hub.audit.redrive import redrive
from hub.settings import Settings
from tests.integration.audit.chromium import ensure_chromium, render
from tests.integration.audit.conftest import SAMPLE_EVENTS, mchub


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium, installed by the project's script when missing (never skipped)."""
    try:
        return ensure_chromium()
    except RuntimeError as exc:
        pytest.fail(str(exc))


async def test_period_report_json_and_html_render_in_chromium(
    audited: Settings, tmp_path: Path, chromium: str
) -> None:
    settings = audited
    start = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    end = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    out = tmp_path / "report"
    done = mchub(settings, "audit", "report", "--from", start, "--to", end, "--out", str(out))
    assert done.returncode == 0, done.stderr
    doc = json.loads((out / "report.json").read_text())
    totals = doc["totals"]
    assert (totals["issued"], totals["revoked"], totals["enrolment"]) == (10, 3, 12)
    assert sum(totals.values()) == SAMPLE_EVENTS
    assert {r["sourceSystem"] for r in doc["bySourceAndAwardingBody"]} == {"FIR", "KRETA", "FAR"}
    assert len(doc["revocations"]) == 3 and all(r["reason"] for r in doc["revocations"])
    assert doc["daily"] and doc["anomalies"]["holdsNeverMatched"] == []

    only_he = mchub(settings, "audit", "report", "--from", start, "--to", end, "--source", "he")
    assert only_he.returncode == 0, only_he.stderr
    assert {r["sourceSystem"] for r in json.loads(only_he.stdout)["bySourceAndAwardingBody"]} == {
        "FIR"
    }

    page = await render(
        chromium,
        out / "report.html",
        {
            "tables": "document.querySelectorAll('table').length",
            "bars": "document.querySelectorAll('#daily-chart rect.bar').length",
            "title": "document.title",
            "width": "document.documentElement.scrollWidth",
        },
    )
    assert page.console_errors == [] and page.exceptions == []
    assert page.values["tables"] >= 3 and page.values["bars"] >= 1
    assert page.values["title"].startswith("mchub audit report")
    assert page.screenshot.startswith(b"\x89PNG") and len(page.screenshot) > 10_000
    (tmp_path / "report.png").write_bytes(page.screenshot)


class PostAll:
    """A destination that takes every event: ``POST /events/{eventId}``."""

    name = "register"

    def wants(self, item: CanonicalItem) -> bool:
        return True

    def build_request(self, item: CanonicalItem) -> HttpRequest:
        return HttpRequest("POST", f"/events/{item.event_id}", json=item.event)


@pytest.fixture
async def destination() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A real local HTTP destination recording every request."""
    seen: list[dict[str, Any]] = []

    async def accept(request: web.Request) -> web.Response:
        seen.append(
            {
                "path": request.path,
                "key": request.headers.get("Idempotency-Key"),
                "body": await request.json(),
            }
        )
        return web.json_response({"id": request.match_info["event"]}, status=201)

    app = web.Application()
    app.router.add_post("/events/{event}", accept)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_redrive_delivers_again_idempotently_and_records_it_in_the_ledger(
    audited: Settings, destination: tuple[str, list[dict[str, Any]]]
) -> None:
    settings = audited
    url, seen = destination
    since = datetime.now(UTC) - timedelta(hours=1)
    summary = await redrive(settings, "register", since, base_url=url, target=PostAll())
    assert summary["events"] == SAMPLE_EVENTS and summary["delivered"] == SAMPLE_EVENTS
    assert len(seen) == SAMPLE_EVENTS
    assert all(s["key"] == s["path"].rsplit("/", 1)[1] for s in seen)

    # one credential again: the same idempotency keys, in log order
    credential = seen[0]["body"]["envelope"].get("credentialId") or next(
        s["body"]["envelope"]["credentialId"] for s in seen if s["body"]["envelope"]["credentialId"]
    )
    again = await redrive(
        settings, "register", since, base_url=url, target=PostAll(), credential=credential
    )
    assert again["events"] >= 1 and again["credentialId"] == credential
    repeated = seen[SAMPLE_EVENTS:]
    first_keys = {s["key"] for s in seen[:SAMPLE_EVENTS]}
    assert repeated and {s["key"] for s in repeated} <= first_keys

    await asyncio.sleep(0.2)
    ledger = [r for r in await ledger_records(settings) if r.destination == "register"]
    notes = {r.reason for r in ledger}
    assert f"redrive {summary['redriveId']}" in notes and f"redrive {again['redriveId']}" in notes
    assert sum(r.state == "delivered" for r in ledger) == len(seen)

"""``mchub deliveries`` against the real broker: latest state per (event, destination)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from connectors.delivery.ledger import LedgerRecord
from hub.adapters.kafka import make_producer
from hub.cli.main import main
from hub.settings import Settings
from hub.topics import DELIVERY_RECEIPTS

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def record(event: str, dest: str, state: str, credential: str = "cred-1", **kw: object) -> bytes:
    fields: dict[str, object] = {
        "event_id": event,
        "destination": dest,
        "credential_id": credential,
        "state": state,
        "attempts": 1,
        "first_attempt_at": T0,
        "last_attempt_at": T0 + timedelta(seconds=1),
        "recorded_at": T0 + timedelta(seconds=1),
        **kw,
    }
    return LedgerRecord.model_validate(fields).to_json()


async def run_cli(args: list[str]) -> int:
    """Run the CLI in a thread (it owns its own event loop); return its exit code."""
    try:
        await asyncio.to_thread(main, args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


async def test_deliveries_shows_the_latest_state_per_destination(
    applied_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = applied_settings
    topic = settings.topic(DELIVERY_RECEIPTS)
    producer = make_producer(settings)
    await producer.start()
    try:
        for key, value in [
            ("ev-1/register", record("ev-1", "register", "pending", status=503, reason="down")),
            (
                "ev-1/register",
                record("ev-1", "register", "delivered", status=201, response_id="r9", attempts=3),
            ),
            (
                "ev-1/wallet",
                record(
                    "ev-1",
                    "wallet",
                    "failed",
                    status=400,
                    reason="wallet answered 400",
                    body_digest="sha256:ab",
                ),
            ),
            ("ev-2/edc", record("ev-2", "edc", "pending", status=503, reason="edc answered 503")),
            ("ev-9/edc", record("ev-9", "edc", "delivered", credential="cred-other")),
        ]:
            await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()
    monkeypatch.setenv("MCHUB_BOOTSTRAP", settings.bootstrap)
    monkeypatch.setenv("MCHUB_TOPIC_PREFIX", settings.topic_prefix)

    assert await run_cli(["deliveries", "--credential", "cred-1", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    latest = {(r["eventId"], r["destination"]): r for r in shown}
    assert set(latest) == {("ev-1", "register"), ("ev-1", "wallet"), ("ev-2", "edc")}
    assert latest[("ev-1", "register")]["state"] == "delivered"
    assert latest[("ev-1", "register")]["responseId"] == "r9"
    assert latest[("ev-1", "register")]["attempts"] == 3
    assert latest[("ev-1", "wallet")]["bodyDigest"] == "sha256:ab"
    assert latest[("ev-2", "edc")]["state"] == "pending"

    assert await run_cli(["deliveries", "--credential", "cred-1"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == [
        "EVENT",
        "DESTINATION",
        "STATE",
        "STATUS",
        "ATTEMPTS",
        "AT",
        "DETAIL",
    ]
    assert any("delivered" in line and "response r9" in line for line in table)
    assert any("failed" in line and "sha256:ab" in line for line in table)

    assert await run_cli(["deliveries", "--credential", "nobody"]) == 0
    assert "no deliveries recorded" in capsys.readouterr().out


async def test_deliveries_without_the_ledger_topic_is_a_clear_error(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MCHUB_BOOTSTRAP", settings.bootstrap)
    monkeypatch.setenv("MCHUB_TOPIC_PREFIX", settings.topic_prefix)  # topics not applied
    assert await run_cli(["deliveries", "--credential", "cred-1"]) == 1
    err = capsys.readouterr().err
    assert "mchub: error:" in err and "mchub topics apply" in err

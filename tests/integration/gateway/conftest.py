"""Fixtures for the gateway: an issuer registry with fresh API keys, the stream, the gateway.

The gateway runs for real on a loopback port (uvicorn in a thread, its own event loop)
against the session's real broker; the core stream runs in-process with the same
registry (``MCHUB_ISSUERS``), exactly as ``mchub run`` would.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hub.authz import REGISTRY_ENV, example_registry_path
from hub.gateway.auth import generate_key
from hub.gateway.server import running_gateway
from hub.settings import Settings
from tests.support_kafka import core_stream

EXAMPLE = example_registry_path()


@dataclass
class Registry:
    """A registry file and the plain API keys of its sources (by source id)."""

    path: Path
    keys: dict[str, str]

    def auth(self, source: str) -> dict[str, str]:
        """The Authorization header of a source."""
        return {"Authorization": f"Bearer {self.keys[source]}"}


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    """The example registry with one fresh key per source, plus a tightly limited source."""
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    doc["sources"].append({
        "id": "slow-sender", "name": "A source with a tiny rate limit",
        "entitlements": [{"sector": "he", "awardingBodies": ["FI31457"]}],
        "rateLimit": {"requestsPerSecond": 0.2, "burst": 2},
    })
    keys: dict[str, str] = {}
    for source in doc["sources"]:
        presented, hashed = generate_key(f"{source['id']}-test")
        source["apiKeys"] = [{"id": f"{source['id']}-test", "hash": hashed}]
        keys[source["id"]] = presented
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return Registry(path, keys)


@pytest.fixture
async def stream(
    applied_settings: Settings, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Settings]:
    """The core stream (ingest + decide) enforcing the test's issuer registry; the own
    topic of source fi31457-own exists before ingest subscribes."""
    from hub.topics import apply_topics, source_topic_spec

    monkeypatch.setenv(REGISTRY_ENV, str(registry.path))
    await apply_topics(applied_settings, [source_topic_spec("he", "fi31457-own")])
    async with core_stream(applied_settings) as running:
        yield running


@pytest.fixture
def gateway(applied_settings: Settings, registry: Registry, tmp_path: Path) -> Iterator[str]:
    """The gateway on a free loopback port; yields its base URL."""
    settings = applied_settings.with_section(
        "gateway", db=tmp_path / "gateway.db", max_wait_seconds=30)
    with running_gateway(settings, registry.path) as url:
        yield url

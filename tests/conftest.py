"""Test harness: tiers by directory, a real local Kafka broker for the integration tiers.

- ``tests/unit``        marked ``unit``: pure, no broker, no network (fast tier).
- ``tests/integration`` marked ``integration``: real Apache Kafka, real local HTTP servers.
  Tests that take long are additionally marked ``slow``.

The session broker is started from Maven Central jars by :mod:`hub.localkafka` on a free
loopback port in a temporary directory, unless ``MCHUB_BOOTSTRAP`` points at a running
cluster; the harness stops only what it started. Each test gets its own topic prefix
and consumer-group prefix, so tests never see each other's records.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.settings import Settings
from tests.support import free_port_block

REPO_ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by tier from their directory."""
    for item in items:
        parts = Path(str(item.fspath)).relative_to(REPO_ROOT).parts
        if "unit" in parts and not item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.unit)
        elif "integration" in parts:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a real broker: ``MCHUB_BOOTSTRAP`` or one started for the session."""
    external = os.environ.get("MCHUB_BOOTSTRAP")
    if external:
        yield external
        return
    from hub.errors import BrokerUnavailable, ConfigurationError
    from hub.localkafka import LocalKafka

    cluster = LocalKafka(tmp_path_factory.mktemp("kafka"))
    for attempt in range(3):  # a port found free may be taken before the broker binds it
        try:
            spec, _ = cluster.up(brokers=1, port=free_port_block(2))
            break
        except (BrokerUnavailable, ConfigurationError):  # lost the race for the port
            cluster.down()
            if attempt == 2:
                raise
    try:
        yield spec.bootstrap
    finally:
        cluster.down()


@pytest.fixture
def settings(kafka_bootstrap: str) -> Settings:
    """Settings isolated to this test: own topic prefix and consumer-group prefix."""
    tag = uuid.uuid4().hex[:10]
    return Settings(
        bootstrap=kafka_bootstrap,
        topic_prefix=f"t{tag}.",
        consumer_group=f"test-{tag}",
        client_id=f"test-{tag}",
        partitions=3,
    )


@pytest.fixture
async def applied_settings(settings: Settings) -> Settings:
    """Like ``settings``, with every declared topic created under the test's prefix."""
    from hub.topics import apply_topics

    await apply_topics(settings)
    return settings

"""A register connector that is SIGKILLed between the register's 2xx and its commit.

Run as ``python -m tests.integration.fanout.kill_worker <register url> <marker file>``
with the test's ``MCHUB_*`` settings in the environment. After the first flush it writes
the marker file and waits for the kill, so nothing of the batch is committed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from connectors.delivery.sink import DeliveryResult
from connectors.fanout.register import register_connector
from hub.settings import load_settings


async def main(url: str, marker: Path) -> None:
    """Deliver one batch, then hang before the commit until killed."""

    async def hang(results: list[DeliveryResult]) -> None:
        marker.write_text("\n".join(f"{r.item.event_id} {r.state}" for r in results))
        await asyncio.sleep(3600)

    settings = load_settings()
    async with register_connector(
        settings, url, runner_options={"before_commit": hang, "poll_timeout_ms": 50}
    ) as runner:
        await runner.run(asyncio.Event())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))

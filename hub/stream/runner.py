"""Running the hub's stages in one process: ``mchub run`` and the demo use this.

Each stage is a :class:`hub.stream.kernel.Stage` (or any :class:`Worker`, e.g. a fan-out
connector from :func:`connectors.fanout.workers.fanout_workers`); they run as asyncio
tasks until a stop event is set (SIGINT/SIGTERM). A stage recovers from failed
transactions and broker outages by itself (:mod:`hub.stream.kernel`); only a permanent
error (configuration, a destination refusing our credentials) ends a stage, and then the
others are stopped too and the error propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Sequence
from typing import Protocol

from hub.settings import Settings
from hub.stream.kernel import Stage


class Worker(Protocol):
    """What :func:`run_stages` runs: a named loop with a readiness event."""

    @property
    def name(self) -> str:
        """Name for logs and task names."""
        ...

    @property
    def ready(self) -> asyncio.Event:
        """Set once the worker has its partitions assigned."""
        ...

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set; raise when it cannot go on."""


def core_stages(settings: Settings) -> list[Stage]:
    """The core stream: ingest (source topics -> requests) and decide (-> canonical log)."""
    from hub.stream.decide import decide_stage
    from hub.stream.ingest import ingest_stage

    return [ingest_stage(settings), decide_stage(settings)]


async def run_stages(stages: Sequence[Worker], stop: asyncio.Event) -> None:
    """Run stages until ``stop`` is set or one fails (then stop the rest and re-raise)."""
    tasks = [asyncio.create_task(stage.run(stop), name=stage.name) for stage in stages]
    stopper = asyncio.create_task(stop.wait(), name="stop")
    try:
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and task.exception() is not None:
                stop.set()
                raise task.exception()  # type: ignore[misc]
        stop.set()
        await asyncio.gather(*tasks)
    finally:
        stop.set()
        stopper.cancel()
        for task in tasks:
            if not task.done():
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(task, 30)


def install_signal_handlers(stop: asyncio.Event) -> None:
    """Set ``stop`` on SIGINT and SIGTERM so stages finish their transaction and exit."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

"""``mchub run``: start the hub's workers until SIGINT/SIGTERM.

The core stream (ingest + decide), the register-state projection, and a delivery
connector for each destination whose URL is set (``MCHUB_REGISTER_URL``,
``MCHUB_WALLET_URL``, ``MCHUB_EDC_URL``; see :mod:`connectors.fanout.settings`).
"""

from __future__ import annotations

import asyncio
import logging
import sys

from hub.settings import load_settings
from hub.stream.runner import core_stages, fanout_workers, install_signal_handlers, run_stages
from hub.topics import apply_topics


def run() -> None:
    """Run the core stream and the configured fan-out against MCHUB_BOOTSTRAP until stopped."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = load_settings()

    async def main() -> None:
        await apply_topics(settings)
        stop = asyncio.Event()
        install_signal_handlers(stop)
        async with fanout_workers(settings) as fanout:
            workers = [*core_stages(settings), *fanout]
            print(
                f"mchub: running {', '.join(w.name for w in workers)} against "
                f"{settings.bootstrap} (Ctrl-C to stop)",
                file=sys.stderr,
                flush=True,
            )
            await run_stages(workers, stop)

    asyncio.run(main())

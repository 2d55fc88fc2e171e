"""``mchub run``: start the hub's workers until SIGINT/SIGTERM.

The core stream (ingest + decide), the register-state projection, and a delivery
connector for each destination whose URL is set (``MCHUB_REGISTER_URL``,
``MCHUB_WALLET_URL``, ``MCHUB_EDC_URL``: the ``fanout`` section of the settings).
A broker outage does not end it: the stages abort, back off and retry until Kafka works
again, logging one WARNING when the trouble starts and one INFO when it is over
(:mod:`hub.stream.outage`). With ``MCHUB_METRICS_PORT`` set, ``/metrics``, ``/healthz``
and ``/readyz`` of those stages are served on that port (:mod:`hub.stream.metrics`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Annotated

import typer
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
)

from connectors.fanout.workers import fanout_workers
from hub.adapters.http_server import quiet_server, serving_in_thread
from hub.errors import BrokerUnavailable, ConfigurationError
from hub.settings import Settings, load_settings
from hub.stream import outage
from hub.stream.kernel import Stage
from hub.stream.metrics import metrics_app
from hub.stream.runner import core_stages, install_signal_handlers, run_stages
from hub.stream.schema_registry import prepare_wire_format
from hub.topics import apply_topics

log = logging.getLogger("hub.cli.run")


def run(
    stages: Annotated[
        str | None,
        typer.Option(
            help="comma-separated stages to run (e.g. ingest,decide); default: every stage "
            "and every configured connector",
        ),
    ] = None,
) -> None:
    """Run the core stream and the configured fan-out against MCHUB_BOOTSTRAP until stopped.

    Start it as many times as you like, on one machine or several, with the same settings:
    the instances split each stage's partitions and take over from one that stops.
    """
    chosen = {s.strip() for s in stages.split(",") if s.strip()} if stages else None
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # a broker outage: one WARNING and one INFO, not the client's error per attempt
    outage.install()
    settings = load_settings()

    async def main() -> None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        if not await apply_topics_when_reachable(settings, stop):
            return  # stopped while waiting for Kafka
        await prepare_wire_format(settings)
        async with fanout_workers(settings) as fanout:
            workers = [*core_stages(settings), *fanout]
            if chosen is not None:
                unknown = chosen - {w.name for w in workers}
                if unknown:
                    raise ConfigurationError(
                        f"unknown stage(s) {', '.join(sorted(unknown))}; this configuration "
                        f"runs {', '.join(w.name for w in workers)}"
                    )
                workers = [w for w in workers if w.name in chosen]
            print(
                f"mchub: running {', '.join(w.name for w in workers)} against "
                f"{settings.bootstrap} (Ctrl-C to stop)",
                file=sys.stderr,
                flush=True,
            )
            with metrics_server(settings, [w for w in workers if isinstance(w, Stage)]):
                await run_stages(workers, stop)

    asyncio.run(main())


#: errors of an unreachable or restarting cluster: worth waiting for, not a reason to exit
UNREACHABLE = (
    KafkaConnectionError,
    NodeNotReadyError,
    KafkaTimeoutError,
    RequestTimedOutError,
    BrokerUnavailable,
)


async def apply_topics_when_reachable(
    settings: Settings, stop: asyncio.Event, *, backoff_s: tuple[float, float] = (0.5, 30.0)
) -> bool:
    """Declare the topics, waiting (capped exponential backoff with jitter) while Kafka is
    unreachable, so that an instance (re)started during an outage waits instead of exiting;
    one WARNING when it has to wait (:mod:`hub.stream.outage`). False: stopped meanwhile."""
    delay = backoff_s[0]
    while not stop.is_set():
        try:
            await apply_topics(settings)
            outage.OUTAGES.healthy()
            return True
        except UNREACHABLE as exc:
            if outage.OUTAGES.trouble():
                log.warning(
                    "Kafka at %s is not reachable (%s); waiting for it with backoff",
                    settings.bootstrap,
                    type(exc).__name__,
                )
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, backoff_s[1])
    return False


@contextmanager
def metrics_server(settings: Settings, stages: Sequence[Stage]) -> Iterator[str | None]:
    """Serve the stages' metrics on ``MCHUB_METRICS_PORT`` (a thread) while the block runs;
    yields the server's URL, or ``None`` when the port is 0 (no server)."""
    if not settings.metrics_port:
        yield None
        return
    with serving_in_thread(
        quiet_server(metrics_app(stages)),
        name="metrics",
        host=settings.metrics_host,
        port=settings.metrics_port,
    ) as url:
        print(f"mchub: metrics at {url}/metrics (and /healthz, /readyz)", file=sys.stderr)
        yield url

"""Prometheus metrics and health endpoints of the stages running in this process.

:func:`render` turns stages into the Prometheus text exposition format (version 0.0.4);
:func:`metrics_app` serves it as ``GET /metrics`` next to ``GET /healthz`` (200 while
the process runs) and ``GET /readyz`` (200 once every stage has joined its group, else
503 naming the stages that have not). ``mchub run`` serves the app when
``MCHUB_METRICS_PORT`` is set.

**Threads.** The server runs in its own thread (:func:`hub.adapters.http_server.serving_in_thread`)
while the stages run on the event loop of the main thread. A scrape therefore only reads
plain attributes — counters, the task dict, the consumer's last fetched offsets, an
``asyncio.Event``'s flag — and never calls into asyncio. A value read while a rebalance
changes it may be one cycle old; a stage whose lag cannot be read at that moment simply
has no lag samples in that scrape.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from aiokafka import TopicPartition
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.stream.kernel import StageStats

log = logging.getLogger(__name__)

#: the Content-Type of the text exposition format
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricsStage(Protocol):
    """What a scrape reads of a stage (:class:`hub.stream.kernel.Stage` has all of it)."""

    @property
    def name(self) -> str:
        """The stage's name (the ``stage`` label)."""
        ...

    @property
    def stats(self) -> StageStats:
        """The stage's counters."""
        ...

    @property
    def tasks(self) -> Mapping[TopicPartition, object]:
        """The input partitions the stage owns."""
        ...

    @property
    def ready(self) -> asyncio.Event:
        """Set once the stage joined its group."""
        ...

    @property
    def handler(self) -> object:
        """The stage's handler (a ``state_size()`` method is reported when it has one)."""
        ...

    def lag(self) -> dict[TopicPartition, int]:
        """Per owned partition, committed records not processed yet."""
        ...


Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Family:
    """One metric family: its samples under one HELP and TYPE line."""

    name: str
    kind: str  # "counter" or "gauge"
    help: str
    read: Callable[[MetricsStage, float], Iterable[tuple[Labels, float]]]


def _per_stage(value: Callable[[MetricsStage, float], float | None]) -> Callable[
    [MetricsStage, float], Iterable[tuple[Labels, float]]
]:
    def read(stage: MetricsStage, now: float) -> Iterable[tuple[Labels, float]]:
        found = value(stage, now)
        return [] if found is None else [((("stage", stage.name),), found)]

    return read


def _lag(stage: MetricsStage, now: float) -> Iterable[tuple[Labels, float]]:
    try:
        lag = stage.lag()
    except Exception:  # read across threads mid-rebalance: skip this scrape
        log.debug("%s: lag not readable in this scrape", stage.name, exc_info=True)
        return []
    return [
        (
            (("stage", stage.name), ("topic", tp.topic), ("partition", str(tp.partition))),
            float(records),
        )
        for tp, records in sorted(lag.items(), key=lambda item: (item[0].topic, item[0].partition))
    ]


def _state_size(stage: MetricsStage, now: float) -> float | None:
    return _handler_gauge(stage, "state_size")


def _state_bytes(stage: MetricsStage, now: float) -> float | None:
    return _handler_gauge(stage, "state_bytes")


def _handler_gauge(stage: MetricsStage, method: str) -> float | None:
    size = getattr(stage.handler, method, None)
    if not callable(size):
        return None
    try:
        value = size()
    except Exception:  # a handler's state read across threads: skip it
        log.debug("%s: state size not readable in this scrape", stage.name, exc_info=True)
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return float(value)


#: counters of :class:`StageStats` exported as ``mchub_stage_<attr>_total``
_COUNTERS: Final = (
    ("records_in", "Input records of committed batches."),
    ("records_out", "Output records written in committed transactions."),
    ("transactions", "Kafka transactions committed (one per task and cycle with work)."),
    ("rebalances", "Partition assignments the stage received."),
    ("restarts", "Times the stage restarted after a failed cycle (fenced, broker gone)."),
)


def _stats_counter(attr: str) -> Callable[[MetricsStage, float], Iterable[tuple[Labels, float]]]:
    return _per_stage(lambda stage, _: float(getattr(stage.stats, attr)))


FAMILIES: tuple[Family, ...] = (
    *(
        Family(f"mchub_stage_{attr}_total", "counter", text, _stats_counter(attr))
        for attr, text in _COUNTERS
    ),
    Family(
        "mchub_stage_assigned_partitions",
        "gauge",
        "Input partitions (tasks) the stage owns now.",
        _per_stage(lambda s, _: len(s.tasks)),
    ),
    Family(
        "mchub_stage_lag_records",
        "gauge",
        "Committed input records not processed yet per owned partition (last stable "
        "offset minus committed position, as of the last fetch).",
        _lag,
    ),
    Family(
        "mchub_stage_restore_seconds",
        "gauge",
        "Seconds the last assignment took to fence old owners and restore state.",
        _per_stage(lambda s, _: s.stats.restore_seconds),
    ),
    Family(
        "mchub_stage_seconds_since_commit",
        "gauge",
        "Seconds since the stage last committed a transaction (or started; an idle "
        "stage commits nothing).",
        _per_stage(lambda s, now: max(0.0, now - s.stats.last_commit_monotonic)),
    ),
    Family(
        "mchub_stage_state_entries",
        "gauge",
        "Entries in the stage's local state (stages whose handler keeps state).",
        _per_stage(_state_size),
    ),
    Family(
        "mchub_stage_state_bytes",
        "gauge",
        "Bytes of the stage's local state files (stages with a durable local store).",
        _per_stage(_state_bytes),
    ),
)


def escape_label(value: str) -> str:
    """A label value escaped for the text format: backslash, double quote, newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    """HELP text escaped for the text format: backslash and newline."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value: integers without a fraction, ``+Inf``/``-Inf``/``NaN`` spelled out."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def render(stages: Sequence[MetricsStage], *, now: float | None = None) -> str:
    """The stages' metrics in the Prometheus text format 0.0.4 (families without samples
    are left out). ``now``: the ``time.monotonic()`` to measure ages from."""
    moment = time.monotonic() if now is None else now
    lines: list[str] = []
    for family in FAMILIES:
        samples = [sample for stage in stages for sample in family.read(stage, moment)]
        if not samples:
            continue
        lines.append(f"# HELP {family.name} {escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for labels, value in samples:
            text = ",".join(f'{key}="{escape_label(val)}"' for key, val in labels)
            lines.append(f"{family.name}{{{text}}} {format_value(value)}")
    return "\n".join(lines) + "\n" if lines else ""


def not_ready(stages: Sequence[MetricsStage]) -> list[str]:
    """Names of the stages that have not joined their group yet."""
    return [stage.name for stage in stages if not stage.ready.is_set()]


def metrics_app(stages: Sequence[MetricsStage]) -> Starlette:
    """The ASGI app: ``/metrics``, ``/healthz`` and ``/readyz`` over ``stages``."""
    watched = list(stages)

    async def metrics(request: Request) -> Response:
        return Response(render(watched), media_type=CONTENT_TYPE)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        waiting = not_ready(watched)
        return JSONResponse(
            {
                "status": "not ready" if waiting else "ready",
                "stages": [stage.name for stage in watched],
                "not_ready": waiting,
            },
            status_code=503 if waiting else 200,
        )

    return Starlette(
        routes=[
            Route("/metrics", metrics, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ]
    )


__all__ = [
    "CONTENT_TYPE",
    "MetricsStage",
    "escape_help",
    "escape_label",
    "format_value",
    "metrics_app",
    "not_ready",
    "render",
]

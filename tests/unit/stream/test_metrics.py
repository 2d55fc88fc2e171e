"""The metrics of stages in the Prometheus text format, read back by prometheus_client's
own parser, and the /metrics, /healthz and /readyz app (in-process ASGI, no network)."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

import httpx
import pytest
from aiokafka import TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from hub.stream.kernel import StageStats
from hub.stream.metrics import CONTENT_TYPE, format_value, metrics_app, render


class StatefulHandler:
    def __init__(self, size: int) -> None:
        self.size = size

    def state_size(self) -> int:
        return self.size


@dataclass
class FakeStage:
    """What a scrape reads of a stage, as plain values."""

    name: str
    stats: StageStats = field(default_factory=StageStats)
    tasks: dict[TopicPartition, object] = field(default_factory=dict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    handler: object = None
    lags: dict[TopicPartition, int] = field(default_factory=dict)
    broken_lag: bool = False

    def lag(self) -> dict[TopicPartition, int]:
        if self.broken_lag:
            raise AssertionError("Partition is not assigned")  # a rebalance under a scrape
        return dict(self.lags)


def parse(text: str) -> dict[str, tuple[str, list[tuple[dict[str, str], float]]]]:
    """family name -> (type, [(labels, value)])."""
    return {
        family.name: (family.type, [(dict(s.labels), s.value) for s in family.samples])
        for family in text_string_to_metric_families(text)
    }


def ingest() -> FakeStage:
    a0, a1 = TopicPartition("src.he", 0), TopicPartition("src.he", 1)
    return FakeStage(
        "ingest",
        stats=StageStats(
            records_in=120,
            records_out=240,
            transactions=17,
            rebalances=2,
            restarts=1,
            restore_seconds=0.375,
            last_commit_monotonic=1000.0,
        ),
        tasks={a0: object(), a1: object()},
        lags={a1: 5, a0: 0},
    )


def test_every_family_has_its_type_and_the_values_of_each_stage() -> None:
    decide = FakeStage(
        "decide",
        stats=StageStats(records_in=3, last_commit_monotonic=1010.0),
        tasks={TopicPartition("requests", 0): object()},
        handler=StatefulHandler(42),
    )
    families = parse(render([ingest(), decide], now=1012.5))

    counters = {
        "mchub_stage_records_in": {"ingest": 120, "decide": 3},
        "mchub_stage_records_out": {"ingest": 240, "decide": 0},
        "mchub_stage_transactions": {"ingest": 17, "decide": 0},
        "mchub_stage_rebalances": {"ingest": 2, "decide": 0},
        "mchub_stage_restarts": {"ingest": 1, "decide": 0},
    }
    for name, expected in counters.items():
        kind, samples = families[name]
        assert kind == "counter"
        assert {labels["stage"]: v for labels, v in samples} == expected
    gauges = {
        "mchub_stage_assigned_partitions": {"ingest": 2, "decide": 1},
        "mchub_stage_restore_seconds": {"ingest": 0.375, "decide": 0.0},
        "mchub_stage_seconds_since_commit": {"ingest": 12.5, "decide": 2.5},
        "mchub_stage_state_entries": {"decide": 42},  # only a handler with state_size()
    }
    for name, expected in gauges.items():
        kind, samples = families[name]
        assert kind == "gauge"
        assert {labels["stage"]: v for labels, v in samples} == expected

    kind, samples = families["mchub_stage_lag_records"]
    assert kind == "gauge"
    assert samples == [
        ({"stage": "ingest", "topic": "src.he", "partition": "0"}, 0),
        ({"stage": "ingest", "topic": "src.he", "partition": "1"}, 5),
    ]


def test_help_and_type_come_once_per_family_before_its_samples() -> None:
    text = render([ingest(), FakeStage("decide")], now=1001.0)
    assert text.endswith("\n")
    lines = text.splitlines()
    seen: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert name not in seen
            seen.append(name)
            assert lines[i + 1].startswith(f"# TYPE {name} ")
        elif not line.startswith("#"):
            assert line.startswith(seen[-1] + "{")
    assert "mchub_stage_records_in_total" in seen and "mchub_stage_lag_records" in seen


def test_label_values_are_escaped() -> None:
    odd = 'in"ge\\st\nnew'
    stage = FakeStage(odd, lags={TopicPartition('t"\\', 3): 1})
    text = render([stage], now=0.0)
    assert 'stage="in\\"ge\\\\st\\nnew"' in text
    families = parse(text)
    (labels, _), = families["mchub_stage_records_in"][1]
    assert labels["stage"] == odd
    (labels, value), = families["mchub_stage_lag_records"][1]
    assert labels == {"stage": odd, "topic": 't"\\', "partition": "3"} and value == 1


def test_a_lag_that_cannot_be_read_leaves_only_the_lag_out() -> None:
    stage = ingest()
    stage.broken_lag = True
    families = parse(render([stage], now=1000.0))
    assert "mchub_stage_lag_records" not in families
    assert families["mchub_stage_records_in"][1] == [({"stage": "ingest"}, 120)]


@pytest.mark.parametrize(
    "handler",
    [object(), StatefulHandler(True), type("Bad", (), {"state_size": lambda self: 1 / 0})()],
)
def test_state_entries_only_for_an_integer_state_size(handler: object) -> None:
    families = parse(render([FakeStage("x", handler=handler)], now=0.0))
    assert "mchub_stage_state_entries" not in families


def test_no_stages_no_samples() -> None:
    assert render([]) == ""


def test_sample_values() -> None:
    assert format_value(3) == "3"
    assert format_value(2.5) == "2.5"
    assert format_value(1e-05) == "1e-05"
    assert format_value(math.inf) == "+Inf"
    assert format_value(-math.inf) == "-Inf"
    assert format_value(math.nan) == "NaN"


async def test_the_app_serves_metrics_health_and_readiness() -> None:
    ingest_stage, decide = ingest(), FakeStage("decide")
    transport = httpx.ASGITransport(app=metrics_app([ingest_stage, decide]))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"] == CONTENT_TYPE
        assert "mchub_stage_records_in" in parse(metrics.text)

        assert (await client.get("/healthz")).status_code == 200

        waiting = await client.get("/readyz")
        assert waiting.status_code == 503
        assert waiting.json()["not_ready"] == ["ingest", "decide"]
        ingest_stage.ready.set()
        waiting = await client.get("/readyz")
        assert waiting.status_code == 503 and waiting.json()["not_ready"] == ["decide"]
        decide.ready.set()
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "ready",
            "stages": ["ingest", "decide"],
            "not_ready": [],
        }

        assert (await client.post("/metrics")).status_code == 405
        assert (await client.get("/nothing")).status_code == 404


def test_the_decide_tasks_local_store_is_reported_in_bytes(tmp_path: object) -> None:
    from pathlib import Path

    from hub.settings import Settings
    from hub.stream.decide import DecideHandler
    from hub.stream.store import SqliteStore

    assert isinstance(tmp_path, Path)
    handler = DecideHandler(Settings(data_dir=tmp_path))
    assert handler.state_bytes() is None  # no task, no file
    handler.store = SqliteStore(tmp_path / "state.sqlite")
    try:
        handler.store.put("cred|k", b"x" * 10_000)
        handler.store.commit(1)
        size = handler.state_bytes()
        assert size is not None and size >= 10_000
        families = parse(render([FakeStage("decide", handler=handler)], now=0.0))
        assert families["mchub_stage_state_bytes"][1] == [({"stage": "decide"}, size)]
    finally:
        handler.store.close()

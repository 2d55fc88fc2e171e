"""Observability of a running hub: the metrics app over the core stages running in-process,
and ``mchub status --json`` (a separate process) reading their groups from the broker."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from hub.adapters.http_server import quiet_server, serving_in_thread
from hub.publish import publish, sample_messages
from hub.settings import Settings
from hub.stream.metrics import metrics_app
from hub.stream.runner import core_stages, run_stages
from hub.topics import declared_topics
from tests.support import shared_dir, worker_env

SAMPLES = shared_dir() / "feeds" / "samples"
CORE = ("ingest", "decide")



def partition_count(settings: Settings, topics: list[str]) -> int:
    declared = {
        settings.topic(spec.name): spec.partitions or settings.partitions
        for spec in declared_topics()
    }
    return sum(declared[topic] for topic in topics)


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, stage: str) -> float:
    return samples[(name, (("stage", stage),))]


def lags(samples: Samples, stage: str) -> dict[tuple[str, int], float]:
    out = {}
    for (name, labels), found in samples.items():
        given = dict(labels)
        if name == "mchub_stage_lag_records" and given["stage"] == stage:
            out[(given["topic"], int(given["partition"]))] = found
    return out


async def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Await ``check()`` until it returns something truthy (and return that)."""
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.3)


async def mchub_status(settings: Settings) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub",
        "status",
        "--json",
        env=worker_env(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    parsed: dict[str, Any] = json.loads(out)
    return parsed


async def test_metrics_and_status_follow_the_core_stream(applied_settings: Settings) -> None:
    settings = applied_settings
    stages = core_stages(settings)
    stop = asyncio.Event()
    with serving_in_thread(quiet_server(metrics_app(stages)), name="metrics") as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            assert (await client.get("/healthz")).status_code == 200
            waiting = await client.get("/readyz")
            assert waiting.status_code == 503
            assert sorted(waiting.json()["not_ready"]) == sorted(CORE)

            runner = asyncio.create_task(run_stages(stages, stop))
            try:
                await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in stages)), 60)
                ready = await client.get("/readyz")
                assert ready.status_code == 200 and ready.json()["not_ready"] == []

                inputs = {s.name: partition_count(settings, s.input_topics) for s in stages}

                async def assigned() -> Samples | None:
                    # ready: joined; the first assignment may come before topic metadata
                    now = await scrape(client)
                    return now if all(
                        value(now, "mchub_stage_assigned_partitions", s) == inputs[s]
                        for s in CORE
                    ) else None

                before = await until(assigned, 60, "every input partition to be assigned")
                for stage in CORE:
                    assert value(before, "mchub_stage_records_in_total", stage) == 0
                    assert value(before, "mchub_stage_rebalances_total", stage) >= 1
                    assert value(before, "mchub_stage_restore_seconds", stage) >= 0

                published = await publish(settings, sample_messages(SAMPLES))

                async def caught_up() -> Samples | None:
                    now = await scrape(client)
                    if value(now, "mchub_stage_records_in_total", "ingest") < len(published):
                        return None
                    if value(now, "mchub_stage_records_in_total", "decide") == 0:
                        return None
                    if any(any(lags(now, s).values()) for s in CORE):
                        return None
                    return now

                after = await until(caught_up, 90, "the metrics to show the stream caught up")
                for stage in CORE:
                    for name in (
                        "mchub_stage_records_in_total",
                        "mchub_stage_records_out_total",
                        "mchub_stage_transactions_total",
                    ):
                        assert value(after, name, stage) > value(before, name, stage), name
                    assert value(after, "mchub_stage_restarts_total", stage) == 0
                    assert value(after, "mchub_stage_seconds_since_commit", stage) < 60
                    # every owned partition has a lag sample once it has been fetched
                    assert len(lags(after, stage)) >= 1
                assert value(after, "mchub_stage_records_in_total", "ingest") == len(published)

                async def settled() -> dict[str, Any] | None:
                    found = await mchub_status(settings)
                    groups = {g["stage"]: g for g in found["groups"]}
                    return found if all(groups[s]["lag"] == 0 for s in CORE) else None

                report = await until(settled, 60, "mchub status to show lag 0")
            finally:
                stop.set()
                await asyncio.wait_for(runner, 60)

    groups = {g["stage"]: g for g in report["groups"]}
    assert list(groups) == [
        "ingest",
        "decide",
        "project-register-state",
        "deliver-register",
        "deliver-wallet",
        "deliver-edc",
    ]
    for name in CORE:
        group = groups[name]
        assert group["group"] == settings.group(name)
        assert group["running"] and group["state"] == "Stable"
        assert len(group["members"]) == 1
        member = group["members"][0]
        assert member["client_id"] == f"{settings.client_id}-consumer"
        assert member["host"]
        # the member owns every input partition of the stage, and status lists each one
        listed = {f"{p['topic']}-{p['partition']}" for p in group["partitions"]}
        assert set(member["partitions"]) == listed
        assert len(listed) == inputs[name]
        for partition in group["partitions"]:
            assert partition["lag"] == 0
            assert partition["member"] == member["member_id"]
            if partition["committed"] is not None:
                assert partition["committed"] == partition["end"]
    # decide reads a transactional topic: its last committed position is past a marker
    assert any(p["committed"] for p in groups["decide"]["partitions"])
    for name in ("project-register-state", "deliver-register", "deliver-wallet", "deliver-edc"):
        assert groups[name]["state"] == "not running"
        assert groups[name]["members"] == [] and groups[name]["partitions"] == []

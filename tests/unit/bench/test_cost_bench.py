"""``mchub bench cost``: one JSON object with every step's µs per event and its baselines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli import bench as bench_cli

pytestmark = pytest.mark.unit

STEPS_CORE = {"normalise", "build", "validate", "encode", "ingest", "decide_read",
              "decide_core", "decide", "json_loads", "fastavro_encode"}
STEPS_FANOUT = {"decode", "status", "render_ob3", "sign", "render_elm", "seal"}


def test_bench_cost_reports_every_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCHUB_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(bench_cli.app, ["cost", "--events", "200"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(report["core_stream"]) == STEPS_CORE
    assert set(report["fanout_per_issuance"]) == STEPS_FANOUT
    assert all(v > 0 for v in report["core_stream"].values())
    assert all(v > 0 for v in report["fanout_per_issuance"].values())
    # the totals are the sums of their parts, and the ceiling follows from the total
    core = report["core_stream"]
    assert report["core_stream_us"] == pytest.approx(core["ingest"] + core["decide"], abs=0.2)
    # the ceiling comes from the unrounded total: allow for its own rounding to an integer
    # and for the reported total's rounding to 0.1 µs (d(1e6/x) = 1e6/x² · 0.05)
    total = report["core_stream_us"]
    assert report["core_stream_ceiling_events_per_s"] == pytest.approx(
        1e6 / total, abs=0.5 + 5e4 / total**2
    )
    fanout = report["fanout_per_issuance"]
    parts = ("render_ob3", "sign", "render_elm", "seal", "status")
    assert report["issuance_wallet_and_edc_us"] == pytest.approx(
        sum(fanout[p] for p in parts), abs=0.5)
    assert {"cpu", "cores", "python"} <= set(report["machine"])

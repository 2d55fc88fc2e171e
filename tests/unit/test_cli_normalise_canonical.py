"""`mchub normalise --canonical` prints what `mchub validate` checks: the two chain."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import shared_dir

SAMPLES = shared_dir() / "feeds" / "samples"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub", *args], input=stdin, text=True,
                          capture_output=True, timeout=60, check=False)


def test_canonical_output_of_every_he_sample_validates() -> None:
    files = sorted(str(p) for p in (SAMPLES / "he").glob("*.json"))
    normalised = run("normalise", "--feed", "he", "--canonical", *files)
    assert normalised.returncode == 0, normalised.stderr
    lines = [json.loads(line) for line in normalised.stdout.splitlines()]
    assert len(lines) == 7
    assert all(line["envelope"]["feed"] == "he" for line in lines)
    checked = run("validate", "--json", "-", stdin=normalised.stdout)
    assert checked.returncode == 0, checked.stdout
    assert json.loads(checked.stdout)["events"] == 7


def test_validate_rejects_a_broken_canonical_event_with_rule_and_path() -> None:
    sample = SAMPLES / "he" / "01_kiallitas_tesztvezerelt_python.json"
    normalised = run("normalise", "--feed", "he", "--canonical", str(sample))
    event = json.loads(normalised.stdout)
    event["credential"]["eqfLevel"] = "http://data.europa.eu/snb/eqf/9"
    checked = run("validate", "-", stdin=json.dumps(event))
    assert checked.returncode == 1
    assert "eqfLevel" in checked.stdout

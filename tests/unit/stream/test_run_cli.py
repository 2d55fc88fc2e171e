"""``mchub run --stages``: choosing stages, and a one-line error for unknown ones."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support import REPO_ROOT


def test_an_unknown_stage_is_a_one_line_error_naming_the_stages_there_are() -> None:
    env = {**os.environ, "MCHUB_BOOTSTRAP": "memory://run-cli", "MCHUB_REGISTER_URL": ""}
    done = subprocess.run(
        [sys.executable, "-m", "hub", "run", "--stages", "ingest,nope"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if "nope" in line]
    assert len(errors) == 1 and "ingest, decide" in errors[0]
    assert "Traceback" not in done.stderr

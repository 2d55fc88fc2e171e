"""The fault suite's result table (issue 14, item 5).

Each fault scenario calls :func:`record_row` once with its counts. When the environment
variable ``MCHUB_FAULT_TABLE`` names a file, one JSON line is appended to it, e.g.::

    {"scenario": "broker-restart", "inputs": 400, "lost": 0, "duplicated": 0,
     "stuck": 0, "seconds": 41.2}

The README's fault table is filled from such a file after a real run. Without the
variable this is a no-op, so the scenarios run the same either way.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ENV_VAR = "MCHUB_FAULT_TABLE"


def record_row(
    scenario: str, inputs: int, lost: int, duplicated: int, stuck: int, seconds: float
) -> None:
    """Append one scenario's row to the file named by ``MCHUB_FAULT_TABLE`` (if set)."""
    target = os.environ.get(ENV_VAR)
    if not target:
        return
    row = {
        "scenario": scenario,
        "inputs": inputs,
        "lost": lost,
        "duplicated": duplicated,
        "stuck": stuck,
        "seconds": round(seconds, 1),
    }
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(row, sort_keys=False) + "\n")

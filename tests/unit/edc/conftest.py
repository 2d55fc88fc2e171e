"""The wallet destination publishes its signing key and makes the pseudonym secret in
``<data_dir>/keys``: give every test its own data directory, not the developer's ``var``."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _own_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCHUB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MCHUB_SUBJECT_ID_SECRET", raising=False)

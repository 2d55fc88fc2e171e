"""Helpers shared by tests (not fixtures): free ports, paths."""

from __future__ import annotations

import os
import socket
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port_block(size: int, start: int = 39092) -> int:
    """The first port ``p >= start`` such that ``p .. p+size-1`` are all free on loopback."""
    port = start
    while port < 65000:
        if all(_free(port + i) for i in range(size)):
            return port
        port += size + 7
    raise RuntimeError("no free port block on 127.0.0.1")


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def shared_dir() -> Path:
    """The read-only ``shared/`` folder (feeds, samples, reference artefacts)."""
    env = os.environ.get("MCHUB_SHARED_DIR")
    return Path(env) if env else (REPO_ROOT.parent / "shared").resolve()

"""``python -m connectors.status``: serve the status lists in the foreground."""

from __future__ import annotations

import argparse
from pathlib import Path

from connectors.status.server import serve
from connectors.status.settings import status_db_path
from hub.settings import load_settings
from hub.stream.checkpoints import anchor_source


def main(argv: list[str] | None = None) -> None:
    """Parse options and serve ``GET /v1/status/{list id}`` until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m connectors.status", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--db", type=Path, default=None, help="status database (MCHUB_STATUS_DB)")
    args = parser.parse_args(argv)
    settings = load_settings()
    serve(
        args.db or status_db_path(settings),
        host=args.host,
        port=args.port,
        anchor=anchor_source(settings),
    )


if __name__ == "__main__":
    main()

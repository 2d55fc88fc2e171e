"""Generated documents the repository commits (OpenAPI): write them, or check they are current."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer


def write_document(text: str, out: str, *, check: bool) -> None:
    """Write ``text`` to ``out`` ('-': stdout) when it changed; with ``check`` only say
    whether the file is current and exit 1 when it is stale."""
    if out == "-":
        sys.stdout.write(text)
        return
    path = Path(out)
    current = path.exists() and path.read_text(encoding="utf-8") == text
    if check:
        print(f"{path}: {'current' if current else 'stale'}")
        raise typer.Exit(0 if current else 1)
    if not current:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(f"{path}: {'unchanged' if current else 'written'}")


def add_openapi_command(app: typer.Typer, what: str, default: Path,
                        render: Callable[[], str]) -> None:
    """Add ``openapi [--out FILE] [--check]`` to ``app``: writes or checks the document
    ``render`` makes (called only when the command runs, so the CLI starts fast)."""

    def openapi(
        out: Annotated[str, typer.Option(help="file to write, '-' for stdout")] = str(default),
        check: Annotated[bool, typer.Option(
            "--check", help="only check that the file is current; exit 1 when stale")] = False,
    ) -> None:
        write_document(render(), out, check=check)

    openapi.__doc__ = f"Write (or check) the {what}'s OpenAPI document."
    app.command("openapi")(openapi)

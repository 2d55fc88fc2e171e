"""``mchub register serve|openapi``: the reference national register.

``serve`` runs the HTTP service (push contract and queries) over SQLite by default or
PostgreSQL (``--db postgresql://…``); ``openapi`` writes the published OpenAPI document.
Options fall back to ``MCHUB_REGISTER_DB``, ``MCHUB_REGISTER_TOKEN``, ``MCHUB_REGISTER_HOST``
and ``MCHUB_REGISTER_PORT``; the default database is ``<MCHUB_DATA_DIR>/register.db``.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from hub.cli.documents import add_openapi_command
from hub.settings import REPO_ROOT, load_settings

app = typer.Typer(help="The reference national register (HTTP push contract, queries).",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  rich_markup_mode=None)

#: where the committed OpenAPI document lives
OPENAPI_PATH = REPO_ROOT / "docs" / "openapi" / "register.json"


def default_db_url() -> str:
    """``sqlite:///<data_dir>/register.db`` (absolute, so it does not depend on the cwd)."""
    return f"sqlite:///{(load_settings().data_dir / 'register.db').resolve()}"


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on [127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on [8081]")] = None,
    db: Annotated[str | None, typer.Option(
        help="sqlite:///PATH or postgresql://… [sqlite:///<data_dir>/register.db]")] = None,
    token: Annotated[str | None, typer.Option(
        help="bearer token required for pushes and personal-data reads "
             "(prefer MCHUB_REGISTER_TOKEN)")] = None,
    consume: Annotated[bool, typer.Option(
        "--consume", help="also apply the Kafka topic register.credentials.state "
                          "(broker from MCHUB_BOOTSTRAP)")] = False,
) -> None:
    """Run the register's HTTP service in the foreground until interrupted."""
    from mchub_reference.register.service import RegisterSettings
    from mchub_reference.register.service import serve as run

    conf = RegisterSettings()
    secret = token or (conf.token.get_secret_value() if conf.token else None)
    url = db or conf.db or default_db_url()
    bind_host = host or conf.host
    bind_port = port if port is not None else conf.port
    print(f"mchub register: http://{bind_host}:{bind_port} over {_redact(url)}"
          f"{' (bearer token required)' if secret else ''}", file=sys.stderr)
    run(url, host=bind_host, port=bind_port, token=secret,
        consume=load_settings() if consume else None)


def _render_openapi() -> str:
    from mchub_reference.register.service import render_openapi

    return render_openapi()


add_openapi_command(app, "register", OPENAPI_PATH, _render_openapi)


def _redact(url: str) -> str:
    """The URL without a password (``postgresql://user:***@host/db``)."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in creds:
        return url
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"


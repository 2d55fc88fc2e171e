"""Entry point of the ``mchub`` command line.

Verbs are grouped by area; each area lives in its own module under ``hub.cli`` and is
registered here. Every :class:`hub.errors.MchubError` becomes a one-line message on
stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import sys

import typer

from hub.errors import MchubError

app = typer.Typer(
    name="mchub",
    help="mchub: the micro-credential interoperability hub.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _register() -> None:
    """Attach every area's commands to the root app (one line per area)."""
    # --- areas: keep one line per area, alphabetical ---
    from hub.cli import audit as audit_cli
    from hub.cli import bench as bench_cli
    from hub.cli import contract as contract_cli
    from hub.cli import deliveries as deliveries_cli
    from hub.cli import demo as demo_cli
    from hub.cli import gateway as gateway_cli
    from hub.cli import kafka as kafka_cli
    from hub.cli import keys as keys_cli
    from hub.cli import learners as learners_cli
    from hub.cli import normalise as normalise_cli
    from hub.cli import pki as pki_cli
    from hub.cli import register as register_cli
    from hub.cli import render as render_cli
    from hub.cli import run as run_cli
    from hub.cli import schema_registry as schema_registry_cli
    from hub.cli import sources as sources_cli
    from hub.cli import status as status_cli
    from hub.cli import topics as topics_cli

    app.add_typer(audit_cli.app, name="audit")
    app.add_typer(bench_cli.app, name="bench")
    app.command("deliveries")(deliveries_cli.deliveries)
    app.command("demo")(demo_cli.demo)
    app.add_typer(gateway_cli.app, name="gateway")
    app.add_typer(kafka_cli.app, name="kafka")
    app.add_typer(keys_cli.app, name="keys")
    app.add_typer(learners_cli.app, name="learners")
    app.command("run")(run_cli.run)
    app.command("normalise")(normalise_cli.normalise_cmd)
    app.add_typer(pki_cli.app, name="pki")
    app.command("redrive")(audit_cli.redrive)
    app.add_typer(register_cli.app, name="register")
    app.command("render")(render_cli.render)
    app.command("replay")(audit_cli.replay)
    app.add_typer(contract_cli.schemas_app, name="schemas")
    contract_cli.schemas_app.command("register")(schema_registry_cli.register)
    app.add_typer(schema_registry_cli.app, name="schema-registry")
    app.command("status")(status_cli.status)
    app.command("tail")(topics_cli.tail)
    app.add_typer(sources_cli.app, name="sources")
    app.add_typer(topics_cli.app, name="topics")
    app.command("validate")(contract_cli.validate)
    app.command("verify")(render_cli.verify)
    # --- end of areas ---


_register()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; map usage errors and hub errors to one-line messages and exit codes."""
    _install_schema_lookup()
    try:
        code = app(args=argv, standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("mchub: aborted", file=sys.stderr)
        sys.exit(130)
    except MchubError as exc:
        print(f"mchub: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("mchub: interrupted", file=sys.stderr)
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors of the vendored click parser
        _usage_error(exc)
    sys.exit(code if isinstance(code, int) else 0)


def _install_schema_lookup() -> None:
    """Let every command decode registry-framed canonical records (ids looked up in
    MCHUB_SCHEMA_REGISTRY_URL on first sight); invalid settings are left for the command
    to report."""
    from pydantic import ValidationError

    from hub.settings import load_settings
    from hub.stream.schema_registry import install_registry_lookup

    try:
        install_registry_lookup(load_settings())
    except (MchubError, ValidationError):
        return


def _usage_error(exc: Exception) -> None:
    """Print a usage error as one line with a pointer to ``--help``; exit 2."""
    message = str(getattr(exc, "format_message", lambda: str(exc))())
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError":
        print(message)
        sys.exit(0)
    command = getattr(ctx, "command_path", "mchub") if ctx is not None else "mchub"
    print(f"mchub: {message} (try '{command} --help')", file=sys.stderr)
    sys.exit(int(getattr(exc, "exit_code", 2)))


if __name__ == "__main__":
    main()

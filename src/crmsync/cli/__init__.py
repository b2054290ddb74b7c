"""The ``crmsync`` command line: one module per command group, loaded only when used."""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import traceback

import click

from crmsync import __version__
from crmsync.errors import CrmsyncError
from crmsync.secrets.masking import mask

# command name -> "module:attribute"; imported lazily so `crmsync --help` and no-op runs stay fast.
COMMANDS: dict[str, str] = {
    "api-keys": "crmsync.cli.api_keys:api_keys",
    "connect": "crmsync.cli.connect:connect",
    "conflicts": "crmsync.cli.conflicts:conflicts",
    "connections": "crmsync.cli.connections:connections",
    "demo": "crmsync.cli.demo:demo",
    "fake-crm": "crmsync.cli.fake_crm:fake_crm",
    "init": "crmsync.cli.init:init",
    "pull": "crmsync.cli.pull:pull",
    "push": "crmsync.cli.push:push",
    "serve": "crmsync.cli.serve:serve",
    "status": "crmsync.cli.status:status",
    "sync": "crmsync.cli.sync:sync",
    "validate": "crmsync.cli.validate:validate",
}

EXIT_CODES = """\b
Exit codes:
  0  success
  1  unexpected internal error (traceback written to a log file)
  2  usage or configuration error: fix the command or the files
  3  a CRM refused the request: its message says what to do
  4  another run of the same connection is in progress: nothing was done"""


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, epilog=EXIT_CODES, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="crmsync")
def cli() -> None:
    """Declarative two-way sync between CRMs (AmoCRM/Kommo, Bitrix24) and a local DuckDB store.

    Start with `crmsync demo`: it runs fake CRMs on loopback and shows the whole loop.
    """


def main() -> None:
    """Entry point: the one place where errors become messages and exit codes."""
    try:
        # In this mode click *returns* the code of a `ctx.exit(n)` / `raise Exit(n)` instead of exiting.
        code = cli.main(standalone_mode=False)
        if isinstance(code, int) and not isinstance(code, bool) and code:
            sys.exit(code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except CrmsyncError as exc:
        click.echo(mask(f"error: {exc}"), err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug: keep the traceback out of the user's face but on disk
        fd, path = tempfile.mkstemp(prefix="crmsync-crash-", suffix=".log")
        with os.fdopen(fd, "w") as fh:
            fh.write(mask(traceback.format_exc()))
        click.echo(mask(f"internal error: {type(exc).__name__}: {exc}\n(traceback written to {path})"), err=True)
        sys.exit(1)

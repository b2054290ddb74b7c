"""The ``crmsync`` command line: one module per command group, loaded only when used."""

from __future__ import annotations

import importlib
import sys
import traceback

import click

from crmsync import __version__
from crmsync.errors import INTERNAL, CrmsyncError, Interrupted, UserError, interruption
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
    "migrate-store": "crmsync.cli.migrate_store:migrate_store",
    "pull": "crmsync.cli.pull:pull",
    "push": "crmsync.cli.push:push",
    "remap": "crmsync.cli.remap:remap",
    "runs": "crmsync.cli.runs:runs",
    "serve": "crmsync.cli.serve:serve",
    "status": "crmsync.cli.status:status",
    "sync": "crmsync.cli.sync:sync",
    "validate": "crmsync.cli.validate:validate",
}

def _exit_codes_help() -> str:
    from crmsync.errors import EXIT_CODES

    lines = [f"  {code:<3} {meaning}" for code, (_, meaning) in EXIT_CODES.items()]
    return "\b\nExit codes:\n" + "\n".join(lines)


EXIT_CODES = _exit_codes_help()
GROUPS = {"api-keys", "conflicts", "connections"}


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
    from crmsync.waiting import add_sink

    # a run that waits (a lock, a back-off, a slow CRM) says so on stderr: never in --json stdout
    ctx = click.get_current_context()
    ctx.call_on_close(add_sink(lambda line: click.echo(f"… {line}", err=True)))


def invoked_command(argv: list[str]) -> tuple[str, bool]:
    """The command named on the command line (``conflicts list``) and whether ``--json`` was asked
    for: an error raised before or outside the command (a usage error, Ctrl-C) still answers in JSON."""
    words = [a for a in argv if not a.startswith("-")]
    name = words[:1]
    if name and name[0] in GROUPS and len(words) > 1:
        name.append(words[1])
    return " ".join(name), "--json" in argv


def main() -> None:
    """Entry point: the one place where errors become messages and exit codes (crmsync.errors)."""
    command, as_json = invoked_command(sys.argv[1:])
    try:
        # In this mode click *returns* the code of a `ctx.exit(n)` / `raise Exit(n)` instead of exiting.
        code = cli.main(standalone_mode=False)
        if isinstance(code, int) and not isinstance(code, bool) and code:
            sys.exit(code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        _fail(command, as_json, Interrupted("aborted"), "Aborted.")
    except click.ClickException as exc:
        if not as_json:
            exc.show()
            sys.exit(exc.exit_code)
        _fail(command, as_json, UserError(exc.format_message()), f"error: {exc.format_message()}")
    except BaseException as exc:  # noqa: BLE001 - the one place every failure is turned into an exit code
        if isinstance(exc, SystemExit):
            raise
        if interruption(exc):
            _fail(command, as_json, Interrupted("interrupted"), "Interrupted.")
        if isinstance(exc, CrmsyncError):
            _fail(command, as_json, exc, f"error: {exc}")
        from crmsync.store import out_of_memory

        if (memory := out_of_memory(exc)) is not None:
            _fail(command, as_json, memory, f"error: {memory}")
        # a bug: keep the traceback out of the user's face but in the project's log folder
        from crmsync.logs import write_crash

        path = write_crash(traceback.format_exc())
        message = f"internal error: {type(exc).__name__}: {exc} (traceback written to {path})"
        _fail(command, as_json, exc, message, exit_code=INTERNAL)


def dlt_commands(text: str) -> str:
    """dlt's own advice (`dlt pipeline NAME info`) only works with crmsync's pipelines folder named."""
    import re

    from crmsync.logs import current_project

    project = current_project()
    if project is None or "`dlt pipeline " not in text:
        return text
    return re.sub(r"`dlt pipeline (?!--pipelines-dir)", f"`dlt pipeline --pipelines-dir {project.dlt_dir} ", text)


def _fail(command: str, as_json: bool, exc: BaseException, text: str, *, exit_code: int | None = None) -> None:
    """Report a failure: a line on stderr (and in the project's log), and with --json its document on stdout."""
    from crmsync.logs import log

    code = exit_code if exit_code is not None else getattr(exc, "exit_code", INTERNAL)
    text = dlt_commands(text)
    log.warning("crmsync %s: exit %s: %s", command, code, mask(str(exc)))
    click.echo(mask(text), err=True)
    if as_json:
        from crmsync.cli.options import print_document
        from crmsync.output import failure

        message = text.removeprefix("error: ") if code != INTERNAL else text
        print_document(failure(command, exc, exit_code=code, message=message))
    sys.exit(code)

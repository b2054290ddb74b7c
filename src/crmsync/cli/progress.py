"""What a long command shows while it works, always on stderr (stdout is the result, or the --json
document): on a terminal a live rich status line (spinner, the latest step, time so far) with the
waiting notices (crmsync.waiting) printed above it; otherwise one plain line per step."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

import click

from crmsync.waiting import redirected


def _terminal() -> bool:
    return sys.stderr.isatty()


@contextlib.contextmanager
def progress_for(as_json: bool) -> Iterator[Callable[[str], None]]:
    """The ``progress`` callback of a run. With --json the steps stay quiet but waiting is still told
    (on stderr): a script's log then says why a run took minutes."""
    if _terminal():
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                      transient=True) as bar:
            task = bar.add_task("starting", total=None)
            with redirected(lambda line: console.print(f"[yellow]… {line}[/yellow]", highlight=False)):
                if as_json:
                    yield lambda _: None
                else:
                    def show(message: str) -> None:
                        bar.update(task, description=message)
                        if not message.startswith("read so far"):
                            console.print(f"· {message}", highlight=False)
                    yield show
        return
    # waiting lines already go to stderr (crmsync.cli.main installs that)
    yield (lambda _: None) if as_json else (lambda message: click.echo(f"· {message}", err=True))

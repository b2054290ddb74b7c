"""Options shared by command groups, and the one way a command prints ``--json`` (crmsync.output)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from crmsync.project import Project
from crmsync.secrets.masking import mask


def project_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--project-dir DIR`` (default: the current folder); the command receives ``project: Project``.
    The project's log file records the command from here on."""

    @click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="The crmsync project folder (with connectors/, mappings/, pipelines/) [default: .].")
    @functools.wraps(func)
    def wrapper(*args: Any, project_dir: Path | None, **kwargs: Any) -> Any:
        from crmsync.logs import log, log_to_project

        project = Project.at(project_dir)
        log_to_project(project)
        log.info("crmsync %s", command_name())
        return func(*args, project=project, **kwargs)

    return wrapper


json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print one JSON document on stdout, errors included (README: JSON output).")

strict_option = click.option(
    "--strict/--no-strict", default=True, show_default=True,
    help="Exit 5 when the run is done but records were set aside, refused by the CRM or held in manual "
         "conflicts (--no-strict: exit 0 then).")


def command_name() -> str:
    """``pull``, ``conflicts list``: the command being run, as the ``--json`` envelope names it."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return ""
    return " ".join(ctx.command_path.split()[1:])


def echo_json(data: dict[str, Any], *, exit_code: int = 0, error: dict[str, Any] | None = None) -> None:
    """Print ``data`` in the envelope; any live secret value is masked on the way out (a second net)."""
    from crmsync.output import success

    document = success(command_name(), data, exit_code=exit_code)
    if error is not None:
        document["error"] = error
    print_document(document)


SECRET_KEYS = {"access_token", "refresh_token", "client_secret", "token", "webhook_url", "long_lived_token"}


def masked(value: Any, key: object = None) -> Any:
    """``value`` with every string masked (crmsync.secrets.masking) and secret-named fields blanked. Done
    per value, not on the dumped text, so the envelope's own ``"code"`` is not taken for an OAuth code."""
    if isinstance(value, dict):
        return {k: masked(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [masked(v) for v in value]
    if isinstance(value, str):
        return "***" if key in SECRET_KEYS and value else mask(value)
    return value


def print_document(document: dict[str, Any]) -> None:
    click.echo(json.dumps(masked(document), indent=2, ensure_ascii=False, default=str))


def run_exit_code(data: dict[str, Any], strict: bool) -> int:
    """5 when a run is done but records were set aside, refused or held (and --strict), else 0."""
    from crmsync.errors import ISSUES

    return ISSUES if strict and data.get("status") == "issues" else 0


def issues_error(data: dict[str, Any]) -> dict[str, Any]:
    from crmsync.errors import RunIssues

    issues = data.get("issues") or {}
    exc = RunIssues(issues_line(issues))
    return {"code": exc.code, "message": str(exc), "hint": exc.hint, "transient": exc.transient}


def issues_line(issues: dict[str, int]) -> str:
    return (f"done, but {issues.get('rejected', 0)} record(s) were set aside or refused (sync.rejected) and "
            f"{issues.get('held', 0)} wait on manual conflicts (crmsync conflicts list)")


def echo_run(data: dict[str, Any], *, as_json: bool, strict: bool, text: Callable[[], None]) -> None:
    """A pull/push/sync result: JSON or text, then the exit code the run's outcome calls for."""
    code = run_exit_code(data, strict)
    if as_json:
        echo_json(data, exit_code=code, error=issues_error(data) if code else None)
    else:
        text()
        if data.get("status") == "issues":
            click.echo(issues_line(data.get("issues") or {}) + ("" if strict else " (--no-strict: exit 0)"), err=True)
    if code:
        raise click.exceptions.Exit(code)

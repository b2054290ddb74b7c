"""The kinds of failure the CLI distinguishes (see style guide): each carries its exit code, the stable
``code`` scripts read in ``--json`` errors, a default hint, and whether it is ``transient``. README's
exit-code table lists them.

``transient``: the same command, run again later without anyone changing anything, may succeed — a CRM
that kept failing (429s, 5xx, timeouts past the retry budget), an answer lost in flight, a busy connection
or store. Not transient: the CRM refused (a 4xx it will not change its mind about: a revoked token, a
rejected payload, a missing permission), a configuration error, a bug. Exit code 3 covers both kinds of CRM
failure; ``error.transient`` in ``--json`` (and crmsync.dagster's retry policy) tells them apart."""

from __future__ import annotations

# Exit codes (one source of truth: the CLI's help, README's table and the tests read these).
OK = 0
INTERNAL = 1
CONFIG = 2
CRM = 3
BUSY = 4
ISSUES = 5          # done, but records were set aside, refused by the CRM, or held in manual conflicts
INTERRUPTED = 130

EXIT_CODES: dict[int, tuple[str, str]] = {  # exit code -> (error code in --json, meaning)
    OK: ("", "all done"),
    INTERNAL: ("internal", "unexpected internal error: the traceback is in the project's log folder"),
    CONFIG: ("config", "usage or configuration error: fix the command, the files or the settings"),
    CRM: ("crm", "a CRM refused or kept failing: its message says what to do"),
    BUSY: ("busy", "another run holds the connection or the store: nothing was done"),
    ISSUES: ("issues", "done, but records were set aside, refused by the CRM or held in manual conflicts "
                       "(--no-strict: exit 0)"),
    INTERRUPTED: ("interrupted", "interrupted (Ctrl-C, SIGINT): the next run finishes the job"),
}


class CrmsyncError(Exception):
    """Base of every error crmsync reports to a person without a traceback."""

    exit_code = INTERNAL
    hint = ""
    transient = False  # whether running again later, unchanged, may succeed (module docstring)

    def __init__(self, message: str = "", *, hint: str | None = None, transient: bool | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint
        if transient is not None:
            self.transient = transient

    @property
    def code(self) -> str:
        return EXIT_CODES.get(self.exit_code, ("internal", ""))[0]


class UserError(CrmsyncError):
    """Something the user must fix (a flag, a file, a setting)."""

    exit_code = CONFIG
    hint = "fix the command or the file named above; `crmsync validate` checks every spec"


class CrmError(CrmsyncError):
    """The CRM said no (``transient=False``, the default: a refusal) or kept failing (``transient=True``):
    carries what it said and what to do."""

    exit_code = CRM
    hint = "the CRM's own words are in the message; `crmsync connections test NAME` checks the connection"


class BusyError(CrmsyncError):
    """Another crmsync run (or a DuckDB client) holds the connection or the store: nothing was done."""

    exit_code = BUSY
    transient = True
    hint = "run again when the other run ends (CRMSYNC_LOCK_WAIT_SECONDS makes a run wait for it)"


class RunIssues(CrmsyncError):
    """A run finished, but some records were set aside, refused or held: what cron should notice."""

    exit_code = ISSUES
    hint = "see `crmsync status`, sync.rejected and `crmsync conflicts list`; --no-strict exits 0 for this"


class Interrupted(CrmsyncError):
    exit_code = INTERRUPTED
    transient = True
    hint = "run the command again: a run interrupted at any point is finished by the next one"


def is_transient(exc: BaseException) -> bool:
    """Whether another attempt at the same command may succeed (``transient`` above; False for a bug)."""
    return isinstance(exc, CrmsyncError) and bool(exc.transient)


def interruption(exc: BaseException) -> bool:
    """Whether ``exc`` is, or wraps, a Ctrl-C or SIGINT. dlt turns the signal into its own
    ``SignalReceivedException`` inside ``PipelineStepFailed`` during extract and normalize."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (KeyboardInterrupt, Interrupted)) or type(current).__name__ == "SignalReceivedException":
            return True
        current = current.__cause__ or current.__context__ or getattr(current, "exception", None)
    return False

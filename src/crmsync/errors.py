"""The three kinds of failure the CLI distinguishes (see style guide): each carries its exit code."""

from __future__ import annotations


class CrmsyncError(Exception):
    """Base of every error crmsync reports to a person without a traceback."""

    exit_code = 1


class UserError(CrmsyncError):
    """Something the user must fix (a flag, a file, a setting)."""

    exit_code = 2


class CrmError(CrmsyncError):
    """The CRM said no: carries what it said and what to do."""

    exit_code = 3


class BusyError(CrmsyncError):
    """Another crmsync run holds the connection: nothing was done, try again when it ends."""

    exit_code = 4

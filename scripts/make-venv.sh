#!/bin/sh
# Create the project virtualenv with whatever this machine has: the venv module with pip, or
# (Debian/Ubuntu without python3-venv's ensurepip) a bare venv that the system pip installs into.
set -eu
PY="$1"; VENV="$2"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    exit 0
fi
if ! command -v "$PY" >/dev/null 2>&1; then
    echo "error: '$PY' not found; install Python 3.10+ or run make PYTHON=/path/to/python3" >&2
    exit 2
fi
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' || {
    echo "error: crmsync needs Python 3.10 or newer; '$PY' is $("$PY" -V 2>&1)" >&2; exit 2; }
if "$PY" -m venv "$VENV" 2>/dev/null; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    exit 0
fi
rm -rf "$VENV"
echo "note: '$PY -m venv' could not bootstrap pip; creating a bare venv and seeding pip from the system pip" >&2
"$PY" -m venv --without-pip "$VENV"
"$PY" -m pip --python "$VENV/bin/python" install --quiet --disable-pip-version-check pip || {
    echo "error: no way to install pip into $VENV: install python3-venv (Debian/Ubuntu) or python3-pip" >&2; exit 2; }

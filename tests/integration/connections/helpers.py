"""Shared by the connection tests: a throwaway project, the real CLI, and OAuth driven like a browser."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import requests

from crmsync.connections.connect import ConnectOptions, connect
from crmsync.project import Project, builtin_project_dir

SECRET = "demo-secret"


def make_project(root: Path) -> Project:
    (root / "connectors").mkdir(parents=True)
    for spec in (builtin_project_dir() / "connectors").glob("*.yaml"):
        shutil.copy(spec, root / "connectors" / spec.name)
    return Project.at(root)


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMSYNC_")}
    return {**env, **extra}


def crmsync(project: Project, *args: str, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "crmsync"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "crmsync"]
    return subprocess.run([*cmd, *args, "--project-dir", str(project.root)], capture_output=True, text=True,
                          timeout=timeout, env=env or cli_env(), cwd=project.root)


def oauth_options(crm: str, server, name: str = "main", **kw) -> ConnectOptions:
    if crm == "amocrm":
        return ConnectOptions(crm=crm, name=name, base_url=server.url, authorize_url=server.url + "/oauth",
                              client_id="demo-client", client_secret=SECRET, no_browser=True, timeout=10, **kw)
    return ConnectOptions(crm=crm, name=name, portal=server.url, client_id="demo-client", client_secret=SECRET,
                          no_browser=True, timeout=10, **kw)


def browse(url: str) -> None:
    """What the user's browser does: open the consent page (auto-approved) and follow the redirect."""
    threading.Thread(target=requests.get, args=(url,), kwargs={"timeout": 10}, daemon=True).start()


def connect_oauth(project: Project, crm: str, server, name: str = "main", **kw):
    return connect(project, oauth_options(crm, server, name, **kw), on_url=browse)


def cli_oauth_connect(project: Project, crm: str, server, name: str = "main", *extra: str,
                      env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """`crmsync connect` as a subprocess: read the printed consent URL, 'click' it, collect the output."""
    exe = Path(sys.executable).parent / "crmsync"
    where = (["--base-url", server.url, "--authorize-url", server.url + "/oauth"] if crm == "amocrm"
             else ["--portal", server.url])
    proc = subprocess.Popen([str(exe), "connect", crm, "--name", name, *where, "--client-id", "demo-client",
                             "--no-browser", "--timeout", "20", "--project-dir", str(project.root), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env or cli_env(CRMSYNC_CLIENT_SECRET=SECRET))
    assert proc.stderr is not None
    first = proc.stderr.readline()
    url = proc.stderr.readline().strip()
    assert url.startswith("http://127.0.0.1"), first + url
    requests.get(url, timeout=10)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, first + url + "\n" + err

"""``crmsync serve``: the scheduler, the operations API (/docs) and the status page in one process."""

from __future__ import annotations

import ipaddress

import click

from crmsync.cli.options import project_option
from crmsync.errors import UserError
from crmsync.project import Project


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8710, show_default=True, help="Port to listen on.")
@click.option("--allow-remote", is_flag=True,
              help="Required to listen on anything but loopback (every route but /healthz still needs an API key).")
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True), help="HTTPS: the certificate (PEM).")
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True), help="HTTPS: its private key (PEM).")
@click.option("--with-fakes", is_flag=True,
              help="Also run the fake CRMs this project's connections point at on 127.0.0.1 (the demo project's: "
                   "fresh seeded data on the same ports), stopped with the server.")
@click.option("--no-schedule", is_flag=True, help="Run pipelines only when asked (API, page), never on schedule.")
@click.option("--stop-grace", type=click.FloatRange(0), default=60, show_default=True,
              help="On SIGTERM/Ctrl-C, seconds a run in flight may take to finish before it is interrupted "
                   "(its open transaction then rolls back; the next run goes on from the last commit).")
@click.option("--retry-base", type=click.FloatRange(1), default=60, show_default=True,
              help="A failed pipeline is retried after this many seconds, doubling with each failure (at most 1 h).")
@project_option
def serve(project: Project, host: str, port: int, allow_remote: bool, tls_cert: str | None, tls_key: str | None,
          with_fakes: bool, no_schedule: bool, stop_grace: float, retry_base: float) -> None:
    """Run pipelines on their `schedule:`, serve the operations API (docs at /docs) and the status page at /.

    \b
    Each run is a child process (`crmsync sync PIPELINE`), one per connection at a time; a run due
    while the previous one goes on is skipped and recorded as skipped. The server holds no lock on
    the store between runs: `crmsync status`, `conflicts`, a manual `sync` and DuckDB clients keep
    working. API keys: `crmsync api-keys create NAME --scope read|operate|admin`.
    """
    try:
        import uvicorn

        from crmsync.serve.app import create_app
    except ImportError as exc:
        raise UserError(f"crmsync serve needs its extra: pip install 'crmsync[serve]' ({exc.name} is missing)"
                        ) from None
    if bool(tls_cert) != bool(tls_key):
        raise UserError("give both --tls-cert and --tls-key, or neither")
    if not _loopback(host):
        if not allow_remote:
            raise UserError(f"--host {host} listens beyond this machine; pass --allow-remote to mean it "
                            "(and --tls-cert/--tls-key, or a TLS-terminating proxy in front)")
        if not tls_cert:
            click.echo(f"warning: listening on {host} without TLS: API keys travel in clear text. Use --tls-cert/"
                       "--tls-key or put a TLS-terminating proxy in front.", err=True)
    app = create_app(project, schedule=not no_schedule, stop_grace=stop_grace, retry_base=retry_base)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", ssl_certfile=tls_cert,
                            ssl_keyfile=tls_key, timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    scheme = "https" if tls_cert else "http"

    original = server.startup

    async def announce(*args, **kwargs):  # type: ignore[no-untyped-def]
        await original(*args, **kwargs)
        bound = port
        for s in server.servers:
            for sock in s.sockets:
                bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        click.echo(f"crmsync serve on {scheme}://{shown}:{bound}/ — API docs {scheme}://{shown}:{bound}/docs; "
                   f"{len(app.state.pipelines)} pipeline(s), {'scheduled' if not no_schedule else 'on request only'}",
                   err=True)

    server.startup = announce  # type: ignore[method-assign]
    fakes = _start_fakes(project) if with_fakes else []
    try:
        server.run()
    finally:
        for fake in fakes:
            fake.stop()


def _start_fakes(project: Project) -> list[object]:
    from urllib.parse import urlsplit

    from crmsync.connections import repository
    from crmsync.fakes import fake_names, start_fake

    started = []
    for conn in repository.list_all(project):
        where = urlsplit(conn.base_url)
        if where.hostname != "127.0.0.1" or not where.port or conn.crm not in fake_names():
            continue
        try:
            started.append(start_fake(conn.crm, port=where.port))
        except OSError as exc:
            raise UserError(f"--with-fakes: cannot start fake {conn.crm} on port {where.port} for connection "
                            f"{conn.name}: {exc.strerror}") from None
        click.echo(f"fake {conn.crm} on http://127.0.0.1:{where.port} for connection {conn.name}", err=True)
    if not started:
        raise UserError("--with-fakes: no connection of this project points at a fake CRM on 127.0.0.1 "
                        "(crmsync demo makes such a project)")
    return started

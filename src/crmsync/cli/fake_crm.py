"""``crmsync fake-crm``: run one fake CRM on loopback until Ctrl-C / SIGTERM."""

from __future__ import annotations

import signal
import threading
from typing import Any

import click

from crmsync.errors import UserError
from crmsync.fakes import FakeServer, FaultPlan, FaultRule, fake_names, make_app
from crmsync.fakes.faults import FaultSpecError
from crmsync.fakes.settings import SettingError, describe, parse_settings

# Options that only some CRMs understand: option name -> the CRMs it belongs to.
_ONLY_FOR = {"token": ("amocrm", "hubspot"), "subdomain": ("amocrm",), "webhook_code": ("bitrix24",)}


@click.command("fake-crm")
@click.argument("crm", type=click.Choice(fake_names()))
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0 picks a free one; the URL is printed).")
@click.option("--seed", type=int, default=42, show_default=True, help="Seed of the generated data.")
@click.option("--contacts", type=click.IntRange(0), default=60, show_default=True)
@click.option("--deals", type=click.IntRange(0), default=40, show_default=True)
@click.option("--tasks", type=click.IntRange(0), default=50, show_default=True)
@click.option("--client-id", default="demo-client", show_default=True, help="OAuth client id the fake accepts.")
@click.option("--client-secret", default="demo-secret", show_default=True, help="OAuth client secret.")
@click.option("--access-token-ttl", type=click.IntRange(1), default=None,
              help="OAuth access-token lifetime in seconds [default: AmoCRM 86400, Bitrix24 3600, HubSpot 1800].")
@click.option("--token", default=None,
              help="AmoCRM: long-lived token; HubSpot: private-app access token [default: demo-token].")
@click.option("--subdomain", default=None, help="AmoCRM only: account subdomain [default: demo].")
@click.option("--webhook-code", default=None,
              help="Bitrix24 only: inbound webhook code, URL /rest/1/<code>/ [default: demo].")
@click.option("--no-rate-limit", is_flag=True,
              help="Switch off the real rate limits (7 req/s; 2/s burst 50; 190 per 10 s and search 5/s).")
@click.option("--fault", "faults", multiple=True, metavar="SPEC",
              help="Inject faults: KIND:RATE or KIND:xN[@PATH], KIND = 429|503|500|… |hang|drop|truncate, "
                   "optionally with -after (writes only: applied, then the answer is lost) or -before (writes "
                   "only: not applied). Repeatable. Example: --fault 429:0.05 --fault drop-after:x1@/api/v4/leads")
@click.option("--fault-seed", type=int, default=0, show_default=True, help="Seed for rate-based faults.")
@click.option("--tls", is_flag=True,
              help="Serve HTTPS with a throwaway self-signed certificate for 127.0.0.1/localhost; its path is "
                   "printed so a client that only speaks https:// can trust it (e.g. REQUESTS_CA_BUNDLE).")
@click.option("--set", "extra", multiple=True, metavar="KEY=VALUE",
              help="Any other setting of the fake, e.g. --set next_link=exact --set filter_enabled=false "
                   "(AmoCRM) or --set bucket_capacity=250 --set timezone=+02:00 (Bitrix24). "
                   "--list-settings shows them all.")
@click.option("--list-settings", is_flag=True, help="List every setting of this fake with its default, then exit.")
@click.option("--verbose", is_flag=True, help="Log every request to stderr.")
def fake_crm(crm: str, port: int, faults: tuple[str, ...], fault_seed: int, no_rate_limit: bool, tls: bool,
             extra: tuple[str, ...], list_settings: bool, verbose: bool, **settings: Any) -> None:
    """Run a fake CRM (a real HTTP server on 127.0.0.1) until stopped.

    It speaks the CRM's real API (AmoCRM v4, Bitrix24 REST or HubSpot CRM v3) over seeded, stateful data, with
    OAuth, rate limits and fault injection. Admin routes under /_fake/ (state, stats, faults,
    reset, delete, touch, expire-tokens, clock) let tests steer it.
    """
    if list_settings:
        for key, kind, default in describe(crm):
            click.echo(f"{key:<22} {kind:<14} {default!r}")
        return
    for name, owners in _ONLY_FOR.items():
        if settings.get(name) is not None and crm not in owners:
            raise UserError(f"--{name.replace('_', '-')} applies to {' and '.join(owners)} only, not {crm}")
    chosen = {k: v for k, v in settings.items() if v is not None}
    try:
        chosen.update(parse_settings(crm, list(extra)))
    except SettingError as exc:
        raise UserError(str(exc)) from None
    try:
        plan = FaultPlan([FaultRule.parse(s) for s in faults], seed=fault_seed)
    except FaultSpecError as exc:
        raise UserError(str(exc)) from None
    chosen.setdefault("rate_limit", not no_rate_limit)
    try:
        app = make_app(crm, **chosen)
    except ValueError as exc:  # a setting the fake's config rejected, with the allowed values
        raise UserError(str(exc)) from None
    try:
        server = FakeServer(app, port=port, faults=plan, verbose=verbose, tls=tls)
    except OSError as exc:
        raise UserError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    cert = f"; TLS certificate {server.cert_path}" if server.cert_path else ""
    click.echo(f"fake {crm} listening on {server.url} — {_credentials(app)}{cert}")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        click.echo(f"fake {crm} stopped", err=True)


def _credentials(app: Any) -> str:
    cfg = app.config
    if app.name == "amocrm":
        auth = f"long-lived token {cfg.token}"
    elif app.name == "hubspot":
        auth = f"private-app token {cfg.token}"
    else:
        auth = f"webhook /rest/{cfg.webhook_user}/{cfg.webhook_code}/"
    limits = "rate limits on" if cfg.rate_limit else "rate limits off"
    return f"{auth}; OAuth client {cfg.client_id}; {limits}"

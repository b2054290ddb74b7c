"""``crmsync connect CRM --name N``: OAuth (consent URL + loopback callback), or a long-lived token / webhook URL."""

from __future__ import annotations

import sys

import click

from crmsync.cli.options import echo_json, json_option, project_option
from crmsync.connections.connect import ConnectOptions, auth_url
from crmsync.connections.connect import connect as do_connect
from crmsync.project import Project


@click.command("connect")
@click.argument("crm")
@click.option("--name", required=True, help="Name of the connection (pipelines refer to it).")
@click.option("--client-id", help="OAuth: the integration's client id (some CRMs call it Integration ID or App ID).")
@click.option("--client-secret", envvar="CRMSYNC_CLIENT_SECRET", show_envvar=True,
              help="OAuth: the integration's secret key (prefer the environment variable: no shell history).")
@click.option("--subdomain", help="The account's name under the connector's domain, e.g. acme for https://acme.<domain>.")
@click.option("--domain", help="The parent domain of --subdomain, if not the connector's connect.domain "
                                "(another brand of the same API; also picks its consent page).")
@click.option("--base-url", help="The account's full API address (overrides --subdomain/--domain).")
@click.option("--portal", help="OAuth when the consent page is on the account's own site: its address.")
@click.option("--authorize-url", help="OAuth consent page, if not the connector's (e.g. another brand or a test host).")
@click.option("--token-url", help="OAuth token endpoint, if not the connector's (e.g. another region's).")
@click.option("--redirect-port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port of the loopback callback on 127.0.0.1 (0: any free one). Real CRMs only redirect to "
                   "the URI registered for the integration: register http://127.0.0.1:PORT/callback and pass PORT.")
@click.option("--redirect-uri", help="The redirect URI registered for the integration, if it is not the loopback one "
                                     "(then finish with --code).")
@click.option("--no-browser", is_flag=True, help="Do not open a browser; print the URL and wait for the callback.")
@click.option("--code", envvar="CRMSYNC_OAUTH_CODE",
              help="Headless: the code, or the whole URL the browser was redirected to (after --auth-url).")
@click.option("--auth-url", "only_url", is_flag=True,
              help="Print only the consent URL, then exit (finish with --code).")
@click.option("--timeout", type=click.FloatRange(1), default=300, show_default=True,
              help="Seconds to wait for the browser's redirect.")
@click.option("--long-lived-token", envvar="CRMSYNC_LONG_LIVED_TOKEN", show_envvar=True,
              help="Without OAuth: a long-lived token (of a private integration or app).")
@click.option("--webhook-url", envvar="CRMSYNC_WEBHOOK_URL", show_envvar=True,
              help="Without OAuth: an inbound webhook URL that holds its own secret.")
@click.option("--replace", is_flag=True, help="Re-authorise an existing connection (stored settings are reused). "
                                             "It must reach the same account.")
@click.option("--new-account", is_flag=True,
              help="With --replace: re-point the connection at another account (or CRM). The old account's "
                   "links are kept in sync.detached_links and never used again; the next pull reads the new "
                   "account from the start.")
@json_option
@project_option
def connect(project: Project, crm: str, name: str, only_url: bool, as_json: bool, **options: object) -> None:
    """Connect a CRM account and store its credentials encrypted in the staging store.

    \b
    OAuth (default): prints the CRM's consent URL, opens a browser if it can, and receives the
    redirect on 127.0.0.1. The connection is checked with one cheap API call before it is saved.
    \b
    Examples:
      crmsync connect amocrm --name sales --subdomain acme --client-id ID   (secret in CRMSYNC_CLIENT_SECRET)
      crmsync connect amocrm --name sales --subdomain acme --long-lived-token TOKEN
      crmsync connect bitrix24 --name b24 --webhook-url https://acme.bitrix24.ru/rest/1/abc123/
      crmsync connect bitrix24 --name b24 --portal https://acme.bitrix24.ru --client-id ID --auth-url
    """
    opts = ConnectOptions(crm=crm, name=name, **options)  # type: ignore[arg-type]
    if only_url:
        result = auth_url(project, opts)
        if as_json:
            echo_json(result.to_dict())
        else:
            click.echo(result.url)
        return

    def show_url(url: str) -> None:
        click.echo(f"Open this URL to authorise crmsync (waiting up to {opts.timeout:.0f} s):\n{url}", err=True)
        sys.stderr.flush()

    connected = do_connect(project, opts, on_url=show_url)
    if as_json:
        echo_json(connected.to_dict())
        return
    account = ", ".join(f"{k} {v}" for k, v in connected.account.items() if v is not None)
    click.echo(f"connected {connected.name}: {connected.crm} via {connected.auth}, {connected.base_url}"
               + (f" ({account})" if account else ""))
    if connected.detached is not None:
        click.echo(f"detached the previous account's {connected.detached['links']} links and "
                   f"{connected.detached['outbox']} unsent writes (kept in sync.detached_links and sync.outbox); "
                   f"the next pull reads the new account from the start")

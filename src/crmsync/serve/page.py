"""The status page at ``/``: one static HTML file over the API (no build step, no data without a key).

It asks for an API key once and keeps it in the tab's sessionStorage (gone when the tab closes,
never in a cookie or the URL), then calls the same JSON routes a script would.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

# the page's script and style are inline; everything it fetches is this server's own API
POLICY = "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'"
router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def index() -> HTMLResponse:
    text = resources.files("crmsync.serve").joinpath("static/index.html").read_text(encoding="utf-8")
    return HTMLResponse(text, headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                       "Content-Security-Policy": POLICY})

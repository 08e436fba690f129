"""The clinician viewer and the auditor view: static HTML, CSS and ES modules served at ``/viewer/``.

No build step: the files in ``static/`` are what the browser runs, and they load nothing from outside the
API's origin (the viewer works offline). They call the same ``/v1`` routes as any client, with the API key
the user pastes (kept in the tab's ``sessionStorage`` only).

Why the headers: the viewer shows text written by others (corpus documents, model output), so the page is
locked down even if a renderer were one day to slip: the Content-Security-Policy admits scripts, styles
and connections from this origin only (no inline script, no ``eval``), and Trusted Types with no policy
make any string assigned to an HTML sink (``innerHTML`` and friends) throw in browsers that enforce them.
The JS inserts all such text with ``textContent`` / ``createTextNode`` anyway (a test greps for sinks).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Where the viewer is served; CDS Hooks cards link to ``/viewer/?trace=<audit_id>``.
VIEWER_PATH = "/viewer"
STATIC_DIR = Path(__file__).parent / "static"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    )
)

#: Every viewer response carries these (the API's JSON routes are not pages and do not need them);
#: ``X-Content-Type-Options: nosniff`` comes with every response of the API already.
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


class SecurityHeaders:
    """ASGI wrapper adding :data:`SECURITY_HEADERS` to every HTTP response of the wrapped app."""

    def __init__(self, app: ASGIApp, headers: dict[str, str] | None = None) -> None:
        self.app = app
        self.headers = dict(SECURITY_HEADERS if headers is None else headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def mount_viewer(app: FastAPI, path: str = VIEWER_PATH) -> None:
    """Serve the viewer's static files at ``path`` (``/viewer/`` is ``index.html``) with the security headers."""
    files = StaticFiles(directory=STATIC_DIR, html=True, follow_symlink=False)
    app.mount(path, SecurityHeaders(files), name="viewer")

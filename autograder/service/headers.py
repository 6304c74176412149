"""Security headers on every response the web app sends, pages, files, JSON and streams alike.

The instructor's page shows what learners wrote (names, feedback) and holds an instructor's
token, so a browser is told to run nothing the service did not serve itself:

    Content-Security-Policy   scripts, styles and fetches from this origin only: no inline script, no
                              eval, no other site (the page's own instructor.js and instructor.css are
                              files, ``static/``); the favicon is a ``data:`` URL; no plugins; forms
                              post nowhere (the sign-in form is handled by the script); and
                              ``frame-ancestors 'none'``: no other site may frame the page and
                              trick an instructor into clicking (clickjacking)
    X-Frame-Options: DENY     the same for browsers that predate frame-ancestors
    X-Content-Type-Options    ``nosniff``: a learner's notebook served as JSON is never guessed to be
                              HTML or a script
    Referrer-Policy           ``no-referrer``: a link followed from the page tells no one its address

A pure ASGI middleware rather than Starlette's ``BaseHTTPMiddleware``: it adds headers to the
response's first message and passes everything else through untouched, so the progress
streams (server-sent events) flow as they are written.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

HEADERS = {
    "content-security-policy": POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *(header for header in self.raw if header[0] not in present),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)

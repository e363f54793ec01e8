"""The pure ASGI adapter."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from multidict import CIMultiDict

from ._answers import too_large
from ._handler import Callback, NotificationHandler

ASGIApp = Callable[
    [dict[str, Any], Callable[[], Awaitable[dict[str, Any]]], Callable[[dict[str, Any]], Awaitable[None]]],
    Awaitable[None],
]


def asgi_app(handler: NotificationHandler, callback: Callback) -> ASGIApp:
    """A pure ASGI app for the notification URL.

    Prefer :func:`starlette_endpoint` in FastAPI/Starlette: it answers at exactly the route's
    path. Mounted (``app.mount("/wxpay/notify", asgi_app(h, cb))``) the app answers at
    ``/wxpay/notify/`` only, and Starlette redirects ``POST /wxpay/notify`` there with a 307,
    which WeChat Pay is not documented to follow: register the URL *with* the trailing slash in
    that case. The returned object is not a plain function, so ``app.add_route(path,
    asgi_app(h, cb), methods=["POST"])`` and ``Route(path, asgi_app(h, cb))`` use it as an ASGI
    app too (no redirect).
    """
    return _NotificationASGIApp(handler, callback)


class _NotificationASGIApp:
    """The ASGI callable of :func:`asgi_app` (a class instance, so Starlette routes treat it as ASGI)."""

    def __init__(self, handler: NotificationHandler, callback: Callback) -> None:
        self._handler = handler
        self._callback = callback

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        handler = self._handler
        if scope["type"] != "http":
            return
        if scope.get("method") != "POST":
            await _asgi_json(send, 405, {"code": "FAIL", "message": "POST only"})
            return
        headers = CIMultiDict((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", []))
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body"))
            if len(body) > handler.max_body_bytes:
                await _asgi_json(send, *too_large(handler.max_body_bytes))
                return
        status, payload = await handler.respond(headers, bytes(body), self._callback)
        await _asgi_json(send, status, payload)


async def _asgi_json(send: Callable[[dict[str, Any]], Awaitable[None]], status: int, payload: dict[str, str]) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})

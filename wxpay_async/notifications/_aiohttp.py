"""The ``aiohttp.web`` adapter."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ._answers import too_large
from ._handler import Callback, NotificationHandler


def aiohttp_handler(handler: NotificationHandler, callback: Callback) -> Callable[[Any], Awaitable[Any]]:
    """An ``aiohttp.web`` handler: ``app.router.add_post("/wxpay/notify", aiohttp_handler(h, cb))``."""
    from aiohttp import web

    async def endpoint(request: web.Request) -> web.Response:
        status, payload = await read_and_respond(request)
        return web.json_response(payload, status=status)

    async def read_and_respond(request: web.Request) -> tuple[int, dict[str, str]]:
        if request.content_length is not None and request.content_length > handler.max_body_bytes:
            return too_large(handler.max_body_bytes)
        body = bytearray()
        async for chunk in request.content.iter_chunked(16 * 1024):
            body += chunk
            if len(body) > handler.max_body_bytes:
                return too_large(handler.max_body_bytes)
        return await handler.respond(request.headers, bytes(body), callback)

    return endpoint

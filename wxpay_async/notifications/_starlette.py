"""The Starlette / FastAPI adapter (needs ``starlette``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ._answers import too_large
from ._handler import Callback, NotificationHandler

if TYPE_CHECKING:
    from starlette.requests import Request as StarletteRequest
    from starlette.responses import Response as StarletteResponse


def starlette_endpoint(
    handler: NotificationHandler, callback: Callback
) -> Callable[[StarletteRequest], Awaitable[StarletteResponse]]:
    """A Starlette/FastAPI request handler answering at exactly its route's path (no redirect).

    ``app.add_route("/wxpay/notify", endpoint, methods=["POST"])``, ``app.post("/wxpay/notify")(endpoint)``
    (FastAPI) or ``Route("/wxpay/notify", endpoint, methods=["POST"])``. Needs ``starlette``
    (FastAPI brings it). The body is read up to ``handler.max_body_bytes`` (413 beyond).
    """
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response

    async def endpoint(request: StarletteRequest) -> StarletteResponse:
        status, payload = await read_and_respond(request)
        return JSONResponse(payload, status_code=status)

    async def read_and_respond(request: StarletteRequest) -> tuple[int, dict[str, str]]:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > handler.max_body_bytes:
            return too_large(handler.max_body_bytes)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > handler.max_body_bytes:
                return too_large(handler.max_body_bytes)
        return await handler.respond(request.headers, bytes(body), callback)

    # Real classes, not strings: FastAPI reads the signature to inject the request.
    endpoint.__annotations__ = {"request": Request, "return": Response}
    return endpoint

"""The middleware contract and the chain builder."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from .._request import Request, Response

Handler = Callable[[Request], Awaitable[Response]]


class Middleware(Protocol):
    """``async (request, call_next) -> Response``; a plain async function fits too."""

    def __call__(self, request: Request, call_next: Handler, /) -> Awaitable[Response]: ...


def build_chain(middlewares: Sequence[Middleware], endpoint: Handler) -> Handler:
    """Compose once, run per call: ``middlewares[0]`` is outermost, ``endpoint`` innermost."""
    handler = endpoint
    for middleware in reversed(middlewares):
        handler = _bind(middleware, handler)
    return handler


def _bind(middleware: Middleware, call_next: Handler) -> Handler:
    def handler(request: Request) -> Awaitable[Response]:
        return middleware(request, call_next)

    return handler

"""Calls an ``aiohttp.web.Application`` in the same process, without a socket (for tests)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import StreamReader, web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.test_utils import make_mocked_request

from .._request import Request, Response
from ..errors import APITimeoutError
from ._base import DEFAULT_TIMEOUT, ByteStream, closed_error


class InProcessTransport:
    """Hands each request straight to the application's handler chain.

    It runs the app's own routing and middlewares with the raw target and body, so signatures
    are checked on exactly the bytes the SDK produced; only the socket is skipped. Handlers
    must answer with :class:`aiohttp.web.Response` (not streamed responses).
    """

    def __init__(self, app: web.Application, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._app = app
        self._timeout = timeout
        self._started = False
        self._closed = False

    async def _ensure_started(self) -> None:
        if not self._started:
            self._app.freeze()
            await self._app.startup()
            self._started = True

    async def send(self, request: Request) -> Response:
        if self._closed:
            raise closed_error(request, "InProcessTransport")
        await self._ensure_started()
        loop = asyncio.get_running_loop()
        # The body is all here: a StreamReader fed once, over aiohttp's own protocol class.
        payload = StreamReader(BaseProtocol(loop), limit=2**16, loop=loop)
        payload.feed_data(request.content)
        payload.feed_eof()
        timeout = request.timeout if request.timeout is not None else self._timeout
        try:
            async with asyncio.timeout(timeout):
                handled: Any = await self._dispatch(request, payload)
        except TimeoutError as exc:
            raise APITimeoutError(f"{request.method} {request.target} timed out") from exc
        except web.HTTPException as exc:
            handled = exc
        body = handled.body if isinstance(handled.body, bytes) else b""
        return Response(status=handled.status, headers=handled.headers, content=body, request=request)

    async def _dispatch(self, request: Request, payload: StreamReader) -> web.StreamResponse:
        """The app's routing and middlewares through aiohttp's public API only.

        ``UrlDispatcher.resolve`` finds the handler (a 404/405 "handler" raises the HTTP error);
        the app's ``@web.middleware`` middlewares wrap it, outermost first, as aiohttp chains
        them. Old-style middleware factories (deprecated by aiohttp) are not supported.
        """

        def mocked(match_info: Mapping[str, str] | None = None) -> web.Request:
            extra: dict[str, Any] = {} if match_info is None else {"match_info": dict(match_info)}
            return make_mocked_request(
                request.method, request.target, headers=request.headers, payload=payload, app=self._app, **extra
            )

        resolved = await self._app.router.resolve(mocked())
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]] = resolved.handler
        apps = [self._app, *(app for app in resolved.apps if app is not self._app)]  # outermost first
        for app in reversed(apps):
            for middleware in reversed(app.middlewares):
                handler = functools.partial(middleware, handler=handler)
        return await handler(mocked(resolved))

    @asynccontextmanager
    async def stream(self, request: Request) -> AsyncIterator[ByteStream]:
        response = await self.send(request)

        async def chunks() -> AsyncIterator[bytes]:
            yield response.content

        yield ByteStream(status=response.status, headers=response.headers, chunks=chunks())

    async def aclose(self) -> None:
        self._closed = True
        if self._started:
            await self._app.shutdown()
            await self._app.cleanup()
            self._started = False

"""The default transport: one pooled aiohttp ClientSession."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import aiohttp
from yarl import URL

from .._request import Request, Response
from ..errors import APIConnectionError, APITimeoutError
from ._base import DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, ByteStream

_CHUNK = 64 * 1024


@contextmanager
def _mapped_errors(request: Request, timeout: float | None) -> Iterator[None]:
    """aiohttp's failures as the SDK's: the caller only ever sees WxPayError subclasses."""
    try:
        yield
    except TimeoutError as exc:
        raise APITimeoutError(f"{request.method} {request.target} timed out after {timeout}s") from exc
    except aiohttp.ClientError as exc:
        raise APIConnectionError(f"{request.method} {request.target} failed: {exc!r}") from exc


class AiohttpTransport:
    """Sends through one pooled :class:`aiohttp.ClientSession`.

    A session passed in by the caller is used as is and never closed here; otherwise the
    transport creates its own on first use (inside the running loop) and closes it in
    :meth:`aclose`. ``request.timeout`` bounds each exchange; ``timeout`` is the default.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        limit: int = 256,
    ) -> None:
        self._session = session
        self._owns_session = session is None
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._limit = limit

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or (self._owns_session and self._session.closed):
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit),
                timeout=aiohttp.ClientTimeout(total=self._timeout, connect=self._connect_timeout),
                auto_decompress=True,
            )
        return self._session

    def _timeout_for(self, request: Request) -> aiohttp.ClientTimeout:
        total = request.timeout if request.timeout is not None else self._timeout
        return aiohttp.ClientTimeout(total=total, connect=min(self._connect_timeout, total))

    def _open(self, request: Request) -> aiohttp.client._RequestContextManager:
        return self._get_session().request(
            request.method,
            URL(request.url, encoded=True),  # never re-encode: the signed target is what we send
            headers=request.headers,
            data=request.content if request.content or request.method not in ("GET", "HEAD") else None,
            timeout=self._timeout_for(request),
            allow_redirects=False,
        )

    async def send(self, request: Request) -> Response:
        with _mapped_errors(request, self._timeout_for(request).total):
            async with self._open(request) as resp:
                content = await resp.read()
                return Response(status=resp.status, headers=resp.headers, content=content, request=request)

    @asynccontextmanager
    async def stream(self, request: Request) -> AsyncIterator[ByteStream]:
        with _mapped_errors(request, self._timeout_for(request).total):
            async with self._open(request) as resp:

                async def chunks() -> AsyncIterator[bytes]:
                    with _mapped_errors(request, self._timeout_for(request).total):
                        async for chunk in resp.content.iter_chunked(_CHUNK):
                            yield chunk

                yield ByteStream(status=resp.status, headers=resp.headers, chunks=chunks())

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

"""Transport over httpx.AsyncClient (install the ``httpx`` extra)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
from multidict import CIMultiDict, CIMultiDictProxy

from .._request import Headers, Request, Response
from ..errors import APIConnectionError, APITimeoutError
from ._base import DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, ByteStream


@contextmanager
def _mapped_errors(request: Request) -> Iterator[None]:
    """httpx's failures as the SDK's: the caller only ever sees WxPayError subclasses."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise APITimeoutError(f"{request.method} {request.target} timed out") from exc
    except httpx.HTTPError as exc:
        raise APIConnectionError(f"{request.method} {request.target} failed: {exc!r}") from exc


class HttpxTransport:
    """Sends through one :class:`httpx.AsyncClient`; a caller's client is used but never closed."""

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        limit: int = 256,
    ) -> None:
        self._owns_client = client is None
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._client = client or httpx.AsyncClient(
            limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
        )

    def _build(self, request: Request) -> httpx.Request:
        total = request.timeout if request.timeout is not None else self._timeout
        return self._client.build_request(
            request.method,
            request.url,
            headers=list(request.headers.items()),
            content=request.content if request.content else None,
            timeout=httpx.Timeout(total, connect=min(self._connect_timeout, total)),
        )

    async def send(self, request: Request) -> Response:
        with _mapped_errors(request):
            resp = await self._client.send(self._build(request))
            try:
                content = await resp.aread()
            finally:
                await resp.aclose()
        return Response(status=resp.status_code, headers=_headers(resp), content=content, request=request)

    @asynccontextmanager
    async def stream(self, request: Request) -> AsyncIterator[ByteStream]:
        with _mapped_errors(request):
            resp = await self._client.send(self._build(request), stream=True)
        try:

            async def chunks() -> AsyncIterator[bytes]:
                with _mapped_errors(request):
                    async for chunk in resp.aiter_bytes():
                        yield chunk

            yield ByteStream(status=resp.status_code, headers=_headers(resp), chunks=chunks())
        finally:
            await resp.aclose()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


def _headers(resp: httpx.Response) -> Headers:
    return CIMultiDictProxy(CIMultiDict(resp.headers.multi_items()))

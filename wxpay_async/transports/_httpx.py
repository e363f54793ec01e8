"""Transport over httpx.AsyncClient (install the ``httpx`` extra)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from multidict import CIMultiDict, CIMultiDictProxy

from .._request import Headers, Request, Response
from ..errors import APIConnectionError, APITimeoutError, NotSentError, WxPayError
from ._base import (
    ACCEPT_ENCODING,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_POOL_SIZE,
    DEFAULT_TIMEOUT,
    BoundedBody,
    ByteStream,
    PoolGate,
    closed_error,
    foreign_reason,
    open_stream,
    pool_timeout,
)


def _mapped(request: Request, timeout: float | None, exc: BaseException) -> APIConnectionError:
    """httpx's failure as the SDK's, with our own redacted text; callers raise it after ``except``."""
    if isinstance(exc, httpx.PoolTimeout):  # a caller's client with its own pool
        return pool_timeout(request, timeout, None)
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return NotSentError(f"{request.method} {request.target}: could not connect: {foreign_reason(exc)}")
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return APITimeoutError(f"{request.method} {request.target} timed out after {timeout}s")
    return APIConnectionError(f"{request.method} {request.target} failed: {foreign_reason(exc)}")


# Beyond the library's own errors: whatever it (or what it runs on) raises for a request it
# cannot build or send - ValueError, TypeError, OverflowError, an ExceptionGroup... The SDK
# checks its inputs first; this is the last line, so only WxPayError subclasses reach callers
# (as APIConnectionError: whether anything was sent is not known).
_FAILURES = (TimeoutError, httpx.HTTPError, Exception)


class HttpxTransport:
    """Sends through one :class:`httpx.AsyncClient`; a caller's client is used but never closed.

    ``request.timeout`` (default ``timeout``) is one deadline for the whole exchange, not a
    per-read timeout: a server dripping a byte at a time cannot stretch it. Bodies are read raw
    and decoded here in bounded steps, refused past ``request.max_response_bytes``.
    """

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        limit: int = DEFAULT_POOL_SIZE,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self._owns_client = client is None
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._max_response_bytes = max_response_bytes
        self._closed = False
        self._limit = limit
        self._timeouts: tuple[float, httpx.Timeout] | None = None
        # Our own client: calls wait for a connection here, first come first served, so a
        # timeout while waiting is known to have sent nothing (PoolTimeoutError).
        self._gate: PoolGate | None = PoolGate(limit) if client is None else None
        self._client = client or httpx.AsyncClient(
            limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
        )

    def _total(self, request: Request) -> float:
        return request.timeout if request.timeout is not None else self._timeout

    def _build(self, request: Request) -> httpx.Request:
        if self._closed or self._client.is_closed:
            raise closed_error(request, "HttpxTransport" if self._closed else "caller's httpx client")
        total = self._total(request)
        headers = list(request.headers.items())
        if "Accept-Encoding" not in request.headers:
            headers.append(("Accept-Encoding", ACCEPT_ENCODING))  # only codings BodyDecoder knows
        return self._client.build_request(
            request.method,
            request.url,
            headers=headers,
            content=request.content if request.content else None,
            timeout=self._httpx_timeout(total),
        )

    def _checked_build(self, request: Request) -> httpx.Request:
        """:meth:`_build`, with whatever httpx refuses in a request (bad URL, header...) as the SDK's error."""
        try:
            return self._build(request)
        except WxPayError:
            raise
        except _FAILURES as exc:
            error = _mapped(request, self._total(request), exc)
        raise error

    def _httpx_timeout(self, total: float) -> httpx.Timeout:
        """httpx's own timeouts (reused while the attempt's timeout is the same)."""
        cached = self._timeouts
        if cached is None or cached[0] != total:
            cached = self._timeouts = (total, httpx.Timeout(total, connect=min(self._connect_timeout, total)))
        return cached[1]

    async def send(self, request: Request) -> Response:
        built = self._checked_build(request)
        total = self._total(request)
        limit = request.max_response_bytes if request.max_response_bytes is not None else self._max_response_bytes
        gate = self._gate
        admitted = gate is None
        try:
            async with asyncio.timeout(total):  # the whole attempt, not each read
                if gate is not None:
                    await gate.acquire()
                    admitted = True
                try:
                    resp = await self._client.send(built, stream=True)
                    try:
                        headers = _headers(resp)
                        body = BoundedBody(request, headers, limit, decode=True)
                        async for chunk in resp.aiter_raw():
                            body.feed(chunk)
                    finally:
                        await resp.aclose()
                finally:
                    if gate is not None:
                        gate.release()
            return Response(status=resp.status_code, headers=headers, content=body.value(), request=request)
        except WxPayError:
            raise
        except _FAILURES as exc:
            waited = not admitted and isinstance(exc, TimeoutError)
            error = pool_timeout(request, total, self._limit) if waited else _mapped(request, total, exc)
        raise error  # outside the except block: nothing of httpx's is chained

    @asynccontextmanager
    async def stream(self, request: Request) -> AsyncIterator[ByteStream]:
        built = self._checked_build(request)
        total = self._total(request)
        deadline = asyncio.get_running_loop().time() + total  # the whole download, like send()
        try:
            async with asyncio.timeout_at(deadline):
                resp: httpx.Response | None = await self._client.send(built, stream=True)
        except WxPayError:
            raise
        except _FAILURES as exc:
            error = _mapped(request, total, exc)
            resp = None
        if resp is None:
            raise error
        try:
            headers = _headers(resp)
            yield open_stream(
                request,
                status=resp.status_code,
                headers=headers,
                encoding=headers.get("Content-Encoding"),
                raw=resp.aiter_raw(),
                deadline=deadline,
                failures=_FAILURES,
                mapped=lambda exc: _mapped(request, total, exc),
            )
        finally:
            await resp.aclose()

    async def aclose(self) -> None:
        self._closed = True
        if self._owns_client:
            await self._client.aclose()


def _headers(resp: httpx.Response) -> Headers:
    return CIMultiDictProxy(CIMultiDict(resp.headers.multi_items()))

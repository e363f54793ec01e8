"""The default transport: one pooled aiohttp ClientSession."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Protocol

import aiohttp
from aiohttp import hdrs
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .._request import Request, Response, make_response
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
from ._proxy import redact_userinfo, shown_proxy, split_proxy

_CHUNK = 64 * 1024


class PendingResponse(Awaitable[aiohttp.ClientResponse], Protocol):
    """What ``ClientSession.request()`` returns, by its public behaviour: awaited, or entered with
    ``async with`` (aiohttp's own class for it, ``_RequestContextManager``, is private)."""

    async def __aenter__(self) -> aiohttp.ClientResponse: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


def _mapped(request: Request, timeout: float | None, exc: BaseException) -> APIConnectionError:
    """aiohttp's failure as the SDK's: the caller only ever sees WxPayError subclasses.

    The message is built here (class name and a redacted reason), and callers raise it *after*
    their ``except`` block: aiohttp's exceptions carry the request headers, Authorization
    included, so they are neither embedded in the text nor kept as ``__cause__``/``__context__``.
    """
    if isinstance(exc, aiohttp.ClientConnectorError | _CONNECT_TIMEOUT):
        # No connection was made: nothing went on the wire.
        return NotSentError(f"{request.method} {request.target}: could not connect: {foreign_reason(exc)}")
    if isinstance(exc, TimeoutError):
        return APITimeoutError(f"{request.method} {request.target} timed out after {timeout}s")
    return APIConnectionError(f"{request.method} {request.target} failed: {redact_userinfo(foreign_reason(exc))}")


# aiohttp >= 3.10 tells a connect timeout apart from a read timeout.
_CONNECT_TIMEOUT: type[BaseException] = getattr(aiohttp, "ConnectionTimeoutError", aiohttp.ClientConnectorError)


# Beyond the library's own errors: whatever it (or what it runs on) raises for a request it
# cannot build or send - ValueError, TypeError, OverflowError, an ExceptionGroup... The SDK
# checks its inputs first; this is the last line, so only WxPayError subclasses reach callers
# (as APIConnectionError: whether anything was sent is not known).
_FAILURES = (TimeoutError, aiohttp.ClientError, Exception)


class AiohttpTransport:
    """Sends through one pooled :class:`aiohttp.ClientSession`.

    A session passed in by the caller is used as is and never closed here; otherwise the
    transport creates its own on first use (inside the running loop) and closes it in
    :meth:`aclose`, after which it refuses requests. ``request.timeout`` (default ``timeout``)
    bounds each whole exchange, body included, whatever the server does; answers are read
    incrementally and refused past ``request.max_response_bytes`` (default
    ``max_response_bytes``), measured after decompression.

    ``proxy`` (``http://[user:pass@]host:port``) sends every request through that proxy; its
    credentials go in ``Proxy-Authorization`` and are never shown (reprs and errors say ``***``).
    ``trust_env=True`` lets a session made here follow ``HTTP(S)_PROXY``/``NO_PROXY`` (and
    ``.netrc``); by default the environment is ignored. An explicit ``proxy`` wins over both.

    ``limit`` is the pool size (default 256): at most that many calls are on the wire at once;
    the others wait their turn, first come first served, within their own timeout. A call whose
    timeout runs out while waiting raises :class:`~wxpay_async.errors.PoolTimeoutError` (never
    sent, safe to retry), a failed connect :class:`~wxpay_async.errors.NotSentError`.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        limit: int = DEFAULT_POOL_SIZE,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        proxy: str | URL | None = None,
        trust_env: bool = False,
    ) -> None:
        self._proxy, self._proxy_headers = split_proxy(proxy)
        self._trust_env = trust_env
        self._session = session
        self._owns_session = session is None
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._limit = limit
        self._max_response_bytes = max_response_bytes
        self._closed = False
        self._timeouts: dict[tuple[float | None, float], aiohttp.ClientTimeout] = {}
        self._gate: PoolGate | None = None

    def __repr__(self) -> str:
        return f"AiohttpTransport(proxy={shown_proxy(self._proxy, self._proxy_headers)!r}, trust_env={self._trust_env})"

    def _get_session(self, request: Request) -> aiohttp.ClientSession:
        session = self._session
        if session is not None and not self._closed and not session.closed:
            return session  # the common case, in one test
        if self._closed or (not self._owns_session and self._session is not None and self._session.closed):
            raise closed_error(request, "AiohttpTransport" if self._closed else "caller's aiohttp session")
        if self._session is None or (self._owns_session and self._session.closed):
            self._gate = PoolGate(self._limit)  # first come, first served; the connector never queues
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit),
                timeout=aiohttp.ClientTimeout(total=self._timeout, connect=self._connect_timeout),
                # Decoded here, in bounded steps: a compressed bomb never inflates in one go.
                auto_decompress=False,
                trust_env=self._trust_env,
            )
        return self._session

    def _total(self, request: Request) -> float:
        return request.timeout if request.timeout is not None else self._timeout

    def _open(
        self, request: Request, session: aiohttp.ClientSession, timeout: aiohttp.ClientTimeout
    ) -> PendingResponse:
        headers = request.headers
        if hdrs.ACCEPT_ENCODING not in headers and not _decompresses(session):
            merged = CIMultiDict(headers)
            merged["Accept-Encoding"] = ACCEPT_ENCODING  # only codings BodyDecoder knows
            headers = CIMultiDictProxy(merged)
        if self._proxy_headers and request.url.startswith("http://"):
            # A plain-HTTP request goes to the proxy as is; https ones get it on CONNECT instead.
            merged = CIMultiDict(headers)
            merged.update(self._proxy_headers)
            headers = CIMultiDictProxy(merged)
        return session.request(
            request.method,
            URL(request.url, encoded=True),  # never re-encode: the signed target is what we send
            headers=headers,
            data=request.content if request.content or request.method not in ("GET", "HEAD") else None,
            timeout=timeout,
            allow_redirects=False,
            proxy=self._proxy,
            proxy_headers=self._proxy_headers,
        )

    def _client_timeout(self, total: float, *, whole: bool = False) -> aiohttp.ClientTimeout:
        """aiohttp's own timeouts: connect, and with ``whole`` the attempt's total too.

        Without ``whole`` the caller's ``asyncio.timeout`` bounds the whole attempt. A total here
        covers everything up to the release of the connection, body reads included; it is never
        rounded up to a whole second (``ceil_threshold``), like the ``asyncio.timeout`` it replaces.
        """
        connect = min(self._connect_timeout, total)
        key = (total if whole else None, connect)
        cached = self._timeouts.get(key)
        if cached is None:
            if len(self._timeouts) >= 16:  # per-attempt timeouts shortened by a retry deadline vary
                self._timeouts.clear()
            cached = self._timeouts[key] = aiohttp.ClientTimeout(total=key[0], connect=connect, ceil_threshold=math.inf)
        return cached

    async def send(self, request: Request) -> Response:
        session = self._get_session(request)
        total = self._total(request)
        limit = request.max_response_bytes if request.max_response_bytes is not None else self._max_response_bytes
        gate = self._gate
        held = gate is not None and gate.try_acquire()
        if (held or gate is None) and 0 < total < math.inf:
            # A slot taken at once (no wait): aiohttp's own total timeout is the attempt's one
            # deadline (connect, headers and every body byte, until the connection is released),
            # so no asyncio.timeout of ours is made per call.
            try:
                return await self._exchange(request, session, limit, self._client_timeout(total, whole=True))
            except WxPayError:
                raise
            except _FAILURES as exc:
                error = _mapped(request, total, exc)
            finally:
                if held:
                    gate.release()  # type: ignore[union-attr]
            raise error  # outside the except block: nothing of aiohttp's is chained
        admitted = gate is None or held
        try:
            # One deadline for the wait for a pool connection and the whole attempt.
            async with asyncio.timeout(total):
                if not admitted:
                    await gate.acquire()  # type: ignore[union-attr]
                    held = admitted = True
                return await self._exchange(request, session, limit, self._client_timeout(total))
        except WxPayError:
            raise
        except _FAILURES as exc:
            waited = not admitted and isinstance(exc, TimeoutError)
            error = pool_timeout(request, total, self._limit) if waited else _mapped(request, total, exc)
        finally:
            if held:
                gate.release()  # type: ignore[union-attr]
        raise error

    async def _exchange(
        self, request: Request, session: aiohttp.ClientSession, limit: int, timeout: aiohttp.ClientTimeout
    ) -> Response:
        """One request and its whole answer, read within ``limit`` bytes (under the caller's deadline)."""
        async with self._open(request, session, timeout) as resp:
            headers = resp.headers
            length = headers.get(hdrs.CONTENT_LENGTH, "")  # istr names: the faster lookup
            encoding = headers.get(hdrs.CONTENT_ENCODING)
            if length.isdigit() and int(length) <= limit and (encoding is None or _identity(encoding)):
                # The common answer: announced within the cap, nothing to decode;
                # aiohttp reads no more than Content-Length, so one read() is bounded.
                content = await resp.read()
            else:
                body = BoundedBody(request, headers, limit, decode=not _decompresses(session))
                async for chunk in resp.content.iter_chunked(_CHUNK):
                    body.feed(chunk)
                content = body.value()
            return make_response(status=resp.status, headers=headers, content=content, request=request, verified=False)

    @asynccontextmanager
    async def stream(self, request: Request) -> AsyncIterator[ByteStream]:
        session = self._get_session(request)
        total = self._total(request)
        deadline = asyncio.get_running_loop().time() + total  # the whole download, like send()
        gate = self._gate
        admitted = gate is None
        try:
            async with asyncio.timeout_at(deadline):
                if gate is not None:
                    await gate.acquire()
                    admitted = True
                resp = await self._open(request, session, self._client_timeout(total))
        except _FAILURES as exc:
            waited = not admitted and isinstance(exc, TimeoutError)
            error = pool_timeout(request, total, self._limit) if waited else _mapped(request, total, exc)
            resp = None
        except BaseException:
            if admitted and gate is not None:
                gate.release()
            raise
        if resp is None:
            if admitted and gate is not None:
                gate.release()
            raise error
        try:
            yield open_stream(
                request,
                status=resp.status,
                headers=resp.headers,
                encoding=None if _decompresses(session) else resp.headers.get("Content-Encoding"),
                raw=resp.content.iter_chunked(_CHUNK),
                deadline=deadline,
                failures=_FAILURES,
                mapped=lambda exc: _mapped(request, total, exc),
            )
        finally:
            resp.release()
            if gate is not None:
                gate.release()

    async def aclose(self) -> None:
        self._closed = True
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()


def _decompresses(session: aiohttp.ClientSession) -> bool:
    """Whether aiohttp itself undoes Content-Encoding (a caller's session may ask it to)."""
    return bool(getattr(session, "auto_decompress", True))


def _identity(encoding: str | None) -> bool:
    return encoding is None or encoding.strip().lower() in ("", "identity")

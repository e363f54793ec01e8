"""The transport contract."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, runtime_checkable

import attrs

from .._request import DEFAULT_MAX_RESPONSE_BYTES, Headers, Request, Response, redact_text, redacted_headers
from ..errors import APIConnectionError, PoolTimeoutError, ResponseTooLargeError, TransportClosedError

#: Seconds for one HTTP exchange when neither the client nor the call says otherwise.
DEFAULT_TIMEOUT = 30.0
#: Seconds to establish a connection.
DEFAULT_CONNECT_TIMEOUT = 10.0
#: Connections a transport keeps to WeChat Pay (calls beyond it wait, first come first served).
DEFAULT_POOL_SIZE = 256
#: The content codings the transports decode themselves (incrementally, bounded).
ACCEPT_ENCODING = "gzip, deflate"
#: Most bytes one decompression step may produce: a bomb never inflates in one go.
DECODE_PIECE = 64 * 1024

__all__ = [
    "ACCEPT_ENCODING",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_POOL_SIZE",
    "DEFAULT_TIMEOUT",
    "BodyDecoder",
    "BoundedBody",
    "ByteStream",
    "Transport",
    "closed_error",
    "foreign_reason",
]


def foreign_reason(exc: BaseException) -> str:
    """``ClassName: reason`` of an HTTP library's exception, without headers or credentials.

    aiohttp's exception reprs embed the request headers (the live Authorization header), so
    only the class name and a short, redacted reason are ever shown.
    """
    reason: Any = getattr(exc, "message", None)  # aiohttp ClientResponseError: no RequestInfo
    if not isinstance(reason, str) or not reason:
        try:
            reason = str(exc)
        except Exception:
            reason = ""
    reason = redact_text(" ".join(str(reason).split()))[:300]
    return f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__


def closed_error(request: Request, transport: str) -> TransportClosedError:
    return TransportClosedError(
        f"{request.method} {request.target}: the {transport} is closed (aclose() was called); nothing was sent"
    )


def pool_timeout(request: Request, timeout: float | None, size: int | None) -> PoolTimeoutError:
    pool = f"the pool of {size}" if size is not None else "the pool"
    return PoolTimeoutError(
        f"{request.method} {request.target}: no free connection in {pool} within {timeout}s; "
        "nothing was sent (safe to retry; raise pool_size or lower the concurrency)"
    )


class PoolGate:
    """Admission to a transport's own connection pool: first come, first served.

    The transport holds a slot from before it asks its HTTP library for a connection until the
    answer is read, so the library never queues; a call that times out while waiting here was
    never sent, and says so (:class:`PoolTimeoutError`), unlike a timeout on the wire.

    A FIFO semaphore with a synchronous :meth:`try_acquire`: the common call (a slot free, no one
    waiting) takes it without a coroutine, and a released slot passes straight to the longest waiter.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"pool size must be at least 1, got {size}")
        self.size = size
        self._free = size
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def locked(self) -> bool:
        """True when :meth:`acquire` would wait (no free slot, or others already waiting)."""
        return not self._free or bool(self._waiters)

    def try_acquire(self) -> bool:
        """Take a slot now if one is free and no one waits before us (True), else False."""
        if self._free and not self._waiters:
            self._free -= 1
            return True
        return False

    async def acquire(self) -> None:
        """Wait for a slot (run it under the attempt's deadline; a timeout here: never sent)."""
        if self.try_acquire():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot just as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # not cancelled meanwhile
                waiter.set_result(None)
                return
        self._free += 1


def too_large(request: Request, limit: int, what: str = "answer") -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"{request.method} {request.target}: {what} exceeds the {limit}-byte cap (max_response_bytes)",
        limit=limit,
        idempotency_key=request.idempotency_key,
    )


async def decoded_chunks(
    request: Request,
    raw: AsyncIterator[bytes],
    decoder: BodyDecoder,
    *,
    deadline: float,
    failures: tuple[type[BaseException], ...],
    mapped: Callable[[BaseException], APIConnectionError],
) -> AsyncIterator[bytes]:
    """A transport's raw body chunks, each read before ``deadline``, decoded lazily.

    A library failure is turned into the SDK's error *after* the ``except`` block (``mapped``),
    so no foreign exception (they carry request headers) survives as context; a bomb chunk is
    decoded piece by piece and never sits in memory whole.
    """
    while True:
        failure = None
        try:
            async with asyncio.timeout_at(deadline):
                chunk = await anext(raw, None)
        except failures as exc:
            failure = mapped(exc)
        if failure is not None:
            raise failure
        if chunk is None:
            return
        pieces = decoder.feed(chunk)
        while True:
            try:
                piece = next(pieces)
            except StopIteration:
                break
            except ValueError as exc:
                raise APIConnectionError(f"{request.method} {request.target}: {exc}") from None
            yield piece


class BodyDecoder:
    """Undoes ``Content-Encoding`` (gzip, deflate) incrementally, at most DECODE_PIECE bytes a step."""

    def __init__(self, encoding: str | None) -> None:
        coding = (encoding or "").strip().lower()
        self._gzip = coding in ("gzip", "x-gzip")
        self._deflate = coding == "deflate"
        if coding not in ("", "identity") and not (self._gzip or self._deflate):
            raise ValueError(f"unsupported Content-Encoding {coding!r}")
        self._z: Any = zlib.decompressobj(16 + zlib.MAX_WBITS) if self._gzip else None

    def feed(self, data: bytes) -> Iterator[bytes]:
        if not (self._gzip or self._deflate):
            if data:
                yield data
            return
        if self._z is None:  # deflate: zlib-wrapped as the RFC says, or raw as some servers send
            if not data:
                return
            wrapped = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._z = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        buf = data
        while True:
            try:
                out = self._z.decompress(buf, DECODE_PIECE)
            except zlib.error as exc:
                raise ValueError(f"corrupt {'gzip' if self._gzip else 'deflate'} body: {exc}") from None
            buf = self._z.unconsumed_tail
            if out:
                yield out
            if self._z.eof:
                rest = self._z.unused_data
                if not (self._gzip and rest.strip(b"\0")):
                    return
                self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)  # another gzip member
                buf = rest
                continue
            if not buf and len(out) < DECODE_PIECE:
                return


class BoundedBody:
    """Collects a decoded body, raising ResponseTooLargeError as soon as it passes ``limit``."""

    def __init__(self, request: Request, headers: Headers, limit: int, *, decode: bool) -> None:
        self._request = request
        self._limit = limit
        self._buffer = bytearray()
        length = headers.get("Content-Length", "")
        if length.strip().isdigit() and int(length) > limit:
            raise too_large(request, limit, f"answer announced as {int(length)} bytes")
        try:
            self._decoder = BodyDecoder(headers.get("Content-Encoding") if decode else None)
        except ValueError as exc:
            raise APIConnectionError(f"{request.method} {request.target}: {exc}") from None

    def feed(self, chunk: bytes) -> None:
        try:
            for piece in self._decoder.feed(chunk):
                if len(self._buffer) + len(piece) > self._limit:
                    raise too_large(self._request, self._limit)
                self._buffer += piece
        except ValueError as exc:
            raise APIConnectionError(f"{self._request.method} {self._request.target}: {exc}") from None

    def value(self) -> bytes:
        return bytes(self._buffer)


@attrs.frozen(kw_only=True)
class ByteStream:
    """An open streaming response: read ``chunks`` while the context manager is open."""

    status: int
    headers: Headers
    chunks: AsyncIterator[bytes]

    def __repr__(self) -> str:
        return f"ByteStream(status={self.status!r}, headers={redacted_headers(self.headers)!r})"


@runtime_checkable
class Transport(Protocol):
    async def send(self, request: Request) -> Response:
        """Send the request exactly as given and return the fully read response."""
        ...

    def stream(self, request: Request) -> AbstractAsyncContextManager[ByteStream]:
        """Send the request and stream the body (file downloads), releasing on exit."""
        ...

    async def aclose(self) -> None:
        """Release pooled connections the transport created (never a user-supplied session)."""
        ...


def open_stream(
    request: Request,
    *,
    status: int,
    headers: Headers,
    encoding: str | None,
    raw: AsyncIterator[bytes],
    deadline: float,
    failures: tuple[type[BaseException], ...],
    mapped: Callable[[BaseException], APIConnectionError],
) -> ByteStream:
    """A streamed answer as the transports hand it out: ``raw`` decoded per ``encoding`` (the
    Content-Encoding still to undo, None when there is none), chunk by chunk before ``deadline``
    (:func:`decoded_chunks`). An unknown coding is refused as :class:`APIConnectionError`."""
    try:
        decoder = BodyDecoder(encoding)
    except ValueError as exc:
        raise APIConnectionError(f"{request.method} {request.target}: {exc}") from None
    chunks = decoded_chunks(request, raw, decoder, deadline=deadline, failures=failures, mapped=mapped)
    return ByteStream(status=status, headers=headers, chunks=chunks)

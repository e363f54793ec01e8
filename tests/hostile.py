"""A hostile HTTP peer for the hardening tests: an aiohttp.web app that misbehaves on purpose.

Routes (all unsigned unless noted; the SDK must fail safely before or at verification):

- ``/bad-header``: a raw response with a malformed header line.
- ``/bomb``: a gzip bomb (``Content-Encoding: gzip``; ~250 KiB inflating to ``BOMB_SIZE``).
- ``/big``: ``?mib=N`` MiB streamed chunked, no Content-Length; ``&announce=1`` sends one.
- ``/drip``: a 60-byte body sent one byte every 0.2 s (12 s in all).
- ``/flow``: a plain body of ``?bytes=N`` bytes (for flow downloads).
"""

from __future__ import annotations

import asyncio
import functools
import zlib

from aiohttp import web

BOMB_SIZE = 256 * 1024 * 1024
DRIP_BYTES = 60
DRIP_EVERY = 0.2
_MIB = 1024 * 1024


@functools.cache
def gzip_bomb() -> bytes:
    """``BOMB_SIZE`` zero bytes, gzip-compressed (about 255 KiB), built once per process."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(_MIB)
    parts = [z.compress(zeros) for _ in range(BOMB_SIZE // _MIB)]
    parts.append(z.flush())
    return b"".join(parts)


async def bad_header(request: web.Request) -> web.StreamResponse:
    assert request.transport is not None
    request.transport.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
        b"X-Broken\x01Header: \x00oops\r\nno colon on this line\r\n\r\n{}"
    )
    request.transport.close()
    raise asyncio.CancelledError


async def bomb(request: web.Request) -> web.Response:
    return web.Response(body=gzip_bomb(), headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})


async def big(request: web.Request) -> web.StreamResponse:
    total = int(request.query.get("mib", "100")) * _MIB
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    if request.query.get("announce"):
        resp.content_length = total
    else:
        resp.enable_chunked_encoding()
    await resp.prepare(request)
    chunk = b"x" * (64 * 1024)
    try:
        for _ in range(total // len(chunk)):
            await resp.write(chunk)
    except (ConnectionError, RuntimeError):
        pass  # the client hung up, as it should
    return resp


async def drip(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    resp.content_length = DRIP_BYTES
    await resp.prepare(request)
    try:
        for _ in range(DRIP_BYTES):
            await resp.write(b" ")
            await asyncio.sleep(DRIP_EVERY)
    except (ConnectionError, RuntimeError):
        pass
    return resp


async def flow(request: web.Request) -> web.Response:
    return web.Response(body=b"y" * int(request.query.get("bytes", "1024")), content_type="text/csv")


def hostile_app() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/bad-header", bad_header)
    app.router.add_route("*", "/bomb", bomb)
    app.router.add_route("*", "/big", big)
    app.router.add_route("*", "/drip", drip)
    app.router.add_route("*", "/flow", flow)
    return app

"""Pluggable HTTP transports: the only part of the SDK that knows an HTTP library.

A transport turns a :class:`~wxpay_async.Request` into a fully read
:class:`~wxpay_async.Response` and maps its library's failures to
:class:`~wxpay_async.errors.APIConnectionError` / :class:`~wxpay_async.errors.APITimeoutError`.
"""

from typing import TYPE_CHECKING

from ._aiohttp import AiohttpTransport
from ._base import DEFAULT_POOL_SIZE, DEFAULT_TIMEOUT, ByteStream, Transport

if TYPE_CHECKING:
    from ._httpx import HttpxTransport
    from ._inprocess import InProcessTransport

__all__ = [
    "DEFAULT_POOL_SIZE",
    "DEFAULT_TIMEOUT",
    "AiohttpTransport",
    "ByteStream",
    "HttpxTransport",
    "InProcessTransport",
    "Transport",
]


def __getattr__(name: str) -> object:
    # httpx is an optional extra, and the in-process transport (tests, the emulator) pulls in
    # aiohttp.web: both are imported only when asked for.
    if name == "HttpxTransport":
        from ._httpx import HttpxTransport

        return HttpxTransport
    if name == "InProcessTransport":
        from ._inprocess import InProcessTransport

        return InProcessTransport
    raise AttributeError(name)

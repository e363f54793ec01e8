"""Pluggable HTTP transports: the only part of the SDK that knows an HTTP library.

A transport turns a :class:`~wxpay_async.Request` into a fully read
:class:`~wxpay_async.Response` and maps its library's failures to
:class:`~wxpay_async.errors.APIConnectionError` / :class:`~wxpay_async.errors.APITimeoutError`.
"""

from typing import TYPE_CHECKING

from ._aiohttp import AiohttpTransport
from ._base import DEFAULT_TIMEOUT, ByteStream, Transport
from ._inprocess import InProcessTransport

if TYPE_CHECKING:  # the real class for type checkers; imported lazily at run time (httpx extra)
    from ._httpx import HttpxTransport

__all__ = [
    "DEFAULT_TIMEOUT",
    "AiohttpTransport",
    "ByteStream",
    "HttpxTransport",
    "InProcessTransport",
    "Transport",
]


def __getattr__(name: str) -> type:
    # httpx is an optional extra: import it only when asked for.
    if name == "HttpxTransport":
        from ._httpx import HttpxTransport

        return HttpxTransport
    raise AttributeError(name)

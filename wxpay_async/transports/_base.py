"""The transport contract."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

import attrs

from .._request import Headers, Request, Response

#: Seconds for one HTTP exchange when neither the client nor the call says otherwise.
DEFAULT_TIMEOUT = 30.0
#: Seconds to establish a connection.
DEFAULT_CONNECT_TIMEOUT = 10.0


@attrs.frozen(kw_only=True)
class ByteStream:
    """An open streaming response: read ``chunks`` while the context manager is open."""

    status: int
    headers: Headers
    chunks: AsyncIterator[bytes]


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

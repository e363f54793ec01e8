"""One way to get a Redis client for the SDK's shared stores (dedupe, journals)."""

from __future__ import annotations

from typing import Any


def redis_client(url: str, client: Any = None) -> tuple[Any, bool]:
    """The caller's client as is, or a new one from ``url``; the flag says whether we own it.

    A client the SDK did not create is never closed by it. ``redis`` is imported only here, so the
    package works without the ``redis`` extra until a Redis store is used.
    """
    if client is not None:
        return client, False
    import redis.asyncio as redis_asyncio

    return redis_asyncio.from_url(url), True

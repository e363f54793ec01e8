"""One way to get a Redis client for the SDK's shared stores (dedupe, journals)."""

from __future__ import annotations

import importlib
from typing import Any

from .errors import ConfigurationError

#: What to install when a Redis store is used without the ``redis`` extra.
REDIS_EXTRA_HINT = 'Redis support needs the redis extra: pip install "wxpay-async[redis]"'


def require_redis() -> Any:
    """``redis.asyncio``, or a :class:`ConfigurationError` that says how to install it."""
    try:
        return importlib.import_module("redis.asyncio")
    except ModuleNotFoundError as exc:
        if exc.name not in ("redis", "redis.asyncio"):
            raise  # redis is installed but broken: its own error says more than ours would
        raise ConfigurationError(f"{REDIS_EXTRA_HINT} (the redis package is not installed)") from None


def redis_client(url: str, client: Any = None) -> tuple[Any, bool]:
    """The caller's client as is, or a new one from ``url``; the flag says whether we own it.

    A client the SDK did not create is never closed by it. ``redis`` is imported only here, so the
    package works without the ``redis`` extra until a Redis store is used (then the error names
    the extra to install).
    """
    if client is not None:
        return client, False
    return require_redis().from_url(url), True

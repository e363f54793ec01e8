"""One way to get a Redis client for the SDK's shared stores (dedupe, journals, rates, certificates).

URL schemes (redis-py's own clients behind each):

* ``redis://[:password@]host:port/db``, ``rediss://...`` (TLS), ``unix:///path.sock`` — a standalone
  server, ``redis.asyncio.Redis.from_url``;
* ``redis+cluster://[:password@]host:port[/]`` (``rediss+cluster://`` for TLS) — a Redis Cluster
  reached through one of its nodes, ``redis.asyncio.cluster.RedisCluster.from_url``;
* ``redis+sentinel://[:password@]host:port[,host2:port2...]/service_name[/db]``
  (``rediss+sentinel://`` for TLS to the master) — the master that the Sentinels name for
  ``service_name``, ``redis.asyncio.sentinel.Sentinel(...).master_for(service_name)``.
  The password (if any) is the master's; the Sentinels are asked without one.

Every multi-key operation of the SDK keeps its keys in one hash slot with a ``{...}`` hash tag, so
each store works on a Cluster. :func:`mask_url` hides the password wherever a URL is shown.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .errors import ConfigurationError, RedisConfigurationError

#: Where a Redis URL comes from when it is not passed in (the command line reads it here too).
REDIS_URL_ENV = "WXPAY_REDIS_URL"


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for logs, errors and progress lines).

    Everything before the last ``@`` of the URL is credentials, whatever characters the password
    holds (``/``, ``@``, ``:``) and whatever the scheme's case: the user name before the first
    ``:`` is kept, the rest is masked. A ``user@`` without ``:`` is masked whole (some users put
    the password there).
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    if "@" not in rest:
        return url
    userinfo, _, host = rest.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    shown = f"{user}:***" if colon else "***"
    return f"{scheme}{sep}{shown}@{host}"


def _has_credentials(url: str) -> bool:
    return mask_url(url) != url


def redis_url_from(url: str | None = None, url_file: Path | str | None = None) -> str | None:
    """The URL given, else the first line of ``url_file``, else ``$WXPAY_REDIS_URL`` (else None)."""
    if url:
        return url
    if url_file is not None:
        text = Path(url_file).read_text(encoding="utf-8").strip()
        return text.splitlines()[0].strip() if text else None
    return os.environ.get(REDIS_URL_ENV) or None


def hash_tag(name: str) -> str:
    """``{name}``: keys sharing it land in one Cluster hash slot (braces inside are replaced)."""
    return "{" + name.replace("{", "(").replace("}", ")") + "}"


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


def refused_credentials() -> tuple[type[BaseException], ...]:
    """redis-py's errors for a password Redis refuses or a user without the rights a command needs.

    Configuration, not an outage: waiting or falling back cannot fix them. (redis-py makes
    ``AuthenticationError`` a ``ConnectionError``, so callers catch these first.)
    """
    from redis.exceptions import (
        AuthenticationError,
        AuthenticationWrongNumberOfArgsError,
        AuthorizationError,
        NoPermissionError,
    )

    return (AuthenticationError, AuthenticationWrongNumberOfArgsError, AuthorizationError, NoPermissionError)


def redis_client(url: str, client: Any = None) -> tuple[Any, bool]:
    """The caller's client as is, or a new one from ``url``; the flag says whether we own it.

    A client the SDK did not create is never closed by it. ``redis`` is imported only here, so the
    package works without the ``redis`` extra until a Redis store is used (then the error names
    the extra to install).
    """
    if client is not None:
        return client, False
    return connect(url), True


def connect(url: str) -> Any:
    """A redis-py asyncio client for ``url`` (see the module docstring for the schemes)."""
    redis_asyncio = require_redis()  # a ConfigurationError naming the extra when redis is missing

    if not isinstance(url, str):
        raise RedisConfigurationError(f"a Redis URL must be a string, got {type(url).__name__}")
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise RedisConfigurationError(
            f"not a Redis URL: {mask_url(url)!r} (redis://[:password@]host:port/db, rediss://, unix://, "
            "redis+cluster://, redis+sentinel://)"
        )
    base, _, flavour = scheme.partition("+")
    if base not in ("redis", "rediss", "unix") or flavour not in ("", "cluster", "sentinel"):
        raise RedisConfigurationError(
            f"unsupported Redis URL scheme {scheme!r} in {mask_url(url)!r} "
            "(redis, rediss, unix, redis+cluster, redis+sentinel; lower case)"
        )
    try:
        return _connect(redis_asyncio, url, base, flavour, rest)
    except (ValueError, TypeError) as exc:  # redis-py's and urllib's URL parsing
        if isinstance(exc, ConfigurationError):
            raise
        # The parser's own words may quote part of a password (one holding "/" splits the URL
        # there): only quoted when the URL carries no credentials.
        reason = (
            "cannot be parsed (check host, port and database; percent-encode / ? # @ in a password)"
            if _has_credentials(url)
            else str(exc)
        )
        raise RedisConfigurationError(f"invalid Redis URL {mask_url(url)!r}: {reason}") from None


def _connect(redis_asyncio: Any, url: str, base: str, flavour: str, rest: str) -> Any:
    if flavour == "cluster":
        from redis.asyncio.cluster import RedisCluster

        cluster_from_url: Any = RedisCluster.from_url  # typed in some redis-py releases, not in others
        return cluster_from_url(f"{base}://{rest}", **_TIMEOUTS)
    if flavour == "sentinel":
        return _sentinel_master(base, rest)
    from_url: Any = redis_asyncio.from_url  # typed in some redis-py releases, not in others
    return from_url(url, **_TIMEOUTS)


#: Bounded socket waits (a URL's own ``socket_timeout=`` query wins): a silent network fails a
#: call instead of hanging it, and the stores' outage handling takes over.
_TIMEOUTS: dict[str, Any] = {"socket_connect_timeout": 5.0, "socket_timeout": 15.0}


def _sentinel_master(base: str, rest: str) -> Any:
    from redis.asyncio.sentinel import Sentinel

    parts = urlsplit(f"{base}://{rest}")
    password = unquote(parts.password) if parts.password else None
    username = unquote(parts.username) if parts.username else None
    hosts: list[tuple[str, int]] = []
    netloc = parts.netloc.rpartition("@")[2]
    for item in netloc.split(","):
        host, _, port = item.rpartition(":")
        hosts.append((host or item, int(port) if port.isdigit() else 26379))
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise RedisConfigurationError(
            "redis+sentinel:// URL needs the service name: redis+sentinel://host:26379/mymaster[/db]"
        )
    if len(path) > 1 and not path[1].isdigit():
        raise RedisConfigurationError(
            f"redis+sentinel:// URL: the database after the service name is a number, got {path[1]!r}"
        )
    service, db = path[0], int(path[1]) if len(path) > 1 else 0
    kwargs: dict[str, Any] = {"db": db, **_TIMEOUTS}
    if password is not None:
        kwargs["password"] = password
    if username:
        kwargs["username"] = username
    if base == "rediss":
        kwargs["ssl"] = True
    make: Any = Sentinel  # typed in some redis-py releases, not in others
    sentinel = make(hosts, sentinel_kwargs=dict(_TIMEOUTS), **kwargs)
    return sentinel.master_for(service)

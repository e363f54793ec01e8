"""Proxy settings for the transports: credentials kept apart from the URL, never shown."""

from __future__ import annotations

import base64
import re

from yarl import URL

from ..errors import ConfigurationError

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]*@")


def split_proxy(proxy: str | URL | None) -> tuple[URL | None, dict[str, str] | None]:
    """The proxy URL without ``user:pass@``, and those credentials as a ``Proxy-Authorization`` header."""
    if proxy is None or proxy == "":
        return None, None
    url = URL(proxy) if isinstance(proxy, str) else proxy
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(f"proxy must be http://[user:pass@]host:port, got {shown_proxy(url)!r}")
    headers = None
    if url.user or url.password:
        token = base64.b64encode(f"{url.user or ''}:{url.password or ''}".encode()).decode("ascii")
        headers = {"Proxy-Authorization": f"Basic {token}"}
    return url.with_user(None), headers


def shown_proxy(url: URL | None, auth: object = None) -> str | None:
    """The proxy for reprs and messages: ``http://***@host:port`` when it has credentials."""
    if url is None:
        return None
    if auth is None and not (url.user or url.password):
        return str(url)
    return str(url.with_user(None)).replace("://", "://***@", 1)


def redact_userinfo(text: str) -> str:
    """``scheme://user:pass@host`` → ``scheme://***@host`` anywhere in ``text``."""
    return _USERINFO.sub(r"\1***@", text)

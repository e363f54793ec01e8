"""Checks of the URLs and header values a call is built from, before anything is sent.

aiohttp refuses some of these only while sending, with its own ``ValueError``/``TypeError``
(``Cannot combine AUTHORIZATION header with ... credentials encoded in URL``...): here they are
refused with the SDK's own errors, naming the field and the rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from urllib.parse import SplitResult, urlsplit

from .errors import WxPayError
from .transports._proxy import redact_userinfo

#: RFC 9110 token: what a header name may be made of.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", re.ASCII)
#: Control characters (CR, LF, NUL...) that would end a header line or inject another one.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_SPACE_OR_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def check_url(url: str, field: str, error: Callable[[str, str], WxPayError], *, path: bool) -> SplitResult:
    """``url`` split, when it is an absolute http(s) URL the SDK can send to; else ``error(field, rule)``.

    Credentials (``user:password@``) are refused: the call's own ``Authorization`` header is the
    only credential a WeChat Pay request carries, and the URL would show them in errors and logs.
    ``path=False``: scheme, host and port only (``base_url``). Messages never repeat credentials.
    """
    shown = redact_userinfo(url)[:200] if isinstance(url, str) else type(url).__name__
    if not isinstance(url, str):
        raise error(field, f"must be a URL string, got {shown}")
    if _SPACE_OR_CONTROL.search(url):
        raise error(field, f"must not contain spaces or control characters, got {shown!r}")
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError: not a number, or out of 0-65535
    except ValueError as exc:
        raise error(field, f"is not a valid URL ({exc}), got {shown!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise error(field, f"must be an absolute http(s) URL, got {shown!r}")
    if "@" in parts.netloc:
        raise error(
            field,
            f"must not carry credentials (user:password@), got {shown!r}: WeChat Pay calls are "
            "authenticated by their signed Authorization header only",
        )
    if port == 0:
        raise error(field, f"port must be 1-65535, got {shown!r}")
    if not parts.hostname.isascii():
        raise error(field, f"host must be ASCII (IDNA-encode it: xn--...), got {shown!r}")
    if not path and (parts.path.strip("/") or parts.query or parts.fragment):
        raise error(field, f"must be scheme://host[:port] without a path, got {shown!r}")
    if path and not url.isascii():
        raise error(field, f"must be ASCII (percent-encode the path), got {shown!r}")
    return parts


def check_headers(headers: Mapping[str, str], field: str, error: Callable[[str, str], WxPayError]) -> None:
    """Header names must be tokens and values strings without CR, LF or other control characters."""
    for name, value in headers.items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise error(field, f"header name {name!r} is not a valid HTTP token")
        if not isinstance(value, str):
            raise error(f"{field}[{name!r}]", f"header value must be a string, got {type(value).__name__}")
        if _CONTROL.search(value):
            raise error(f"{field}[{name!r}]", "header value must not contain CR, LF or other control characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise error(f"{field}[{name!r}]", "header value must be valid Unicode text") from None

"""The SDK's own request and response value types: the only things that flow through middleware.

``Request.target`` is the path and query *exactly* as they go on the wire (already
percent-encoded) and ``Request.content`` is the exact body bytes: the signer signs these and
the transport sends these, so signed bytes and sent bytes can never drift apart.
"""

from __future__ import annotations

import json as _json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import attrs
from multidict import CIMultiDict, CIMultiDictProxy

Headers = CIMultiDictProxy[str]


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, as WeChat Pay's own SDKs send it (non-ASCII kept, not escaped)."""
    return _json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def quote_path_param(value: str) -> str:
    """Percent-encode one path segment (``/`` included) so it cannot change the route."""
    return quote(str(value), safe="-_.~")


def encode_query(query: Mapping[str, Any] | None) -> str:
    """``?a=1&b=x`` with RFC 3986 escaping; None values are omitted, bools become true/false."""
    if not query:
        return ""
    parts = []
    for key, value in query.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        parts.append(f"{quote(str(key), safe='-_.~')}={quote(str(value), safe='-_.~')}")
    return "?" + "&".join(parts) if parts else ""


def _frozen_headers(value: Mapping[str, str] | None) -> Headers:
    if isinstance(value, CIMultiDictProxy):
        return value
    return CIMultiDictProxy(CIMultiDict(value or {}))


@attrs.frozen(kw_only=True)
class Request:
    """One API call, immutable; middleware derive changed copies with :meth:`replace`."""

    method: str
    base_url: str
    target: str
    headers: Headers = attrs.field(factory=lambda: _frozen_headers(None), converter=_frozen_headers)
    content: bytes = b""
    #: The decoded JSON body, kept so the idempotency middleware can fill a request number.
    json: Any = attrs.field(default=None, eq=False)
    #: What the signature covers when it is not ``content`` (multipart uploads sign the meta JSON).
    signed_payload: bytes | None = None
    #: Body field holding the request number (``out_request_no``...), for calls that have one.
    idempotency_field: str | None = None
    idempotency_key: str | None = None
    timeout: float | None = None
    sign: bool = True
    #: False for file downloads, which WeChat Pay does not sign (they are checked by hash).
    verify: bool = True
    #: Free-form values for user middleware (operation name, tracing ids...).
    extensions: Mapping[str, Any] = attrs.field(factory=dict, eq=False)

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + self.target

    @property
    def retry_safe(self) -> bool:
        """GETs and calls pinned by a request number may be sent again without effect."""
        return self.method in ("GET", "HEAD") or self.idempotency_key is not None

    def replace(self, **changes: Any) -> Request:
        return attrs.evolve(self, **changes)

    def with_headers(self, **headers: str) -> Request:
        merged = CIMultiDict(self.headers)
        for name, value in headers.items():
            merged[name.replace("_", "-")] = value
        return attrs.evolve(self, headers=CIMultiDictProxy(merged))

    def with_json(self, value: Any) -> Request:
        return attrs.evolve(self, json=value, content=encode_json(value))


@attrs.frozen(kw_only=True)
class Response:
    """A fully read HTTP response (the transport has already released the connection)."""

    status: int
    headers: Headers = attrs.field(converter=_frozen_headers)
    content: bytes
    request: Request = attrs.field(repr=False)
    #: True once the verifier checked the WeChat Pay signature of this response.
    verified: bool = False

    @property
    def request_id(self) -> str | None:
        return self.headers.get("Request-ID")

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        if not self.content:
            return None
        return _json.loads(self.content)

    def error_code(self) -> str | None:
        """The WeChat Pay ``code`` of an error body, or None when there is none."""
        if not self.content or self.is_success:
            return None
        try:
            body = _json.loads(self.content)
        except ValueError:
            return None
        code = body.get("code") if isinstance(body, dict) else None
        return str(code) if code is not None else None

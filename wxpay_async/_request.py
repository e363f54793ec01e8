"""The SDK's own request and response value types: the only things that flow through middleware.

``Request.target`` is the path and query *exactly* as they go on the wire (already
percent-encoded) and ``Request.content`` is the exact body bytes: the signer signs these and
the transport sends these, so signed bytes and sent bytes can never drift apart.
"""

from __future__ import annotations

import json as _json
import re
from collections.abc import Callable, Mapping
from typing import Any, TypedDict, TypeVar
from urllib.parse import quote, unquote

import attrs
from multidict import CIMultiDict, CIMultiDictProxy, istr

from ._private_apis import json_encoder, slot_copier
from .errors import APIStatusError, ResponseDecodeError, ValidationError, acted_hint, status_error_class

Headers = CIMultiDictProxy[str]
_REQUEST_ID = istr("Request-ID")  # an istr name: the faster case-insensitive lookup

#: Ten MiB: far above any real WeChat Pay answer (a few KiB), far below what hurts a process.
DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024

#: Headers whose values are credentials or signatures: never shown in a repr, log or error text.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "wechatpay-signature", "cookie", "set-cookie"})
_SECRET_TEXT = (
    # The scheme and everything after it up to the end of the (single-quoted) value or line:
    # over-redacting is harmless, a surviving signature is not.
    re.compile(r"WECHATPAY2-SHA256-RSA2048[^'\r\n]*", re.IGNORECASE),
    re.compile(r"(signature=)\\?\"[^\"]*\"?", re.IGNORECASE),
    re.compile(r"((?:Authorization|Wechatpay-Signature|Cookie)['\"]?\s*[:=,]\s*['\"]?)[^'\"\r\n]+", re.IGNORECASE),
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def redact_text(text: str) -> str:
    """``text`` with any Authorization value, signature or cookie replaced by ``<redacted>``.

    Used on every foreign message (an HTTP library's exception text) before it is shown.
    """
    text = _SECRET_TEXT[0].sub("<redacted>", text)
    text = _SECRET_TEXT[1].sub(r"\1<redacted>", text)
    return _SECRET_TEXT[2].sub(r"\1<redacted>", text)


def redacted_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers as a plain dict, credentials and signatures replaced by ``<redacted>``."""
    return {
        name: "<redacted>" if name.lower() in SECRET_HEADERS else redact_text(str(value))
        for name, value in headers.items()
    }


_DECODER = _json.JSONDecoder()


def _unencodable(exc: Exception) -> ValidationError:
    reason = f"{type(exc).__name__}: {exc}"[:200]
    return ValidationError("json", f"the body cannot be encoded as JSON ({reason})")


#: ``encode_json(value) -> bytes``: compact UTF-8 JSON, as WeChat Pay's own SDKs send it (non-ASCII
#: kept, not escaped). A value JSON cannot hold (a set, a Decimal, NaN, a lone surrogate, a circular
#: reference...) is refused with :class:`ValidationError` (``field="json"``), never json's own
#: TypeError. C-accelerated where it can be: see ``_private_apis.json_encoder``.
encode_json: Callable[[Any], bytes] = json_encoder(_unencodable)


def decode_json(content: bytes) -> Any:
    """``json.loads(content)``; an object's bytes go straight to the decoder as UTF-8.

    json.loads would detect that encoding from the first bytes (UTF-16/32 and BOMs start with
    a NUL or a byte above 0x7F, never with ``{`` followed by a non-NUL byte).
    """
    if content[:1] == b"{" and content[1:2] != b"\0":
        return _DECODER.decode(content.decode("utf-8", "surrogatepass"))
    return _json.loads(content)


def check_path_param(name: str, value: str) -> None:
    """Refuse a path value that could change the route once some hop decodes or normalises it.

    Empty, ``.`` and ``..`` are refused, and so is anything that turns into one of them after
    percent-decoding (``%2e%2E``, ``%252e``...) in any ``/``, ``\\``, ``?``, ``#`` or ``;``
    separated piece, as are control characters (raw or percent-encoded).
    """
    if value == "":
        raise ValidationError(name, "required path parameter is missing or empty")
    decoded = value
    for _ in range(8):  # %25-encoded layers: a proxy may decode more than once
        if _CONTROL.search(decoded):
            raise ValidationError(name, "path parameter must not contain control characters")
        once = unquote(decoded, errors="replace")
        if once == decoded:
            break
        decoded = once
    if _CONTROL.search(decoded):
        raise ValidationError(name, "path parameter must not contain control characters")
    for piece in re.split(r"[/\\?#;]", decoded):
        if piece.strip() in (".", ".."):
            raise ValidationError(name, "path parameter must not be '.' or '..' (it would change the route)")


def quote_path_param(value: str) -> str:
    """Percent-encode one path segment (``/`` included) so it cannot change the route."""
    return quote(str(value), safe="-_.~")


#: RFC 3986 unreserved characters: what ``quote(..., safe="-_.~")`` leaves as it is.
_UNRESERVED = re.compile(r"[A-Za-z0-9\-_.~]*", re.ASCII)


def encode_query(query: Mapping[str, Any] | None) -> str:
    """``?a=1&b=x`` with RFC 3986 escaping; None values are omitted, bools become true/false."""
    if not query:
        return ""
    parts = []
    plain = _UNRESERVED.fullmatch
    try:
        for key, value in query.items():
            if value is None:
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            key = key if type(key) is str and plain(key) else quote(str(key), safe="-_.~")
            # Most values (ids, numbers, dates without offsets) need no escaping: quote() is skipped.
            if type(value) is int:
                value = str(value)  # digits and "-": nothing to escape
            elif not (type(value) is str and plain(value)):
                value = quote(str(value), safe="-_.~")
            parts.append(f"{key}={value}")
    except UnicodeEncodeError:
        reason = "values must be valid Unicode text"
    except AttributeError:
        reason = f"must be a mapping of names to values, got {type(query).__name__}"
    else:
        return "?" + "&".join(parts) if parts else ""
    raise ValidationError("query", reason)


def _frozen_headers(value: Mapping[str, str] | None) -> Headers:
    if isinstance(value, CIMultiDictProxy):
        return value
    return CIMultiDictProxy(CIMultiDict(value or {}))


class RequestOptions(TypedDict, total=False):
    """What a call says besides its method and path: ``Client.request()``/``build_request()`` keywords.

    The one declaration of these options (the client and the resources' ``Requester`` take them
    as ``**options``). ``path_params`` fill ``{name}`` placeholders (percent-encoded); ``query``
    becomes the query string; ``json`` is the body (or ``content``, bytes, with ``content_type``);
    ``idempotency_field`` names the body field holding the request number (filled when absent);
    ``signed_payload`` is what the signature covers when it is not the body (multipart uploads);
    ``headers`` are added to the SDK's own; ``timeout`` bounds each attempt, in seconds.
    """

    path_params: Mapping[str, str | int] | None
    query: Mapping[str, Any] | None
    json: Any
    idempotency_field: str | None
    timeout: float | None
    content: bytes | None
    content_type: str | None
    signed_payload: bytes | None
    headers: Mapping[str, str] | None


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
    #: Cap on the (decompressed) answer body; None: the transport's own default.
    max_response_bytes: int | None = None

    def __repr__(self) -> str:
        # Never the Authorization header or the body: only their shape.
        return (
            f"Request(method={self.method!r}, url={self.url!r}, headers={redacted_headers(self.headers)!r}, "
            f"content=<{len(self.content)} bytes>, idempotency_key={self.idempotency_key!r}, "
            f"timeout={self.timeout!r})"
        )

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + self.target

    @property
    def retry_safe(self) -> bool:
        """GETs and calls pinned by a request number may be sent again without effect."""
        return self.method in ("GET", "HEAD") or self.idempotency_key is not None

    def replace(self, **changes: Any) -> Request:
        """A copy with ``changes`` (what ``attrs.evolve`` does, without its per-call introspection)."""
        if "headers" in changes:
            changes["headers"] = _frozen_headers(changes["headers"])
        return _replaced(self, changes)

    def with_headers(self, **headers: str) -> Request:
        merged = CIMultiDict(self.headers)
        for name, value in headers.items():
            merged[name.replace("_", "-")] = value
        return _replaced(self, {"headers": CIMultiDictProxy(merged)})

    def with_json(self, value: Any) -> Request:
        return _replaced(self, {"json": value, "content": encode_json(value)})


@attrs.frozen(kw_only=True)
class Response:
    """A fully read HTTP response (the transport has already released the connection)."""

    status: int
    headers: Headers = attrs.field(converter=_frozen_headers)
    content: bytes
    request: Request = attrs.field(repr=False)
    #: True once the verifier checked the WeChat Pay signature of this response.
    verified: bool = False

    def replace(self, **changes: Any) -> Response:
        """A copy with ``changes`` (``verified=True`` once the signature was checked...)."""
        if "headers" in changes:
            changes["headers"] = _frozen_headers(changes["headers"])
        return _replaced(self, changes)

    def __repr__(self) -> str:
        return (
            f"Response(status={self.status!r}, headers={redacted_headers(self.headers)!r}, "
            f"content=<{len(self.content)} bytes>, verified={self.verified!r})"
        )

    @property
    def request_id(self) -> str | None:
        return self.headers.get(_REQUEST_ID)

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The decoded body (None when empty).

        A body that is not JSON raises :class:`~wxpay_async.errors.ResponseDecodeError` (an
        ``APIResponseValidationError`` and a ``ValueError``) carrying the raw body.
        """
        if not self.content:
            return None
        try:
            return decode_json(self.content)
        except (ValueError, RecursionError) as exc:
            reason = f"{type(exc).__name__}: {exc}"[:200]
        request = self.request
        hint = f"; {acted_hint(request.method, request.idempotency_key)}" if self.is_success else ""
        raise ResponseDecodeError(
            f"{request.method} {request.target}: answer (HTTP {self.status}, {len(self.content)} bytes) "
            f"is not JSON ({reason}){hint}",
            body=self.content,
            request_id=self.request_id,
            idempotency_key=self.request.idempotency_key,
        )

    def error_code(self) -> str | None:
        """The WeChat Pay ``code`` of an error body, or None when there is none."""
        if not self.content or self.is_success:
            return None
        try:
            body = decode_json(self.content)
        except (ValueError, RecursionError):
            return None
        code = body.get("code") if isinstance(body, dict) else None
        return str(code) if code is not None else None


_T = TypeVar("_T")


# Copies and constructors generated once per class (see _private_apis.slot_copier: measured).
_REQUEST_FIELDS, _copy_request, make_request = slot_copier(Request)
_RESPONSE_FIELDS, _copy_response, make_response = slot_copier(Response)
_COPIERS: dict[type, tuple[frozenset[str], Callable[[Any], Any]]] = {
    Request: (_REQUEST_FIELDS, _copy_request),
    Response: (_RESPONSE_FIELDS, _copy_response),
}
# make_request: ``Request(...)`` for the client's own hot path (every field given, headers
# already read-only); make_response: ``Response(...)`` for transports, likewise.


def _replaced(obj: _T, changes: dict[str, Any]) -> _T:
    """A copy of a Request/Response with ``changes`` applied (values already converted)."""
    entry = _COPIERS.get(type(obj))
    if entry is None:  # a subclass: the general way
        return attrs.evolve(obj, **changes)  # type: ignore[misc]
    names, copy = entry
    if not changes.keys() <= names:
        unknown = changes.keys() - names
        raise TypeError(f"{type(obj).__name__} has no field(s) {', '.join(sorted(unknown))}")
    new: _T = copy(obj)
    for name, value in changes.items():
        object.__setattr__(new, name, value)
    return new


def with_header(request: Request, name: str, value: str) -> Request:
    """``request.with_headers(...)`` for one header, in one step (the signer's, once per attempt)."""
    merged = request.headers.copy()
    merged[name] = value
    if type(request) is not Request:
        return _replaced(request, {"headers": CIMultiDictProxy(merged)})
    new = _copy_request(request)
    object.__setattr__(new, "headers", CIMultiDictProxy(merged))
    return new


def verified(response: Response) -> Response:
    """``response.replace(verified=True)`` in one step (the verifier's, once per answer)."""
    if type(response) is not Response:
        return _replaced(response, {"verified": True})
    new = _copy_response(response)
    object.__setattr__(new, "verified", True)
    return new


def status_error(response: Response) -> APIStatusError:
    """The APIStatusError subclass for a non-2xx answer, with everything WeChat Pay said."""
    code = message = None
    detail: Mapping[str, Any] | None = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = body.get("code")
        message = body.get("message")
        raw_detail = body.get("detail")
        detail = raw_detail if isinstance(raw_detail, dict) else None
    elif response.content:
        message = response.content[:200].decode("utf-8", "replace")
    return status_error_class(response.status)(
        status=response.status,
        code=str(code) if code is not None else None,
        message=str(message) if message is not None else None,
        detail=detail,
        request_id=response.request_id,
        idempotency_key=response.request.idempotency_key,
        body=response.content,
        headers=response.headers,
    )

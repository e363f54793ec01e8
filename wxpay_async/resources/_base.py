"""What every generated resource method shares: validation, the request, structuring.

Generated methods stay one line of logic each; the behaviour lives here, written by hand and
tested once: omit None, unstructure models, validate before the network, fill the request
number on the result, page through lists, build signed multipart uploads, download flow files.
Resources talk to a :class:`Requester` (``wxpay_async.Client`` satisfies it; tests pass fakes).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast, overload

import attrs
import cattrs

from .._context import current_operation
from .._converter import format_datetime
from .._raw import active_capture
from .._request import Response
from ..errors import APIResponseValidationError, ConfigurationError, ValidationError
from ..pagination import AsyncPaginator
from ..validation import request_checker

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .._request import RequestOptions
    from ..middleware.retry import RetryPolicy

ModelT = TypeVar("ModelT")
PaginatorT = TypeVar("PaginatorT", bound=AsyncPaginator[Any])


class Requester(Protocol):
    """What generated resources need from a client (``wxpay_async.Client`` is one; tests use fakes)."""

    @property
    def converter(self) -> cattrs.Converter: ...
    @property
    def validate(self) -> bool: ...
    @property
    def mchid(self) -> str: ...

    async def request(
        self, method: str, path: str, *, retry: RetryPolicy | None = None, **options: Unpack[RequestOptions]
    ) -> Response: ...


#: Content types of the image formats WeChat Pay accepts.
IMAGE_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".bmp": "image/bmp"}


_SCALARS = frozenset({str, int, bool, float})


def _plain(value: Any, converter: Any) -> Any:
    if value is None or type(value) in _SCALARS:  # most arguments: nothing to convert
        return value
    if attrs.has(type(value)):
        return converter.unstructure(value)
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, Mapping):
        return {k: _plain(v, converter) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v, converter) for v in value]
    return value


#: Characters that could end a quoted header parameter or the header line itself.
_UNSAFE_PARAM = frozenset(chr(c) for c in range(0x20)) | {"\x7f", '"', "\\"}


def _disposition_param(field: str, value: str) -> str:
    """``value`` as a quoted-string parameter of a multipart Content-Disposition header.

    Control characters (CR/LF above all: they would inject headers or parts), quotes and
    backslashes are refused with :class:`ValidationError` rather than silently rewritten, since
    the same name is signed in the ``meta`` JSON. Other characters (UTF-8 names) go as is.
    """
    bad = sorted({ch for ch in value if ch in _UNSAFE_PARAM})
    if bad:
        shown = ", ".join(repr(ch) for ch in bad)
        raise ValidationError(field, f"must not contain control characters, quotes or backslashes (found {shown})")
    return f'"{value}"'


class Resource:
    """Base of the generated resource classes: ``FavorResource(client)``..."""

    def __init__(self, client: Requester) -> None:
        self._client = client

    def _compact(self, values: Mapping[str, Any] | None) -> dict[str, Any]:
        if not values:
            return {}
        converter = self._client.converter
        return {k: v if type(v) in _SCALARS else _plain(v, converter) for k, v in values.items() if v is not None}

    def _structure(self, response: Response, model: type[ModelT], idempotency_field: str | None) -> ModelT:
        key = response.request.idempotency_key
        # An empty body (204) is an empty object. A body that is not JSON raises ResponseDecodeError
        # (an APIResponseValidationError); JSON of any other shape is read leniently (_converter).
        sent = data = response.json() if response.content else {}
        if idempotency_field and key:  # the request number this call used, even in an odd answer
            known = data if isinstance(data, dict) else {}
            data = {**known, idempotency_field: known.get(idempotency_field) or key}
        try:
            structured: ModelT = self._client.converter.structure(data, model)
            if data is not sent and type(structured) is not dict:  # (a 204 answer is a plain dict)
                object.__setattr__(structured, "raw", sent)  # .raw is what WeChat Pay sent
            if hasattr(structured, "request_id"):
                object.__setattr__(structured, "request_id", response.request_id)
        except Exception as exc:
            detail = "; ".join(str(e) for e in getattr(exc, "exceptions", [exc]))[:300]
            raise APIResponseValidationError(
                f"answer does not fit {model.__name__}: {detail}",
                body=response.content,
                request_id=response.request_id,
                idempotency_key=key,
            ) from exc
        return structured

    async def _call(
        self,
        operation: str,
        method: str,
        template: str,
        *,
        path_params: Mapping[str, str],
        query: Mapping[str, Any] | None,
        body: Mapping[str, Any] | None,
        model: type[ModelT],
        idempotency_field: str | None,
        timeout: float | None,
        retry: RetryPolicy | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> ModelT:
        client = self._client
        q = self._compact(query) if query else {}
        b = self._compact(body) if body is not None else None
        if client.validate:
            request_checker(operation, (idempotency_field,) if idempotency_field else ())(path_params, q, b)
        token = current_operation.set(operation)
        try:
            response = await client.request(
                method,
                template,
                path_params=path_params,
                query=q or None,
                json=b,
                idempotency_field=idempotency_field,
                timeout=timeout,
                headers=extra_headers,
                retry=retry,
            )
        finally:
            current_operation.reset(token)
        capture = active_capture()
        if capture is not None:  # with_raw_response: the caller parses (or not) later
            capture.set(response, lambda: self._structure(response, model, idempotency_field))
            return cast(ModelT, None)
        return self._structure(response, model, idempotency_field)

    def _paginate(
        self,
        operation: str,
        method: str,
        template: str,
        *,
        path_params: Mapping[str, str],
        query: Mapping[str, Any],
        model: type[Any],
        paging: type[PaginatorT],
        items_field: str,
        start: tuple[Any, int],
        max_limit: int,
        max_items: int,
        max_pages: int,
        timeout: float | None,
        retry: RetryPolicy | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> PaginatorT:
        page_type = paging.page_type
        if self._client.validate and not 1 <= start[1] <= max_limit:
            raise ValidationError(page_type.size_name, f"must be between 1 and {max_limit}")

        async def fetch(cursor: tuple[Any, int]) -> Any:
            answer = await self._call(
                operation,
                method,
                template,
                path_params=path_params,
                query={**query, **page_type.query(cursor)},
                body=None,
                model=model,
                idempotency_field=None,
                timeout=timeout,
                retry=retry,
                extra_headers=extra_headers,
            )
            capture = active_capture()
            if capture is not None:  # with_raw_response: parse() builds the page
                capture.wrap(lambda parsed: page_type.from_answer(parsed, cursor, items_field))
                return page_type(items=[])
            return page_type.from_answer(answer, cursor, items_field)

        return paging(fetch, first_cursor=start, max_items=max_items, max_pages=max_pages)

    async def _upload(
        self,
        operation: str,
        method: str,
        template: str,
        *,
        path_params: Mapping[str, str],
        file: bytes | Path,
        filename: str | None,
        model: type[ModelT],
        max_bytes: int | None,
        extensions: tuple[str, ...],
        timeout: float | None,
        retry: RetryPolicy | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> ModelT:
        """multipart/form-data with ``meta`` = ``{"filename","sha256"}``; the signature covers meta only."""
        if isinstance(file, Path):
            filename = filename or file.name
            content = await asyncio.to_thread(file.read_bytes)
        else:
            content = file
        if not filename:
            raise ValidationError("filename", "required when file is bytes")
        disposition_filename = _disposition_param("filename", filename)
        suffix = Path(filename).suffix.lower()
        if self._client.validate:
            if extensions and suffix not in extensions:
                kinds = ", ".join(sorted({e.lstrip(".").upper() for e in extensions} - {"JPEG"}))
                raise ValidationError("filename", f"must be one of these image types: {kinds}")
            if not content:
                raise ValidationError("file", "is empty")
            if max_bytes is not None and len(content) > max_bytes:
                raise ValidationError("file", f"images are limited to {max_bytes / (1024 * 1024):g} MB")
        meta = json.dumps(
            {"filename": filename, "sha256": hashlib.sha256(content).hexdigest()},
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        boundary = "wxpay" + secrets.token_hex(12)
        ctype = IMAGE_TYPES.get(suffix, "application/octet-stream")
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="meta"\r\nContent-Type: application/json\r\n\r\n'.encode()
            + meta
            + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; filename={disposition_filename}\r\n'
            f"Content-Type: {ctype}\r\n\r\n".encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )
        token = current_operation.set(operation)
        try:
            response = await self._client.request(
                method,
                template,
                path_params=path_params,
                content=body,
                content_type=f"multipart/form-data; boundary={boundary}",
                signed_payload=meta,
                timeout=timeout,
                headers=extra_headers,
                retry=retry,
            )
        finally:
            current_operation.reset(token)
        capture = active_capture()
        if capture is not None:
            capture.set(response, lambda: self._structure(response, model, None))
            return cast(ModelT, None)
        return self._structure(response, model, None)

    @overload
    async def download_flow(
        self, flow: Any, *, to: None = None, timeout: float | None = None, max_bytes: int | None = None
    ) -> bytes: ...

    @overload
    async def download_flow(
        self, flow: Any, *, to: Path, timeout: float | None = None, max_bytes: int | None = None
    ) -> Path: ...

    async def download_flow(
        self, flow: Any, *, to: Path | None = None, timeout: float | None = None, max_bytes: int | None = None
    ) -> bytes | Path:
        """Download the file of any flow answer (``get_use_flow``, ``get_refund_flow_by_day``...).

        The hash is checked before anything is returned: :class:`~wxpay_async.errors.FlowIntegrityError`.
        ``max_bytes`` defaults to 512 MiB with ``to`` and to the client's ``max_response_bytes``
        in memory (see :func:`wxpay_async.flows.download_flow`).
        """
        digest = (
            getattr(flow, "hash_value", None)
            or getattr(flow, "stock_useflow_hash", None)
            or getattr(flow, "stock_refundflow_hash", None)
        )
        if not digest:
            raise ValidationError("flow", "carries no hash to check the file against")
        hash_type = getattr(flow, "hash_type", None) or "SHA1"
        from ..flows import FlowClient, download_flow  # only flow downloads need it: not imported at start-up

        if not all(hasattr(self._client, name) for name in ("sign", "transport", "build_request")):
            raise ConfigurationError(
                "download_flow needs a client that can sign and stream (wxpay_async.Client, or a "
                "wxpay_async.flows.FlowClient): the file streams past the middleware chain"
            )
        client = cast(FlowClient, self._client)
        if to is None:
            return await download_flow(client, flow.url, digest, hash_type, timeout=timeout, max_bytes=max_bytes)
        return await download_flow(client, flow.url, digest, hash_type, to=to, timeout=timeout, max_bytes=max_bytes)

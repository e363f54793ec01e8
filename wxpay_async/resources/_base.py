"""What every generated resource method shares: validation, the request, structuring.

Generated methods stay one line of logic each; the behaviour lives here, written by hand and
tested once: omit None, unstructure models, validate before the network, fill the request
number on the result, page through lists, build signed multipart uploads, download flow files.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

import attrs

from .._converter import format_datetime
from .._request import Response
from ..errors import APIResponseValidationError, ValidationError
from ..flows import download_flow
from ..pagination import AsyncPaginator, offset_cursor, token_cursor
from ..validation import validate_request

if TYPE_CHECKING:
    from .._client import Client

ModelT = TypeVar("ModelT")

#: Image uploads: what WeChat Pay accepts (favor: JPG/BMP/PNG up to 2 MB).
IMAGE_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".bmp": "image/bmp"}
MAX_IMAGE_BYTES = 2 * 1024 * 1024


def _plain(value: Any, converter: Any) -> Any:
    if value is None:
        return None
    if attrs.has(type(value)):
        return converter.unstructure(value)
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, Mapping):
        return {k: _plain(v, converter) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v, converter) for v in value]
    return value


class Resource:
    def __init__(self, client: Client) -> None:
        self._client = client

    def _compact(self, values: Mapping[str, Any] | None) -> dict[str, Any]:
        return {k: _plain(v, self._client.converter) for k, v in (values or {}).items() if v is not None}

    def _structure(self, response: Response, model: type[ModelT], idempotency_field: str | None) -> ModelT:
        data = response.json()
        if data is None:
            data = {}
        if idempotency_field and isinstance(data, dict) and response.request.idempotency_key:
            data = {**data, idempotency_field: data.get(idempotency_field) or response.request.idempotency_key}
        try:
            structured: ModelT = self._client.converter.structure(data, model)
        except Exception as exc:
            detail = "; ".join(str(e) for e in getattr(exc, "exceptions", [exc]))[:300]
            raise APIResponseValidationError(
                f"answer does not fit {model.__name__}: {detail}", body=response.content, request_id=response.request_id
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
    ) -> ModelT:
        q = self._compact(query)
        b = self._compact(body) if body is not None else None
        if self._client.validate:
            skip = (idempotency_field,) if idempotency_field else ()
            validate_request(operation, path=path_params, query=q, body=b, skip_required=skip)
        response = await self._client.request(
            method,
            template,
            path_params=path_params,
            query=q or None,
            json=b,
            idempotency_field=idempotency_field,
            timeout=timeout,
        )
        return self._structure(response, model, idempotency_field)

    def _paginate(
        self,
        operation: str,
        method: str,
        template: str,
        *,
        path_params: Mapping[str, str],
        query: Mapping[str, Any],
        model: type[ModelT],
        style: str,
        items_field: str,
        start: tuple[Any, int],
        max_limit: int,
        max_items: int,
        timeout: float | None,
    ) -> AsyncPaginator[ModelT, Any]:
        size = start[1]
        if not 1 <= size <= max_limit:
            name = "limit" if style == "offset" else "page_size"
            raise ValidationError(name, f"must be between 1 and {max_limit}")

        async def fetch(cursor: tuple[Any, int]) -> ModelT:
            paging = (
                {"offset": cursor[0], "limit": cursor[1]}
                if style == "offset"
                else {"page_token": cursor[0], "page_size": cursor[1]}
            )
            return await self._call(
                operation,
                method,
                template,
                path_params=path_params,
                query={**query, **paging},
                body=None,
                model=model,
                idempotency_field=None,
                timeout=timeout,
            )

        def items(page: ModelT) -> list[Any]:
            return list(getattr(page, items_field, None) or [])

        if style == "offset":
            step = offset_cursor(lambda page: getattr(page, "total_count", None))
        else:
            step = token_cursor(lambda page: getattr(page, "next_page_token", None))
        return AsyncPaginator(fetch, items=items, next_cursor=step, first_cursor=start, max_items=max_items)

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
        timeout: float | None,
    ) -> ModelT:
        """multipart/form-data with ``meta`` = ``{"filename","sha256"}``; the signature covers meta only."""
        if isinstance(file, Path):
            filename = filename or file.name
            content = await asyncio.to_thread(file.read_bytes)
        else:
            content = file
        if not filename:
            raise ValidationError("filename", "required when file is bytes")
        suffix = Path(filename).suffix.lower()
        if self._client.validate:
            if suffix not in IMAGE_TYPES:
                raise ValidationError("filename", "must be a JPG, BMP or PNG image")
            if not content:
                raise ValidationError("file", "is empty")
            if len(content) > MAX_IMAGE_BYTES:
                raise ValidationError("file", f"images are limited to {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
        meta = json.dumps(
            {"filename": filename, "sha256": hashlib.sha256(content).hexdigest()},
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        boundary = "wxpay" + secrets.token_hex(12)
        ctype = IMAGE_TYPES.get(suffix, "application/octet-stream")
        quoted = filename.replace('"', "%22")
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="meta"\r\nContent-Type: application/json\r\n\r\n'.encode()
            + meta
            + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
            f"Content-Type: {ctype}\r\n\r\n".encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )
        response = await self._client.request(
            method,
            template,
            path_params=path_params,
            content=body,
            content_type=f"multipart/form-data; boundary={boundary}",
            signed_payload=meta,
            timeout=timeout,
        )
        return self._structure(response, model, None)

    @overload
    async def download_flow(self, flow: Any, *, to: None = None, timeout: float | None = None) -> bytes: ...

    @overload
    async def download_flow(self, flow: Any, *, to: Path, timeout: float | None = None) -> Path: ...

    async def download_flow(self, flow: Any, *, to: Path | None = None, timeout: float | None = None) -> bytes | Path:
        """Download the file of any flow answer (``get_use_flow``, ``get_refund_flow_by_day``...).

        The hash is checked before anything is returned: :class:`~wxpay_async.errors.FlowIntegrityError`.
        """
        digest = (
            getattr(flow, "hash_value", None)
            or getattr(flow, "stock_useflow_hash", None)
            or getattr(flow, "stock_refundflow_hash", None)
        )
        if not digest:
            raise ValidationError("flow", "carries no hash to check the file against")
        hash_type = getattr(flow, "hash_type", None) or "SHA1"
        if to is None:
            return await download_flow(self._client, flow.url, digest, hash_type, timeout=timeout)
        return await download_flow(self._client, flow.url, digest, hash_type, to=to, timeout=timeout)

"""Downloading coupon use/refund flow files: signed fetch, streamed, hash-checked, parsed.

WeChat Pay answers the flow endpoints with ``{url, hash_value, hash_type}``. The file itself is
not signed; its integrity rests on that hash, so nothing is handed out (no path renamed into
place, no byte returned, no row parsed) before the whole file has been checked.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import os
import re
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, overload

import attrs

from ._request import Response, status_error
from ._urls import check_url
from .errors import FlowFormatError as FlowFormatError  # FlowFormatError: importable here too
from .errors import FlowIntegrityError, ValidationError
from .transports._base import too_large

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._request import Request, RequestOptions
    from .transports import Transport


class FlowClient(Protocol):
    """What :func:`download_flow` needs of a client (``wxpay_async.Client`` is one).

    A small protocol rather than the concrete Client: flows never import the client module.
    """

    @property
    def max_response_bytes(self) -> int: ...
    @property
    def transport(self) -> Transport: ...

    def build_request(
        self,
        method: str,
        path: str,
        *,
        verify: bool = True,
        base_url: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Request: ...

    async def sign(self, request: Request) -> Request: ...


#: Refuse files streamed to disk larger than this unless the caller raises the limit. Downloads
#: to memory are held to the client's answer cap (``Client.max_response_bytes``) instead.
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
_HASHES = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256}


def _hasher(hash_type: str) -> Any:
    try:
        return _HASHES[hash_type.upper()]()
    except KeyError:
        raise ValidationError("hash_type", f"unsupported hash type {hash_type!r} (expected SHA1)") from None


@overload
async def download_flow(
    client: FlowClient,
    url: str,
    hash_value: str,
    hash_type: str = ...,
    *,
    to: None = ...,
    max_bytes: int | None = ...,
    timeout: float | None = ...,
) -> bytes: ...
@overload
async def download_flow(
    client: FlowClient,
    url: str,
    hash_value: str,
    hash_type: str = ...,
    *,
    to: Path,
    max_bytes: int | None = ...,
    timeout: float | None = ...,
) -> Path: ...
async def download_flow(
    client: FlowClient,
    url: str,
    hash_value: str,
    hash_type: str = "SHA1",
    *,
    to: Path | None = None,
    max_bytes: int | None = None,
    timeout: float | None = None,
) -> bytes | Path:
    """Fetch ``url`` with an Authorization header and check its hash before returning.

    With ``to`` the file streams to a temporary file beside it, renamed into place only after
    the hash matched (returns the path); otherwise the bytes are returned.
    Raises :class:`FlowIntegrityError` on mismatch, leaving nothing at ``to``.

    ``max_bytes`` caps the file (after decompression): by default :data:`DEFAULT_MAX_BYTES`
    with ``to`` and the client's ``max_response_bytes`` in memory. Past it the download stops
    with :class:`ValidationError` (``field="max_bytes"``) and nothing is kept.
    """
    if max_bytes is None:
        max_bytes = DEFAULT_MAX_BYTES if to is not None else client.max_response_bytes
    parts = check_url(url, "url", ValidationError, path=True)  # absolute, no user:password@
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    request = client.build_request("GET", target, base_url=f"{parts.scheme}://{parts.netloc}", timeout=timeout)
    request = await client.sign(request)
    hasher = _hasher(hash_type)
    tmp_path: Path | None = None
    sink: IO[bytes]
    if to is not None:
        fd, name = tempfile.mkstemp(prefix=f".{to.name}.", dir=to.parent)
        tmp_path, sink = Path(name), os.fdopen(fd, "wb")
    else:
        sink = io.BytesIO()
    try:
        async with client.transport.stream(request) as stream:
            length = stream.headers.get("Content-Length", "").strip()
            if not 200 <= stream.status < 300:
                limit = client.max_response_bytes
                if length.isdigit() and int(length) > limit:
                    raise too_large(request, limit, f"error answer announced as {length} bytes")
                error_parts: list[bytes] = []
                received = 0
                async for chunk in stream.chunks:
                    received += len(chunk)
                    if received > limit:
                        raise too_large(request, limit, "error answer")
                    error_parts.append(chunk)
                body = b"".join(error_parts)
                raise status_error(
                    Response(status=stream.status, headers=stream.headers, content=body, request=request)
                )
            if length.isdigit() and int(length) > max_bytes and not stream.headers.get("Content-Encoding"):
                raise ValidationError("max_bytes", f"flow file is announced as {length} bytes, over {max_bytes}")
            size = 0
            async for chunk in stream.chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise ValidationError("max_bytes", f"flow file is larger than {max_bytes} bytes")
                hasher.update(chunk)
                sink.write(chunk)
        actual = hasher.hexdigest()
        if actual.lower() != hash_value.strip().lower():
            raise FlowIntegrityError(
                f"flow file hash mismatch: WeChat Pay announced {hash_type} {hash_value}, the file has {actual}",
                expected=hash_value,
                actual=actual,
            )
        if to is None:
            assert isinstance(sink, io.BytesIO)
            return sink.getvalue()
        sink.close()
        assert tmp_path is not None
        tmp_path.replace(to)
        tmp_path = None
        return to
    finally:
        sink.close()
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)


_AMOUNT = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{0,2})?|-?\.[0-9]{1,2}", re.ASCII)


def _fen(value: str | None) -> int | None:
    """'12.30' yuan → 1230 fen, exactly (no float rounding); anything else is FlowFormatError."""
    if not value:
        return None
    text = value.strip()
    if _AMOUNT.fullmatch(text) is None:
        raise FlowFormatError(f"flow amount {text[:30]!r} is not a yuan amount like 12.30")
    whole, _, frac = text.partition(".")
    sign = -1 if whole.startswith("-") else 1
    return sign * (abs(int(whole.lstrip("-") or "0")) * 100 + int((frac + "00")[:2]))


def _column(row: dict[str, str], *names: str) -> str | None:
    for name in names:
        for variant in (name, name.replace("（", "(").replace("）", ")")):
            if row.get(variant):
                return row[variant]
    return None


@attrs.frozen(kw_only=True)
class FlowRow:
    """One line of a use or refund flow; amounts in fen, the original cells kept in ``raw``."""

    stock_id: str | None
    coupon_id: str | None
    coupon_type: str | None
    discount_amount: int | None  # 优惠金额, fen
    order_amount: int | None  # 订单总金额, fen
    transaction_id: str | None  # 支付单号
    trade_type: str | None = None  # 交易类型 (use flow)
    consume_time: str | None = None  # 消耗时间 (use flow)
    consume_mchid: str | None = None  # 消耗商户号 (use flow)
    refund_id: str | None = None  # 退款单号 (refund flow)
    refund_time: str | None = None  # 退款时间 (refund flow)
    refund_amount: int | None = None  # 退款金额, fen (refund flow)
    raw: dict[str, str] = attrs.field(factory=dict, repr=False)

    @classmethod
    def from_csv(cls, row: dict[str, str]) -> FlowRow:
        return cls(
            stock_id=_column(row, "批次id"),
            coupon_id=_column(row, "优惠id"),
            coupon_type=_column(row, "优惠类型"),
            discount_amount=_fen(_column(row, "优惠金额（元）")),
            order_amount=_fen(_column(row, "订单总金额（元）")),
            transaction_id=_column(row, "支付单号"),
            trade_type=_column(row, "交易类型"),
            consume_time=_column(row, "消耗时间"),
            consume_mchid=_column(row, "消耗商户号"),
            refund_id=_column(row, "退款单号"),
            refund_time=_column(row, "退款时间"),
            refund_amount=_fen(_column(row, "退款金额（元）")),
            raw=row,
        )


def typed_rows(rows: Iterator[dict[str, str]]) -> Iterator[FlowRow]:
    """:class:`FlowRow` objects from the dict rows of :func:`iter_flow_rows`."""
    return (FlowRow.from_csv(row) for row in rows)


def _rows(lines: Iterator[list[str]]) -> Iterator[dict[str, str]]:
    """Dicts keyed by the header row; WeChat Pay prefixes some cells with a backquote."""
    header: list[str] | None = None
    for row in lines:
        if not row or not any(cell.strip() for cell in row):
            continue
        cells = [cell.strip().lstrip("`") for cell in row]
        if header is None:
            header = cells
            continue
        yield dict(zip(header, cells, strict=False))


def iter_flow_rows(data: bytes | str) -> Iterator[dict[str, str]]:
    """Rows of a flow CSV held in memory (:class:`FlowFormatError` when it is not UTF-8 CSV)."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise FlowFormatError(f"flow file is not UTF-8: {exc.reason} at byte {exc.start}") from None
    return _checked_rows(_rows(csv.reader(io.StringIO(text))))


def _checked_rows(rows: Iterator[dict[str, str]]) -> Iterator[dict[str, str]]:
    try:
        yield from rows
    except csv.Error as exc:
        raise FlowFormatError(f"flow file is not valid CSV: {exc}") from None


async def aiter_flow_file(path: Path, *, yield_every: int = 1000) -> AsyncIterator[dict[str, str]]:
    """Rows of a downloaded flow file, read lazily so a large file never sits in memory."""
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        try:
            for count, row in enumerate(_checked_rows(_rows(csv.reader(handle))), 1):
                yield row
                if count % yield_every == 0:
                    await asyncio.sleep(0)  # let other tasks run while a big file is parsed
        except UnicodeDecodeError as exc:
            raise FlowFormatError(f"flow file {path} is not UTF-8: {exc.reason}") from None

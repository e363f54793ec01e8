"""Input rows, their identity, and the request number each row will always be sent with."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import attrs

from ..errors import ValidationError

Kind = Literal["cash", "product", "merchant"]

#: CSV columns understood for each kind; any other column is passed through as a body field.
CASH_COLUMNS = ("openid", "stock_id", "appid", "stock_creator_mchid", "coupon_value", "coupon_minimum", "key")
PRODUCT_COLUMNS = ("openid", "product_coupon_id", "stock_id", "appid", "brand_id", "coupon_code", "attach", "key")


#: Sends one row with its request number; returns the coupon id (one per coupon family).
SendFn = Callable[["BatchRow", str], Awaitable[str]]
#: Asks WeChat Pay for the status of the row's stock; returns it (e.g. "running", "SENDING").
StockStatusFn = Callable[["BatchRow"], Awaitable[str | None]]


@attrs.frozen(kw_only=True)
class BatchRow:
    """One coupon to send. ``key`` identifies the row: two rows with one key are duplicates.

    The default key is ``stock_id:openid`` (one coupon per user per stock); give an explicit
    ``key`` column when a user should receive several coupons of one stock.
    """

    index: int
    openid: str
    stock_id: str
    key: str
    fields: Mapping[str, Any] = attrs.field(factory=dict)


def request_number(batch_id: str, key: str) -> str:
    """Deterministic: the same batch and row always give the same number, so any re-send after
    a crash is answered by WeChat Pay with the original coupon instead of a second one."""
    digest = hashlib.sha256(f"{batch_id}\x00{key}".encode()).hexdigest()
    return f"B{digest[:31]}"


def make_row(index: int, data: Mapping[str, Any], defaults: Mapping[str, Any]) -> BatchRow:
    merged = {**defaults, **{k: v for k, v in data.items() if v not in (None, "")}}
    openid = str(merged.pop("openid", "") or "")
    stock_id = str(merged.pop("stock_id", "") or "")
    if not openid:
        raise ValidationError(f"row {index}.openid", "required")
    if not stock_id:
        raise ValidationError(f"row {index}.stock_id", "required (column or --stock-id)")
    key = str(merged.pop("key", "") or f"{stock_id}:{openid}")
    for money in ("coupon_value", "coupon_minimum"):
        if money in merged:
            try:
                merged[money] = int(merged[money])
            except (TypeError, ValueError):
                raise ValidationError(f"row {index}.{money}", "must be an integer amount in fen") from None
    return BatchRow(index=index, openid=openid, stock_id=stock_id, key=key, fields=merged)


@attrs.frozen(kw_only=True)
class InvalidRow:
    """An input row that cannot be sent (no openid, a bad amount...): recorded as failed, never sent."""

    index: int
    error: ValidationError


Source = Iterable[Mapping[str, Any]] | AsyncIterable[Mapping[str, Any]] | Path


async def _records(source: Source, defaults: Mapping[str, Any]) -> AsyncIterator[tuple[int, Mapping[str, Any]]]:
    """(1-based index, record) from an iterable, an async iterable or a CSV file, streamed."""
    index = 0
    if isinstance(source, Path):
        with source.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            check_header(source, reader.fieldnames, defaults)
            for line in reader:
                index += 1
                yield index, line
        return
    if isinstance(source, AsyncIterable):
        async for record in source:
            index += 1
            yield index, record
        return
    for record in source:
        index += 1
        yield index, record


def check_header(path: Path, header: Sequence[str] | None, defaults: Mapping[str, Any]) -> None:
    """A CSV must name an ``openid`` column; the error shows the header that was found instead."""
    if header is None:
        return  # an empty file: no rows to send
    if "openid" in header or defaults.get("openid"):
        return
    found = ", ".join(repr(name) for name in header[:20]) + (", ..." if len(header) > 20 else "")
    hint = ""
    near = [name for name in header if name.strip().lower().replace("_", "") == "openid"]
    if near:
        hint = f" ({near[0]!r} is close: the column must be named exactly openid)"
    elif len(header) == 1 and any(sep in header[0] for sep in ";\t|"):
        hint = " (columns must be separated by commas)"
    raise ValidationError(f"{path.name}", f"no openid column; the header found is: {found}{hint}")


def check_csv_file(path: Path, defaults: Mapping[str, Any] | None = None) -> None:
    """Read only the header of the CSV at ``path`` and refuse it as :func:`check_header` does.

    Run before a journal is made, so a wrong file leaves nothing behind to ``--resume``.
    """
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), None)
    check_header(path, header, defaults or {})


async def iter_rows(source: Source, defaults: Mapping[str, Any] | None = None) -> AsyncIterator[BatchRow]:
    """Stream rows from an iterable, an async iterable or a CSV file; never loads the whole input.

    A row that cannot be sent raises :class:`ValidationError` (see :func:`read_rows` to go on).
    """
    base = dict(defaults or {})
    async for index, record in _records(source, base):
        yield make_row(index, record, base)


async def read_rows(source: Source, defaults: Mapping[str, Any] | None = None) -> AsyncIterator[BatchRow | InvalidRow]:
    """Like :func:`iter_rows`, but a row that cannot be sent is yielded as :class:`InvalidRow`.

    A batch records such a row as failed and goes on with the next one. A CSV without an
    ``openid`` column still raises at once: no row of it could be sent.
    """
    base = dict(defaults or {})
    async for index, record in _records(source, base):
        try:
            yield make_row(index, record, base)
        except ValidationError as exc:
            yield InvalidRow(index=index, error=exc)


def count_csv_rows(path: Path) -> int:
    """Data rows in a CSV (streamed), for the progress bar's total."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return max(0, sum(1 for _ in csv.reader(handle)) - 1)

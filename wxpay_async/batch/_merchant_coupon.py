"""Merchant-coupon rows (``kind="merchant"``): sends through ``client.merchant_coupon.send_coupon``.

The family's one server-side send is ``POST /v3/marketing/busifavor/coupons/send`` (wechatpay-go
merchantexclusivecoupon ``CouponApiService.SendCoupon``): ``openid``, ``appid``, ``stock_id``,
``out_request_no`` and, for ``MERCHANT_API`` stocks, ``coupon_code`` — a CSV column of that name is
passed through. The row's deterministic request number is the ``out_request_no``, so a re-send after
a crash is answered with the first coupon. A stock sends while its ``stock_state`` is ``RUNNING``
(``StockStatus``: UNAUDIT/RUNNING/STOPED/PAUSED, wechatpay-go models.go).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ValidationError
from ._rows import BatchRow, SendFn, StockStatusFn

if TYPE_CHECKING:
    from .._client import Client

MERCHANT_SENDING_STATE = "RUNNING"
#: CSV columns understood for merchant coupons; any other column is refused by the typed call.
MERCHANT_COLUMNS = ("openid", "stock_id", "appid", "coupon_code", "key")


def merchant_coupon_sender(client: Client, *, appid: str | None = None) -> SendFn:
    """Send one merchant coupon through ``client.merchant_coupon.send_coupon``; returns the coupon code."""

    async def send(row: BatchRow, request_no: str) -> str:
        fields = dict(row.fields)
        row_appid = fields.pop("appid", appid)
        if not row_appid:
            raise ValidationError(f"row {row.index}.appid", "required (column or appid=...)")
        try:
            result = await client.merchant_coupon.send_coupon(
                openid=row.openid, appid=row_appid, stock_id=row.stock_id, out_request_no=request_no, **fields
            )
        except TypeError as exc:  # an unknown CSV column
            raise ValidationError(f"row {row.index}", f"unsupported column: {exc}") from None
        return str((result.send_coupon_result.coupon_code if result.send_coupon_result else None) or "")

    return send


def merchant_stock_status(client: Client) -> StockStatusFn:
    """The row's merchant-coupon stock state via ``client.merchant_coupon.get_stock`` (``stock_state``)."""

    async def status(row: BatchRow) -> str | None:
        stock = await client.merchant_coupon.get_stock(row.stock_id)
        return None if stock.stock_state is None else str(stock.stock_state)

    return status

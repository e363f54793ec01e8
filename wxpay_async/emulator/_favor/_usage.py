"""What a user does with a sent cash coupon (admin-driven): use it (COUPON.USE) or get it back on a refund.

Sources: the COUPON.USE notification resource in tests/official/FINDINGS-favor.md (notification.coupon_use).
"""

from __future__ import annotations

import secrets
from typing import Any

from .._clock import rfc3339
from .._errors import ApiError, invalid_request
from ._common import CALLBACKS, COUPONS, STOCKS
from ._views import _coupon_view


def use_coupon(
    emu: Any,
    coupon_id: str,
    *,
    transaction_id: str | None = None,
    order_amount: int | None = None,
    consume_mchid: str | None = None,
) -> dict[str, Any]:
    """The admin "user used coupon X": SENDED → USED, then a COUPON.USE notification if a callback is set."""
    coupon = emu.store.get(COUPONS, coupon_id)
    if coupon is None:
        raise ApiError(404, "RESOURCE_NOT_EXISTS", f"代金券不存在: coupon {coupon_id}")
    if coupon["status"] != "SENDED":
        raise invalid_request(f"coupon {coupon_id} is {coupon['status']}, only SENDED coupons can be used")
    stock = emu.store.get(STOCKS, coupon["stock_id"])
    assert stock is not None
    now = emu.now()
    amount = int(coupon.get("coupon_value") or 0)
    coupon["status"] = "USED"
    coupon["consume_information"] = {
        "consume_time": rfc3339(now),
        "consume_mchid": consume_mchid or stock["belong_merchant"],
        "transaction_id": transaction_id or f"4200000{secrets.randbelow(10**21):021d}",
        "order_amount": order_amount if order_amount is not None else amount * 10,
        "goods_detail": [],
    }
    emu.store.put(COUPONS, coupon_id, coupon)
    view = _coupon_view(coupon, stock, with_id=True)
    delivery = None
    callback = emu.store.get(CALLBACKS, stock["stock_creator_mchid"])
    merchant = emu.merchants.get(stock["stock_creator_mchid"])
    if callback is not None and callback.get("switch", True) and merchant is not None:
        envelope = emu.notifier.envelope(
            event_type="COUPON.USE",
            summary="代金券核销通知",
            resource=view,
            associated_data="coupon",
            original_type="coupon",
            apiv3_key=merchant.apiv3_key,
        )
        delivery = emu.notifier.send(callback["notify_url"], envelope)
    return {"coupon": view, "notification_id": delivery["id"] if delivery else None}


def refund_coupon(emu: Any, coupon_id: str, *, refund_amount: int | None = None) -> dict[str, Any]:
    """The admin "the order was refunded": a USED coupon returns to the user and enters the refund flow."""
    coupon = emu.store.get(COUPONS, coupon_id)
    if coupon is None:
        raise ApiError(404, "RESOURCE_NOT_EXISTS", f"代金券不存在: coupon {coupon_id}")
    consume = coupon.get("consume_information")
    if coupon["status"] != "USED" or not consume:
        raise invalid_request(f"coupon {coupon_id} is {coupon['status']}, only USED coupons can be refunded")
    stock = emu.store.get(STOCKS, coupon["stock_id"])
    assert stock is not None
    coupon["status"] = "SENDED"
    coupon["refund_information"] = {
        "refund_time": rfc3339(emu.now()),
        "refund_id": f"5030000{secrets.randbelow(10**21):021d}",
        "transaction_id": consume.get("transaction_id", ""),
        "order_amount": consume.get("order_amount"),
        "refund_amount": refund_amount if refund_amount is not None else int(coupon.get("coupon_value") or 0),
    }
    emu.store.put(COUPONS, coupon_id, coupon)
    return {"coupon": _coupon_view(coupon, stock, with_id=True)}

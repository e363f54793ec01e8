"""The one user-coupon answer (``UserProductCouponEntity``) that sends, queries and state changes return.

Sources: the Go model and 发放普通券 answer of the send-to-user page
(/work/shared/seeds/product-coupon-send-to-user.txt).
"""

from __future__ import annotations

from typing import Any

from .._call import Call
from ._common import COUPONS, PRODUCT_FIELDS, PRODUCTS, STOCK_FIELDS, STOCKS, USER_BUNDLES, _entity


def _coupon_view(call: Call, coupon: dict[str, Any]) -> dict[str, Any]:
    """``UserProductCouponEntity`` (seed Go model): only its fields, only those that apply.

    ``single_usage_detail`` for non-bundle coupons (the seed's 发放普通券 answer sends ``{}`` before
    use), ``user_product_coupon_bundle_info`` for PROGRESSIVE_BUNDLE coupons, ``attach`` and
    ``coupon_tag_info`` when the send carried them.
    """
    product = call.emu.store.get(PRODUCTS, coupon["product_coupon_id"])
    stock = call.emu.store.get(STOCKS, coupon["stock_id"])
    view: dict[str, Any] = {
        k: coupon[k]
        for k in (
            "coupon_code",
            "coupon_state",
            "valid_begin_time",
            "valid_end_time",
            "receive_time",
            "send_request_no",
            "send_channel",
            "confirm_request_no",
            "confirm_time",
            "deactivate_request_no",
            "deactivate_time",
            "deactivate_reason",
        )
        if coupon.get(k) is not None
    }
    bundle_id = coupon.get("_bundle_id")
    if bundle_id is None:
        view["single_usage_detail"] = dict(coupon.get("single_usage_detail") or {})
    else:
        record = call.emu.store.get(USER_BUNDLES, bundle_id) or {"coupons": []}
        members = [call.emu.store.get(COUPONS, key) for key in record["coupons"]]
        view["user_product_coupon_bundle_info"] = {
            "user_coupon_bundle_id": bundle_id,
            "user_coupon_bundle_index": coupon.get("_bundle_index", 0),
            "total_count": len(record["coupons"]),
            "used_count": sum(1 for m in members if m is not None and m["coupon_state"] == "USED"),
        }
    if product is not None:
        view["product_coupon"] = _entity(product, PRODUCT_FIELDS)
    if stock is not None:
        view["stock"] = _entity(stock, STOCK_FIELDS)
    for k in ("attach", "coupon_tag_info"):
        if coupon.get(k) is not None:
            view[k] = coupon[k]
    view["brand_id"] = coupon["brand_id"]
    return view

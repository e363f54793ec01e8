"""Reading a user's product coupons: get one, list them (token paging).

Sources: answers are ``UserProductCouponEntity`` of the send-to-user page
(/work/shared/seeds/product-coupon-send-to-user.txt).
"""

from __future__ import annotations

from typing import Any

from .._call import Call
from .._validate import require_str
from ._common import COUPONS, _not_found, _page_token, _product, _with_token
from ._views import _coupon_view


def _user_coupon(call: Call, *, query: bool = False) -> dict[str, Any]:
    source = call.query if query else call.data
    location = "query" if query else "body"
    brand_id = require_str(source, "brand_id", location=location)
    product_coupon_id = require_str(source, "product_coupon_id", location=location)
    stock_id = require_str(source, "stock_id", location=location)
    appid = require_str(source, "appid", location=location)
    _product(call, product_coupon_id, brand_id)
    coupon = call.emu.store.get(COUPONS, f"{stock_id}|{call.params['coupon_code']}")
    if coupon is None or coupon["_openid"] != call.params["openid"] or coupon["product_coupon_id"] != product_coupon_id:
        raise _not_found(f"未找到用户商品券: {call.params['coupon_code']}")
    if coupon.get("_appid") not in (None, appid):
        raise _not_found(f"未找到用户商品券: {call.params['coupon_code']} (appid)")
    return coupon


async def get_user_coupon(call: Call) -> Any:
    return _coupon_view(call, _user_coupon(call, query=True))


async def list_user_coupons(call: Call) -> Any:
    q, openid = call.query, call.params["openid"]
    brand_id = require_str(q, "brand_id", location="query")
    require_str(q, "appid", location="query")
    coupons = [
        c
        for c in call.emu.store.values(COUPONS)
        if c["_openid"] == openid
        and c["brand_id"] == brand_id
        and (not q.get("product_coupon_id") or c["product_coupon_id"] == q["product_coupon_id"])
        and (not q.get("stock_id") or c["stock_id"] == q["stock_id"])
        and (not q.get("coupon_state") or c["coupon_state"] == q["coupon_state"])
    ]
    coupons.sort(key=lambda c: (c["receive_time"], c["coupon_code"]))
    page, token = _page_token(call, coupons, default_size=20)
    return _with_token({"total_count": len(coupons), "user_coupon_list": [_coupon_view(call, c) for c in page]}, token)

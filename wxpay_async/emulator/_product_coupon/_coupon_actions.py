"""The user-coupon state machine: confirm, use, return, deactivate a coupon; deactivate a user's bundle.

Sources: states and 400 INVALID_REQUEST for a forbidden change follow the send-to-user page
(/work/shared/seeds/product-coupon-send-to-user.txt); the state machine itself is summarised in the package
docstring.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .._call import Call
from .._clock import parse_rfc3339, rfc3339
from .._errors import invalid_request, param_error
from .._validate import require_obj, require_str
from ._common import COUPONS, USER_BUNDLES, _brand, _idempotent, _not_found, _product
from ._user_coupons import _user_coupon
from ._views import _coupon_view


def _coupon_action(action: str) -> Callable[[Call], Awaitable[Any]]:
    async def handler(call: Call) -> Any:
        async def run() -> Any:
            coupon = _user_coupon(call)
            state = coupon["coupon_state"]
            now = rfc3339(call.emu.now())
            number = call.data["out_request_no"]
            detail = coupon.setdefault("single_usage_detail", {})
            if action == "confirm" and state == "CONFIRMING":
                coupon.update(coupon_state="EFFECTIVE", confirm_request_no=number, confirm_time=now)
            elif action == "use" and state == "EFFECTIVE":
                use_time = call.data.get("use_time")
                if parse_rfc3339(use_time) is None:
                    raise param_error("use_time", "must be an RFC 3339 time", use_time)
                require_obj(call.data, "associated_order_info")
                coupon["coupon_state"] = "USED"
                detail.update(
                    use_request_no=number, use_time=use_time, associated_order_info=call.data["associated_order_info"]
                )
                detail.pop("return_request_no", None)
                detail.pop("return_time", None)
            elif action == "return" and state == "USED":
                coupon["coupon_state"] = "EFFECTIVE"
                detail.update(return_request_no=number, return_time=now)
            elif action == "deactivate" and state in ("CONFIRMING", "PENDING", "EFFECTIVE"):
                coupon.update(
                    coupon_state="DEACTIVATED",
                    deactivate_request_no=number,
                    deactivate_time=now,
                    deactivate_reason=require_str(call.data, "deactivate_reason"),
                )
            else:
                raise invalid_request(
                    f"用户商品券状态不允许{action}: coupon {coupon['coupon_code']} is {state}",
                    field="coupon_code",
                    value=coupon["coupon_code"],
                    issue=f"cannot {action} a {state} coupon",
                )
            call.emu.store.put(COUPONS, f"{coupon['stock_id']}|{coupon['coupon_code']}", coupon)
            return _coupon_view(call, coupon)

        return await _idempotent(call, f"coupon_{action}", "out_request_no", run)

    handler.__name__ = f"{action}_user_coupon"
    return handler


async def deactivate_bundle(call: Call) -> Any:
    async def run() -> Any:
        _product(call, require_str(call.data, "product_coupon_id"), _brand(call))
        record = call.emu.store.get(USER_BUNDLES, call.params["user_coupon_bundle_id"])
        if record is None or record["openid"] != call.params["openid"]:
            raise _not_found(f"未找到用户商品券组: {call.params['user_coupon_bundle_id']}")
        now = rfc3339(call.emu.now())
        views = []
        for key in record["coupons"]:
            coupon = call.emu.store.get(COUPONS, key)
            if coupon is None:
                continue
            if coupon["coupon_state"] in ("CONFIRMING", "PENDING", "EFFECTIVE"):
                coupon.update(
                    coupon_state="DEACTIVATED",
                    deactivate_request_no=call.data["out_request_no"],
                    deactivate_time=now,
                    deactivate_reason=require_str(call.data, "deactivate_reason"),
                )
                call.emu.store.put(COUPONS, key, coupon)
            views.append(_coupon_view(call, coupon))
        return {"user_coupon_bundle_id": call.params["user_coupon_bundle_id"], "user_product_coupon_list": views}

    return await _idempotent(call, "deactivate_bundle", "out_request_no", run)

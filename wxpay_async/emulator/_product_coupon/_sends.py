"""Sending to users: single sends, bundle sends and pre-send tokens, with budget, code and per-user checks.

Sources: the send-to-user page's error table (/work/shared/seeds/product-coupon-send-to-user.txt;
tests/official/FINDINGS-product-coupon.md §3.send_coupon): 403 NOT_ENOUGH, 400 INVALID_REQUEST "用户领取已达到上限",
400 ALREADY_EXISTS for a reused code.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from .._call import Call
from .._clock import rfc3339
from .._errors import ApiError, invalid_request, param_error
from .._validate import require_str
from ._common import (
    COUPONS,
    RATE_LIMIT_CODE,
    STOCKS,
    TOKENS,
    USER_BUNDLES,
    USER_COUNTS,
    _brand,
    _bundle,
    _idempotent,
    _product,
    _stock,
)
from ._notifications import _notify_sent
from ._views import _coupon_view

DEFAULT_VALIDITY = 30 * 86400


def _issue(call: Call, openid: str, product: dict[str, Any], stock: dict[str, Any], number: str) -> dict[str, Any]:
    """Budget, code and per-user checks, then one new CONFIRMING coupon (shared by single and bundle sends)."""
    emu, body = call.emu, call.data
    if product["state"] != "EFFECTIVE" or stock["state"] != "SENDING":
        raise invalid_request(
            f"传入参数不符合业务规则: product coupon is {product['state']}, stock is {stock['state']}",
            field="stock_id",
            value=stock["stock_id"],
        )
    mode = stock["coupon_code_mode"]
    code: str | None = body.get("coupon_code")
    if mode == "API_ASSIGN":
        code = require_str(body, "coupon_code", max_len=128)
    elif code is not None:
        raise param_error("coupon_code", "只有 coupon_code_mode 为 API_ASSIGN 时才能传入", code)
    rule = stock["stock_send_rule"]
    sent = stock["sent_count_info"]
    now = emu.now()
    today = rfc3339(now)[:10]
    if sent["total_count"] >= rule["max_count"]:
        raise ApiError(403, "NOT_ENOUGH", "商品券批次发放预算不足")
    per_day = stock.setdefault("_per_day", {})
    if "max_count_per_day" in rule and per_day.get(today, 0) >= rule["max_count_per_day"]:
        raise ApiError(403, "NOT_ENOUGH", "商品券批次今日发放预算不足")
    user_key = f"{stock['stock_id']}|{openid}"
    user_count = emu.store.get(USER_COUNTS, user_key) or {"count": 0}
    if "max_count_per_user" in rule and user_count["count"] >= rule["max_count_per_user"]:
        raise invalid_request("用户领取已达到上限", field="openid", value=openid)
    if mode == "API_ASSIGN":
        if emu.store.get(COUPONS, f"{stock['stock_id']}|{code}") is not None:
            raise ApiError(400, "ALREADY_EXISTS", "coupon_code 冲突: 用户商品券Code冲突，请使用其他券Code")
    elif mode == "UPLOAD":
        if not stock["_codes"]:
            raise ApiError(403, "NOT_ENOUGH", "商品券批次预上传券Code剩余数量不足")
        code = stock["_codes"].pop(0)
        stock["coupon_code_count_info"]["available_count"] = len(stock["_codes"])
    else:
        code = f"{emu.store.next_id('pc_code', 800_000_000_001)}"
    assert code is not None
    period = (
        (stock.get("single_usage_rule") or stock.get("sequential_usage_rule") or {}).get("coupon_available_period")
    ) or {}
    coupon = {
        "coupon_code": code,
        "coupon_state": "CONFIRMING",
        "valid_begin_time": period.get("available_begin_time", rfc3339(now)),
        "valid_end_time": period.get("available_end_time", rfc3339(now + DEFAULT_VALIDITY)),
        "receive_time": rfc3339(now),
        "send_request_no": number,
        "send_channel": "API",
        "single_usage_detail": {},
        "brand_id": product["brand_id"],
        "product_coupon_id": product["product_coupon_id"],
        "stock_id": stock["stock_id"],
        "_openid": openid,
        "_appid": body.get("appid"),
    }
    for sent_field in ("attach", "coupon_tag_info"):  # answered back only when the send carried them
        if sent_field in body:
            coupon[sent_field] = body[sent_field]
    sent["total_count"] += 1
    user_count["count"] += 1
    emu.store.put(USER_COUNTS, user_key, user_count)
    per_day[today] = per_day.get(today, 0) + 1
    sent["today_count"] = per_day[today]
    emu.store.put(STOCKS, stock["stock_id"], stock)
    emu.store.put(COUPONS, f"{stock['stock_id']}|{code}", coupon)
    emu.ledger.issue(
        kind="product",
        coupon_id=code,
        stock_id=stock["stock_id"],
        openid=openid,
        request_no=number,
        mchid=call.mchid,
        at=coupon["receive_time"],
        product_coupon_id=product["product_coupon_id"],
    )
    return coupon


async def send_coupon(call: Call) -> Any:
    call.emu.rate_limit(call.mchid, RATE_LIMIT_CODE)
    openid = call.params["openid"]
    brand_id = _brand(call)
    number = call.data.get("send_request_no", "")
    issued: list[dict[str, Any]] = []

    async def run() -> Any:
        product = _product(call, require_str(call.data, "product_coupon_id"), brand_id)
        stock = _stock(call, product["product_coupon_id"], require_str(call.data, "stock_id"))
        require_str(call.data, "appid")
        coupon = _issue(call, openid, product, stock, number)
        issued.append(coupon)
        return _coupon_view(call, coupon)

    answer = await _idempotent(call, "send", "send_request_no", run)
    call.count_send("product", number, issued, _notify_sent)
    return answer


async def send_bundle(call: Call) -> Any:
    call.emu.rate_limit(call.mchid, RATE_LIMIT_CODE)
    openid = call.params["openid"]
    number = call.data.get("send_request_no", "")
    issued: list[dict[str, Any]] = []

    async def run() -> Any:
        product = _product(call, require_str(call.data, "product_coupon_id"), _brand(call))
        bundle = _bundle(call, product["product_coupon_id"], require_str(call.data, "stock_bundle_id"))
        stocks = [_stock(call, product["product_coupon_id"], sid) for sid in bundle["stock_ids"]]
        for stock in stocks:  # check every stock first: a bundle is sent whole or not at all
            if stock["sent_count_info"]["total_count"] >= stock["stock_send_rule"]["max_count"]:
                raise ApiError(403, "NOT_ENOUGH", "商品券批次发放预算不足")
        coupons = [_issue(call, openid, product, stock, f"{number}#{i}") for i, stock in enumerate(stocks)]
        issued.extend(coupons)
        bundle_id = f"UB{call.emu.store.next_id('pc_user_bundle', 1):010d}"
        for index, coupon in enumerate(coupons):  # for user_product_coupon_bundle_info
            coupon.update(_bundle_id=bundle_id, _bundle_index=index)
            call.emu.store.put(COUPONS, f"{coupon['stock_id']}|{coupon['coupon_code']}", coupon)
        call.emu.store.put(
            USER_BUNDLES,
            bundle_id,
            {"openid": openid, "coupons": [f"{c['stock_id']}|{c['coupon_code']}" for c in coupons]},
        )
        return {
            "user_coupon_bundle_id": bundle_id,
            "user_product_coupon_list": [_coupon_view(call, c) for c in coupons],
        }

    answer = await _idempotent(call, "send_bundle", "send_request_no", run)
    for coupon in issued:
        _notify_sent(call, coupon)
    return answer


def _pre_send(bundle: bool) -> Callable[[Call], Awaitable[Any]]:
    async def handler(call: Call) -> Any:
        async def run() -> Any:
            product = _product(call, require_str(call.data, "product_coupon_id"), _brand(call))
            if bundle:
                _bundle(call, product["product_coupon_id"], require_str(call.data, "stock_bundle_id"))
            else:
                _stock(call, product["product_coupon_id"], require_str(call.data, "stock_id"))
            token = secrets.token_urlsafe(24)
            call.emu.store.put(TOKENS, token, {"openid": call.params["openid"], **call.data})
            return {"token": token}

        return await _idempotent(call, "pre_send_bundle" if bundle else "pre_send", "send_request_no", run)

    return handler

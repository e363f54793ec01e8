"""Cash coupons of users: sends (budgets, per-user limits, idempotency), list and query.

Sources: the official cash-coupon send error table as quoted by our issue tracker (403 RULE_LIMIT, 429
FREQUENCY_LIMIT_EXCEED); 403 NOT_ENOUGH as in /work/shared/seeds/product-coupon-send-to-user.txt.
"""

from __future__ import annotations

from typing import Any

from .._auth import body_fingerprint
from .._call import Call
from .._clock import cst_date, rfc3339
from .._errors import ApiError, invalid_request, param_error
from .._idempotency import reused
from .._validate import request_no, require_int, require_str
from ._common import COUPONS, RATE_LIMIT_CODE, RUNNING, SEND_REQUESTS, STOCKS, USER_COUNTS, _page, _stock
from ._views import _coupon_view


async def send_coupon(call: Call) -> Any:
    emu, body, openid = call.emu, call.data, call.params["openid"]
    emu.rate_limit(call.mchid, RATE_LIMIT_CODE)
    out_request_no = request_no(body, "out_request_no")
    stock_id = require_str(body, "stock_id")
    require_str(body, "appid")
    creator = require_str(body, "stock_creator_mchid")
    key = f"{call.mchid}|{out_request_no}"
    fingerprint = body_fingerprint({"openid": openid, **body})
    previous = emu.store.get(SEND_REQUESTS, key)
    if previous is not None:
        if previous["fingerprint"] != fingerprint:
            message = f"out_request_no {out_request_no} was already used with different parameters"
            raise reused("out_request_no", out_request_no, message)
        call.count_send("cash", out_request_no)
        return {"coupon_id": previous["coupon_id"]}
    stock = _stock(call, stock_id, creator)
    now = emu.now()
    if stock["status"] != RUNNING:
        raise invalid_request(
            f"批次不在发放状态: stock {stock_id} is {stock['status']}", field="stock_id", value=stock_id
        )
    if not stock["_begin"] <= now < stock["_end"]:
        raise invalid_request(
            "活动未开始或已结束: outside the stock's available time", field="stock_id", value=stock_id
        )
    fixed = stock["coupon_use_rule"].get("fixed_normal_coupon", {})
    value = body.get("coupon_value", fixed.get("coupon_amount", 0))
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise param_error("coupon_value", "must be a positive integer (fen)", value)
    if "coupon_minimum" in body:
        require_int(body, "coupon_minimum", minimum=value + 1)
    use = stock["stock_use_rule"]
    if stock["distributed_coupons"] >= use["max_coupons"] or stock["_distributed_amount"] + value > use["max_amount"]:
        raise ApiError(403, "NOT_ENOUGH", "批次预算不足: the stock's budget is used up")
    today = cst_date(now)
    by_day = stock.setdefault("_amount_by_day", {})
    if "max_amount_by_day" in use and by_day.get(today, 0) + value > use["max_amount_by_day"]:
        raise ApiError(403, "NOT_ENOUGH", "批次当天预算不足: max_amount_by_day is used up for today")
    user_key = f"{stock_id}|{openid}"
    count_doc = emu.store.get(USER_COUNTS, user_key) or {"count": 0}
    if count_doc["count"] >= use["max_coupons_per_user"]:
        # 403 RULE_LIMIT: the official cash-coupon send error table (as quoted by our issue tracker).
        raise ApiError(
            403,
            "RULE_LIMIT",
            "用户领取已达到上限: max_coupons_per_user reached",
            detail={"field": "openid", "value": openid, "issue": "max_coupons_per_user reached"},
        )
    coupon_id = str(emu.store.next_id("favor_coupon", 90_000_000_001))
    coupon = {
        "coupon_id": coupon_id,
        "stock_id": stock_id,
        "openid": openid,
        "appid": body["appid"],
        "status": "SENDED",
        "create_time": rfc3339(now),
        "coupon_value": value,
        "coupon_minimum": body.get("coupon_minimum"),
        "sender_mchid": call.mchid,
        "out_request_no": out_request_no,
    }
    stock["distributed_coupons"] += 1
    stock["_distributed_amount"] += value
    by_day[today] = by_day.get(today, 0) + value
    count_doc["count"] += 1
    emu.store.put(COUPONS, coupon_id, coupon)
    emu.store.put(STOCKS, stock_id, stock)
    emu.store.put(USER_COUNTS, user_key, count_doc)
    emu.store.put(SEND_REQUESTS, key, {"fingerprint": fingerprint, "coupon_id": coupon_id})
    emu.ledger.issue(
        kind="cash",
        coupon_id=coupon_id,
        stock_id=stock_id,
        openid=openid,
        request_no=out_request_no,
        mchid=call.mchid,
        at=coupon["create_time"],
    )
    call.count_send("cash", out_request_no)
    return {"coupon_id": coupon_id}


async def list_user_coupons(call: Call) -> Any:
    openid, q = call.params["openid"], call.query
    appid = require_str(q, "appid", location="query")
    coupons = []
    for coupon in call.emu.store.values(COUPONS):
        if coupon["openid"] != openid or coupon["appid"] != appid:
            continue
        stock = call.emu.store.get(STOCKS, coupon["stock_id"])
        if stock is None:
            continue
        if q.get("stock_id") and coupon["stock_id"] != q["stock_id"]:
            continue
        if q.get("status") and coupon["status"] != q["status"]:
            continue
        if q.get("creator_mchid") and stock["stock_creator_mchid"] != q["creator_mchid"]:
            continue
        if q.get("sender_mchid") and coupon["sender_mchid"] != q["sender_mchid"]:
            continue
        if q.get("available_mchid") and q["available_mchid"] not in (
            stock["coupon_use_rule"].get("available_merchants") or []
        ):
            continue
        coupons.append((coupon, stock))
    coupons.sort(key=lambda pair: int(pair[0]["coupon_id"]))
    offset, limit, page = _page(call, coupons, max_limit=100, default_limit=20)
    data = [_coupon_view(coupon, stock) for coupon, stock in page]
    return {"total_count": len(coupons), "offset": offset, "limit": limit, "data": data}


async def query_coupon(call: Call) -> Any:
    appid = require_str(call.query, "appid", location="query")
    coupon = call.emu.store.get(COUPONS, call.params["coupon_id"])
    if coupon is None or coupon["openid"] != call.params["openid"] or coupon["appid"] != appid:
        raise ApiError(404, "RESOURCE_NOT_EXISTS", f"代金券不存在: coupon {call.params['coupon_id']}")
    stock = call.emu.store.get(STOCKS, coupon["stock_id"])
    assert stock is not None
    return _coupon_view(coupon, stock)
